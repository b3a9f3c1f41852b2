//! GET SET SETNX SETEX MGET MSET MSETNX INCR* DECR* APPEND STRLEN GETSET GETDEL GETRANGE SETRANGE.

use crate::commands::table::{
    arity_error, eq_ic, int_arg, wrongtype, Args, Ctx, NOT_FLOAT, NOT_INTEGER, OVERFLOW, SYNTAX,
};
use crate::longdouble::{self, AddError};
use crate::protocol::reply::Reply;
use crate::store::db::{now_ms, Entry, Value};

/// Largest string SETRANGE/APPEND may build (Redis's proto-max-bulk-len).
const MAX_STRING: usize = 512 * 1024 * 1024;

pub fn get(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let Ctx { out, locked, db, .. } = ctx;
    match locked.shard_idx(db.shard_of(k)).get_read(k).map(|e| &*e) {
        None => out.null(),
        Some(Entry { value: Value::Str(s), .. }) => out.bulk(s),
        Some(_) => wrongtype(out),
    }
}

pub fn set(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let key = args.get(1);
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    // Redis's parseExtendedStringArgumentsOrReply: the same expiry option may repeat (last wins),
    // different ones conflict; the number is parsed only after every option was accepted.
    let mut expire: Option<(&str, &[u8])> = None;
    let mut i = 3;
    while i < args.len() {
        let a = args.get(i);
        let next = (i + 1 < args.len()).then(|| args.get(i + 1));
        let kind = ["EX", "PX", "EXAT", "PXAT"].into_iter().find(|o| eq_ic(a, o));
        if eq_ic(a, "NX") && !xx {
            nx = true;
        } else if eq_ic(a, "XX") && !nx {
            xx = true;
        } else if eq_ic(a, "GET") {
            get = true;
        } else if eq_ic(a, "KEEPTTL") && expire.is_none() {
            keepttl = true;
        } else if let (Some(kind), Some(v)) = (kind, next) {
            if keepttl || expire.is_some_and(|(k, _)| k != kind) {
                return ctx.err(SYNTAX);
            }
            expire = Some((kind, v));
            i += 1;
        } else {
            return ctx.err(SYNTAX);
        }
        i += 1;
    }
    let mut expire_at = 0u64;
    if let Some((kind, raw)) = expire {
        let Some(v) = int_arg(raw) else { return ctx.err(NOT_INTEGER) };
        let invalid = "ERR invalid expire time in 'set' command";
        if v <= 0 {
            return ctx.err(invalid);
        }
        let is_ms = kind == "PX" || kind == "PXAT";
        let absolute = kind == "EXAT" || kind == "PXAT";
        let ms = if is_ms { Some(v) } else { v.checked_mul(1000) };
        let at = ms.and_then(|ms| if absolute { Some(ms) } else { ms.checked_add(now_ms() as i64) });
        match at {
            Some(at) => expire_at = at as u64,
            None => return ctx.err(invalid),
        }
    }
    let (shard, out) = ctx.shard_out(key);
    if !(nx || xx || get || keepttl) {
        // Fast path (plain SET / SET EX): one lookup.
        let value = Value::Str(args.get(2).to_vec());
        if expire_at == 0 {
            shard.set(key, value);
        } else if expire_at <= now_ms() {
            shard.remove(key);
        } else {
            shard.set_with_expire(key, value, expire_at);
        }
        return out.ok();
    }
    // Only SET ... GET reads the key (Redis's getGenericCommand, a counted lookup).
    let found = if get { shard.get_read(key) } else { shard.get_mut(key) };
    let (exists, old_ttl) = match found.map(|e| &*e) {
        None => (false, 0),
        Some(e) => {
            if get && !matches!(e.value, Value::Str(_)) {
                return wrongtype(out);
            }
            if get {
                if let Value::Str(s) = &e.value {
                    out.bulk(s);
                }
            }
            (true, e.expire_at)
        }
    };
    if get && !exists {
        out.null();
    }
    if (nx && exists) || (xx && !exists) {
        if !get {
            out.null();
        }
        return;
    }
    let value = Value::Str(args.get(2).to_vec());
    if keepttl {
        shard.set_with_expire(key, value, old_ttl);
    } else if expire_at != 0 && expire_at <= now_ms() {
        // An absolute time in the past: the key is set and immediately gone.
        shard.remove(key);
    } else {
        shard.set_with_expire(key, value, expire_at);
    }
    if !get {
        out.ok();
    }
}

