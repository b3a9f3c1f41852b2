//! SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SINTER SUNION SDIFF (+STORE).

use crate::commands::reply_budget::{ReplyBudget, MIN_BULK_REPLY};
use crate::commands::table::{int_arg, wrongtype, Args, Ctx, NOT_INTEGER, OUT_OF_RANGE, SYNTAX};
use crate::protocol::reply::Reply;
use crate::store::db::{Bytes, Entry, Set, Value};
use crate::store::set_value::SetValue;

pub fn sadd(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let shard = ctx.shard(k);
    if matches!(shard.get(k), Some(e) if !matches!(e.value, Value::Set(_))) {
        return wrongtype(ctx.out);
    }
    let lim = ctx.limits();
    let shard = ctx.shard(k);
    let entry =
        shard.get_or_insert_with(k, || Value::Set(SetValue::create(args.get(2), args.len() - 2, &lim)));
    let Value::Set(set) = &mut entry.value else { unreachable!("checked above") };
    let mut added = 0;
    for m in args.from(2) {
        if set.insert(m, &lim) {
            added += 1;
        }
    }
    ctx.out.int(added);
}

pub fn srem(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let shard = ctx.shard(k);
    let removed = match shard.get_mut(k) {
        None => 0,
        Some(Entry { value: Value::Set(s), .. }) => args.from(2).filter(|m| s.remove(m)).count(),
        Some(_) => return wrongtype(ctx.out),
    };
    shard.remove_if_empty(k);
    ctx.out.int(removed as i64);
}

/// Runs `f` on the set at `key` (None when missing; a read, counted as a hit or miss);
/// replies WRONGTYPE for other types.
fn with_set(ctx: &mut Ctx<'_, '_>, key: &[u8], f: impl FnOnce(Option<&mut SetValue>, &mut Vec<u8>)) {
    let Ctx { out, locked, db, .. } = ctx;
    match locked.shard_idx(db.shard_of(key)).get_read(key) {
        None => f(None, out),
        Some(Entry { value: Value::Set(s), .. }) => f(Some(s), out),
        Some(_) => wrongtype(out),
    }
}

pub fn smembers(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_set(ctx, args.get(1), |s, out| match s {
        None => out.set(0),
        Some(s) => {
            out.set(s.len());
            s.for_each(|m| out.bulk(m));
        }
    });
}

pub fn sismember(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let m = args.get(2);
    with_set(ctx, args.get(1), |s, out| out.int(i64::from(s.is_some_and(|s| s.contains(m)))));
}

pub fn smismember(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_set(ctx, args.get(1), |s, out| {
        out.array(args.len() - 2);
        for m in args.from(2) {
            out.int(i64::from(s.as_ref().is_some_and(|s| s.contains(m))));
        }
    });
}

pub fn scard(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_set(ctx, args.get(1), |s, out| out.int(s.map_or(0, |s| s.len() as i64)));
}

pub fn spop(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    if args.len() > 3 {
        return ctx.err(SYNTAX);
    }
    let count = if args.len() == 3 {
        match int_arg(args.get(2)) {
            Some(c) if c >= 0 => Some(c as usize),
            _ => return ctx.err(OUT_OF_RANGE),
        }
    } else {
        None
    };
    let Ctx { out, locked, db, rng, .. } = ctx;
    let shard = locked.shard_idx(db.shard_of(k));
    let set = match shard.get_mut(k) {
        None => return if count.is_some() { out.set(0) } else { out.null() },
        Some(Entry { value: Value::Set(s), .. }) => s,
        Some(_) => return wrongtype(out),
    };
    match count {
        None => {
            let i = rng.below(set.len());
            let m = set.remove_at(i);
            out.bulk(&m);
        }
        Some(c) => {
            let n = c.min(set.len());
            out.set(n);
            for _ in 0..n {
                let i = rng.below(set.len());
                let m = set.remove_at(i);
                out.bulk(&m);
            }
        }
    }
    shard.remove_if_empty(k);
}

