//! Command table, argument access, execution context and shared error strings.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::protocol::reply::Reply;
use crate::session::{ClientState, Shared};
use crate::store::compact::EncodingLimits;
use crate::store::db::{Db, Locked, Rng, Shard};

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const SYNTAX: &str = "ERR syntax error";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OUT_OF_RANGE: &str = "ERR value is out of range, must be positive";

/// Arguments of one command, borrowed from the read buffer (or a scratch/queued buffer).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(base: &'a [u8], ranges: &'a [(usize, usize)]) -> Args<'a> {
        Args { base, ranges }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.base[s..e]
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|&(s, e)| &self.base[s..e])
    }

    /// Arguments from `from` on.
    pub fn from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges[from.min(self.ranges.len())..].iter().map(|&(s, e)| &self.base[s..e])
    }

    /// Owned copy (for MULTI queues).
    pub fn to_owned_parts(&self) -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut base = Vec::new();
        let mut ranges = Vec::with_capacity(self.len());
        for a in self.iter() {
            let s = base.len();
            base.extend_from_slice(a);
            ranges.push((s, base.len()));
        }
        (base, ranges)
    }
}

/// Case-insensitive ASCII comparison of an argument with a keyword.
#[inline]
pub fn eq_ic(a: &[u8], kw: &str) -> bool {
    a.eq_ignore_ascii_case(kw.as_bytes())
}

/// Everything a command handler may touch.
pub struct Ctx<'a, 'l> {
    pub out: &'l mut Vec<u8>,
    pub locked: &'l mut Locked<'a>,
    pub db: &'a Db,
    pub client: &'l mut ClientState,
    pub shared: &'a Shared,
    pub rng: &'l mut Rng,
}

impl Ctx<'_, '_> {
    /// The (already locked) partition owning `key`.
    #[inline]
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        let i = self.db.shard_of(key);
        self.locked.shard_idx(i)
    }

    /// The partition owning `key` together with the reply buffer.
    #[inline]
    pub fn shard_out(&mut self, key: &[u8]) -> (&mut Shard, &mut Vec<u8>) {
        let i = self.db.shard_of(key);
        (self.locked.shard_idx(i), self.out)
    }

    pub fn err(&mut self, e: &str) {
        self.out.error(e);
    }

    /// The compact-encoding thresholds in effect for this command.
    #[inline]
    pub fn limits(&self) -> EncodingLimits {
        self.shared.encoding.limits()
    }
}

/// Which keys a command touches, for locking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// No keyspace access.
    None,
    /// Whole keyspace (KEYS, SCAN, FLUSHALL, DBSIZE...).
    All,
    /// Keys at positions first, first+step, ..., up to last (negative: from the end).
    Range { first: usize, last: i32, step: usize },
}

pub const F_WRITE: u32 = 1;
/// Runs immediately even inside MULTI.
pub const F_TX_CONTROL: u32 = 2;
pub const F_READONLY: u32 = 4;
pub const F_FAST: u32 = 8;
/// May grow memory: refused with OOM while used memory exceeds `maxmemory` (Redis's `denyoom`).
pub const F_DENYOOM: u32 = 16;
/// Allowed before the client authenticated (Redis's `no-auth`).
pub const F_NO_AUTH: u32 = 32;

pub type Handler = fn(&mut Ctx<'_, '_>, &Args<'_>);

/// One command: name (lowercase), Redis arity, keys, flags, handler.
pub struct CommandSpec {
    pub name: &'static str,
    pub arity: i32,
    pub keys: KeySpec,
    pub flags: u32,
    pub run: Handler,
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 {
            argc == a as usize
        } else {
            argc >= (-a) as usize
        }
    }

    /// Pushes the sorted, deduplicated partitions this call touches into `out`; false for "all".
    pub fn partitions(&self, args: &Args<'_>, db: &Db, out: &mut Vec<usize>) -> bool {
        out.clear();
        match self.keys {
            KeySpec::None => true,
            KeySpec::All => false,
            KeySpec::Range { first, last, step } => {
                let n = args.len() as i32;
                let last = if last < 0 { n + last } else { last.min(n - 1) };
                let mut i = first as i32;
                while i <= last {
                    out.push(db.shard_of(args.get(i as usize)));
                    i += step as i32;
                }
                if out.len() > 1 {
                    out.sort_unstable();
                    out.dedup();
                }
                true
            }
        }
    }
}