pub fn setnx(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let shard = ctx.shard(k);
    if shard.contains(k) {
        ctx.out.int(0);
    } else {
        shard.set(k, Value::Str(args.get(2).to_vec()));
        ctx.out.int(1);
    }
}

fn generic_setex(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, unit: i64, name: &str) {
    let k = args.get(1);
    let Some(v) = int_arg(args.get(2)) else { return ctx.err(NOT_INTEGER) };
    let invalid = format!("ERR invalid expire time in '{name}' command");
    if v <= 0 {
        return ctx.err(&invalid);
    }
    let Some(at) = v.checked_mul(unit).and_then(|ms| ms.checked_add(now_ms() as i64)) else {
        return ctx.err(&invalid);
    };
    ctx.shard(k).set_with_expire(k, Value::Str(args.get(3).to_vec()), at as u64);
    ctx.out.ok();
}

pub fn setex(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_setex(ctx, args, 1000, "setex");
}

pub fn psetex(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_setex(ctx, args, 1, "psetex");
}

pub fn mget(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Ctx { out, locked, db, .. } = ctx;
    out.array(args.len() - 1);
    for k in args.from(1) {
        match locked.shard_idx(db.shard_of(k)).get_read(k).map(|e| &*e) {
            Some(Entry { value: Value::Str(s), .. }) => out.bulk(s),
            _ => out.null(),
        }
    }
}

pub fn mset(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    if args.len().is_multiple_of(2) {
        return ctx.err(&arity_error("mset"));
    }
    for i in (1..args.len()).step_by(2) {
        let k = args.get(i);
        ctx.shard(k).set(k, Value::Str(args.get(i + 1).to_vec()));
    }
    ctx.out.ok();
}

pub fn msetnx(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    if args.len().is_multiple_of(2) {
        return ctx.err(&arity_error("msetnx"));
    }
    for i in (1..args.len()).step_by(2) {
        let k = args.get(i);
        if ctx.shard(k).contains(k) {
            return ctx.out.int(0);
        }
    }
    for i in (1..args.len()).step_by(2) {
        let k = args.get(i);
        ctx.shard(k).set(k, Value::Str(args.get(i + 1).to_vec()));
    }
    ctx.out.int(1);
}

/// Adds `by` to the integer stored at `key` (creating it as 0), keeping its TTL.
fn incr_by(ctx: &mut Ctx<'_, '_>, key: &[u8], by: i64) {
    let shard = ctx.shard(key);
    let entry = shard.get_or_insert_with(key, || Value::Str(b"0".to_vec()));
    let Value::Str(s) = &mut entry.value else { return wrongtype(ctx.out) };
    let Some(cur) = int_arg(s) else { return ctx.err(NOT_INTEGER) };
    let Some(n) = cur.checked_add(by) else { return ctx.err(OVERFLOW) };
    s.clear();
    s.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    ctx.out.int(n);
}

pub fn incr(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    incr_by(ctx, args.get(1), 1);
}

pub fn decr(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    incr_by(ctx, args.get(1), -1);
}

pub fn incrby(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Some(by) = int_arg(args.get(2)) else { return ctx.err(NOT_INTEGER) };
    incr_by(ctx, args.get(1), by);
}

pub fn decrby(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let Some(by) = int_arg(args.get(2)) else { return ctx.err(NOT_INTEGER) };
    if by == i64::MIN {
        return ctx.err("ERR decrement would overflow");
    }
    incr_by(ctx, args.get(1), -by);
}

