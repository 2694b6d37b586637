//! Random commands for the differential test: keys from a small set (so that
//! commands meet each other's keys and types), binary values, integer and
//! float edges, options in every order and repeated, wrong arity.

/// SplitMix64: small, seedable, good enough to pick test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// How replies to a command compare between the two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Byte for byte.
    Exact,
    /// An integer that may differ by the time between the two servers
    /// running the command (TTL and friends): the allowed difference.
    Near(i64),
    /// The same elements in any order (SMEMBERS, KEYS, SPOP with a count).
    Unordered,
    /// The same field-value pairs in any order (HGETALL).
    Pairs,
    /// A random pick (SPOP): only the shape is compared.
    Shape,
    /// HELLO: equal once the client ids are masked.
    Hello,
}

/// One generated command.
pub struct Command {
    pub args: Vec<Vec<u8>>,
    pub kind: Kind,
}

const KEYS: &[&[u8]] = &[b"k0", b"k1", b"k2", b"k3", b"k4", b"k\0\r\n5"];
const MEMBERS: &[&[u8]] = &[b"a", b"b", b"c", b"1", b"-2", b"x\0y", b"", b"ab"];
const INTS: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"7",
    b"100",
    b"-100",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"01",
    b"+1",
    b" 1",
    b"1.5",
    b"x",
    b"",
    b"3",
];
const FLOATS: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"1.5",
    b"-2.25",
    b"0.1",
    b"inf",
    b"-inf",
    b"+inf",
    b"1e3",
    b"1e400",
    b"1e-400",
    b"nan",
    b"x",
    b"",
    b" 1",
    b"3.0000000000000004",
    b".5",
    b"5.",
    b"1e-5",
    b"123456789012345678",
    b"0x10",
    b"0X1p3",
    b"-0x1.8p1",
    b"0x",
    b"0x1p99999",
    b"0x1p-1074",
    b"0x1p-1075",
    b"0x1.00000000000008p0",
];
const LONG_TTL: &[&[u8]] = &[b"1000", b"50000", b"99999", b"3600"];

impl Rng {
    fn key(&mut self) -> Vec<u8> {
        self.pick(KEYS).to_vec()
    }

    fn member(&mut self) -> Vec<u8> {
        if self.chance(5) {
            let n = self.below(6);
            return (0..n).map(|_| self.next() as u8).collect();
        }
        self.pick(MEMBERS).to_vec()
    }

    fn value(&mut self) -> Vec<u8> {
        match self.below(4) {
            0 => self.pick(INTS).to_vec(),
            1 => self.pick(FLOATS).to_vec(),
            2 => {
                let n = self.below(12);
                (0..n).map(|_| self.next() as u8).collect()
            }
            _ => self.member(),
        }
    }

    /// A float argument: one of [`FLOATS`], or a random hexadecimal one
    /// (strtod reads them: `0x1.8p3`), valid or not.
    fn float(&mut self) -> Vec<u8> {
        if self.chance(75) {
            return self.pick(FLOATS).to_vec();
        }
        const HEX: &[u8] = b"0123456789abcdefABCDEF";
        const SIGNS: &[&[u8]] = &[b"0x", b"-0X", b"+0x", b"0x0000"];
        const EXPS: &[&[u8]] = &[b"p", b"P-", b"p+", b"p-10"];
        const POWERS: &[&[u8]] = &[b"", b"3", b"1074", b"1023", b"1100", b"40"];
        let mut f = self.pick(SIGNS).to_vec();
        for _ in 0..self.below(20) {
            f.push(*self.pick(HEX));
        }
        if self.chance(50) {
            f.push(b'.');
            for _ in 0..self.below(6) {
                f.push(*self.pick(HEX));
            }
        }
        if self.chance(50) {
            let (e, p) = (*self.pick(EXPS), *self.pick(POWERS));
            f.extend_from_slice(e);
            f.extend_from_slice(p);
        }
        f
    }

    fn int(&mut self) -> Vec<u8> {
        self.pick(INTS).to_vec()
    }

    fn small(&mut self) -> Vec<u8> {
        self.pick(&[
            &b"0"[..],
            b"1",
            b"2",
            b"3",
            b"-1",
            b"-2",
            b"10",
            b"-10",
            b"x",
            b"-5",
        ])
        .to_vec()
    }