const fn keys(first: usize, last: i32, step: usize) -> KeySpec {
    KeySpec::Range { first, last, step }
}

macro_rules! cmd {
    ($name:expr, $arity:expr, $keys:expr, $flags:expr, $run:path) => {
        CommandSpec { name: $name, arity: $arity, keys: $keys, flags: $flags, run: $run }
    };
}

use super::{connection as c, hashes as h, keys as k, lists as l, scan as sc, server as s, sets as st};
use super::{streams as x, strings as sg, transactions as t, zsets as z};

const W: u32 = F_WRITE;
const R: u32 = F_READONLY;
const WF: u32 = F_WRITE | F_FAST;
const RF: u32 = F_READONLY | F_FAST;
const WM: u32 = F_WRITE | F_DENYOOM;
const WMF: u32 = F_WRITE | F_DENYOOM | F_FAST;
const N: KeySpec = KeySpec::None;
const ALL: KeySpec = KeySpec::All;
const K1: KeySpec = keys(1, 1, 1);
const KN: KeySpec = keys(1, -1, 1);

/// Every supported command.
pub static COMMANDS: &[CommandSpec] = &[
    // connection
    cmd!("ping", -1, N, F_FAST, c::ping),
    cmd!("echo", 2, N, F_FAST, c::echo),
    cmd!("hello", -1, N, F_FAST | F_NO_AUTH, c::hello),
    cmd!("auth", -2, N, F_FAST | F_NO_AUTH, c::auth),
    cmd!("select", 2, N, F_FAST, c::select),
    cmd!("quit", -1, N, F_TX_CONTROL | F_FAST | F_NO_AUTH, c::quit),
    cmd!("reset", 1, N, F_TX_CONTROL | F_FAST | F_NO_AUTH, c::reset),
    cmd!("client", -2, N, 0, c::client),
    // server
    cmd!("command", -1, N, 0, s::command),
    cmd!("info", -1, ALL, 0, s::info),
    cmd!("config", -2, ALL, 0, s::config),
    cmd!("dbsize", 1, ALL, RF, s::dbsize),
    cmd!("flushdb", -1, ALL, W, s::flushdb),
    cmd!("flushall", -1, ALL, W, s::flushdb),
    cmd!("time", 1, N, F_FAST, s::time),
    cmd!("shutdown", -1, N, 0, s::shutdown),
    // keys
    cmd!("del", -2, KN, W, k::del),
    cmd!("unlink", -2, KN, WF, k::unlink),
    cmd!("exists", -2, KN, RF, k::exists),
    cmd!("type", 2, K1, RF, k::type_),
    cmd!("object", -2, ALL, R, k::object),
    cmd!("expire", -3, K1, WF, k::expire),
    cmd!("pexpire", -3, K1, WF, k::pexpire),
    cmd!("expireat", -3, K1, WF, k::expireat),
    cmd!("pexpireat", -3, K1, WF, k::pexpireat),
    cmd!("ttl", 2, K1, RF, k::ttl),
    cmd!("pttl", 2, K1, RF, k::pttl),
    cmd!("expiretime", 2, K1, RF, k::expiretime),
    cmd!("pexpiretime", 2, K1, RF, k::pexpiretime),
    cmd!("persist", 2, K1, WF, k::persist),
    cmd!("keys", 2, ALL, R, k::keys),
    cmd!("scan", -2, ALL, R, sc::scan),
    cmd!("rename", 3, keys(1, 2, 1), W, k::rename),
    cmd!("renamenx", 3, keys(1, 2, 1), WF, k::renamenx),
    cmd!("randomkey", 1, ALL, R, k::randomkey),
    // strings
    cmd!("get", 2, K1, RF, sg::get),
    cmd!("set", -3, K1, WM, sg::set),
    cmd!("setnx", 3, K1, WMF, sg::setnx),
    cmd!("setex", 4, K1, WM, sg::setex),
    cmd!("psetex", 4, K1, WM, sg::psetex),
    cmd!("mget", -2, KN, RF, sg::mget),
    cmd!("mset", -3, keys(1, -1, 2), WM, sg::mset),
    cmd!("msetnx", -3, keys(1, -1, 2), WM, sg::msetnx),
    cmd!("incr", 2, K1, WMF, sg::incr),
    cmd!("decr", 2, K1, WMF, sg::decr),
    cmd!("incrby", 3, K1, WMF, sg::incrby),
    cmd!("decrby", 3, K1, WMF, sg::decrby),
    cmd!("incrbyfloat", 3, K1, WMF, sg::incrbyfloat),
    cmd!("append", 3, K1, WMF, sg::append),
    cmd!("strlen", 2, K1, RF, sg::strlen),
    cmd!("getset", 3, K1, WMF, sg::getset),
    cmd!("getdel", 2, K1, WF, sg::getdel),
    cmd!("getrange", 4, K1, R, sg::getrange),
    cmd!("substr", 4, K1, R, sg::getrange),
    cmd!("setrange", 4, K1, WM, sg::setrange),
    // lists
    cmd!("lpush", -3, K1, WMF, l::lpush),
    cmd!("rpush", -3, K1, WMF, l::rpush),
    cmd!("lpushx", -3, K1, WMF, l::lpushx),
    cmd!("rpushx", -3, K1, WMF, l::rpushx),
    cmd!("lpop", -2, K1, WF, l::lpop),
    cmd!("rpop", -2, K1, WF, l::rpop),
    cmd!("llen", 2, K1, RF, l::llen),
    cmd!("lrange", 4, K1, R, l::lrange),
    cmd!("lindex", 3, K1, R, l::lindex),
    cmd!("lset", 4, K1, WM, l::lset),
    cmd!("lrem", 4, K1, W, l::lrem),
    cmd!("ltrim", 4, K1, W, l::ltrim),
    cmd!("linsert", 5, K1, WM, l::linsert),
    // sets
    cmd!("sadd", -3, K1, WMF, st::sadd),
    cmd!("srem", -3, K1, WF, st::srem),
    cmd!("smembers", 2, K1, R, st::smembers),
    cmd!("sismember", 3, K1, RF, st::sismember),
    cmd!("smismember", -3, K1, RF, st::smismember),
    cmd!("scard", 2, K1, RF, st::scard),
    cmd!("spop", -2, K1, WF, st::spop),
    cmd!("srandmember", -2, K1, R, st::srandmember),
    cmd!("sinter", -2, KN, R, st::sinter),
    cmd!("sunion", -2, KN, R, st::sunion),
    cmd!("sdiff", -2, KN, R, st::sdiff),
    cmd!("sinterstore", -3, KN, WM, st::sinterstore),
    cmd!("sunionstore", -3, KN, WM, st::sunionstore),
    cmd!("sdiffstore", -3, KN, WM, st::sdiffstore),
    cmd!("sscan", -3, K1, R, sc::sscan),
    // hashes
    cmd!("hset", -4, K1, WMF, h::hset),
    cmd!("hmset", -4, K1, WMF, h::hmset),
    cmd!("hsetnx", 4, K1, WMF, h::hsetnx),
    cmd!("hget", 3, K1, RF, h::hget),
    cmd!("hmget", -3, K1, RF, h::hmget),
    cmd!("hgetall", 2, K1, R, h::hgetall),
    cmd!("hdel", -3, K1, WF, h::hdel),
    cmd!("hlen", 2, K1, RF, h::hlen),
    cmd!("hexists", 3, K1, RF, h::hexists),
    cmd!("hincrby", 4, K1, WMF, h::hincrby),
    cmd!("hincrbyfloat", 4, K1, WMF, h::hincrbyfloat),
    cmd!("hkeys", 2, K1, R, h::hkeys),
    cmd!("hvals", 2, K1, R, h::hvals),
    cmd!("hstrlen", 3, K1, RF, h::hstrlen),
    cmd!("hscan", -3, K1, R, sc::hscan),
    // sorted sets
    cmd!("zadd", -4, K1, WMF, z::zadd),
    cmd!("zrem", -3, K1, WF, z::zrem),
    cmd!("zscore", 3, K1, RF, z::zscore),
    cmd!("zmscore", -3, K1, RF, z::zmscore),
    cmd!("zincrby", 4, K1, WMF, z::zincrby),
    cmd!("zcard", 2, K1, RF, z::zcard),
    cmd!("zcount", 4, K1, RF, z::zcount),
    cmd!("zrank", -3, K1, RF, z::zrank),
    cmd!("zrevrank", -3, K1, RF, z::zrevrank),
    cmd!("zrange", -4, K1, R, z::zrange),
    cmd!("zrevrange", -4, K1, R, z::zrevrange),
    cmd!("zrangebyscore", -4, K1, R, z::zrangebyscore),
    cmd!("zrevrangebyscore", -4, K1, R, z::zrevrangebyscore),
    cmd!("zpopmin", -2, K1, WF, z::zpopmin),
    cmd!("zpopmax", -2, K1, WF, z::zpopmax),
    cmd!("zscan", -3, K1, R, sc::zscan),
    // streams
    cmd!("xadd", -5, K1, WMF, x::xadd),
    cmd!("xlen", 2, K1, RF, x::xlen),
    cmd!("xrange", -4, K1, R, x::xrange),
    cmd!("xrevrange", -4, K1, R, x::xrevrange),
    // transactions
    cmd!("multi", 1, N, F_TX_CONTROL | F_FAST, t::multi),
    cmd!("exec", 1, N, F_TX_CONTROL, t::exec),
    cmd!("discard", 1, N, F_TX_CONTROL | F_FAST, t::discard),
    cmd!("watch", -2, N, F_TX_CONTROL | F_FAST, t::watch),
    cmd!("unwatch", 1, N, F_TX_CONTROL | F_FAST, t::unwatch),
];