pub fn incrbyfloat(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let key = args.get(1);
    let (shard, out) = ctx.shard_out(key);
    let result = match shard.get(key) {
        None => longdouble::add(None, args.get(2)),
        Some(Entry { value: Value::Str(s), .. }) => longdouble::add(Some(s), args.get(2)),
        Some(_) => return wrongtype(out),
    };
    match result {
        Ok(text) => {
            out.bulk(text.as_bytes());
            // Keeps the TTL of an existing key, like Redis.
            let entry = shard.get_or_insert_with(key, || Value::Str(Vec::new()));
            entry.value = Value::Str(text.into_bytes());
        }
        Err(AddError::NotFinite) => out.error("ERR increment would produce NaN or Infinity"),
        Err(_) => out.error(NOT_FLOAT),
    }
}

pub fn append(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let (k, v) = (args.get(1), args.get(2));
    let shard = ctx.shard(k);
    let entry = shard.get_or_insert_with(k, || Value::Str(Vec::new()));
    let Value::Str(s) = &mut entry.value else { return wrongtype(ctx.out) };
    if s.len() + v.len() > MAX_STRING {
        return ctx.err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    s.extend_from_slice(v);
    let n = s.len() as i64;
    ctx.out.int(n);
}

pub fn strlen(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let Ctx { out, locked, db, .. } = ctx;
    match locked.shard_idx(db.shard_of(k)).get_read(k).map(|e| &*e) {
        None => out.int(0),
        Some(Entry { value: Value::Str(s), .. }) => out.int(s.len() as i64),
        Some(_) => wrongtype(out),
    }
}

pub fn getset(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let (shard, out) = ctx.shard_out(k);
    match shard.get_read(k).map(|e| &*e) {
        None => out.null(),
        Some(Entry { value: Value::Str(s), .. }) => out.bulk(s),
        Some(_) => return wrongtype(out),
    }
    shard.set(k, Value::Str(args.get(2).to_vec()));
}

pub fn getdel(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let (shard, out) = ctx.shard_out(k);
    match shard.get_read(k).map(|e| &*e) {
        None => out.null(),
        Some(Entry { value: Value::Str(s), .. }) => {
            out.bulk(s);
            shard.remove(k);
        }
        Some(_) => wrongtype(out),
    }
}

pub fn getrange(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let (Some(start), Some(end)) = (int_arg(args.get(2)), int_arg(args.get(3))) else {
        return ctx.err(NOT_INTEGER);
    };
    let Ctx { out, locked, db, .. } = ctx;
    match locked.shard_idx(db.shard_of(k)).get_read(k).map(|e| &*e) {
        None => out.bulk(b""),
        Some(Entry { value: Value::Str(s), .. }) => match getrange_bounds(start, end, s.len()) {
            Some((a, b)) => out.bulk(&s[a..=b]),
            None => out.bulk(b""),
        },
        Some(_) => wrongtype(out),
    }
}

/// GETRANGE's index rules (they differ from LRANGE: a negative end clamps to 0).
fn getrange_bounds(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if (start < 0 && end < 0 && start > end) || len == 0 {
        return None;
    }
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    (s <= e).then_some((s as usize, e as usize))
}

pub fn setrange(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let v = args.get(3);
    let Some(offset) = int_arg(args.get(2)) else { return ctx.err(NOT_INTEGER) };
    if offset < 0 {
        return ctx.err("ERR offset is out of range");
    }
    let offset = offset as usize;
    let shard = ctx.shard(k);
    match shard.get(k) {
        None => {
            if v.is_empty() {
                return ctx.out.int(0);
            }
        }
        Some(Entry { value: Value::Str(s), .. }) => {
            if v.is_empty() {
                let n = s.len() as i64;
                return ctx.out.int(n);
            }
        }
        Some(_) => return wrongtype(ctx.out),
    }
    if offset.saturating_add(v.len()) > MAX_STRING {
        return ctx.err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let entry = shard.get_or_insert_with(k, || Value::Str(Vec::new()));
    let Value::Str(s) = &mut entry.value else { return wrongtype(ctx.out) };
    if s.len() < offset + v.len() {
        s.resize(offset + v.len(), 0);
    }
    s[offset..offset + v.len()].copy_from_slice(v);
    let n = s.len() as i64;
    ctx.out.int(n);
}
