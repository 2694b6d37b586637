//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, and CLIENT
//! ID / INFO / LIST / GETNAME / SETNAME / SETINFO.

use super::{Ctx, Effect, NOT_INTEGER, SYNTAX, c_str, error, int, is};
use crate::resp::{Args, Proto, parse_i64};

pub fn ping(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    match args.len() {
        1 => ctx.reply.simple(b"PONG"),
        2 => ctx.reply.bulk(args.get(1)),
        _ => return error(ctx, &super::wrong_arity("ping")),
    }
    Effect::Reply
}

pub fn echo(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    ctx.reply.bulk(args.get(1));
    Effect::Reply
}

pub fn quit(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    ctx.reply.ok();
    Effect::Close
}

pub fn select(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    match parse_i64(args.get(1)) {
        Some(0) => {
            ctx.reply.ok();
            Effect::Reply
        }
        Some(_) => error(ctx, b"ERR DB index is out of range"),
        None => error(ctx, NOT_INTEGER),
    }
}

/// Checks `user` and `password` as Redis's default user does: with no
/// `--requirepass` the default user takes any password.
fn credentials_ok(ctx: &Ctx<'_, '_>, user: &[u8], password: &[u8]) -> bool {
    user == b"default"
        && ctx
            .shared
            .requirepass
            .as_deref()
            .is_none_or(|want| want == password)
}

const WRONGPASS: &[u8] = b"WRONGPASS invalid username-password pair or user is disabled.";

pub fn auth(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    if args.len() > 3 {
        return error(ctx, SYNTAX);
    }
    let (user, password) = if args.len() == 2 {
        if !ctx.shared.requires_auth() {
            return error(
                ctx,
                b"ERR AUTH <password> called without any password configured for the default user. \
                  Are you sure your configuration is correct?",
            );
        }
        (&b"default"[..], args.get(1))
    } else {
        (args.get(1), args.get(2))
    };
    if !credentials_ok(ctx, user, password) {
        return error(ctx, WRONGPASS);
    }
    ctx.session.authenticated = true;
    ctx.reply.ok();
    Effect::Reply
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let mut version = None;
    if args.len() >= 2 {
        match parse_i64(args.get(1)) {
            None => return error(ctx, b"ERR Protocol version is not an integer or out of range"),
            Some(v @ 2..=3) => version = Some(v),
            Some(_) => return error(ctx, b"NOPROTO unsupported protocol version"),
        }
    }
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if is(opt, "AUTH") && more >= 2 {
            if !credentials_ok(ctx, args.get(j + 1), args.get(j + 2)) {
                return error(ctx, WRONGPASS);
            }
            ctx.session.authenticated = true;
            j += 3;
        } else if is(opt, "SETNAME") && more >= 1 {
            if let Err(effect) = set_name(ctx, args.get(j + 1)) {
                return effect;
            }
            j += 2;
        } else {
            let mut text = b"ERR Syntax error in HELLO option '".to_vec();
            text.extend_from_slice(c_str(opt, usize::MAX));
            text.push(b'\'');
            return error(ctx, &text);
        }
    }
    if ctx.shared.requires_auth() && !ctx.session.authenticated {
        return error(
            ctx,
            b"NOAUTH HELLO must be called with the client already authenticated, otherwise the \
              HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
              the RESP protocol version at the same time",
        );
    }
    if let Some(v) = version {
        ctx.session.proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
        ctx.reply.proto = ctx.session.proto;
        ctx.session.info.set_proto(v);
    }
    let r = &mut ctx.reply;
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(b"7.0.15");
    r.bulk(b"proto");
    r.int(ctx.session.proto.version());
    r.bulk(b"id");
    r.int(ctx.session.info.id as i64);
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
    Effect::Reply
}

/// CLIENT SETNAME's rule: no spaces, newlines or other special characters.
fn set_name(ctx: &mut Ctx<'_, '_>, name: &[u8]) -> Result<(), Effect> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(error(
            ctx,
            b"ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    ctx.session.info.set_name((!name.is_empty()).then(|| name.into()));
    Ok(())
}

pub fn client_setname(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    match set_name(ctx, args.get(2)) {
        Ok(()) => {
            ctx.reply.ok();
            Effect::Reply
        }
        Err(effect) => effect,
    }
}

pub fn client_getname(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    match ctx.session.info.name() {
        Some(name) => ctx.reply.bulk(&name),
        None => ctx.reply.null(),
    }
    Effect::Reply
}

/// CLIENT SETINFO (Redis 7.2): client libraries announce themselves with it.
pub fn client_setinfo(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    ctx.reply.ok();
    Effect::Reply
}

pub fn client_id(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    let id = ctx.session.info.id as i64;
    int(ctx, id)
}

pub fn client_info(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    let mut text = Vec::new();
    ctx.session.info.describe(ctx.shared, &mut text);
    text.push(b'\n');
    ctx.reply.verbatim(&text);
    Effect::Reply
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]
pub fn client_list(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let text = if args.len() == 4 && is(args.get(2), "TYPE") {
        let t = args.get(3);
        if is(t, "normal") {
            ctx.shared.client_lines(|_| true)
        } else if ["master", "replica", "slave", "pubsub"].iter().any(|n| is(t, n)) {
            Vec::new()
        } else {
            let mut text = b"ERR Unknown client type '".to_vec();
            text.extend_from_slice(c_str(t, usize::MAX));
            text.push(b'\'');
            return error(ctx, &text);
        }
    } else if args.len() > 3 && is(args.get(2), "ID") {
        let mut ids = Vec::new();
        for a in args.iter_from(3) {
            match parse_i64(a) {
                Some(id) => ids.push(id as u64),
                None => return error(ctx, b"ERR Invalid client ID"),
            }
        }
        ctx.shared.client_lines(|c| ids.contains(&c.id))
    } else if args.len() != 2 {
        return error(ctx, SYNTAX);
    } else {
        ctx.shared.client_lines(|_| true)
    };
    ctx.reply.verbatim(&text);
    Effect::Reply
}