fn table() -> &'static HashMap<&'static [u8], &'static CommandSpec, crate::store::db::Hasher> {
    static TABLE: OnceLock<HashMap<&'static [u8], &'static CommandSpec, crate::store::db::Hasher>> =
        OnceLock::new();
    TABLE.get_or_init(|| COMMANDS.iter().map(|c| (c.name.as_bytes(), c)).collect())
}

/// Finds a command by case-insensitive name.
#[inline]
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > 24 {
        return None;
    }
    let mut buf = [0u8; 24];
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    table().get(&buf[..name.len()]).copied()
}

/// Redis's "unknown command" error, with the same truncation of the argument preview.
pub fn unknown_command_error(args: &Args<'_>) -> String {
    let name = String::from_utf8_lossy(&trunc_c(args.get(0), 128)).into_owned();
    let mut preview = String::new();
    for a in args.from(1) {
        if preview.len() >= 128 {
            break;
        }
        let room = 128 - preview.len();
        preview.push('\'');
        preview.push_str(&String::from_utf8_lossy(&trunc_c(a, room)));
        preview.push_str("' ");
    }
    format!("ERR unknown command '{name}', with args beginning with: {preview}")
}

/// Truncates like printf's "%.*s": at `max` bytes or the first NUL.
fn trunc_c(a: &[u8], max: usize) -> Vec<u8> {
    let end = a.iter().position(|&b| b == 0).unwrap_or(a.len()).min(max);
    a[..end].to_vec()
}

