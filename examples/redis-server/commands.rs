//! The commands: each reads its arguments, works on the store and appends its
//! reply to the output. No sockets here: the handler (`handler.rs`) acts on
//! the [`Effect`] a command returns (close, shut down, wake).
//!
//! Errors carry Redis's own texts, so clients that match on them behave as
//! they do against Redis.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::resp::{self, Args, NULL, OK};
use crate::store::Store;

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const OVERFLOW: &str = "ERR increment or decrement would overflow";

/// What the server tells INFO about itself.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// When the server started.
    pub started: Instant,
    /// The TCP port served.
    pub tcp_port: u16,
    /// The number of event loops.
    pub loops: usize,
}

/// Per-connection state that commands use.
#[derive(Debug, Default)]
pub struct Session {
    /// The name given with CLIENT SETNAME.
    pub name: Option<Box<[u8]>>,
}

/// What the connection must do after a command, beyond sending its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: the reply is in the output.
    Reply,
    /// Close once the reply is sent (QUIT).
    Close,
    /// Stop the server (SHUTDOWN).
    Shutdown,
    /// Reply from the `woken` event, after another thread wakes the
    /// connection (WAKE). Nothing was written.
    Wake,
}

/// What a command may reach.
pub struct Ctx<'a> {
    /// The keyspace.
    pub store: &'a Store,
    /// The server's description, for INFO and CONFIG GET.
    pub info: &'a ServerInfo,
    /// The connection's state.
    pub session: &'a mut Session,
}

type Run = fn(&mut Ctx<'_>, Args<'_>, &mut Vec<u8>) -> Effect;

/// Every command: its name, its arity as Redis counts it (n: exactly n
/// arguments with the name; -n: at least n) and what runs it. The most used
/// come first: lookup walks the list.
const COMMANDS: &[(&str, i32, Run)] = &[
    ("get", 2, get),
    ("set", -3, set),
    ("ping", -1, ping),
    ("incr", 2, |c, a, o| incr_by(c, a.get(1), 1, o)),
    ("mset", -3, mset),
    ("mget", -2, mget),
    ("del", -2, del),
    ("exists", -2, exists),
    ("decr", 2, |c, a, o| incr_by(c, a.get(1), -1, o)),
    ("incrby", 3, incrby),
    ("decrby", 3, decrby),
    ("echo", 2, |_, a, o| reply_bulk(o, a.get(1))),
    ("expire", 3, |c, a, o| expire(c, a, 1000, "expire", o)),
    ("pexpire", 3, |c, a, o| expire(c, a, 1, "pexpire", o)),
    ("persist", 2, persist),
    ("ttl", 2, |c, a, o| ttl(c, a, 1000, o)),
    ("pttl", 2, |c, a, o| ttl(c, a, 1, o)),
    ("dbsize", 1, dbsize),
    ("flushall", -1, flush),
    ("flushdb", -1, flush),
    ("keys", 2, keys),
    ("select", 2, select),
    ("info", -1, info),
    ("config", -2, config),
    ("command", -1, command),
    ("client", -2, client),
    ("quit", -1, |_, _, o| {
        o.extend_from_slice(OK);
        Effect::Close
    }),
    ("shutdown", -1, |_, _, _| Effect::Shutdown),
    ("wake", 1, |_, _, _| Effect::Wake),
];

/// Runs one command (`args` has at least the name) and appends its reply.
pub fn execute(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let name = args.get(0);
    let Some(&(cname, arity, run)) = COMMANDS
        .iter()
        .find(|(n, ..)| n.len() == name.len() && n.as_bytes().eq_ignore_ascii_case(name))
    else {
        unknown_command(args, out);
        return Effect::Reply;
    };
    let n = args.len() as i32;
    if (arity >= 0 && n != arity) || n < -arity {
        return wrong_arity(cname, out);
    }
    run(ctx, args, out)
}

fn reply_error(out: &mut Vec<u8>, text: &str) -> Effect {
    resp::error(out, text);
    Effect::Reply
}

fn reply_bulk(out: &mut Vec<u8>, bytes: &[u8]) -> Effect {
    resp::bulk(out, bytes);
    Effect::Reply
}

fn reply_int(out: &mut Vec<u8>, n: i64) -> Effect {
    resp::integer(out, n);
    Effect::Reply
}