pub fn srandmember(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    if args.len() > 3 {
        return ctx.err(SYNTAX);
    }
    let count = if args.len() == 3 {
        match int_arg(args.get(2)) {
            // Redis's range check: -LONG_MAX..LONG_MAX.
            Some(i64::MIN) => return ctx.err(COUNT_RANGE),
            Some(c) => Some(c),
            None => return ctx.err(NOT_INTEGER),
        }
    } else {
        None
    };
    let limit = ctx.shared.config.max_reply_size;
    let Ctx { out, locked, db, rng, .. } = ctx;
    let set = match locked.shard_idx(db.shard_of(k)).get_read(k) {
        None => return if count.is_some() { out.array(0) } else { out.null() },
        Some(Entry { value: Value::Set(s), .. }) => s,
        Some(_) => return wrongtype(out),
    };
    // A compact set is listed once so random picks cost O(1) each.
    let listed: Option<Vec<Bytes>> = (set.is_compact() && count.is_some()).then(|| set.members());
    let pick = |i: usize| -> Bytes {
        match &listed {
            Some(v) => v[i].clone(),
            None => set.member_at(i),
        }
    };
    match count {
        None => {
            let i = rng.below(set.len());
            out.bulk(&set.member_at(i));
        }
        Some(c) if c < 0 => {
            // The reply's size comes from the argument, not the data: bound it.
            let n = c.unsigned_abs();
            let budget = ReplyBudget::new(out, limit);
            if budget.cannot_fit(n, MIN_BULK_REPLY) {
                return budget.reject(out);
            }
            out.array(n as usize);
            for j in 0..n {
                if j % 1024 == 0 && budget.exceeded(out) {
                    return budget.reject(out);
                }
                let i = rng.below(set.len());
                out.bulk(&pick(i));
            }
            if budget.exceeded(out) {
                budget.reject(out);
            }
        }
        Some(c) => {
            let n = (c as usize).min(set.len());
            // Distinct members: a partial Fisher-Yates shuffle over indices.
            let mut idx: Vec<usize> = (0..set.len()).collect();
            out.array(n);
            for j in 0..n {
                let r = j + rng.below(idx.len() - j);
                idx.swap(j, r);
                out.bulk(&pick(idx[j]));
            }
        }
    }
}

/// Redis's answer to SRANDMEMBER's count of i64::MIN (its range is -LONG_MAX..LONG_MAX).
const COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

#[derive(Clone, Copy)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// Computes the operation over `keys`; Err(()) after replying WRONGTYPE.
fn compute(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], op: SetOp) -> Result<Vec<Bytes>, ()> {
    let mut sets: Vec<Option<SetValue>> = Vec::with_capacity(keys.len());
    // Every source is a read lookup, for the STORE variants too (Redis's lookupKeyRead).
    for k in keys {
        match ctx.shard(k).get_read(k).map(|e| &*e) {
            None => sets.push(None),
            Some(Entry { value: Value::Set(s), .. }) => sets.push(Some(s.clone())),
            Some(_) => {
                wrongtype(ctx.out);
                return Err(());
            }
        }
    }
    let empty = SetValue::default();
    let first = sets[0].as_ref().unwrap_or(&empty);
    let mut result: Vec<Bytes> = Vec::new();
    match op {
        SetOp::Inter => {
            if sets.iter().all(|s| s.is_some()) {
                first.for_each(|m| {
                    if sets[1..].iter().all(|s| s.as_ref().is_some_and(|s| s.contains(m))) {
                        result.push(m.into());
                    }
                });
            }
        }
        SetOp::Union => {
            let mut u: Set<Bytes> = Set::default();
            for s in sets.iter().flatten() {
                s.for_each(|m| {
                    if !u.contains(m) {
                        u.insert(m.into());
                    }
                });
            }
            result = u.into_iter().collect();
        }
        SetOp::Diff => first.for_each(|m| {
            if !sets[1..].iter().any(|s| s.as_ref().is_some_and(|s| s.contains(m))) {
                result.push(m.into());
            }
        }),
    }
    Ok(result)
}

fn reply_op(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, op: SetOp) {
    let keys: Vec<&[u8]> = args.from(1).collect();
    if let Ok(members) = compute(ctx, &keys, op) {
        ctx.out.set(members.len());
        for m in members {
            ctx.out.bulk(&m);
        }
    }
}

fn store_op(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, op: SetOp) {
    let dst = args.get(1);
    let keys: Vec<&[u8]> = args.from(2).collect();
    if let Ok(members) = compute(ctx, &keys, op) {
        let n = members.len();
        let lim = ctx.limits();
        let shard = ctx.shard(dst);
        if n == 0 {
            shard.remove(dst);
        } else {
            shard.set(dst, Value::Set(SetValue::from_members(members, &lim)));
        }
        ctx.out.int(n as i64);
    }
}

pub fn sinter(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    reply_op(ctx, args, SetOp::Inter);
}

pub fn sunion(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    reply_op(ctx, args, SetOp::Union);
}

pub fn sdiff(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    reply_op(ctx, args, SetOp::Diff);
}

pub fn sinterstore(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    store_op(ctx, args, SetOp::Inter);
}

pub fn sunionstore(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    store_op(ctx, args, SetOp::Union);
}

pub fn sdiffstore(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    store_op(ctx, args, SetOp::Diff);
}
