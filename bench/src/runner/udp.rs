//! udp: `udp-load` (this crate, batching both ways) against revio's
//! echo-server on each backend (`--udp`), a tokio UDP echo, a blocking
//! `recv_from`/`send_to` loop and a `recvmmsg`/`sendmmsg` loop; datagrams per
//! second and per server CPU-second, and the share lost.

use std::collections::BTreeMap;
use std::time::Duration;

use super::peers::{EPOLL_VS_URING, PeerSpec, example_names, pick_revio, revio_specs, rounds, start_all};
use super::procs::{Program, free_port, run_client};
use super::report::{Sample, Table};
use super::{Ctx, field};

/// The peers' rows.
pub const TOKIO: &str = "tokio UDP echo";
pub const BLOCKING: &str = "blocking loop";
pub const MMSG: &str = "recvmmsg/sendmmsg loop";

/// The stream test's name (one remote, segmented sends, receive offload).
pub const STREAM: &str = "stream: 1 remote, 1,400 B, 256 in flight, GSO/GRO client";

/// One test: its name and `udp-load`'s arguments.
struct Test {
    name: String,
    args: Vec<String>,
}

fn tests() -> Vec<Test> {
    let mut v: Vec<Test> = [
        (64usize, 64usize, 8usize),
        (1400, 64, 8),
        (64, 1000, 1),
        (1400, 1000, 1),
    ]
    .iter()
    .map(|&(size, remotes, depth)| Test {
        name: format!("{size} B, {remotes} remotes x {depth} in flight"),
        args: [
            "--size",
            &size.to_string(),
            "--remotes",
            &remotes.to_string(),
            "--depth",
            &depth.to_string(),
        ]
        .map(String::from)
        .to_vec(),
    })
    .collect();
    v.push(Test {
        name: STREAM.into(),
        args: ["--size", "1400", "--remotes", "1", "--depth", "256", "--gso"]
            .map(String::from)
            .to_vec(),
    });
    v
}

pub fn udp(ctx: &Ctx) -> Table {
    let secs = if ctx.quick { 0.3 } else { 2.0 };
    let tests = tests();
    let mut specs = revio_specs(ctx, "echo-server", &["--loops", "1", "--udp", "--udp-gro"]);
    for (name, bin, extra) in [
        (TOKIO, "tokio-udp", &[][..]),
        (BLOCKING, "udp-floor", &["--mode", "blocking"][..]),
        (MMSG, "udp-floor", &["--mode", "mmsg"][..]),
    ] {
        let port = free_port();
        let mut args = vec!["--port".to_string(), port.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        specs.push(PeerSpec {
            name: name.into(),
            prog: Ok(Program::new(ctx.bin(bin), &args)),
            port,
        });
    }
    let names = tests.iter().map(|t| t.name.clone()).collect();
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new("udp echo, one socket", "msg", names, peers);
    pick_revio(&mut table);
    let [epoll, uring] = example_names("echo-server");
    let revio = table.peers[table.revio].name.clone();
    for peer in [TOKIO, BLOCKING, MMSG] {
        table.compare(&revio, peer, &format!("echo example vs {peer}"));
    }
    table.compare(&epoll, &uring, EPOLL_VS_URING);
    table.note = format!(
        "`udp-load --remotes K --depth D --size S --secs {secs}` (this crate): K client sockets each keep D \
         datagrams in flight, sent and received in batches (`sendmmsg`/`recvmmsg`; the stream test sends \
         segmented runs and receives with UDP_GRO), so that the client is not the limit. Every server \
         echoes each datagram to its sender from one socket with the kernel's default buffer sizes; revio \
         is the echo example (`--udp --udp-gro`), which batches on Linux and takes coalesced datagrams \
         (UDP_GRO) apart before its handler sees them. A datagram not back 20 ms after its \
         socket last heard anything counts as lost and is replaced; `lost %` is of those sent."
    );
    table.extra_cols = vec!["lost %"];
    let ports: BTreeMap<String, u16> = specs.iter().map(|s| (s.name.clone(), s.port)).collect();
    let load = ctx.bin("udp-load");
    rounds(ctx, &mut table, &mut running, |t, server| {
        let addr = format!("127.0.0.1:{}", ports.get(&server.name).copied().unwrap_or(0));
        let mut args = vec!["--addr".to_string(), addr, "--secs".into(), secs.to_string()];
        args.extend(tests[t].args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_client(server, &Program::new(&load, &args), Duration::from_secs(30))?;
        let msgs = field(&run.stdout, "msgs").ok_or("no result from udp-load")?;
        let sent = field(&run.stdout, "sent").unwrap_or(f64::NAN);
        let lost = field(&run.stdout, "lost").unwrap_or(f64::NAN);
        let mut extra = BTreeMap::new();
        extra.insert("lost %", 100.0 * lost / sent);
        Ok(Sample {
            rate: field(&run.stdout, "msgs_per_s").unwrap_or(f64::NAN),
            per_cpu: msgs / run.server_cpu,
            extra,
        })
    });
    drop(running);
    table
}
