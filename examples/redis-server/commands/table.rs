//! The command table: every command's name, arity, flags, the keys it
//! touches (so that the dispatcher can lock their shards) and its function.
//! Sorted by name (`names.rs` finds them by a perfect hash); subcommands of containers (CLIENT,
//! COMMAND, CONFIG) are named `container|sub`, as Redis names them.

use super::names::find;
use super::{
    Run, c_str, command_info, connection as conn, hashes, info, keys, lists, multi, scan, server, sets,
    strings, zrange, zsets,
};
use crate::resp::Args;
use crate::store::Store;

/// May run before AUTH.
pub const NO_AUTH: u8 = 1;
/// Refused inside MULTI.
pub const NO_MULTI: u8 = 2;
/// Runs at once inside MULTI instead of being queued.
pub const NOT_QUEUED: u8 = 4;
/// EXEC itself: the dispatcher hands it the whole transaction.
pub const EXEC: u8 = 8;
/// Has subcommands (`name|sub` entries).
pub const CONTAINER: u8 = 16;

/// Which keys a command touches.
#[derive(Debug, Clone, Copy)]
pub enum Keys {
    /// None.
    None,
    /// The first argument.
    One,
    /// Arguments `first`, `first + step`, ... up to `last` (negative counts
    /// from the end: -1 is the last argument).
    Range { first: usize, last: i32, step: usize },
    /// The whole keyspace.
    All,
    /// The keys the client WATCHes (UNWATCH, DISCARD).
    Watched,
}

/// What the dispatcher must lock.
pub enum Lock<'a> {
    None,
    One(&'a [u8]),
    /// The shards pushed to the scratch list.
    Many,
    All,
}

impl Keys {
    /// The shards to lock for `args`; indexes go to `out` for [`Lock::Many`].
    pub fn collect<'a>(&self, args: Args<'a>, store: &Store, out: &mut Vec<usize>) -> Lock<'a> {
        match *self {
            Keys::None => Lock::None,
            Keys::All => Lock::All,
            Keys::Watched => Lock::Many,
            Keys::One => Lock::One(args.get(1)),
            Keys::Range { first, last, step } => {
                let end = if last < 0 {
                    args.len() as i64 + i64::from(last)
                } else {
                    i64::from(last).min(args.len() as i64 - 1)
                };
                let mut i = first;
                while (i as i64) <= end {
                    out.push(store.index(args.get(i)));
                    i += step;
                }
                Lock::Many
            }
        }
    }
}

/// One command.
#[derive(Debug)]
pub struct Command {
    /// Its name in lower case (`client|list` for a subcommand).
    pub name: &'static str,
    /// Its arity as Redis counts it (n: exactly n arguments with the name;
    /// -n: at least n).
    pub arity: i32,
    /// [`NO_AUTH`], [`NO_MULTI`], ...
    pub flags: u8,
    /// The keys it touches.
    pub keys: Keys,
    /// What runs it.
    pub run: Run,
    /// Its position in [`COMMANDS`].
    pub index: usize,
}

impl Command {
    /// Whether it has `flag`.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether `n` arguments (with the name) fit its arity.
    pub fn arity_ok(&self, n: usize) -> bool {
        let n = n as i64;
        let a = i64::from(self.arity);
        if a >= 0 { n == a } else { n >= -a }
    }
}

/// Finds the command for `args`: `Err` holds Redis's error text for an
/// unknown command or subcommand.
pub fn lookup(args: Args<'_>) -> Result<&'static Command, Vec<u8>> {
    let Some(base) = find(args.get(0), None) else {
        return Err(unknown_command(args));
    };
    if !base.has(CONTAINER) || args.len() < 2 {
        return Ok(base);
    }
    find(base.name.as_bytes(), Some(args.get(1))).ok_or_else(|| {
        let mut text = b"ERR unknown subcommand '".to_vec();
        text.extend_from_slice(c_str(args.get(1), 128));
        text.extend_from_slice(b"'. Try ");
        text.extend_from_slice(base.name.to_ascii_uppercase().as_bytes());
        text.extend_from_slice(b" HELP.");
        text
    })
}

/// The command named `name` (`container|sub` for a subcommand), ignoring
/// case, as COMMAND INFO looks names up.
pub fn by_name(name: &[u8]) -> Option<&'static Command> {
    find(name, None)
}