fn reply_ok(out: &mut Vec<u8>) -> Effect {
    out.extend_from_slice(OK);
    Effect::Reply
}

fn wrong_arity(name: &str, out: &mut Vec<u8>) -> Effect {
    reply_error(
        out,
        &format!("ERR wrong number of arguments for '{name}' command"),
    )
}

/// An error text made safe for a simple-string line (as Redis does, CR and
/// LF become spaces).
fn sanitized(text: String) -> String {
    text.replace(['\r', '\n'], " ")
}

fn lossy(bytes: &[u8], max: usize) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)])
}

fn unknown_command(args: Args<'_>, out: &mut Vec<u8>) {
    let mut list = String::new();
    for a in args.iter_from(1) {
        if list.len() >= 128 {
            break;
        }
        let _ = write!(list, "'{}' ", lossy(a, 128 - list.len()));
    }
    let text = format!(
        "ERR unknown command '{}', with args beginning with: {list}",
        lossy(args.get(0), 128)
    );
    resp::error(out, &sanitized(text));
}

fn unknown_subcommand(args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let text = format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        lossy(args.get(1), 128),
        lossy(args.get(0), 128).to_uppercase()
    );
    reply_error(out, &sanitized(text))
}

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// A deadline `ms` milliseconds from now, if `ms` is positive and the clock
/// can express it.
fn deadline(ms: i64) -> Option<Instant> {
    u64::try_from(ms)
        .ok()
        .filter(|&ms| ms > 0)
        .and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms)))
}

// ----- strings -------------------------------------------------------------

fn ping(_: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    match args.len() {
        1 => {
            resp::simple(out, b"PONG");
            Effect::Reply
        }
        2 => reply_bulk(out, args.get(1)),
        _ => wrong_arity("ping", out),
    }
}

fn get(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let key = args.get(1);
    let mut shard = ctx.store.shard(key);
    match shard.get(key) {
        Some(e) => resp::bulk(out, &e.value),
        None => {
            out.extend_from_slice(NULL);
            shard.reap(key);
        }
    }
    Effect::Reply
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | KEEPTTL]
fn set(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let (key, value) = (args.get(1), args.get(2));
    let (mut nx, mut xx, mut get, mut keep_ttl) = (false, false, false, false);
    let mut expires = None;
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        let has_ttl = expires.is_some() || keep_ttl;
        if is(opt, "NX") && !xx {
            nx = true;
        } else if is(opt, "XX") && !nx {
            xx = true;
        } else if is(opt, "GET") {
            get = true;
        } else if is(opt, "KEEPTTL") && !has_ttl {
            keep_ttl = true;
        } else if (is(opt, "EX") || is(opt, "PX")) && !has_ttl && i + 1 < args.len() {
            let Some(n) = resp::parse_i64(args.get(i + 1)) else {
                return reply_error(out, NOT_INTEGER);
            };
            let ms = if is(opt, "EX") {
                n.checked_mul(1000)
            } else {
                Some(n)
            };
            let Some(at) = ms.and_then(deadline) else {
                return reply_error(out, "ERR invalid expire time in 'set' command");
            };
            expires = Some(at);
            i += 1;
        } else {
            return reply_error(out, SYNTAX);
        }
        i += 1;
    }
    let mut shard = ctx.store.shard(key);
    if get {
        match shard.get(key) {
            Some(e) => resp::bulk(out, &e.value),
            None => out.extend_from_slice(NULL),
        }
    }
    if (nx || xx) && shard.contains(key) == nx {
        if !get {
            out.extend_from_slice(NULL);
        }
        return Effect::Reply;
    }
    shard.set(key, value, expires, keep_ttl);
    if !get {
        out.extend_from_slice(OK);
    }
    Effect::Reply
}

fn mset(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    // The command name and key-value pairs: an odd count.
    if args.len() % 2 != 1 {
        return wrong_arity("mset", out);
    }
    // Each key is set under its own shard's lock: another loop may see some
    // of the keys set before the others.
    let mut pairs = args.iter_from(1);
    while let (Some(k), Some(v)) = (pairs.next(), pairs.next()) {
        ctx.store.shard(k).set(k, v, None, false);
    }
    reply_ok(out)
}