    /// A far deadline or a past one (both deterministic between servers).
    fn expire_time(&mut self, unit_ms: bool, absolute: bool) -> Vec<u8> {
        if absolute {
            let past = self.pick(&[&b"1"[..], b"0", b"-5", b"1000000000"]).to_vec();
            let future: &[u8] = if unit_ms {
                b"99999999999999"
            } else {
                b"99999999999"
            };
            return if self.chance(50) { past } else { future.to_vec() };
        }
        match self.below(5) {
            0 => self.pick(&[&b"0"[..], b"-1", b"-100"]).to_vec(),
            1 => {
                // Not a short positive time: whether it ran out would depend on timing.
                let odd: &[&[u8]] = &[
                    b"9223372036854775808",
                    b"01",
                    b"+1",
                    b" 1",
                    b"1.5",
                    b"x",
                    b"",
                    b"-9223372036854775808",
                ];
                self.pick(odd).to_vec()
            }
            2 => {
                let big: &[&[u8]] = &[b"9223370399119966", b"9223372036854775807", b"9223372036854774"];
                self.pick(big).to_vec()
            }
            _ => {
                let t = self.pick(LONG_TTL).to_vec();
                if unit_ms { [t, b"000".to_vec()].concat() } else { t }
            }
        }
    }

    /// `n` options from `choices`, in random order, possibly repeated.
    fn options(&mut self, choices: &[&[u8]], n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| self.pick(choices).to_vec()).collect()
    }
}

fn v(items: &[&[u8]]) -> Vec<Vec<u8>> {
    items.iter().map(|a| a.to_vec()).collect()
}

