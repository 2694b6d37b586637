//! redis-large: GET of 100 KB values, the redis example (which sends large
//! values from shared buffers, without copying them into the connection's
//! output) against redis-server, per server CPU-second.

use super::Ctx;
use super::peers::{
    EPOLL_VS_URING, FilterHave, PeerSpec, example_names, redis_server_program, revio_specs, rounds, start_all,
};
use super::procs::{free_port, have};
use super::redis::{EXAMPLE_VS_REDIS, REDIS, redis_benchmark_with};
use super::report::Table;

/// The value size, and the test's name.
pub const SIZE: &str = "102400";
pub const TEST: &str = "GET 100 KB, -c 20";

pub fn redis_large(ctx: &Ctx) -> Table {
    let n: u64 = if ctx.quick { 2_000 } else { 100_000 };
    let redis_dir = ctx.procs.tmp.display().to_string();
    let mut specs = revio_specs(ctx, "redis-server", &[]);
    let p = free_port();
    specs.push(PeerSpec {
        name: REDIS.into(),
        prog: Ok(redis_server_program(&p.to_string(), &redis_dir)).filter_have("redis-server"),
        port: p,
    });
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new(
        "redis-benchmark GET of 100 KB values",
        "req",
        vec![TEST.into()],
        peers,
    );
    let [example, example_uring] = example_names("redis-server");
    table.compare(&example, REDIS, EXAMPLE_VS_REDIS);
    table.compare(&example, &example_uring, EPOLL_VS_URING);
    table.note = format!(
        "`redis-benchmark -c 20 -t get -d {SIZE} -n {n}` after a `-t set` of the same size (not measured): \
         the redis example keeps strings of 16 KiB and more as shared buffers and sends them with \
         `Output::write_shared`; redis-server 7 copies each into its reply buffer."
    );
    table.extra_cols = vec!["p50 ms", "p99 ms"];
    if !have("redis-benchmark") {
        table
            .note
            .push_str(" redis-benchmark is not installed: nothing was measured.");
        return table;
    }
    let ports: Vec<(String, u16)> = specs.iter().map(|s| (s.name.clone(), s.port)).collect();
    rounds(ctx, &mut table, &mut running, |_, server| {
        let port = ports
            .iter()
            .find(|(name, _)| *name == server.name)
            .map_or(0, |p| p.1);
        redis_benchmark_with(server, port, 20, 200, 1, "set", &["-d", SIZE])?;
        redis_benchmark_with(server, port, 20, n, 1, "get", &["-d", SIZE])
    });
    drop(running);
    table
}