/// "wrong number of arguments" error for a command or subcommand name.
pub fn arity_error(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// Parses an integer argument like Redis (strict).
#[inline]
pub fn int_arg(a: &[u8]) -> Option<i64> {
    crate::protocol::frame::parse_i64(a)
}

/// Writes the standard "+QUEUED"-free error reply for a wrong-type access.
pub fn wrongtype(out: &mut Vec<u8>) {
    out.error(WRONGTYPE);
}

/// Glob-style matching like Redis's `stringmatchlen` (*, ?, [..], \\ escapes).
///
/// Polynomial like Redis's (`skipLongerMatches`): once the pattern after a `*` has failed against
/// every suffix of the string, no earlier `*` can make it match by giving it a shorter suffix, so
/// the whole match fails at once instead of backtracking through every split (`*a*a*a*...b`).
pub fn glob_match(pat: &[u8], s: &[u8], nocase: bool) -> bool {
    let mut give_up = false;
    glob_rec(pat, s, nocase, 0, &mut give_up)
}

fn glob_rec(mut p: &[u8], mut s: &[u8], nocase: bool, depth: usize, give_up: &mut bool) -> bool {
    if depth > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| if nocase { a.eq_ignore_ascii_case(&b) } else { a == b };
    while !p.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if glob_rec(&p[1..], &s[i..], nocase, depth + 1, give_up) {
                        return true;
                    }
                    if *give_up {
                        return false;
                    }
                }
                *give_up = true;
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
                p = &p[1..];
            }
            b'[' => {
                if s.is_empty() {
                    return false;
                }
                p = &p[1..];
                let not = !p.is_empty() && p[0] == b'^';
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if eq(p[0], s[0]) {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut a, mut b) = (p[0], p[2]);
                        if a > b {
                            std::mem::swap(&mut a, &mut b);
                        }
                        let c = if nocase { s[0].to_ascii_lowercase() } else { s[0] };
                        let (a, b) =
                            if nocase { (a.to_ascii_lowercase(), b.to_ascii_lowercase()) } else { (a, b) };
                        if c >= a && c <= b {
                            matched = true;
                        }
                        p = &p[2..];
                    } else if eq(p[0], s[0]) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                if !p.is_empty() {
                    p = &p[1..];
                }
            }
            b'\\' if p.len() >= 2 => {
                if s.is_empty() || !eq(p[1], s[0]) {
                    return false;
                }
                s = &s[1..];
                p = &p[2..];
            }
            c => {
                if s.is_empty() || !eq(c, s[0]) {
                    return false;
                }
                s = &s[1..];
                p = &p[1..];
            }
        }
    }
    s.is_empty()
}

