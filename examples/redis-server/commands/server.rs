//! Server commands: CONFIG GET, COMMAND LIST and DOCS, TIME,
//! SHUTDOWN, and WAKE (the example's own: the reply comes from another
//! thread through `Server::wake`).

use std::time::{SystemTime, UNIX_EPOCH};

use super::command_info::top_level;
use super::keys::glob;
use super::{Ctx, Effect, SYNTAX, error, is};
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

/// COMMAND DOCS: no docs (redis-cli asks for them to show hints).
pub fn command_docs(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    ctx.reply.map(0);
    Effect::Reply
}

pub fn command_list(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    ctx.reply.array(top_level().count());
    top_level().for_each(|c| ctx.reply.bulk(c.name.as_bytes()));
    Effect::Reply
}