fn mget(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    resp::array(out, args.len() - 1);
    for key in args.iter_from(1) {
        match ctx.store.shard(key).get(key) {
            Some(e) => resp::bulk(out, &e.value),
            None => out.extend_from_slice(NULL),
        }
    }
    Effect::Reply
}

fn incrby(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    match resp::parse_i64(args.get(2)) {
        Some(by) => incr_by(ctx, args.get(1), by, out),
        None => reply_error(out, NOT_INTEGER),
    }
}

fn decrby(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    match resp::parse_i64(args.get(2)) {
        Some(i64::MIN) => reply_error(out, "ERR decrement would overflow"),
        Some(by) => incr_by(ctx, args.get(1), -by, out),
        None => reply_error(out, NOT_INTEGER),
    }
}

/// INCR, DECR, INCRBY, DECRBY: the value is rewritten in place and keeps
/// its deadline.
fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64, out: &mut Vec<u8>) -> Effect {
    let mut shard = ctx.store.shard(key);
    match shard.get_mut(key) {
        Some(e) => {
            let Some(n) = resp::parse_i64(&e.value) else {
                return reply_error(out, NOT_INTEGER);
            };
            let Some(n) = n.checked_add(by) else {
                return reply_error(out, OVERFLOW);
            };
            e.value.clear();
            resp::write_i64(&mut e.value, n);
            reply_int(out, n)
        }
        None => {
            let mut value = Vec::new();
            resp::write_i64(&mut value, by);
            shard.set(key, &value, None, false);
            reply_int(out, by)
        }
    }
}

// ----- keys ----------------------------------------------------------------

fn del(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let n = args.iter_from(1).filter(|k| ctx.store.shard(k).remove(k)).count();
    reply_int(out, n as i64)
}

fn exists(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let n = args
        .iter_from(1)
        .filter(|k| ctx.store.shard(k).contains(k))
        .count();
    reply_int(out, n as i64)
}

/// EXPIRE and PEXPIRE: `unit_ms` is the argument's unit in milliseconds.
fn expire(ctx: &mut Ctx<'_>, args: Args<'_>, unit_ms: i64, name: &str, out: &mut Vec<u8>) -> Effect {
    let key = args.get(1);
    let Some(n) = resp::parse_i64(args.get(2)) else {
        return reply_error(out, NOT_INTEGER);
    };
    let invalid = || format!("ERR invalid expire time in '{name}' command");
    let Some(ms) = n.checked_mul(unit_ms) else {
        return reply_error(out, &invalid());
    };
    let mut shard = ctx.store.shard(key);
    if ms <= 0 {
        // A deadline in the past deletes the key, as in Redis.
        return reply_int(out, i64::from(shard.remove(key)));
    }
    let Some(at) = deadline(ms) else {
        return reply_error(out, &invalid());
    };
    reply_int(out, i64::from(shard.set_expiry(key, Some(at))))
}

fn persist(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let key = args.get(1);
    let mut shard = ctx.store.shard(key);
    let volatile = shard.get(key).is_some_and(|e| e.expires.is_some());
    reply_int(out, i64::from(volatile && shard.set_expiry(key, None)))
}

/// TTL and PTTL: -2 for no key, -1 for a key without deadline.
fn ttl(ctx: &mut Ctx<'_>, args: Args<'_>, unit_ms: u128, out: &mut Vec<u8>) -> Effect {
    let key = args.get(1);
    let mut shard = ctx.store.shard(key);
    let n = match shard.get(key).map(|e| e.expires) {
        None => {
            shard.reap(key);
            -2
        }
        Some(None) => -1,
        Some(Some(at)) => {
            let ms = at.saturating_duration_since(Instant::now()).as_millis();
            ((ms + unit_ms / 2) / unit_ms) as i64
        }
    };
    reply_int(out, n)
}

fn dbsize(ctx: &mut Ctx<'_>, _: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let n: usize = ctx.store.each_shard().map(|s| s.len()).sum();
    reply_int(out, n as i64)
}

fn flush(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    match args.len() {
        1 => {}
        2 if is(args.get(1), "ASYNC") || is(args.get(1), "SYNC") => {}
        _ => return reply_error(out, SYNTAX),
    }
    ctx.store.each_shard().for_each(|mut s| s.clear());
    reply_ok(out)
}

