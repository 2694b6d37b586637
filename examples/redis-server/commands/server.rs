//! Server commands: INFO, CONFIG GET, COMMAND and its subcommands, TIME,
//! SHUTDOWN, and WAKE (the example's own: the reply comes from another
//! thread through `Server::wake`).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::keys::glob;
use super::{COMMANDS, Ctx, Effect, SYNTAX, error, int, is};
use crate::resp::Args;

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], read as Redis 7.0's
/// `shutdownCommand` reads it: an unknown word, ABORT with another flag, or
/// SAVE with NOSAVE is a syntax error; ABORT alone stops no shutdown (none
/// is ever in progress here: the example stops at once).
pub fn shutdown(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let (mut save, mut nosave, mut other, mut abort) = (false, false, false, false);
    for a in args.iter_from(1) {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") || is(a, "force") {
            other = true;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return error(ctx, SYNTAX);
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return error(ctx, SYNTAX);
    }
    if abort {
        return error(ctx, b"ERR No shutdown in progress.");
    }
    Effect::Shutdown
}

pub fn wake(_: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    Effect::Wake
}

pub fn time(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ctx.reply.array(2);
    ctx.reply.bulk_int(now.as_secs() as i64);
    ctx.reply.bulk_int(i64::from(now.subsec_micros()));
    Effect::Reply
}

pub fn info(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let all = args.len() == 1
        || args
            .iter_from(1)
            .any(|a| is(a, "all") || is(a, "default") || is(a, "everything"));
    let wants = |section: &str| all || args.iter_from(1).any(|a| is(a, section));
    let mut text = String::new();
    let shared = ctx.shared;
    if wants("server") {
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
    if wants("keyspace") {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
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
    ctx.reply.verbatim(text.as_bytes());
    Effect::Reply
}

/// CONFIG GET parameter [parameter ...]: the few parameters tools ask for.
pub fn config_get(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let port = ctx.shared.tcp_port().to_string();
    let params = [
        ("appendonly", "no"),
        ("databases", "1"),
        ("maxmemory", "0"),
        ("port", port.as_str()),
        ("save", ""),
    ];
    let matched: Vec<_> = params
        .iter()
        .filter(|(name, _)| {
            args.iter_from(2)
                .any(|p| glob(&p.to_ascii_lowercase(), name.as_bytes()))
        })
        .collect();
    ctx.reply.map(matched.len());
    for (name, value) in matched {
        ctx.reply.bulk(name.as_bytes());
        ctx.reply.bulk(value.as_bytes());
    }
    Effect::Reply
}

/// The top-level commands (not `container|sub` entries).
fn top_level() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name).filter(|n| !n.contains('|'))
}

/// COMMAND with no subcommand: no per-command details here.
pub fn command(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    ctx.reply.array(0);
    Effect::Reply
}

pub fn command_count(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    int(ctx, top_level().count() as i64)
}

/// COMMAND DOCS: no docs (redis-cli asks for them to show hints).
pub fn command_docs(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    ctx.reply.map(0);
    Effect::Reply
}

pub fn command_info(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    ctx.reply.array(args.len() - 2);
    (2..args.len()).for_each(|_| ctx.reply.array(0));
    Effect::Reply
}

pub fn command_list(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    ctx.reply.array(top_level().count());
    top_level().for_each(|n| ctx.reply.bulk(n.as_bytes()));
    Effect::Reply
}
