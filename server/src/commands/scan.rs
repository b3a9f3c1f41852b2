//! SCAN SSCAN HSCAN ZSCAN: MATCH, COUNT, TYPE (SCAN only) and NOVALUES (HSCAN only), like Redis 8.0.
//!
//! Cursors walk each table by home bucket in reverse-binary order (`ScanMap::scan`), so an element
//! present for the whole iteration is always returned. SCAN's cursor is `bucket * shards + shard`.
//! Small collections (what Redis keeps as a listpack) come back whole with cursor 0, as in Redis.

use crate::commands::table::{eq_ic, glob_match, int_arg, wrongtype, Args, Ctx, NOT_INTEGER, SYNTAX};
use crate::longdouble;
use crate::protocol::frame::parse_i64;
use crate::protocol::reply::{format_double, Reply};
use crate::store::db::{now_ms, Entry, Value};

const INVALID_CURSOR: &str = "ERR invalid cursor";
const NOVALUES_ONLY_HSCAN: &str = "ERR NOVALUES option can only be used in HSCAN";

/// What is being scanned (which options are allowed).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Keys,
    Set,
    Hash,
    ZSet,
}

/// Options after the cursor.
struct ScanOpts<'a> {
    pattern: Option<&'a [u8]>,
    count: usize,
    type_name: Option<Vec<u8>>,
    no_values: bool,
}

impl ScanOpts<'_> {
    fn matches(&self, s: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, s, false))
    }
}

