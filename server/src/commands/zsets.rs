//! ZADD ZREM ZSCORE ZMSCORE ZINCRBY ZCARD ZCOUNT ZRANK ZREVRANK ZRANGE* ZREVRANGE* ZPOPMIN ZPOPMAX.

use crate::commands::table::{
    clamp_range, eq_ic, int_arg, wrongtype, Args, Ctx, NOT_FLOAT, NOT_INTEGER, OUT_OF_RANGE, SYNTAX,
};
use crate::longdouble;
use crate::protocol::reply::Reply;
use crate::store::db::{Entry, Value};
use crate::store::types::ZSet;

/// Read access to the sorted set at `key` (None when missing; counted as a hit or miss);
/// replies WRONGTYPE otherwise.
fn with_zset(ctx: &mut Ctx<'_, '_>, key: &[u8], f: impl FnOnce(Option<&mut ZSet>, &mut Vec<u8>)) {
    with_zset_lookup(ctx, key, true, f);
}

/// `with_zset` for a write command (`read` false: not a keyspace hit or miss, like lookupKeyWrite).
fn with_zset_lookup(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    read: bool,
    f: impl FnOnce(Option<&mut ZSet>, &mut Vec<u8>),
) {
    let Ctx { out, locked, db, .. } = ctx;
    let shard = locked.shard_idx(db.shard_of(key));
    let found = if read { shard.get_read(key) } else { shard.get_mut(key) };
    match found {
        None => f(None, out),
        Some(Entry { value: Value::ZSet(z), .. }) => f(Some(z), out),
        Some(_) => wrongtype(out),
    }
}