/// The next command. `in_multi`: the generator's guess that a transaction
/// is open (no random picks are queued then).
pub fn command(r: &mut Rng, proto: i64, in_multi: bool) -> Vec<Command> {
    let k = r.key();
    let exact = |args: Vec<Vec<u8>>| Command {
        args,
        kind: Kind::Exact,
    };
    let mut args: Vec<Vec<u8>> = match r.below(66) {
        0..=3 => vec![b"SET".to_vec(), k, r.value()],
        4 => {
            let mut a = vec![b"SET".to_vec(), k, r.value()];
            let n = r.below(4);
            for _ in 0..n {
                match r.below(8) {
                    0 => a.push(b"NX".to_vec()),
                    1 => a.push(b"XX".to_vec()),
                    2 => a.push(b"GET".to_vec()),
                    3 => a.push(b"KEEPTTL".to_vec()),
                    4 => a.extend([
                        r.pick(&[&b"EX"[..], b"PX", b"ex"]).to_vec(),
                        r.expire_time(false, false),
                    ]),
                    5 => a.extend([
                        r.pick(&[&b"EXAT"[..], b"PXAT"]).to_vec(),
                        r.expire_time(true, true),
                    ]),
                    6 => a.push(r.pick(&[&b"FOO"[..], b"EX"]).to_vec()),
                    _ => a.push(b"get".to_vec()),
                }
            }
            a
        }
        5..=7 => vec![b"GET".to_vec(), k],
        8 => vec![b"SETNX".to_vec(), k, r.value()],
        9 => vec![
            r.pick(&[&b"SETEX"[..], b"PSETEX"]).to_vec(),
            k,
            r.expire_time(false, false),
            r.value(),
        ],
        10 => vec![r.pick(&[&b"GETSET"[..], b"GETDEL"]).to_vec(), k, r.value()],
        11 => {
            let mut a = vec![b"GETEX".to_vec(), k];
            match r.below(5) {
                0 => {}
                1 => a.push(b"PERSIST".to_vec()),
                2 => a.extend([r.pick(&[&b"EX"[..], b"PX"]).to_vec(), r.expire_time(false, false)]),
                3 => a.extend([
                    r.pick(&[&b"EXAT"[..], b"PXAT"]).to_vec(),
                    r.expire_time(true, true),
                ]),
                _ => a.extend(r.options(&[b"PERSIST", b"EX", b"KEEPTTL", b"10"], 2)),
            }
            a
        }
        12 => vec![
            r.pick(&[&b"STRLEN"[..], b"TYPE", b"EXISTS", b"PERSIST"]).to_vec(),
            k,
        ],
        13 => vec![b"APPEND".to_vec(), k, r.value()],
        14..=15 => vec![r.pick(&[&b"INCR"[..], b"DECR"]).to_vec(), k],
        16 => vec![r.pick(&[&b"INCRBY"[..], b"DECRBY"]).to_vec(), k, r.int()],
        17 => {
            let mut a = vec![b"MSET".to_vec()];
            for _ in 0..=r.below(3) {
                a.extend([r.key(), r.value()]);
            }
            a
        }
        18 => [
            vec![b"MGET".to_vec()],
            (0..=r.below(3)).map(|_| r.key()).collect(),
        ]
        .concat(),
        19 => [
            vec![r.pick(&[&b"DEL"[..], b"UNLINK", b"EXISTS"]).to_vec()],
            (0..=r.below(2)).map(|_| r.key()).collect(),
        ]
        .concat(),
        20..=21 => {
            let name = r
                .pick(&[&b"EXPIRE"[..], b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT"])
                .to_vec();
            let ms = name.starts_with(b"P");
            let at = name.ends_with(b"AT");
            let mut a = vec![name, k, r.expire_time(ms, at)];
            let n = r.below(3);
            a.extend(r.options(&[b"NX", b"XX", b"GT", b"LT", b"gt", b"BAD"], n));
            a
        }
        22 => {
            let name = r
                .pick(&[&b"TTL"[..], b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"])
                .to_vec();
            let near = if name.starts_with(b"P") { 2000 } else { 2 };
            return vec![Command {
                args: vec![name, k],
                kind: Kind::Near(near),
            }];
        }
        23 => vec![r.pick(&[&b"RENAME"[..], b"RENAMENX"]).to_vec(), k, r.key()],
        24..=26 => {
            let mut a = vec![r.pick(&[&b"LPUSH"[..], b"RPUSH"]).to_vec(), k];
            for _ in 0..=r.below(3) {
                a.push(r.member());
            }
            a
        }
        27..=28 => {
            let mut a = vec![r.pick(&[&b"LPOP"[..], b"RPOP"]).to_vec(), k];
            if r.chance(50) {
                a.push(r.small());
            }
            a
        }
        29 => vec![b"LRANGE".to_vec(), k, r.small(), r.small()],
        30 => vec![r.pick(&[&b"LLEN"[..], b"SCARD", b"HLEN", b"ZCARD"]).to_vec(), k],
        31 => vec![b"LINDEX".to_vec(), k, r.small()],
        32..=34 => {
            let mut a = vec![r.pick(&[&b"SADD"[..], b"SREM"]).to_vec(), k];
            for _ in 0..=r.below(3) {
                a.push(r.member());
            }
            a
        }
        35 if !in_multi => {
            let mut a = vec![b"SPOP".to_vec(), k.clone()];
            if r.chance(50) {
                a.push(r.small());
            }
            // Random picks differ between servers: compare the shape, then
            // drop the key on both so that they agree again.
            return vec![
                Command {
                    args: a,
                    kind: Kind::Shape,
                },
                exact(vec![b"DEL".to_vec(), k]),
            ];
        }
        36 => {
            return vec![Command {
                args: vec![b"SMEMBERS".to_vec(), k],
                kind: Kind::Unordered,
            }];
        }
        37 => vec![b"SISMEMBER".to_vec(), k, r.member()],
        38..=40 => {
            let mut a = vec![r.pick(&[&b"HSET"[..], b"HMSET"]).to_vec(), k];
            for _ in 0..=r.below(2) {
                a.extend([r.member(), r.value()]);
            }
            a
        }
        41 => vec![
            r.pick(&[&b"HGET"[..], b"HEXISTS", b"HDEL"]).to_vec(),
            k,
            r.member(),
        ],
        42 => vec![b"HSETNX".to_vec(), k, r.member(), r.value()],
        43 => {
            return vec![Command {
                args: vec![b"HGETALL".to_vec(), k],
                kind: Kind::Pairs,
            }];
        }
        44..=46 => {
            let mut a = vec![b"ZADD".to_vec(), k];
            let n = r.below(3);
            a.extend(r.options(&[b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"ch"], n));
            for _ in 0..=r.below(2) {
                a.extend([r.float(), r.member()]);
            }
            a
        }
        47 => vec![b"ZINCRBY".to_vec(), k, r.float(), r.member()],
        48 => {
            let mut a = vec![b"ZPOPMIN".to_vec(), k];
            if r.chance(50) {
                a.push(r.small());
            }
            a
        }
        49..=50 => {
            let mut a = vec![b"ZRANGE".to_vec(), k];
            match r.below(3) {
                0 => a.extend([r.small(), r.small()]),
                1 => {
                    let b: &[&[u8]] = &[b"-inf", b"+inf", b"(1", b"1.5", b"0", b"(", b"x", b"2"];
                    a.extend([r.pick(b).to_vec(), r.pick(b).to_vec(), b"BYSCORE".to_vec()]);
                }
                _ => {
                    let b: &[&[u8]] = &[b"-", b"+", b"[a", b"(b", b"[", b"c", b"(1"];
                    a.extend([r.pick(b).to_vec(), r.pick(b).to_vec(), b"BYLEX".to_vec()]);
                }
            }
            let n = r.below(3);
            for _ in 0..n {
                match r.below(4) {
                    0 => a.push(b"REV".to_vec()),
                    1 => a.push(b"WITHSCORES".to_vec()),
                    2 => a.extend([b"LIMIT".to_vec(), r.small(), r.small()]),
                    _ => a.push(r.pick(&[&b"BYSCORE"[..], b"BYLEX", b"LIMIT"]).to_vec()),
                }
            }
            a
        }
        51 => {
            if r.chance(50) {
                return vec![exact(vec![b"ZSCORE".to_vec(), k, r.member()])];
            }
            let mut a = vec![b"ZREVRANGE".to_vec(), k, r.small(), r.small()];
            let n = r.below(3);
            a.extend(r.options(
                &[b"WITHSCORES", b"withscores", b"REV", b"BYSCORE", b"LIMIT", b"1"],
                n,
            ));
            a
        }
        52 => vec![b"ZREM".to_vec(), k, r.member(), r.member()],
        53 => v(&[b"MULTI"]),
        54 => v(&[b"EXEC"]),
        55 => vec![r.pick(&[&b"DISCARD"[..], b"UNWATCH", b"MULTI", b"EXEC"]).to_vec()],
        56 => [
            vec![b"WATCH".to_vec()],
            (0..=r.below(2)).map(|_| r.key()).collect(),
        ]
        .concat(),
        57 => {
            if r.chance(50) {
                v(&[b"PING"])
            } else {
                vec![b"PING".to_vec(), r.value()]
            }
        }
        58 => vec![b"ECHO".to_vec(), r.value()],
        59 => {
            return vec![Command {
                args: vec![
                    b"KEYS".to_vec(),
                    r.pick(&[&b"*"[..], b"k[0-2]", b"k?", b"x*"]).to_vec(),
                ],
                kind: Kind::Unordered,
            }];
        }
        60 => {
            let name = r
                .pick(&[&b"NOSUCH"[..], b"foo\0bar", b"x\r\ny", b"CLIENT", b"CONFIG"])
                .to_vec();
            let n = r.below(3);
            [vec![name], (0..n).map(|_| r.value()).collect()].concat()
        }
        61 => {
            let opts: &[&[u8]] = &[b"AUTH", b"SETNAME", b"default", b"x", b"conn", b"bad\0opt"];
            let version = if r.chance(80) {
                proto.to_string().into_bytes()
            } else {
                r.pick(&[&b"4"[..], b"x", b"1"]).to_vec()
            };
            let n = r.below(4);
            return vec![Command {
                args: [vec![b"HELLO".to_vec(), version], r.options(opts, n)].concat(),
                kind: Kind::Hello,
            }];
        }
        62 => {
            let n = r.below(3) + 1;
            [vec![b"AUTH".to_vec()], r.options(&[b"default", b"pw", b"x"], n)].concat()
        }
        63 => match r.below(3) {
            0 => vec![
                b"CLIENT".to_vec(),
                b"SETNAME".to_vec(),
                r.pick(&[&b"n1"[..], b"bad name", b""]).to_vec(),
            ],
            1 => v(&[b"CLIENT", b"GETNAME"]),
            _ => vec![
                b"SELECT".to_vec(),
                r.pick(&[&b"0"[..], b"x", b"-1", b"16"]).to_vec(),
            ],
        },
        64 => vec![b"FLUSHALL".to_vec()],
        _ => vec![
            r.pick(&[
                &b"SET"[..],
                b"GET",
                b"LPUSH",
                b"ZADD",
                b"HSET",
                b"INCR",
                b"EXPIRE",
                b"SADD",
                b"ZRANGE",
            ])
            .to_vec(),
        ],
    };
    // Now and then: the wrong number of arguments.
    if r.chance(3) && args.len() > 1 {
        args.pop();
    } else if r.chance(2) {
        args.push(r.member());
    }
    vec![exact(args)]
}
