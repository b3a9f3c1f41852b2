//! HSET HSETNX HGET HMGET HMSET HGETALL HDEL HLEN HEXISTS HINCRBY HINCRBYFLOAT HKEYS HVALS HSTRLEN.

use crate::commands::table::{arity_error, int_arg, wrongtype, Args, Ctx, NOT_INTEGER};
use crate::longdouble::{self, AddError};
use crate::protocol::reply::Reply;
use crate::store::compact::EncodingLimits;
use crate::store::db::{Entry, Value};
use crate::store::hash_value::HashValue;

type HashAndOut<'c> = (&'c mut HashValue, &'c mut Vec<u8>, EncodingLimits);

/// Mutable hash at `key`, created when missing; None after replying WRONGTYPE.
fn hash_mut<'c>(ctx: &'c mut Ctx<'_, '_>, key: &[u8]) -> Option<HashAndOut<'c>> {
    let lim = ctx.limits();
    let Ctx { out, locked, db, .. } = ctx;
    let shard = locked.shard_idx(db.shard_of(key));
    if matches!(shard.get(key), Some(e) if !matches!(e.value, Value::Hash(_))) {
        wrongtype(out);
        return None;
    }
    let entry = shard.get_or_insert_with(key, || Value::Hash(HashValue::default()));
    match &mut entry.value {
        Value::Hash(h) => Some((h, out, lim)),
        _ => unreachable!("checked above"),
    }
}

/// Read access to the hash at `key` (None when missing; counted as a hit or miss); replies
/// WRONGTYPE for other types.
fn with_hash(ctx: &mut Ctx<'_, '_>, key: &[u8], f: impl FnOnce(Option<&mut HashValue>, &mut Vec<u8>)) {
    with_hash_lookup(ctx, key, true, f);
}

/// `with_hash` for a write command (`read` false: not a keyspace hit or miss, like lookupKeyWrite).
fn with_hash_lookup(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    read: bool,
    f: impl FnOnce(Option<&mut HashValue>, &mut Vec<u8>),
) {
    let Ctx { out, locked, db, .. } = ctx;
    let shard = locked.shard_idx(db.shard_of(key));
    let found = if read { shard.get_read(key) } else { shard.get_mut(key) };
    match found {
        None => f(None, out),
        Some(Entry { value: Value::Hash(h), .. }) => f(Some(h), out),
        Some(_) => wrongtype(out),
    }
}

fn set_pairs(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, name: &str) -> Option<i64> {
    if !args.len().is_multiple_of(2) {
        ctx.err(&arity_error(name));
        return None;
    }
    let (h, _, lim) = hash_mut(ctx, args.get(1))?;
    h.prepare((args.len() - 2) / 2, &lim);
    let mut added = 0;
    for i in (2..args.len()).step_by(2) {
        if h.insert(args.get(i), args.get(i + 1), &lim) {
            added += 1;
        }
    }
    Some(added)
}

pub fn hset(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    if let Some(n) = set_pairs(ctx, args, "hset") {
        ctx.out.int(n);
    }
}

pub fn hmset(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    if set_pairs(ctx, args, "hmset").is_some() {
        ctx.out.ok();
    }
}

pub fn hsetnx(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Some((h, out, lim)) = hash_mut(ctx, args.get(1)) else { return };
    if h.contains(args.get(2)) {
        out.int(0);
    } else {
        h.insert(args.get(2), args.get(3), &lim);
        out.int(1);
    }
}

pub fn hget(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let f = args.get(2);
    with_hash(ctx, args.get(1), |h, out| match h.and_then(|h| h.get(f)) {
        Some(v) => out.bulk(v),
        None => out.null(),
    });
}

pub fn hmget(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_hash(ctx, args.get(1), |h, out| {
        out.array(args.len() - 2);
        for f in args.from(2) {
            match h.as_ref().and_then(|h| h.get(f)) {
                Some(v) => out.bulk(v),
                None => out.null(),
            }
        }
    });
}

pub fn hgetall(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_hash(ctx, args.get(1), |h, out| match h {
        None => out.map(0),
        Some(h) => {
            out.map(h.len());
            h.for_each(|f, v| {
                out.bulk(f);
                out.bulk(v);
            });
        }
    });
}

pub fn hkeys(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_hash(ctx, args.get(1), |h, out| match h {
        None => out.array(0),
        Some(h) => {
            out.array(h.len());
            h.for_each(|f, _| out.bulk(f));
        }
    });
}

pub fn hvals(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_hash(ctx, args.get(1), |h, out| match h {
        None => out.array(0),
        Some(h) => {
            out.array(h.len());
            h.for_each(|_, v| out.bulk(v));
        }
    });
}

pub fn hdel(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let mut removed = 0;
    with_hash_lookup(ctx, k, false, |h, out| {
        if let Some(h) = h {
            removed = args.from(2).filter(|f| h.remove(f)).count();
        }
        out.int(removed as i64);
    });
    if removed > 0 {
        ctx.shard(k).remove_if_empty(k);
    }
}

pub fn hlen(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    with_hash(ctx, args.get(1), |h, out| out.int(h.map_or(0, |h| h.len() as i64)));
}

pub fn hexists(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let f = args.get(2);
    with_hash(ctx, args.get(1), |h, out| out.int(i64::from(h.is_some_and(|h| h.contains(f)))));
}

pub fn hstrlen(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let f = args.get(2);
    with_hash(ctx, args.get(1), |h, out| out.int(h.and_then(|h| h.get(f)).map_or(0, |v| v.len() as i64)));
}

pub fn hincrby(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Some(by) = int_arg(args.get(3)) else { return ctx.err(NOT_INTEGER) };
    let k = args.get(1);
    let f = args.get(2);
    let mut created = false;
    if let Some((h, out, lim)) = hash_mut(ctx, k) {
        created = h.is_empty();
        let cur = match h.get(f) {
            None => 0,
            Some(v) => match int_arg(v) {
                Some(n) => n,
                None => {
                    out.error("ERR hash value is not an integer");
                    return cleanup(ctx, k, created);
                }
            },
        };
        match cur.checked_add(by) {
            Some(n) => {
                h.insert(f, itoa::Buffer::new().format(n).as_bytes(), &lim);
                out.int(n);
                created = false;
            }
            None => out.error("ERR increment or decrement would overflow"),
        }
    }
    cleanup(ctx, k, created);
}

/// Removes a hash we created for an operation that then failed.
fn cleanup(ctx: &mut Ctx<'_, '_>, k: &[u8], created: bool) {
    if created {
        ctx.shard(k).remove_if_empty(k);
    }
}

pub fn hincrbyfloat(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    // Like Redis: the increment is validated before the key's type is checked.
    match longdouble::validate(args.get(3)) {
        None => return ctx.err(crate::commands::table::NOT_FLOAT),
        Some(false) => return ctx.err("ERR value is NaN or Infinity"),
        Some(true) => {}
    }
    let k = args.get(1);
    let f = args.get(2);
    let mut created = false;
    if let Some((h, out, lim)) = hash_mut(ctx, k) {
        created = h.is_empty();
        match longdouble::add(h.get(f).or(Some(b"0")), args.get(3)) {
            Err(AddError::CurrentNotFloat) => out.error("ERR hash value is not a float"),
            Err(AddError::NotFinite) => out.error("ERR increment would produce NaN or Infinity"),
            Err(AddError::IncrementNotFloat) => out.error(crate::commands::table::NOT_FLOAT),
            Ok(text) => {
                out.bulk(text.as_bytes());
                h.insert(f, text.as_bytes(), &lim);
                created = false;
            }
        }
    }
    cleanup(ctx, k, created);
}