/// `ERR unknown command 'NAME', with args beginning with: 'a' 'b' `, with
/// the arguments cut as Redis cuts them (128 bytes, and C strings end at NUL).
fn unknown_command(args: Args<'_>) -> Vec<u8> {
    let mut list = Vec::new();
    for a in args.iter_from(1) {
        if list.len() >= 128 {
            break;
        }
        list.push(b'\'');
        list.extend_from_slice(c_str(a, 128 - list.len() + 1));
        list.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(c_str(args.get(0), 128));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&list);
    text
}

const fn cmd(index: usize, name: &'static str, arity: i32, flags: u8, keys: Keys, run: Run) -> Command {
    Command {
        name,
        arity,
        flags,
        keys,
        run,
        index,
    }
}

const ONE: Keys = Keys::One;
const NONE: Keys = Keys::None;
const ALL: Keys = Keys::All;
const EACH: Keys = Keys::Range {
    first: 1,
    last: -1,
    step: 1,
};
const PAIRS: Keys = Keys::Range {
    first: 1,
    last: -1,
    step: 2,
};
const TWO: Keys = Keys::Range {
    first: 1,
    last: 2,
    step: 1,
};

/// The number of commands (and subcommands).
pub const COUNT: usize = 94;

/// Every command, sorted by name.
pub static COMMANDS: [Command; COUNT] = [
    cmd(0, "append", 3, 0, ONE, strings::append),
    cmd(1, "auth", -2, NO_AUTH, NONE, conn::auth),
    cmd(2, "client", -2, CONTAINER, NONE, container),
    cmd(3, "client|getname", 2, 0, NONE, conn::client_getname),
    cmd(4, "client|id", 2, 0, NONE, conn::client_id),
    cmd(5, "client|info", 2, 0, NONE, conn::client_info),
    cmd(6, "client|list", -2, 0, NONE, conn::client_list),
    cmd(7, "client|setinfo", 4, 0, NONE, conn::client_setinfo),
    cmd(8, "client|setname", 3, 0, NONE, conn::client_setname),
    cmd(9, "command", -1, CONTAINER, NONE, command_info::command),
    cmd(10, "command|count", 2, 0, NONE, command_info::command_count),
    cmd(11, "command|docs", -2, 0, NONE, server::command_docs),
    cmd(12, "command|info", -2, 0, NONE, command_info::command_info),
    cmd(13, "command|list", -2, 0, NONE, server::command_list),
    cmd(14, "config", -2, CONTAINER, NONE, container),
    cmd(15, "config|get", -3, 0, NONE, server::config_get),
    cmd(16, "dbsize", 1, 0, ALL, keys::dbsize),
    cmd(17, "decr", 2, 0, ONE, strings::decr),
    cmd(18, "decrby", 3, 0, ONE, strings::decrby),
    cmd(19, "del", -2, 0, EACH, keys::del),
    cmd(20, "discard", 1, NOT_QUEUED, Keys::Watched, multi::discard),
    cmd(21, "echo", 2, 0, NONE, conn::echo),
    cmd(22, "exec", 1, NOT_QUEUED | EXEC, NONE, multi::exec_without_multi),
    cmd(23, "exists", -2, 0, EACH, keys::exists),
    cmd(24, "expire", -3, 0, ONE, keys::expire),
    cmd(25, "expireat", -3, 0, ONE, keys::expireat),
    cmd(26, "expiretime", 2, 0, ONE, keys::expiretime),
    cmd(27, "flushall", -1, 0, ALL, keys::flush),
    cmd(28, "flushdb", -1, 0, ALL, keys::flush),
    cmd(29, "get", 2, 0, ONE, strings::get),
    cmd(30, "getdel", 2, 0, ONE, strings::getdel),
    cmd(31, "getex", -2, 0, ONE, strings::getex),
    cmd(32, "getset", 3, 0, ONE, strings::getset),
    cmd(33, "hdel", -3, 0, ONE, hashes::hdel),
    cmd(34, "hello", -1, NO_AUTH, NONE, conn::hello),
    cmd(35, "hexists", 3, 0, ONE, hashes::hexists),
    cmd(36, "hget", 3, 0, ONE, hashes::hget),
    cmd(37, "hgetall", 2, 0, ONE, hashes::hgetall),
    cmd(38, "hlen", 2, 0, ONE, hashes::hlen),
    cmd(39, "hmset", -4, 0, ONE, hashes::hset),
    cmd(40, "hset", -4, 0, ONE, hashes::hset),
    cmd(41, "hsetnx", 4, 0, ONE, hashes::hsetnx),
    cmd(42, "incr", 2, 0, ONE, strings::incr),
    cmd(43, "incrby", 3, 0, ONE, strings::incrby),
    cmd(44, "info", -1, 0, ALL, info::info),
    cmd(45, "keys", 2, 0, ALL, keys::keys),
    cmd(46, "lindex", 3, 0, ONE, lists::lindex),
    cmd(47, "llen", 2, 0, ONE, lists::llen),
    cmd(48, "lpop", -2, 0, ONE, lists::lpop),
    cmd(49, "lpush", -3, 0, ONE, lists::lpush),
    cmd(50, "lrange", 4, 0, ONE, lists::lrange),
    cmd(51, "mget", -2, 0, EACH, strings::mget),
    cmd(52, "mset", -3, 0, PAIRS, strings::mset),
    cmd(53, "multi", 1, NOT_QUEUED, NONE, multi::multi),
    cmd(54, "persist", 2, 0, ONE, keys::persist),
    cmd(55, "pexpire", -3, 0, ONE, keys::pexpire),
    cmd(56, "pexpireat", -3, 0, ONE, keys::pexpireat),
    cmd(57, "pexpiretime", 2, 0, ONE, keys::pexpiretime),
    cmd(58, "ping", -1, 0, NONE, conn::ping),
    cmd(59, "psetex", 4, 0, ONE, strings::psetex),
    cmd(60, "pttl", 2, 0, ONE, keys::pttl),
    cmd(61, "quit", -1, NO_AUTH | NOT_QUEUED, NONE, conn::quit),
    cmd(62, "rename", 3, 0, TWO, keys::rename),
    cmd(63, "renamenx", 3, 0, TWO, keys::renamenx),
    cmd(64, "rpop", -2, 0, ONE, lists::rpop),
    cmd(65, "rpush", -3, 0, ONE, lists::rpush),
    cmd(66, "sadd", -3, 0, ONE, sets::sadd),
    cmd(67, "scan", -2, 0, ALL, scan::scan),
    cmd(68, "scard", 2, 0, ONE, sets::scard),
    cmd(69, "select", 2, 0, NONE, conn::select),
    cmd(70, "set", -3, 0, ONE, strings::set),
    cmd(71, "setex", 4, 0, ONE, strings::setex),
    cmd(72, "setnx", 3, 0, ONE, strings::setnx),
    cmd(73, "shutdown", -1, NO_MULTI, NONE, server::shutdown),
    cmd(74, "sismember", 3, 0, ONE, sets::sismember),
    cmd(75, "smembers", 2, 0, ONE, sets::smembers),
    cmd(76, "spop", -2, 0, ONE, sets::spop),
    cmd(77, "srem", -3, 0, ONE, sets::srem),
    cmd(78, "strlen", 2, 0, ONE, strings::strlen),
    cmd(79, "time", 1, 0, NONE, server::time),
    cmd(80, "ttl", 2, 0, ONE, keys::ttl),
    cmd(81, "type", 2, 0, ONE, keys::type_),
    cmd(82, "unlink", -2, 0, EACH, keys::del),
    cmd(83, "unwatch", 1, 0, Keys::Watched, multi::unwatch),
    cmd(84, "wake", 1, NO_MULTI, NONE, server::wake),
    cmd(85, "watch", -2, NOT_QUEUED, EACH, multi::watch),
    cmd(86, "zadd", -4, 0, ONE, zsets::zadd),
    cmd(87, "zcard", 2, 0, ONE, zsets::zcard),
    cmd(88, "zincrby", 4, 0, ONE, zsets::zincrby),
    cmd(89, "zpopmin", -2, 0, ONE, zsets::zpopmin),
    cmd(90, "zrange", -4, 0, ONE, zrange::zrange),
    cmd(91, "zrem", -3, 0, ONE, zsets::zrem),
    cmd(92, "zrevrange", -4, 0, ONE, zrange::zrevrange),
    cmd(93, "zscore", 3, 0, ONE, zsets::zscore),
];

/// The run of a container called without a subcommand: its arity (-2)
/// rules that out, so this only answers if the table is changed.
fn container(ctx: &mut super::Ctx<'_, '_>, _: Args<'_>) -> super::Effect {
    super::error(ctx, super::SYNTAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_indexed() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert_eq!(c.index, i, "{}", c.name);
            if i > 0 {
                assert!(
                    COMMANDS[i - 1].name < c.name,
                    "{} before {}",
                    COMMANDS[i - 1].name,
                    c.name
                );
            }
        }
    }
}
