//! COMMAND, COMMAND INFO and COMMAND COUNT: each command's description in
//! Redis 7.0's shape (name, arity, flags, first key, last key, step, ACL
//! categories, tips, key specifications, subcommands), in RESP2 or RESP3.
//!
//! [`INFO`] was taken from redis-server 7.0.15's own `COMMAND INFO` for
//! every command the example has (CLIENT SETINFO is 7.2's; WAKE is the
//! example's own). The arity is the command table's, which agrees with
//! Redis's (a unit test checks the names line up). A container's
//! subcommands are the ones the example has, not all of Redis's.

use super::table::{COMMANDS, COUNT, Command, by_name};
use super::{Ctx, Effect, int};
use crate::resp::{Args, Reply};

/// One command's description, beyond its name and arity.
pub struct Info {
    pub name: &'static str,
    /// Space-separated, as are `acl` and `tips`.
    pub flags: &'static str,
    /// First key, last key, step.
    pub keys: [i64; 3],
    pub acl: &'static str,
    pub tips: &'static str,
    pub specs: &'static [Spec],
}

/// A key specification: Redis 7's `begin_search` by index and
/// `find_keys` by range (every command here has that kind).
pub struct Spec {
    /// Empty for none.
    pub notes: &'static str,
    pub flags: &'static str,
    /// Where the keys start.
    pub index: i64,
    /// The range's last key (relative), key step and limit.
    pub range: [i64; 3],
}

const fn i(
    name: &'static str,
    flags: &'static str,
    keys: [i64; 3],
    acl: &'static str,
    tips: &'static str,
    specs: &'static [Spec],
) -> Info {
    Info {
        name,
        flags,
        keys,
        acl,
        tips,
        specs,
    }
}

const fn k(notes: &'static str, flags: &'static str, index: i64, range: [i64; 3]) -> Spec {
    Spec {
        notes,
        flags,
        index,
        range,
    }
}

/// Words of a space-separated list, as simple strings or bulk strings, in a set.
fn words(r: &mut Reply<'_>, list: &str, simple: bool) {
    r.set(list.split_ascii_whitespace().count());
    for w in list.split_ascii_whitespace() {
        if simple {
            r.simple(w.as_bytes());
        } else {
            r.bulk(w.as_bytes());
        }
    }
}

/// Appends the description of `cmd`.
fn describe(r: &mut Reply<'_>, cmd: &Command) {
    let info = &INFO[cmd.index];
    r.array(10);
    r.bulk(info.name.as_bytes());
    r.int(i64::from(cmd.arity));
    words(r, info.flags, true);
    info.keys.iter().for_each(|&n| r.int(n));
    words(r, info.acl, true);
    words(r, info.tips, false);
    r.set(info.specs.len());
    for s in info.specs {
        r.map(3 + usize::from(!s.notes.is_empty()));
        if !s.notes.is_empty() {
            r.bulk(b"notes");
            r.bulk(s.notes.as_bytes());
        }
        r.bulk(b"flags");
        words(r, s.flags, true);
        r.bulk(b"begin_search");
        r.map(2);
        r.bulk(b"type");
        r.bulk(b"index");
        r.bulk(b"spec");
        r.map(1);
        r.bulk(b"index");
        r.int(s.index);
        r.bulk(b"find_keys");
        r.map(2);
        r.bulk(b"type");
        r.bulk(b"range");
        r.bulk(b"spec");
        r.map(3);
        for (name, n) in ["lastkey", "keystep", "limit"].iter().zip(s.range) {
            r.bulk(name.as_bytes());
            r.int(n);
        }
    }
    let prefix = format!("{}|", cmd.name);
    let subs = || COMMANDS.iter().filter(|c| c.name.starts_with(&prefix));
    r.set(subs().count());
    subs().for_each(|c| describe(r, c));
}

/// The top-level commands (not `container|sub` entries).
pub fn top_level() -> impl Iterator<Item = &'static Command> {
    COMMANDS.iter().filter(|c| !c.name.contains('|'))
}

/// COMMAND: every command's description.
pub fn command(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    ctx.reply.array(top_level().count());
    top_level().for_each(|c| describe(&mut ctx.reply, c));
    Effect::Reply
}

pub fn command_count(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    int(ctx, top_level().count() as i64)
}

/// COMMAND INFO [name ...]: each named command's description (`name|sub`
/// for a subcommand), a null for a name it does not know; every command's
/// without names.
pub fn command_info(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    if args.len() == 2 {
        return command(ctx, args);
    }
    ctx.reply.array(args.len() - 2);
    for name in args.iter_from(2) {
        match by_name(name) {
            Some(cmd) => describe(&mut ctx.reply, cmd),
            None => ctx.reply.null(),
        }
    }
    Effect::Reply
}