/// Parses a cursor like Redis's `string2ull`: a strict integer, else C `strtoull` (leading
/// blanks, a sign, leading zeros), with the whole argument consumed.
fn parse_cursor(a: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(a) {
        return u64::try_from(v).ok();
    }
    let mut i =
        a.iter().take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')).count();
    let neg = a.get(i) == Some(&b'-');
    if matches!(a.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = &a[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Parses the options from `args[from..]` in Redis's order of checks.
fn parse_opts<'a>(args: &Args<'a>, from: usize, target: Target) -> Result<ScanOpts<'a>, &'static str> {
    let mut opts = ScanOpts { pattern: None, count: 10, type_name: None, no_values: false };
    let mut i = from;
    while i < args.len() {
        let (a, more) = (args.get(i), args.len() - i);
        if eq_ic(a, "COUNT") && more >= 2 {
            match int_arg(args.get(i + 1)) {
                None => return Err(NOT_INTEGER),
                Some(c) if c < 1 => return Err(SYNTAX),
                Some(c) => opts.count = usize::try_from(c).unwrap_or(usize::MAX),
            }
            i += 2;
        } else if eq_ic(a, "MATCH") && more >= 2 {
            let p = args.get(i + 1);
            opts.pattern = (p != b"*").then_some(p);
            i += 2;
        } else if eq_ic(a, "TYPE") && target == Target::Keys && more >= 2 {
            // An unknown type name matches nothing (Redis 8.0 does not reject it).
            opts.type_name = Some(args.get(i + 1).to_ascii_lowercase());
            i += 2;
        } else if eq_ic(a, "NOVALUES") {
            if target != Target::Hash {
                return Err(NOVALUES_ONLY_HSCAN);
            }
            opts.no_values = true;
            i += 1;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok(opts)
}

/// Runs scan steps like Redis: until COUNT elements were visited, 10 * COUNT steps, or the end.
fn drive(mut cursor: u64, count: usize, mut step: impl FnMut(u64, &mut usize) -> u64) -> u64 {
    let (mut visited, mut steps_left) = (0usize, count.saturating_mul(10));
    loop {
        cursor = step(cursor, &mut visited);
        steps_left -= 1;
        if cursor == 0 || visited >= count || steps_left == 0 {
            return cursor;
        }
    }
}

fn reply(out: &mut Vec<u8>, cursor: u64, items: &[&[u8]]) {
    out.array(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array(items.len());
    for it in items {
        out.bulk(it);
    }
}

pub fn scan(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Some(cursor) = parse_cursor(args.get(1)) else { return ctx.err(INVALID_CURSOR) };
    let opts = match parse_opts(args, 2, Target::Keys) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let n = ctx.db.num_shards() as u64;
    let (mut shard, mut bucket) = ((cursor % n) as usize, cursor / n);
    let now = now_ms();
    let mut found: Vec<Vec<u8>> = Vec::new();
    let (mut visited, mut steps_left) = (0usize, opts.count.saturating_mul(10));
    let next = loop {
        bucket = ctx.locked.shard_idx(shard).scan(bucket, |k, e| {
            visited += 1;
            let live = e.expire_at == 0 || e.expire_at > now;
            let type_ok = opts.type_name.as_deref().is_none_or(|t| t == e.value.type_name().as_bytes());
            if live && type_ok && opts.matches(k) {
                found.push(k.to_vec());
            }
        });
        if bucket == 0 {
            shard += 1;
            if shard as u64 == n {
                break 0;
            }
        }
        steps_left -= 1;
        if visited >= opts.count || steps_left == 0 {
            break bucket * n + shard as u64;
        }
    };
    let items: Vec<&[u8]> = found.iter().map(|k| &k[..]).collect();
    reply(ctx.out, next, &items);
}

/// The cursor, then the value at `args[1]` (a missing key is an empty scan, whatever follows).
fn lookup<'c>(ctx: &'c mut Ctx<'_, '_>, args: &Args<'_>) -> Option<(u64, &'c Entry, &'c mut Vec<u8>)> {
    let Some(cursor) = parse_cursor(args.get(2)) else {
        ctx.err(INVALID_CURSOR);
        return None;
    };
    let key = args.get(1);
    let Ctx { out, locked, db, .. } = ctx;
    // A read lookup (Redis's lookupKeyReadOrReply): a keyspace hit or miss.
    match locked.shard_idx(db.shard_of(key)).get_read(key).map(|e| &*e) {
        None => {
            reply(out, 0, &[]);
            None
        }
        Some(e) => Some((cursor, e, out)),
    }
}

pub fn sscan(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Some((cursor, entry, out)) = lookup(ctx, args) else { return };
    let Value::Set(set) = &entry.value else { return wrongtype(out) };
    let opts = match parse_opts(args, 3, Target::Set) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    // A compact set (intset, listpack) comes back whole with cursor 0, a table page by page.
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = drive(if set.is_compact() { 0 } else { cursor }, opts.count, |c, visited| {
        set.scan(c, |m| {
            *visited += 1;
            if opts.matches(m) {
                found.push(m.to_vec());
            }
        })
    });
    let items: Vec<&[u8]> = found.iter().map(|m| &m[..]).collect();
    reply(out, next, &items);
}

pub fn hscan(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Some((cursor, entry, out)) = lookup(ctx, args) else { return };
    let Value::Hash(hash) = &entry.value else { return wrongtype(out) };
    let opts = match parse_opts(args, 3, Target::Hash) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    // A listpack hash comes back whole with cursor 0, a table page by page.
    let mut found: Vec<&[u8]> = Vec::new();
    let next = drive(if hash.is_compact() { 0 } else { cursor }, opts.count, |c, visited| {
        hash.scan(c, |f, v| {
            *visited += 1;
            if opts.matches(f) {
                found.push(f);
                if !opts.no_values {
                    found.push(v);
                }
            }
        })
    });
    reply(out, next, &found);
}

pub fn zscan(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Some((cursor, entry, out)) = lookup(ctx, args) else { return };
    let Value::ZSet(z) = &entry.value else { return wrongtype(out) };
    let opts = match parse_opts(args, 3, Target::ZSet) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    // A listpack zset comes back whole, in score order, with scores as stored ("0.1"); a skiplist
    // one page by page with "%.17g" scores ("0.10000000000000001"), as Redis 8.0 replies.
    let mut found: Vec<(&[u8], String)> = Vec::new();
    let next = if z.is_compact() {
        found.extend(z.iter().filter(|(m, _)| opts.matches(m)).map(|(m, s)| (m, format_double(s))));
        0
    } else {
        drive(cursor, opts.count, |c, visited| {
            z.scan(c, |m, s| {
                *visited += 1;
                if opts.matches(m) {
                    found.push((m, longdouble::format_auto(s)));
                }
            })
        })
    };
    let items: Vec<&[u8]> = found.iter().flat_map(|(m, s)| [*m, s.as_bytes()]).collect();
    reply(out, next, &items);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_like_redis() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b" 1"), Some(1));
        assert_eq!(parse_cursor(b"+1"), Some(1));
        assert_eq!(parse_cursor(b"01"), Some(1));
        assert_eq!(parse_cursor(b"-0"), Some(0));
        assert_eq!(parse_cursor(b"-1"), None);
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b"1 "), None);
        assert_eq!(parse_cursor(b"0x10"), None);
        assert_eq!(parse_cursor(b""), None);
        assert_eq!(parse_cursor(b" "), None);
    }

    #[test]
    fn drive_stops_at_count_or_end() {
        let mut calls = 0;
        assert_eq!(
            drive(5, 3, |c, v| {
                calls += 1;
                *v += 1;
                c + 1
            }),
            8
        );
        assert_eq!(calls, 3);
        assert_eq!(drive(5, 100, |_, _| 0), 0);
        // Empty buckets: at most 10 * COUNT steps per call.
        let mut steps = 0;
        assert_eq!(
            drive(1, 2, |c, _| {
                steps += 1;
                c + 1
            }),
            21
        );
        assert_eq!(steps, 20);
    }
}