/// Normalises a (start, end) index pair like Redis's LRANGE/GETRANGE; None when empty.
pub fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e < 0 || s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"key:*:x", b"key:12:x", false));
        assert!(!glob_match(b"key:*:x", b"key:12:y", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(glob_match(b"MAX*", b"maxmemory", true));
        assert!(glob_match(b"*a*b*c", b"xxaxxbxxc", false));
        assert!(!glob_match(b"*a*b*c", b"xxaxxcxxb", false));
        assert!(glob_match(b"*a?*b", b"aab", false));
        assert!(glob_match(b"a*b*", b"ab", false));
        assert!(!glob_match(b"*x*y", b"yx", false));
    }

    /// `*a*a*...*b` against a run of `a`s tries every split without `skipLongerMatches`:
    /// C(100, 30) steps here, which would not finish. With it the call is polynomial.
    #[test]
    fn glob_pathological_pattern_is_bounded() {
        let pat = format!("{}b", "*a".repeat(30));
        let subject = vec![b'a'; 100];
        let t = std::time::Instant::now();
        assert!(!glob_match(pat.as_bytes(), &subject, false));
        let mut with_b = subject.clone();
        with_b.push(b'b');
        assert!(glob_match(pat.as_bytes(), &with_b, false));
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "took {:?}", t.elapsed());
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"GeT").unwrap().name, "get");
        assert!(lookup(b"nosuchcommand").is_none());
    }

    #[test]
    fn unknown_command_text() {
        let base = b"fooab";
        let ranges = [(0, 3), (3, 4), (4, 5)];
        let args = Args::new(base, &ranges);
        assert_eq!(
            unknown_command_error(&args),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(3, 1, 5), None);
        assert_eq!(clamp_range(5, 10, 5), None);
    }
}
