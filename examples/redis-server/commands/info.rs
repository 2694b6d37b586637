//! INFO [section ...]: the sections `server`, `clients`, `memory`,
//! `replication` and `keyspace`, in Redis's order and format (`# Name`,
//! then `field:value` lines, a blank line between sections), with the
//! fields clients and dashboards read. `default`, `all` and `everything`
//! (and no argument) give every section.
//!
//! Where a number cannot be Redis's, it says what it is instead:
//! `used_memory` is an estimate of the keyspace's heap bytes (see
//! [`Shard::heap_bytes`](crate::store::Shard::heap_bytes)), not an
//! allocator's count of everything; `used_memory_peak` is the highest value
//! INFO has computed; `used_memory_rss` is the process's resident set.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::{Ctx, Effect, is};
use crate::resp::Args;

/// The sections, in Redis's order.
const SECTIONS: [&str; 5] = ["server", "clients", "memory", "replication", "keyspace"];

pub fn info(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let all = args.len() == 1
        || args
            .iter_from(1)
            .any(|a| is(a, "all") || is(a, "default") || is(a, "everything"));
    let mut text = String::new();
    for section in SECTIONS {
        if !(all || args.iter_from(1).any(|a| is(a, section))) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        match section {
            "server" => server(ctx, &mut text),
            "clients" => clients(ctx, &mut text),
            "memory" => memory(ctx, &mut text),
            "replication" => replication(ctx, &mut text),
            _ => keyspace(ctx, &mut text),
        }
    }
    ctx.reply.verbatim(text.as_bytes());
    Effect::Reply
}

fn server(ctx: &mut Ctx<'_, '_>, text: &mut String) {
    let shared = ctx.shared;
    let up = shared.started.elapsed().as_secs();
    let _ = write!(
        text,
        "# Server\r\nredis_version:7.0.15\r\nrevio_example:redis-server\r\nredis_mode:standalone\r\n\
         os:{} {}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\nevent_loops:{}\r\n\
         uptime_in_seconds:{up}\r\nuptime_in_days:{}\r\n",
        std::env::consts::OS,
        std::env::consts::ARCH,
        usize::BITS,
        std::process::id(),
        shared.tcp_port(),
        shared.loops,
        up / 86400,
    );
}

fn clients(ctx: &mut Ctx<'_, '_>, text: &mut String) {
    let _ = write!(
        text,
        "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
         client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:0\r\n\
         tracking_clients:0\r\nclients_in_timeout_table:0\r\n",
        ctx.shared.client_count(),
        max_clients(),
    );
}

/// Redis's default `maxclients`: 10000, or fewer when the limit on open
/// files is lower (it keeps 32 descriptors for itself). The example
/// enforces no limit of its own beyond the system's.
fn max_clients() -> u64 {
    let soft = std::fs::read_to_string("/proc/self/limits").ok().and_then(|l| {
        l.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok())
    });
    soft.map_or(10_000, |n| n.saturating_sub(32).clamp(1, 10_000))
}

fn memory(ctx: &mut Ctx<'_, '_>, text: &mut String) {
    let used = ctx.db.all().map(|s| s.heap_bytes()).sum::<usize>() as u64;
    let peak = (ctx.shared.memory_peak.fetch_max(used as usize, Relaxed) as u64).max(used);
    let rss = resident_bytes().unwrap_or(used);
    let _ = write!(
        text,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
         used_memory_peak_perc:{:.2}%\r\nused_memory_dataset:{used}\r\n\
         maxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n\
         mem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\n",
        human(used),
        human(rss),
        human(peak),
        100.0 * used as f64 / peak.max(1) as f64,
        rss as f64 / used.max(1) as f64,
    );
}

/// The process's resident set in bytes (Linux's /proc; elsewhere none).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    Some(kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok()? * 1024)
}

/// Bytes as Redis's `bytesToHuman` prints them: `999B`, `1.05K`, `3.20M`...
pub fn human(n: u64) -> String {
    const UNITS: [(u64, char); 5] = [
        (1 << 50, 'P'),
        (1 << 40, 'T'),
        (1 << 30, 'G'),
        (1 << 20, 'M'),
        (1 << 10, 'K'),
    ];
    match UNITS.iter().find(|(size, _)| n >= *size) {
        Some((size, unit)) => format!("{:.2}{unit}", n as f64 / *size as f64),
        None => format!("{n}B"),
    }
}

fn replication(ctx: &mut Ctx<'_, '_>, text: &mut String) {
    let _ = write!(
        text,
        "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n\
         master_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n\
         master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n\
         repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
        ctx.shared.replid,
    );
}

fn keyspace(ctx: &mut Ctx<'_, '_>, text: &mut String) {
    text.push_str("# Keyspace\r\n");
    let (mut keys, mut volatile) = (0, 0);
    for shard in ctx.db.all() {
        for (_, e) in shard.live() {
            keys += 1;
            volatile += usize::from(e.expires.is_some());
        }
    }
    if keys > 0 {
        let _ = write!(text, "db0:keys={keys},expires={volatile},avg_ttl=0\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn bytes_print_as_redis_prints_them() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1_013_416), "989.66K");
        assert_eq!(human(12_251_136), "11.68M");
        assert_eq!(human(25_276_182_528), "23.54G");
    }
}