/// Every command's description, in the order of [`COMMANDS`].
#[rustfmt::skip]
pub static INFO: [Info; COUNT] = [
    i("append", "write denyoom fast", [1, 1, 1], "@write @string @fast", "", &[k("", "RW insert", 1, [0, 1, 0])]),
    i("auth", "noscript loading stale fast no_auth allow_busy", [0, 0, 0], "@fast @connection", "", &[]),
    i("client", "", [0, 0, 0], "@slow", "", &[]),
    i("client|getname", "noscript loading stale", [0, 0, 0], "@slow @connection", "", &[]),
    i("client|id", "noscript loading stale", [0, 0, 0], "@slow @connection", "", &[]),
    i("client|info", "noscript loading stale", [0, 0, 0], "@slow @connection", "nondeterministic_output", &[]),
    i("client|list", "admin noscript loading stale", [0, 0, 0], "@admin @slow @dangerous @connection", "nondeterministic_output", &[]),
    i("client|setinfo", "noscript loading stale", [0, 0, 0], "@slow @connection", "request_policy:all_nodes response_policy:all_succeeded", &[]),
    i("client|setname", "noscript loading stale", [0, 0, 0], "@slow @connection", "", &[]),
    i("command", "loading stale", [0, 0, 0], "@slow @connection", "nondeterministic_output_order", &[]),
    i("command|count", "loading stale", [0, 0, 0], "@slow @connection", "", &[]),
    i("command|docs", "loading stale", [0, 0, 0], "@slow @connection", "nondeterministic_output_order", &[]),
    i("command|info", "loading stale", [0, 0, 0], "@slow @connection", "nondeterministic_output_order", &[]),
    i("command|list", "loading stale", [0, 0, 0], "@slow @connection", "nondeterministic_output_order", &[]),
    i("config", "", [0, 0, 0], "@slow", "", &[]),
    i("config|get", "admin noscript loading stale", [0, 0, 0], "@admin @slow @dangerous", "", &[]),
    i("dbsize", "readonly fast", [0, 0, 0], "@keyspace @read @fast", "request_policy:all_shards response_policy:agg_sum", &[]),
    i("decr", "write denyoom fast", [1, 1, 1], "@write @string @fast", "", &[k("", "RW access update", 1, [0, 1, 0])]),
    i("decrby", "write denyoom fast", [1, 1, 1], "@write @string @fast", "", &[k("", "RW access update", 1, [0, 1, 0])]),
    i("del", "write", [1, -1, 1], "@keyspace @write @slow", "request_policy:multi_shard response_policy:agg_sum", &[k("", "RM delete", 1, [-1, 1, 0])]),
    i("discard", "noscript loading stale fast allow_busy", [0, 0, 0], "@fast @transaction", "", &[]),
    i("echo", "loading stale fast", [0, 0, 0], "@fast @connection", "", &[]),
    i("exec", "noscript loading stale skip_slowlog", [0, 0, 0], "@slow @transaction", "", &[]),
    i("exists", "readonly fast", [1, -1, 1], "@keyspace @read @fast", "request_policy:multi_shard response_policy:agg_sum", &[k("", "RO", 1, [-1, 1, 0])]),
    i("expire", "write fast", [1, 1, 1], "@keyspace @write @fast", "", &[k("", "RW update", 1, [0, 1, 0])]),
    i("expireat", "write fast", [1, 1, 1], "@keyspace @write @fast", "", &[k("", "RW update", 1, [0, 1, 0])]),
    i("expiretime", "readonly fast", [1, 1, 1], "@keyspace @read @fast", "", &[k("", "RO access", 1, [0, 1, 0])]),
    i("flushall", "write", [0, 0, 0], "@keyspace @write @slow @dangerous", "request_policy:all_shards response_policy:all_succeeded", &[]),
    i("flushdb", "write", [0, 0, 0], "@keyspace @write @slow @dangerous", "request_policy:all_shards response_policy:all_succeeded", &[]),
    i("get", "readonly fast", [1, 1, 1], "@read @string @fast", "", &[k("", "RO access", 1, [0, 1, 0])]),
    i("getdel", "write fast", [1, 1, 1], "@write @string @fast", "", &[k("", "RW access delete", 1, [0, 1, 0])]),
    i("getex", "write fast", [1, 1, 1], "@write @string @fast", "", &[k("RW and UPDATE because it changes the TTL", "RW access update", 1, [0, 1, 0])]),
    i("getset", "write denyoom fast", [1, 1, 1], "@write @string @fast", "", &[k("", "RW access update", 1, [0, 1, 0])]),
    i("hdel", "write fast", [1, 1, 1], "@write @hash @fast", "", &[k("", "RW delete", 1, [0, 1, 0])]),
    i("hello", "noscript loading stale fast no_auth allow_busy", [0, 0, 0], "@fast @connection", "", &[]),
    i("hexists", "readonly fast", [1, 1, 1], "@read @hash @fast", "", &[k("", "RO", 1, [0, 1, 0])]),
    i("hget", "readonly fast", [1, 1, 1], "@read @hash @fast", "", &[k("", "RO access", 1, [0, 1, 0])]),
    i("hgetall", "readonly", [1, 1, 1], "@read @hash @slow", "nondeterministic_output_order", &[k("", "RO access", 1, [0, 1, 0])]),
    i("hlen", "readonly fast", [1, 1, 1], "@read @hash @fast", "", &[k("", "RO", 1, [0, 1, 0])]),
    i("hmset", "write denyoom fast", [1, 1, 1], "@write @hash @fast", "", &[k("", "RW update", 1, [0, 1, 0])]),
    i("hset", "write denyoom fast", [1, 1, 1], "@write @hash @fast", "", &[k("", "RW update", 1, [0, 1, 0])]),
    i("hsetnx", "write denyoom fast", [1, 1, 1], "@write @hash @fast", "", &[k("", "RW insert", 1, [0, 1, 0])]),
    i("incr", "write denyoom fast", [1, 1, 1], "@write @string @fast", "", &[k("", "RW access update", 1, [0, 1, 0])]),
    i("incrby", "write denyoom fast", [1, 1, 1], "@write @string @fast", "", &[k("", "RW access update", 1, [0, 1, 0])]),
    i("info", "loading stale", [0, 0, 0], "@slow @dangerous", "nondeterministic_output request_policy:all_shards response_policy:special", &[]),
    i("keys", "readonly", [0, 0, 0], "@keyspace @read @slow @dangerous", "request_policy:all_shards nondeterministic_output_order", &[]),
    i("lindex", "readonly", [1, 1, 1], "@read @list @slow", "", &[k("", "RO access", 1, [0, 1, 0])]),
    i("llen", "readonly fast", [1, 1, 1], "@read @list @fast", "", &[k("", "RO", 1, [0, 1, 0])]),
    i("lpop", "write fast", [1, 1, 1], "@write @list @fast", "", &[k("", "RW access delete", 1, [0, 1, 0])]),
    i("lpush", "write denyoom fast", [1, 1, 1], "@write @list @fast", "", &[k("", "RW insert", 1, [0, 1, 0])]),
    i("lrange", "readonly", [1, 1, 1], "@read @list @slow", "", &[k("", "RO access", 1, [0, 1, 0])]),
    i("mget", "readonly fast", [1, -1, 1], "@read @string @fast", "request_policy:multi_shard", &[k("", "RO access", 1, [-1, 1, 0])]),
    i("mset", "write denyoom", [1, -1, 2], "@write @string @slow", "request_policy:multi_shard response_policy:all_succeeded", &[k("", "OW update", 1, [-1, 2, 0])]),
    i("multi", "noscript loading stale fast allow_busy", [0, 0, 0], "@fast @transaction", "", &[]),
    i("persist", "write fast", [1, 1, 1], "@keyspace @write @fast", "", &[k("", "RW update", 1, [0, 1, 0])]),
    i("pexpire", "write fast", [1, 1, 1], "@keyspace @write @fast", "", &[k("", "RW update", 1, [0, 1, 0])]),
    i("pexpireat", "write fast", [1, 1, 1], "@keyspace @write @fast", "", &[k("", "RW update", 1, [0, 1, 0])]),
    i("pexpiretime", "readonly fast", [1, 1, 1], "@keyspace @read @fast", "", &[k("", "RO access", 1, [0, 1, 0])]),
    i("ping", "fast", [0, 0, 0], "@fast @connection", "request_policy:all_shards response_policy:all_succeeded", &[]),
    i("psetex", "write denyoom", [1, 1, 1], "@write @string @slow", "", &[k("", "OW update", 1, [0, 1, 0])]),
    i("pttl", "readonly fast", [1, 1, 1], "@keyspace @read @fast", "nondeterministic_output", &[k("", "RO access", 1, [0, 1, 0])]),
    i("quit", "noscript loading stale fast no_auth allow_busy", [0, 0, 0], "@fast @connection", "", &[]),
    i("rename", "write", [1, 2, 1], "@keyspace @write @slow", "", &[k("", "RW access delete", 1, [0, 1, 0]), k("", "OW update", 2, [0, 1, 0])]),
    i("renamenx", "write fast", [1, 2, 1], "@keyspace @write @fast", "", &[k("", "RW access delete", 1, [0, 1, 0]), k("", "OW insert", 2, [0, 1, 0])]),
    i("rpop", "write fast", [1, 1, 1], "@write @list @fast", "", &[k("", "RW access delete", 1, [0, 1, 0])]),
    i("rpush", "write denyoom fast", [1, 1, 1], "@write @list @fast", "", &[k("", "RW insert", 1, [0, 1, 0])]),
    i("sadd", "write denyoom fast", [1, 1, 1], "@write @set @fast", "", &[k("", "RW insert", 1, [0, 1, 0])]),
    i("scan", "readonly", [0, 0, 0], "@keyspace @read @slow", "nondeterministic_output request_policy:special", &[]),
    i("scard", "readonly fast", [1, 1, 1], "@read @set @fast", "", &[k("", "RO", 1, [0, 1, 0])]),
    i("select", "loading stale fast", [0, 0, 0], "@fast @connection", "", &[]),
    i("set", "write denyoom", [1, 1, 1], "@write @string @slow", "", &[k("RW and ACCESS due to the optional `GET` argument", "RW access update variable_flags", 1, [0, 1, 0])]),
    i("setex", "write denyoom", [1, 1, 1], "@write @string @slow", "", &[k("", "OW update", 1, [0, 1, 0])]),
    i("setnx", "write denyoom fast", [1, 1, 1], "@write @string @fast", "", &[k("", "OW insert", 1, [0, 1, 0])]),
    i("shutdown", "admin noscript loading stale no_multi allow_busy", [0, 0, 0], "@admin @slow @dangerous", "", &[]),
    i("sismember", "readonly fast", [1, 1, 1], "@read @set @fast", "", &[k("", "RO", 1, [0, 1, 0])]),
    i("smembers", "readonly", [1, 1, 1], "@read @set @slow", "nondeterministic_output_order", &[k("", "RO access", 1, [0, 1, 0])]),
    i("spop", "write fast", [1, 1, 1], "@write @set @fast", "nondeterministic_output", &[k("", "RW access delete", 1, [0, 1, 0])]),
    i("srem", "write fast", [1, 1, 1], "@write @set @fast", "", &[k("", "RW delete", 1, [0, 1, 0])]),
    i("strlen", "readonly fast", [1, 1, 1], "@read @string @fast", "", &[k("", "RO", 1, [0, 1, 0])]),
    i("time", "loading stale fast", [0, 0, 0], "@fast", "nondeterministic_output", &[]),
    i("ttl", "readonly fast", [1, 1, 1], "@keyspace @read @fast", "nondeterministic_output", &[k("", "RO access", 1, [0, 1, 0])]),
    i("type", "readonly fast", [1, 1, 1], "@keyspace @read @fast", "", &[k("", "RO", 1, [0, 1, 0])]),
    i("unlink", "write fast", [1, -1, 1], "@keyspace @write @fast", "request_policy:multi_shard response_policy:agg_sum", &[k("", "RM delete", 1, [-1, 1, 0])]),
    i("unwatch", "noscript loading stale fast allow_busy", [0, 0, 0], "@fast @transaction", "", &[]),
    i("wake", "noscript fast", [0, 0, 0], "@fast @connection", "", &[]),
    i("watch", "noscript loading stale fast allow_busy", [1, -1, 1], "@fast @transaction", "", &[k("", "RO", 1, [-1, 1, 0])]),
    i("zadd", "write denyoom fast", [1, 1, 1], "@write @sortedset @fast", "", &[k("", "RW update", 1, [0, 1, 0])]),
    i("zcard", "readonly fast", [1, 1, 1], "@read @sortedset @fast", "", &[k("", "RO", 1, [0, 1, 0])]),
    i("zincrby", "write denyoom fast", [1, 1, 1], "@write @sortedset @fast", "", &[k("", "RW access update", 1, [0, 1, 0])]),
    i("zpopmin", "write fast", [1, 1, 1], "@write @sortedset @fast", "", &[k("", "RW access delete", 1, [0, 1, 0])]),
    i("zrange", "readonly", [1, 1, 1], "@read @sortedset @slow", "", &[k("", "RO access", 1, [0, 1, 0])]),
    i("zrem", "write fast", [1, 1, 1], "@write @sortedset @fast", "", &[k("", "RW delete", 1, [0, 1, 0])]),
    i("zrevrange", "readonly", [1, 1, 1], "@read @sortedset @slow", "", &[k("", "RO access", 1, [0, 1, 0])]),
    i("zscore", "readonly fast", [1, 1, 1], "@read @sortedset @fast", "", &[k("", "RO access", 1, [0, 1, 0])]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_description_per_command_in_order() {
        for (c, info) in COMMANDS.iter().zip(&INFO) {
            assert_eq!(c.name, info.name);
        }
    }
}
