//! LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LREM LTRIM LINSERT.

use crate::commands::table::{
    clamp_range, eq_ic, int_arg, wrongtype, Args, Ctx, NOT_INTEGER, NO_SUCH_KEY, OUT_OF_RANGE, SYNTAX,
};
use crate::protocol::reply::Reply;
use crate::store::db::{Bytes, Entry, Value};

fn push(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, left: bool, only_existing: bool) {
    let k = args.get(1);
    let shard = ctx.shard(k);
    match shard.get(k) {
        None if only_existing => return ctx.out.int(0),
        Some(e) if !matches!(e.value, Value::List(_)) => return wrongtype(ctx.out),
        _ => {}
    }
    let entry = shard.get_or_insert_with(k, || Value::List(Box::default()));
    let Value::List(list) = &mut entry.value else { unreachable!("checked above") };
    for v in args.from(2) {
        if left {
            list.push_front(v.into());
        } else {
            list.push_back(v.into());
        }
    }
    let n = list.len() as i64;
    ctx.out.int(n);
}

pub fn lpush(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    push(ctx, args, true, false);
}

pub fn rpush(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    push(ctx, args, false, false);
}

pub fn lpushx(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    push(ctx, args, true, true);
}

pub fn rpushx(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    push(ctx, args, false, true);
}

fn pop(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, left: bool) {
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
    let (shard, out) = ctx.shard_out(k);
    let list = match shard.get_mut(k) {
        None => {
            return if count.is_some() { out.null_array() } else { out.null() };
        }
        Some(Entry { value: Value::List(l), .. }) => l,
        Some(_) => return wrongtype(out),
    };
    match count {
        None => {
            let v = if left { list.pop_front() } else { list.pop_back() };
            match v {
                Some(v) => out.bulk(&v),
                None => out.null(),
            }
        }
        Some(c) => {
            let n = c.min(list.len());
            out.array(n);
            for _ in 0..n {
                let v = if left { list.pop_front() } else { list.pop_back() };
                out.bulk(&v.expect("counted"));
            }
        }
    }
    shard.remove_if_empty(k);
}

pub fn lpop(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    pop(ctx, args, true);
}

pub fn rpop(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    pop(ctx, args, false);
}

/// Access to a list (`$lookup`: `get_read` for read commands, counted as a hit or miss, or
/// `get_mut`): replies `$missing` when absent, WRONGTYPE for another type.
macro_rules! list_or_return {
    ($ctx:expr, $k:expr, $missing:expr, $lookup:ident) => {{
        let Ctx { out, locked, db, .. } = $ctx;
        match locked.shard_idx(db.shard_of($k)).$lookup($k) {
            None => {
                let f: fn(&mut Vec<u8>) = $missing;
                return f(out);
            }
            Some(Entry { value: Value::List(l), .. }) => (l, out),
            Some(_) => return wrongtype(out),
        }
    }};
}

pub fn llen(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let (l, out) = list_or_return!(ctx, args.get(1), |o| o.int(0), get_read);
    out.int(l.len() as i64);
}

pub fn lrange(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let (Some(start), Some(end)) = (int_arg(args.get(2)), int_arg(args.get(3))) else {
        return ctx.err(NOT_INTEGER);
    };
    let (l, out) = list_or_return!(ctx, args.get(1), |o| o.array(0), get_read);
    match clamp_range(start, end, l.len()) {
        None => out.array(0),
        Some((a, b)) => {
            out.array(b - a + 1);
            for v in l.range(a..=b) {
                out.bulk(v);
            }
        }
    }
}

fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

pub fn lindex(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    // Like Redis: the key is looked up (and type-checked) before the index is parsed.
    let idx = int_arg(args.get(2));
    let (l, out) = list_or_return!(ctx, args.get(1), |o| o.null(), get_read);
    let Some(i) = idx else { return out.error(NOT_INTEGER) };
    match index(i, l.len()) {
        Some(i) => out.bulk(&l[i]),
        None => out.null(),
    }
}

pub fn lset(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let idx = int_arg(args.get(2));
    let (l, out) = list_or_return!(ctx, args.get(1), |o| o.error(NO_SUCH_KEY), get_mut);
    let Some(i) = idx else { return out.error(NOT_INTEGER) };
    match index(i, l.len()) {
        Some(i) => {
            l[i] = args.get(3).into();
            out.ok();
        }
        None => out.error("ERR index out of range"),
    }
}

pub fn lrem(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let Some(count) = int_arg(args.get(2)) else { return ctx.err(NOT_INTEGER) };
    let v = args.get(3);
    let removed = {
        let (l, _) = list_or_return!(&mut *ctx, k, |o| o.int(0), get_mut);
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
        let mut removed = 0usize;
        if count >= 0 {
            let mut i = 0;
            while i < l.len() && removed < limit {
                if &*l[i] == v {
                    l.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = l.len();
            while i > 0 && removed < limit {
                i -= 1;
                if &*l[i] == v {
                    l.remove(i);
                    removed += 1;
                }
            }
        }
        removed
    };
    ctx.shard(k).remove_if_empty(k);
    ctx.out.int(removed as i64);
}

pub fn ltrim(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let (Some(start), Some(end)) = (int_arg(args.get(2)), int_arg(args.get(3))) else {
        return ctx.err(NOT_INTEGER);
    };
    {
        let (l, _) = list_or_return!(&mut *ctx, k, |o| o.ok(), get_mut);
        match clamp_range(start, end, l.len()) {
            None => l.clear(),
            Some((a, b)) => {
                l.truncate(b + 1);
                l.drain(..a);
            }
        }
    }
    ctx.shard(k).remove_if_empty(k);
    ctx.out.ok();
}

pub fn linsert(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let before = if eq_ic(args.get(2), "BEFORE") {
        true
    } else if eq_ic(args.get(2), "AFTER") {
        false
    } else {
        return ctx.err(SYNTAX);
    };
    let (pivot, v) = (args.get(3), args.get(4));
    let (l, out) = list_or_return!(ctx, args.get(1), |o| o.int(0), get_mut);
    match l.iter().position(|e| &**e == pivot) {
        None => out.int(-1),
        Some(i) => {
            let at = if before { i } else { i + 1 };
            l.insert(at, Bytes::from(v));
            out.int(l.len() as i64);
        }
    }
}