fn keys(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let pattern = args.get(1);
    let mut found = 0;
    let mut items = Vec::new();
    for shard in ctx.store.each_shard() {
        for (k, _) in shard.live().filter(|(k, _)| glob(pattern, k)) {
            resp::bulk(&mut items, k);
            found += 1;
        }
    }
    resp::array(out, found);
    out.extend_from_slice(&items);
    Effect::Reply
}

fn select(_: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    match resp::parse_i64(args.get(1)) {
        Some(0) => reply_ok(out),
        Some(_) => reply_error(out, "ERR DB index is out of range"),
        None => reply_error(out, NOT_INTEGER),
    }
}

/// Redis's glob: `*`, `?`, `[abc]`, `[^abc]`, `[a-z]`, and `\` to quote.
pub fn glob(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    // Where to resume after the last `*`: (pattern after it, input position).
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, i));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(pattern, p, s[i]) {
                (true, next) => Some(next),
                (false, _) => None,
            },
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == s[i]).then_some(p + 2),
            Some(&c) => (c == s[i]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                i += 1;
            }
            (None, Some((after, from))) => {
                // Let the last `*` take one more byte and try again.
                star = Some((after, from + 1));
                p = after;
                i = from + 1;
            }
            (None, None) => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class that starts with `[` at `pattern[start]`;
/// returns whether it matched and where the pattern goes on after the class.
fn class(pattern: &[u8], start: usize, c: u8) -> (bool, usize) {
    let mut p = start + 1;
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            matched |= pattern[p + 1] == c;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' {
            let (a, b) = (pattern[p], pattern[p + 2]);
            matched |= (a.min(b)..=a.max(b)).contains(&c);
            p += 3;
        } else {
            matched |= pattern[p] == c;
            p += 1;
        }
    }
    // An unclosed class runs to the end of the pattern.
    (matched != negate, (p + 1).min(pattern.len()))
}

// ----- server --------------------------------------------------------------

fn info(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let all = args.len() == 1
        || args
            .iter_from(1)
            .any(|a| is(a, "all") || is(a, "default") || is(a, "everything"));
    let wants = |section: &str| all || args.iter_from(1).any(|a| is(a, section));
    let mut text = String::new();
    if wants("server") {
        let up = ctx.info.started.elapsed().as_secs();
        let _ = write!(
            text,
            "# Server\r\nredis_version:7.0.0\r\nrevio_example:redis-server\r\nredis_mode:standalone\r\n\
             os:{} {}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\nevent_loops:{}\r\n\
             uptime_in_seconds:{up}\r\nuptime_in_days:{}\r\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            usize::BITS,
            std::process::id(),
            ctx.info.tcp_port,
            ctx.info.loops,
            up / 86400,
        );
    }
    if wants("keyspace") {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        text.push_str("# Keyspace\r\n");
        let (keys, volatile) = ctx
            .store
            .each_shard()
            .map(|s| s.count_live())
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
        if keys > 0 {
            let _ = write!(text, "db0:keys={keys},expires={volatile},avg_ttl=0\r\n");
        }
    }
    reply_bulk(out, text.as_bytes())
}

fn config(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    if !is(args.get(1), "GET") {
        return unknown_subcommand(args, out);
    }
    if args.len() < 3 {
        return wrong_arity("config|get", out);
    }
    let port = ctx.info.tcp_port.to_string();
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
    resp::array(out, 2 * matched.len());
    for (name, value) in matched {
        resp::bulk(out, name.as_bytes());
        resp::bulk(out, value.as_bytes());
    }
    Effect::Reply
}

/// COMMAND and its DOCS, COUNT, LIST and INFO: enough for redis-cli's
/// interactive mode, which asks for docs to show hints (none here).
fn command(_: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    if args.len() == 1 {
        resp::array(out, 0);
        return Effect::Reply;
    }
    let sub = args.get(1);
    if is(sub, "DOCS") {
        resp::array(out, 0);
    } else if is(sub, "COUNT") {
        resp::integer(out, COMMANDS.len() as i64);
    } else if is(sub, "LIST") {
        resp::array(out, COMMANDS.len());
        COMMANDS
            .iter()
            .for_each(|(name, ..)| resp::bulk(out, name.as_bytes()));
    } else if is(sub, "INFO") {
        resp::array(out, args.len() - 2);
        (2..args.len()).for_each(|_| resp::array(out, 0));
    } else {
        return unknown_subcommand(args, out);
    }
    Effect::Reply
}

