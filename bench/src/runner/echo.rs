//! echo: `echo-load` (this crate) against revio's echo-server on each backend
//! and a tokio echo baseline; messages per second and per server CPU-second.

use std::collections::BTreeMap;
use std::time::Duration;

use super::peers::{EPOLL_VS_URING, PeerSpec, example_names, pick_revio, revio_specs, rounds, start_all};
use super::procs::{Program, free_port, run_client};
use super::report::{Sample, Table};
use super::{Ctx, field};

/// The tokio echo baseline's row (it sends from its read buffer).
pub const TOKIO: &str = "tokio echo";
/// The tokio echo that copies each read into its output first, as revio's
/// echo handler does (`conn.write(input)`): the same work.
pub const TOKIO_COPY: &str = "tokio echo, copying";

pub fn echo(ctx: &Ctx, conns: usize) -> Table {
    let secs = if ctx.quick { 0.3 } else { 1.5 };
    let mut tests = Vec::new();
    for size in [64usize, 1024, 16384] {
        for depth in [1usize, 16] {
            tests.push((size, depth));
        }
    }
    let tp = free_port();
    let mut specs = revio_specs(ctx, "echo-server", &["--loops", "1"]);
    specs.push(PeerSpec {
        name: TOKIO.into(),
        prog: Ok(Program::new(ctx.bin("tokio-echo"), &["--port", &tp.to_string()])),
        port: tp,
    });
    let cp = free_port();
    specs.push(PeerSpec {
        name: TOKIO_COPY.into(),
        prog: Ok(Program::new(
            ctx.bin("tokio-echo"),
            &["--port", &cp.to_string(), "--copy"],
        )),
        port: cp,
    });
    let names = tests
        .iter()
        .map(|(s, d)| format!("{} B, {d} in flight", s))
        .collect();
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new(&format!("echo, {conns} connections"), "msg", names, peers);
    pick_revio(&mut table);
    let [epoll, uring] = example_names("echo-server");
    let revio = table.peers[table.revio].name.clone();
    table.compare(&revio, TOKIO, "echo example vs tokio echo");
    table.compare(
        &revio,
        TOKIO_COPY,
        "echo example vs tokio echo, copying (same work)",
    );
    table.compare(&epoll, &uring, EPOLL_VS_URING);
    table.note = format!(
        "`echo-load --conns {conns} --depth D --size S --secs {secs}` (this crate): each connection keeps D \
         messages of S bytes in flight. revio's ratios are its epoll row's (the default backend). \
         `tokio echo` sends straight from its read buffer; revio's handler copies each read into the \
         connection's output (`conn.write(input)`), and so does `tokio echo, copying`: that pair is \
         the same work."
    );
    table.extra_cols = vec!["MB/s"];
    let ports: BTreeMap<String, u16> = specs.iter().map(|s| (s.name.clone(), s.port)).collect();
    let load = ctx.bin("echo-load");
    rounds(ctx, &mut table, &mut running, |t, server| {
        let (size, depth) = tests[t];
        let addr = format!("127.0.0.1:{}", ports.get(&server.name).copied().unwrap_or(0));
        let client = Program::new(
            &load,
            &[
                "--addr",
                &addr,
                "--conns",
                &conns.to_string(),
                "--depth",
                &depth.to_string(),
                "--size",
                &size.to_string(),
                "--secs",
                &secs.to_string(),
            ],
        );
        let run = run_client(server, &client, Duration::from_secs(30))?;
        let msgs = field(&run.stdout, "msgs").ok_or("no result from echo-load")?;
        let mut extra = BTreeMap::new();
        extra.insert("MB/s", field(&run.stdout, "mb_per_s").unwrap_or(f64::NAN));
        Ok(Sample {
            rate: field(&run.stdout, "msgs_per_s").unwrap_or(f64::NAN),
            per_cpu: msgs / run.server_cpu,
            extra,
        })
    });
    drop(running);
    table
}
