//! http: `wrk`, plain and with 16 requests pipelined in every write, against
//! two groups. Like for like: revio running the tokio baseline's own HTTP
//! code (`revio-http`, on each backend) against that tokio baseline; the
//! headline ratio against tokio is this group's. The http example: revio's
//! http-server example against nginx with one worker (and against `revio-http`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::Ctx;
use super::peers::{EPOLL_VS_URING, FilterHave, PeerSpec, like_specs, revio_name, rounds, start_all};
use super::procs::{Program, Running, free_port, have, run_client};
use super::report::{Sample, Table};

/// The comparison.
pub fn http(ctx: &Ctx) -> Table {
    let secs = if ctx.quick { 1 } else { 5 };
    let (rp, np, tp) = (free_port(), free_port(), free_port());
    let (dir, conf_s) = nginx_conf(&ctx.procs.tmp, np);
    let mut specs = like_specs(ctx, "revio-http", LIKE);
    specs.extend([
        PeerSpec {
            name: TOKIO.into(),
            prog: Ok(Program::new(ctx.bin("tokio-http"), &["--port", &tp.to_string()])),
            port: tp,
        },
        PeerSpec {
            name: EXAMPLE.into(),
            prog: ctx.example("http-server").map(|p| {
                Program::new(
                    p,
                    &["--port", &rp.to_string(), "--tlsport", &free_port().to_string()],
                )
            }),
            port: rp,
        },
        PeerSpec {
            name: NGINX.into(),
            prog: Ok(Program::new(
                "nginx",
                &["-p", &dir, "-c", &conf_s, "-e", &format!("{dir}/error.log")],
            ))
            .filter_have("nginx"),
            port: np,
        },
    ]);
    let script = ctx.procs.tmp.join("pipeline16.lua");
    let _ = std::fs::write(
        &script,
        "-- 16 GET requests in every write\ninit = function(args)\n  local r = {}\n  for i = 1, 16 do\n    \
         r[i] = wrk.format(nil, \"/\")\n  end\n  req = table.concat(r)\nend\n\
         request = function()\n  return req\nend\n",
    );
    let tests = vec!["GET /".to_string(), "GET /, 16 per write".to_string()];
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new("wrk -t1 -c50", "req", tests, peers);
    compare(&mut table);
    table.note = format!(
        "`wrk -t1 -c50 -d{secs}s --latency`, plain and with a Lua script that writes 16 pipelined requests \
         at a time; p50 and p99 in ms (wrk's, coordinated omission and all). Like for like: `revio HTTP` is \
         revio (one loop) running the tokio baseline's own HTTP code (`bench/src/http.rs`, httparse, the same \
         reply bytes, through `revio-http`), `tokio HTTP` that code on a current-thread tokio runtime; both \
         set TCP_NODELAY and listen with a backlog of 128. The http example: revio's http-server example \
         (one loop, epoll) against nginx in one process (`master_process off`, `access_log off`, \
         `keepalive_requests` unlimited, `return 200 \"Hello World!\"`). Each row's ratio says which row \
         it divides into this one's."
    );
    table.extra_cols = vec!["p50 ms", "p99 ms"];
    if !have("wrk") {
        table
            .note
            .push_str(" wrk is not installed: nothing was measured.");
        return table;
    }
    let ports: BTreeMap<String, u16> = specs.iter().map(|s| (s.name.clone(), s.port)).collect();
    let script = script.display().to_string();
    rounds(ctx, &mut table, &mut running, |t, server| {
        let url = format!(
            "http://127.0.0.1:{}/",
            ports.get(&server.name).copied().unwrap_or(0)
        );
        wrk(server, &url, secs, (t == 1).then_some(script.as_str()))
    });
    drop(running);
    table
}

/// The tokio HTTP baseline's row.
pub const TOKIO: &str = "tokio HTTP";
/// The http-server example's row.
pub const EXAMPLE: &str = "revio http-server example";
/// nginx's row.
pub const NGINX: &str = "nginx (1 worker)";
/// What the like-for-like rows are called: `revio HTTP (BACKEND)`.
pub const LIKE: &str = "HTTP";
/// The pair "the http example against nginx".
pub const EXAMPLE_VS_NGINX: &str = "http example vs nginx";

/// Which row each ratio divides: revio HTTP into tokio HTTP (like for like)
/// and into its io_uring row, the example into nginx and into revio HTTP.
pub fn compare(table: &mut Table) {
    let [like, like_uring] = [revio_name(LIKE, "epoll"), revio_name(LIKE, "io_uring")];
    table.prefer_revio(&[&like, &like_uring]);
    let revio = table.peers[table.revio].name.clone();
    table.compare(&revio, TOKIO, "like for like");
    table.compare(&like, &like_uring, EPOLL_VS_URING);
    table.compare(EXAMPLE, &like, "http example vs revio HTTP");
    table.compare(EXAMPLE, NGINX, EXAMPLE_VS_NGINX);
}

/// nginx's configuration (one process, `return 200`) for port `np`, in
/// `tmp/nginx`: that folder and the file.
fn nginx_conf(tmp: &Path, np: u16) -> (String, String) {
    let nginx_dir = tmp.join("nginx");
    let _ = std::fs::create_dir_all(nginx_dir.join("logs"));
    let conf = nginx_dir.join("nginx.conf");
    let _ = std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
             error_log {dir}/error.log warn;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 100000000;\n  default_type text/plain;\n\
             server {{\n    listen 127.0.0.1:{np};\n    location / {{ return 200 \"Hello World!\"; }}\n  }}\n}}\n",
            dir = nginx_dir.display()
        ),
    );
    (nginx_dir.display().to_string(), conf.display().to_string())
}

/// One `wrk` run against `url` (with a Lua `script` if any), charged to `server`'s CPU.
fn wrk(server: &Running, url: &str, secs: u64, script: Option<&str>) -> Result<Sample, String> {
    let d = format!("-d{secs}s");
    let mut a = vec!["-t1", "-c50", &d, "--latency"];
    if let Some(script) = script {
        a.extend(["-s", script]);
    }
    a.push(url);
    let run = run_client(server, &Program::new("wrk", &a), Duration::from_secs(secs + 20))?;
    let requests = run
        .stdout
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or_else(|| format!("no result from wrk: {}", run.stdout))?;
    let rate = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    if run.stdout.contains("Non-2xx") || run.stdout.contains("Socket errors") {
        eprintln!(
            "wrk against {}: {}",
            server.name,
            run.stdout
                .lines()
                .filter(|l| l.contains("errors") || l.contains("Non-2xx"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let mut extra = BTreeMap::new();
    extra.insert("p50 ms", wrk_percentile(&run.stdout, "50%"));
    extra.insert("p99 ms", wrk_percentile(&run.stdout, "99%"));
    Ok(Sample {
        rate,
        per_cpu: requests / run.server_cpu,
        extra,
    })
}

/// A latency percentile from wrk's `--latency` distribution, in ms.
fn wrk_percentile(out: &str, which: &str) -> f64 {
    let v = out
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(which))
        .map(str::trim)
        .unwrap_or("");
    let (num, scale) = if let Some(x) = v.strip_suffix("us") {
        (x, 1e-3)
    } else if let Some(x) = v.strip_suffix("ms") {
        (x, 1.0)
    } else if let Some(x) = v.strip_suffix('s') {
        (x, 1e3)
    } else {
        (v, f64::NAN)
    };
    // wrk prints 0.00us for a percentile its histogram lost: no figure.
    num.parse::<f64>()
        .ok()
        .filter(|x| *x > 0.0)
        .map_or(f64::NAN, |x| x * scale)
}