fn client(ctx: &mut Ctx<'_>, args: Args<'_>, out: &mut Vec<u8>) -> Effect {
    let sub = args.get(1);
    if is(sub, "SETNAME") {
        if args.len() != 3 {
            return wrong_arity("client|setname", out);
        }
        let name = args.get(2);
        if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
            return reply_error(
                out,
                "ERR Client names cannot contain spaces, newlines or special characters.",
            );
        }
        ctx.session.name = (!name.is_empty()).then(|| name.into());
        reply_ok(out)
    } else if is(sub, "GETNAME") {
        match &ctx.session.name {
            Some(name) => reply_bulk(out, name),
            None => {
                out.extend_from_slice(NULL);
                Effect::Reply
            }
        }
    } else if is(sub, "SETINFO") {
        // Client libraries announce themselves with it and ignore the answer.
        if args.len() != 4 {
            return wrong_arity("client|setinfo", out);
        }
        reply_ok(out)
    } else {
        unknown_subcommand(args, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Limits, Spans, parse_command};

    struct Fixture {
        store: Store,
        info: ServerInfo,
        session: Session,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                store: Store::new(4),
                info: ServerInfo {
                    started: Instant::now(),
                    tcp_port: 6380,
                    loops: 1,
                },
                session: Session::default(),
            }
        }

        /// Runs one inline command; returns its reply as text and its effect.
        fn run(&mut self, line: &str) -> (String, Effect) {
            let input = format!("{line}\r\n");
            let mut spans = Spans::default();
            parse_command(input.as_bytes(), &mut spans, &Limits::DEFAULT).unwrap();
            let mut ctx = Ctx {
                store: &self.store,
                info: &self.info,
                session: &mut self.session,
            };
            let mut out = Vec::new();
            let effect = execute(&mut ctx, spans.args(input.as_bytes()), &mut out);
            (String::from_utf8(out).unwrap(), effect)
        }

        fn reply(&mut self, line: &str) -> String {
            self.run(line).0
        }
    }

    #[test]
    fn set_options() {
        let mut f = Fixture::new();
        assert_eq!(f.reply("SET k v NX"), "+OK\r\n");
        assert_eq!(f.reply("SET k w NX"), "$-1\r\n");
        assert_eq!(f.reply("SET k w XX GET"), "$1\r\nv\r\n");
        assert_eq!(f.reply("SET other w XX"), "$-1\r\n");
        assert_eq!(f.reply("set k x px 100000"), "+OK\r\n");
        assert!(f.reply("PTTL k").starts_with(":"));
        assert_eq!(f.reply("SET k y KEEPTTL"), "+OK\r\n");
        assert_ne!(f.reply("TTL k"), ":-1\r\n", "KEEPTTL keeps the deadline");
        assert_eq!(f.reply("SET k z"), "+OK\r\n");
        assert_eq!(f.reply("TTL k"), ":-1\r\n", "a plain SET drops the deadline");
        assert_eq!(f.reply("SET k v NX XX"), "-ERR syntax error\r\n");
        assert_eq!(f.reply("SET k v EX 1 PX 1"), "-ERR syntax error\r\n");
        assert_eq!(f.reply("SET k v EX"), "-ERR syntax error\r\n");
        assert_eq!(f.reply("SET k v EX x"), format!("-{NOT_INTEGER}\r\n"));
        assert_eq!(
            f.reply("SET k v EX 0"),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(
            f.reply("SET k v EX 9223372036854775807"),
            "-ERR invalid expire time in 'set' command\r\n"
        );
    }

    #[test]
    fn counters() {
        let mut f = Fixture::new();
        assert_eq!(f.reply("INCR n"), ":1\r\n");
        assert_eq!(f.reply("INCRBY n 41"), ":42\r\n");
        assert_eq!(f.reply("DECRBY n 50"), ":-8\r\n");
        assert_eq!(f.reply("DECR n"), ":-9\r\n");
        assert_eq!(f.reply("GET n"), "$2\r\n-9\r\n");
        f.reply("SET n 9223372036854775807");
        assert_eq!(f.reply("INCR n"), format!("-{OVERFLOW}\r\n"));
        assert_eq!(
            f.reply("DECRBY n -9223372036854775808"),
            "-ERR decrement would overflow\r\n"
        );
        f.reply("SET s abc");
        assert_eq!(f.reply("INCR s"), format!("-{NOT_INTEGER}\r\n"));
        assert_eq!(f.reply("INCRBY n x"), format!("-{NOT_INTEGER}\r\n"));
    }

    #[test]
    fn errors_use_redis_texts() {
        let mut f = Fixture::new();
        assert_eq!(
            f.reply("FOO bar baz"),
            "-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n"
        );
        assert_eq!(
            f.reply("nope"),
            "-ERR unknown command 'nope', with args beginning with: \r\n"
        );
        assert_eq!(
            f.reply("GET"),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            f.reply("get a b"),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            f.reply("MSET a b c"),
            "-ERR wrong number of arguments for 'mset' command\r\n"
        );
        assert_eq!(
            f.reply("PING a b"),
            "-ERR wrong number of arguments for 'ping' command\r\n"
        );
        assert_eq!(f.reply("SELECT 1"), "-ERR DB index is out of range\r\n");
        assert_eq!(
            f.reply("CONFIG SET a b"),
            "-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n"
        );
        assert_eq!(
            f.reply("CLIENT SETNAME a\u{1}"),
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
        );
    }

    #[test]
    fn connection_commands_have_effects() {
        let mut f = Fixture::new();
        assert_eq!(f.run("QUIT"), ("+OK\r\n".into(), Effect::Close));
        assert_eq!(f.run("shutdown nosave"), (String::new(), Effect::Shutdown));
        assert_eq!(f.run("WAKE"), (String::new(), Effect::Wake));
        assert_eq!(f.reply("CLIENT SETNAME conn-1"), "+OK\r\n");
        assert_eq!(f.reply("CLIENT GETNAME"), "$6\r\nconn-1\r\n");
    }

    #[test]
    fn expiry_in_the_past_deletes() {
        let mut f = Fixture::new();
        f.reply("SET k v");
        assert_eq!(f.reply("EXPIRE k 0"), ":1\r\n");
        assert_eq!(f.reply("EXISTS k"), ":0\r\n");
        assert_eq!(f.reply("EXPIRE k 10"), ":0\r\n");
        assert_eq!(f.reply("TTL k"), ":-2\r\n");
        f.reply("SET k v");
        assert_eq!(f.reply("EXPIRE k 100"), ":1\r\n");
        assert_eq!(f.reply("TTL k"), ":100\r\n");
        assert_eq!(f.reply("PERSIST k"), ":1\r\n");
        assert_eq!(f.reply("PERSIST k"), ":0\r\n");
    }

    #[test]
    fn config_get_answers_what_redis_benchmark_asks() {
        let mut f = Fixture::new();
        assert_eq!(f.reply("CONFIG GET save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
        assert_eq!(
            f.reply("CONFIG GET appendonly"),
            "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
        );
        assert_eq!(f.reply("CONFIG GET nothing"), "*0\r\n");
        assert_eq!(f.reply("COMMAND DOCS"), "*0\r\n");
    }

    #[test]
    fn globs() {
        let yes = [
            ("*", ""),
            ("*", "abc"),
            ("a*", "abc"),
            ("*c", "abc"),
            ("a*b*c", "aXbYbZc"),
            ("h?llo", "hello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hallo"),
            ("h\\*llo", "h*llo"),
            ("[\\]]", "]"),
            ("**a", "a"),
        ];
        for (p, s) in yes {
            assert!(glob(p.as_bytes(), s.as_bytes()), "{p} should match {s}");
        }
        let no = [
            ("a*", "ba"),
            ("h?llo", "hllo"),
            ("h[^e]llo", "hello"),
            ("h[a-b]llo", "hcllo"),
            ("h\\*llo", "hello"),
            ("abc", "abcd"),
            ("a*c", "abcd"),
            ("[abc", "d"),
        ];
        for (p, s) in no {
            assert!(!glob(p.as_bytes(), s.as_bytes()), "{p} should not match {s}");
        }
    }
}