pub fn zadd(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) = (false, false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if eq_ic(a, "NX") {
            nx = true;
        } else if eq_ic(a, "XX") {
            xx = true;
        } else if eq_ic(a, "GT") {
            gt = true;
        } else if eq_ic(a, "LT") {
            lt = true;
        } else if eq_ic(a, "CH") {
            ch = true;
        } else if eq_ic(a, "INCR") {
            incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = args.len() - i;
    if rest == 0 || !rest.is_multiple_of(2) {
        return ctx.err(SYNTAX);
    }
    if nx && xx {
        return ctx.err("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return ctx.err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && rest > 2 {
        return ctx.err("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(rest / 2);
    for j in (i..args.len()).step_by(2) {
        let Some(score) = longdouble::string2d(args.get(j)) else { return ctx.err(NOT_FLOAT) };
        pairs.push((score, args.get(j + 1)));
    }
    let shard = ctx.shard(k);
    match shard.get(k) {
        Some(e) if !matches!(e.value, Value::ZSet(_)) => return wrongtype(ctx.out),
        None if xx => {
            return if incr { ctx.out.null() } else { ctx.out.int(0) };
        }
        _ => {}
    }
    let lim = ctx.limits();
    let max_len = pairs.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    let shard = ctx.shard(k);
    let entry = shard.get_or_insert_with(k, || Value::ZSet(ZSet::create(pairs.len(), max_len, &lim)));
    let Value::ZSet(z) = &mut entry.value else { unreachable!("checked above") };
    let (mut added, mut changed) = (0i64, 0i64);
    let mut incr_result: Option<f64> = None;
    let mut nan = false;
    for (score, member) in pairs {
        let cur = z.score(member);
        match cur {
            None => {
                if xx {
                    continue;
                }
                if !nan {
                    z.insert(member, score, &lim);
                    added += 1;
                    incr_result = Some(score);
                }
            }
            Some(old) => {
                if nx {
                    continue;
                }
                let new = if incr { old + score } else { score };
                if new.is_nan() {
                    nan = true;
                    break;
                }
                if (gt && new <= old) || (lt && new >= old) {
                    continue;
                }
                if new != old {
                    z.insert(member, new, &lim);
                    changed += 1;
                }
                incr_result = Some(new);
            }
        }
    }
    let empty = z.is_empty();
    if empty {
        shard.remove(k);
    }
    if nan {
        return ctx.err("ERR resulting score is not a number (NaN)");
    }
    if incr {
        match incr_result {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if ch { added + changed } else { added });
    }
}

pub fn zrem(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let mut removed = 0;
    with_zset_lookup(ctx, k, false, |z, out| {
        if let Some(z) = z {
            removed = args.from(2).filter(|m| z.remove(m)).count();
        }
        out.int(removed as i64);
    });
    if removed > 0 {
        ctx.shard(k).remove_if_empty(k);
    }
}

pub fn zscore(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let m = args.get(2);
    with_zset(ctx, args.get(1), |z, out| match z.and_then(|z| z.score(m)) {
        Some(s) => out.double(s),
        None => out.null(),
    });
}

pub fn zmscore(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_zset(ctx, args.get(1), |z, out| {
        out.array(args.len() - 2);
        for m in args.from(2) {
            match z.as_ref().and_then(|z| z.score(m)) {
                Some(s) => out.double(s),
                None => out.null(),
            }
        }
    });
}

pub fn zincrby(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let Some(by) = longdouble::string2d(args.get(2)) else { return ctx.err(NOT_FLOAT) };
    let m = args.get(3);
    let shard = ctx.shard(k);
    if matches!(shard.get(k), Some(e) if !matches!(e.value, Value::ZSet(_))) {
        return wrongtype(ctx.out);
    }
    let lim = ctx.limits();
    let shard = ctx.shard(k);
    let entry = shard.get_or_insert_with(k, || Value::ZSet(ZSet::create(1, m.len(), &lim)));
    let Value::ZSet(z) = &mut entry.value else { unreachable!("checked above") };
    let new = z.score(m).map_or(by, |s| s + by);
    if new.is_nan() {
        shard.remove_if_empty(k);
        return ctx.err("ERR resulting score is not a number (NaN)");
    }
    z.insert(m, new, &lim);
    ctx.out.double(new);
}

pub fn zcard(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_zset(ctx, args.get(1), |z, out| out.int(z.map_or(0, |z| z.len() as i64)));
}

/// A score bound: value and whether it is exclusive ("(1.5").
#[derive(Clone, Copy)]
struct Bound {
    v: f64,
    excl: bool,
}

fn parse_bound(a: &[u8]) -> Option<Bound> {
    longdouble::range_item(a).map(|(v, excl)| Bound { v, excl })
}

fn above_min(s: f64, min: Bound) -> bool {
    if min.excl {
        s > min.v
    } else {
        s >= min.v
    }
}

fn below_max(s: f64, max: Bound) -> bool {
    if max.excl {
        s < max.v
    } else {
        s <= max.v
    }
}

pub fn zcount(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let (Some(min), Some(max)) = (parse_bound(args.get(2)), parse_bound(args.get(3))) else {
        return ctx.err("ERR min or max is not a float");
    };
    with_zset(ctx, args.get(1), |z, out| {
        let n = z.map_or(0, |z| z.iter().filter(|(_, s)| above_min(*s, min) && below_max(*s, max)).count());
        out.int(n as i64);
    });
}

fn generic_rank(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, rev: bool) {
    let withscore = match args.len() {
        3 => false,
        4 if eq_ic(args.get(3), "WITHSCORE") => true,
        _ => return ctx.err(SYNTAX),
    };
    let m = args.get(2);
    with_zset(ctx, args.get(1), |z, out| {
        let found = z.and_then(|z| z.rank(m).map(|r| (r, z.len(), z.score(m).unwrap_or(0.0))));
        match found {
            None if withscore => out.null_array(),
            None => out.null(),
            Some((r, len, score)) => {
                let r = if rev { len - 1 - r } else { r };
                if withscore {
                    out.array(2);
                    out.int(r as i64);
                    out.double(score);
                } else {
                    out.int(r as i64);
                }
            }
        }
    });
}

pub fn zrank(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_rank(ctx, args, false);
}

pub fn zrevrank(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_rank(ctx, args, true);
}

/// What a range query selects.
enum RangeBy {
    Index(i64, i64),
    Score(Bound, Bound),
}

struct RangeQuery {
    by: RangeBy,
    rev: bool,
    withscores: bool,
    limit: Option<(i64, i64)>,
}

fn run_range(z: Option<&mut ZSet>, q: &RangeQuery, out: &mut Vec<u8>) {
    let Some(z) = z else { return out.array(0) };
    let mut items: Vec<(&[u8], f64)> = match q.by {
        RangeBy::Index(start, end) => match clamp_range(start, end, z.len()) {
            None => Vec::new(),
            Some((a, b)) => {
                if q.rev {
                    z.iter().rev().skip(a).take(b - a + 1).collect()
                } else {
                    z.iter().skip(a).take(b - a + 1).collect()
                }
            }
        },
        RangeBy::Score(min, max) => {
            let f = |&(_, s): &(&[u8], f64)| above_min(s, min) && below_max(s, max);
            if q.rev {
                z.iter().rev().filter(f).collect()
            } else {
                z.iter().filter(f).collect()
            }
        }
    };
    if let Some((off, count)) = q.limit {
        if off < 0 {
            items.clear();
        } else {
            let off = (off as usize).min(items.len());
            items.drain(..off);
            if count >= 0 {
                items.truncate(count as usize);
            }
        }
    }
    write_members(out, &items, q.withscores);
}

/// Members (and scores): RESP2 flat, RESP3 as [member, score] pairs.
fn write_members(out: &mut Vec<u8>, items: &[(&[u8], f64)], withscores: bool) {
    let pairs = withscores && crate::protocol::reply::is_resp3();
    out.array(items.len() * if withscores && !pairs { 2 } else { 1 });
    for &(m, s) in items {
        if pairs {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
}

/// (byscore, rev, withscores, limit).
type RangeOptions = (bool, bool, bool, Option<(i64, i64)>);

/// Parses WITHSCORES / LIMIT (and for ZRANGE: BYSCORE / REV) options starting at `from`.
fn range_options(args: &Args<'_>, from: usize, allow_by: bool) -> Result<RangeOptions, &'static str> {
    let (mut byscore, mut rev, mut withscores, mut limit) = (false, false, false, None);
    let mut i = from;
    while i < args.len() {
        let a = args.get(i);
        if eq_ic(a, "WITHSCORES") {
            withscores = true;
        } else if eq_ic(a, "LIMIT") && i + 2 < args.len() {
            let (Some(o), Some(c)) = (int_arg(args.get(i + 1)), int_arg(args.get(i + 2))) else {
                return Err(NOT_INTEGER);
            };
            limit = Some((o, c));
            i += 2;
        } else if allow_by && eq_ic(a, "BYSCORE") {
            byscore = true;
        } else if allow_by && eq_ic(a, "REV") {
            rev = true;
        } else if allow_by && eq_ic(a, "BYLEX") {
            return Err("ERR BYLEX is not supported by this server");
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    Ok((byscore, rev, withscores, limit))
}

pub fn zrange(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let (byscore, rev, withscores, limit) = match range_options(args, 4, true) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    // Like Redis, only a LIMIT count other than -1 conflicts with a rank range.
    if limit.is_some_and(|(_, count)| count != -1) && !byscore {
        return ctx
            .err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    let by = if byscore {
        let (a, b) = if rev { (args.get(3), args.get(2)) } else { (args.get(2), args.get(3)) };
        let (Some(min), Some(max)) = (parse_bound(a), parse_bound(b)) else {
            return ctx.err("ERR min or max is not a float");
        };
        RangeBy::Score(min, max)
    } else {
        let (Some(s), Some(e)) = (int_arg(args.get(2)), int_arg(args.get(3))) else {
            return ctx.err(NOT_INTEGER);
        };
        RangeBy::Index(s, e)
    };
    let limit = if byscore { limit } else { None };
    let q = RangeQuery { by, rev, withscores, limit };
    with_zset(ctx, args.get(1), |z, out| run_range(z, &q, out));
}

pub fn zrevrange(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let withscores = match args.len() {
        4 => false,
        5 if eq_ic(args.get(4), "WITHSCORES") => true,
        _ => return ctx.err(SYNTAX),
    };
    let (Some(s), Some(e)) = (int_arg(args.get(2)), int_arg(args.get(3))) else {
        return ctx.err(NOT_INTEGER);
    };
    let q = RangeQuery { by: RangeBy::Index(s, e), rev: true, withscores, limit: None };
    with_zset(ctx, args.get(1), |z, out| run_range(z, &q, out));
}

fn generic_rangebyscore(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, rev: bool) {
    let (_, _, withscores, limit) = match range_options(args, 4, false) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let (a, b) = if rev { (args.get(3), args.get(2)) } else { (args.get(2), args.get(3)) };
    let (Some(min), Some(max)) = (parse_bound(a), parse_bound(b)) else {
        return ctx.err("ERR min or max is not a float");
    };
    let q = RangeQuery { by: RangeBy::Score(min, max), rev, withscores, limit };
    with_zset(ctx, args.get(1), |z, out| run_range(z, &q, out));
}

pub fn zrangebyscore(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_rangebyscore(ctx, args, false);
}

pub fn zrevrangebyscore(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_rangebyscore(ctx, args, true);
}

fn generic_pop(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, max: bool) {
    let k = args.get(1);
    if args.len() > 3 {
        return ctx.err(SYNTAX);
    }
    let count = if args.len() == 3 {
        match int_arg(args.get(2)) {
            Some(c) if c >= 0 => c as usize,
            _ => return ctx.err(OUT_OF_RANGE),
        }
    } else {
        1
    };
    let mut popped = false;
    // RESP3 nests [member, score] pairs only when a count was given, like Redis.
    let pairs = args.len() == 3 && crate::protocol::reply::is_resp3();
    with_zset_lookup(ctx, k, false, |z, out| {
        let Some(z) = z else { return out.array(0) };
        let n = count.min(z.len());
        out.array(if pairs { n } else { n * 2 });
        for _ in 0..n {
            let (m, s) = if max { z.pop_max() } else { z.pop_min() }.expect("counted");
            if pairs {
                out.array(2);
            }
            out.bulk(&m);
            out.double(s);
        }
        popped = n > 0;
    });
    if popped {
        ctx.shard(k).remove_if_empty(k);
    }
}

pub fn zpopmin(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_pop(ctx, args, false);
}

pub fn zpopmax(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_pop(ctx, args, true);
}
