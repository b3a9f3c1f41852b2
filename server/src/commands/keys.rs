//! DEL UNLINK EXISTS TYPE EXPIRE* TTL PTTL PERSIST KEYS RENAME RANDOMKEY (SCAN: scan.rs).

use crate::commands::table::{arity_error, eq_ic, glob_match, int_arg, Args, Ctx, NOT_INTEGER, NO_SUCH_KEY};
use crate::protocol::reply::Reply;
use crate::store::db::now_ms;
use crate::store::reclaim::LAZYFREE_THRESHOLD;

pub fn del(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let mut n = 0;
    for k in args.from(1) {
        if ctx.shard(k).remove(k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
}

/// DEL that frees big values on the freeing thread (Redis's `lazyfreeFreeObject`).
pub fn unlink(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let mut n = 0;
    for k in args.from(1) {
        if let Some(entry) = ctx.shard(k).remove(k) {
            n += 1;
            if entry.value.free_effort() > LAZYFREE_THRESHOLD {
                ctx.shared.reclaimer.free(entry);
            }
        }
    }
    ctx.out.int(n);
}

pub fn exists(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let mut n = 0;
    for k in args.from(1) {
        if ctx.shard(k).get_read(k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
}

pub fn type_(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let t = ctx.shard(k).get_read(k).map(|e| e.value.type_name()).unwrap_or("none");
    ctx.out.simple(t.as_bytes());
}

/// Shared body of EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT with NX XX GT LT.
fn generic_expire(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, unit_ms: i64, absolute: bool, name: &str) {
    let key = args.get(1);
    let Some(when) = int_arg(args.get(2)) else { return ctx.err(NOT_INTEGER) };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in args.from(3) {
        if eq_ic(opt, "NX") {
            nx = true;
        } else if eq_ic(opt, "XX") {
            xx = true;
        } else if eq_ic(opt, "GT") {
            gt = true;
        } else if eq_ic(opt, "LT") {
            lt = true;
        } else {
            let o = String::from_utf8_lossy(opt).into_owned();
            return ctx.err(&format!("ERR Unsupported option {o}"));
        }
    }
    if nx && (xx || gt || lt) {
        return ctx.err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return ctx.err("ERR GT and LT options at the same time are not compatible");
    }
    let invalid = format!("ERR invalid expire time in '{name}' command");
    let Some(ms) = when.checked_mul(unit_ms) else { return ctx.err(&invalid) };
    let now = now_ms() as i64;
    let at = if absolute { Some(ms) } else { ms.checked_add(now) };
    let Some(at) = at else { return ctx.err(&invalid) };
    let shard = ctx.shard(key);
    let Some(entry) = shard.get(key) else { return ctx.out.int(0) };
    let cur = entry.expire_at;
    // A persistent key counts as an infinite TTL for GT/LT.
    if (nx && cur != 0)
        || (xx && cur == 0)
        || (gt && (cur == 0 || at <= cur as i64))
        || (lt && cur != 0 && at >= cur as i64)
    {
        return ctx.out.int(0);
    }
    if at <= now {
        shard.remove(key);
    } else {
        shard.set_expire(key, at as u64);
    }
    ctx.out.int(1);
}

pub fn expire(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_expire(ctx, args, 1000, false, "expire");
}

pub fn pexpire(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_expire(ctx, args, 1, false, "pexpire");
}

pub fn expireat(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_expire(ctx, args, 1000, true, "expireat");
}

pub fn pexpireat(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_expire(ctx, args, 1, true, "pexpireat");
}

fn generic_ttl(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, ms: bool) {
    let k = args.get(1);
    let reply = match ctx.shard(k).get_read(k) {
        None => -2,
        Some(e) if e.expire_at == 0 => -1,
        Some(e) => {
            let left = e.expire_at.saturating_sub(now_ms()) as i64;
            if ms {
                left
            } else {
                (left + 500) / 1000
            }
        }
    };
    ctx.out.int(reply);
}

pub fn ttl(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_ttl(ctx, args, false);
}

pub fn pttl(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_ttl(ctx, args, true);
}

fn generic_expiretime(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, ms: bool) {
    let k = args.get(1);
    let reply = match ctx.shard(k).get_read(k) {
        None => -2,
        Some(e) if e.expire_at == 0 => -1,
        Some(e) if ms => e.expire_at as i64,
        Some(e) => (e.expire_at / 1000) as i64,
    };
    ctx.out.int(reply);
}

pub fn expiretime(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_expiretime(ctx, args, false);
}

pub fn pexpiretime(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_expiretime(ctx, args, true);
}

pub fn persist(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let shard = ctx.shard(k);
    let had = matches!(shard.get(k), Some(e) if e.expire_at != 0);
    if had {
        shard.set_expire(k, 0);
    }
    ctx.out.int(i64::from(had));
}

pub fn keys(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let pat = args.get(1);
    let mut found: Vec<Vec<u8>> = Vec::new();
    for s in ctx.locked.shards() {
        for (k, _) in s.keys() {
            if glob_match(pat, k, false) {
                found.push(k.to_vec());
            }
        }
    }
    ctx.out.array(found.len());
    for k in found {
        ctx.out.bulk(&k);
    }
}

fn generic_rename(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, nx: bool) {
    let (src, dst) = (args.get(1), args.get(2));
    if !ctx.shard(src).contains(src) {
        return ctx.err(NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { ctx.out.int(0) } else { ctx.out.ok() };
    }
    if nx && ctx.shard(dst).contains(dst) {
        return ctx.out.int(0);
    }
    // Live when checked above (the command's clock is frozen); no panic if that ever changes.
    let Some(entry) = ctx.shard(src).remove(src) else { return ctx.err(NO_SUCH_KEY) };
    let d = ctx.shard(dst);
    d.set_with_expire(dst, entry.value, entry.expire_at);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

pub fn rename(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_rename(ctx, args, false);
}

pub fn renamenx(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_rename(ctx, args, true);
}

pub fn randomkey(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    let now = now_ms();
    let rng = &mut *ctx.rng;
    let mut shards: Vec<_> = ctx.locked.shards().collect();
    let total: usize = shards.iter().map(|s| s.len()).sum();
    // Retry a bounded number of times to skip logically expired keys.
    for _ in 0..100 {
        if total == 0 {
            break;
        }
        let mut i = rng.below(total);
        for s in shards.iter_mut() {
            if i < s.len() {
                let (k, e) = s.key_at(i).expect("in range");
                if e.expire_at == 0 || e.expire_at > now {
                    let k = k.to_vec();
                    return ctx.out.bulk(&k);
                }
                break;
            }
            i -= s.len();
        }
    }
    ctx.out.null();
}

/// OBJECT ENCODING (the other subcommands track LRU/LFU data this server does not keep).
pub fn object(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let sub = args.get(1);
    if eq_ic(sub, "HELP") {
        ctx.out.array(3);
        ctx.out.simple(b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        ctx.out.simple(b"ENCODING <key>");
        ctx.out.simple(b"    Return the kind of internal representation used in order to store the value");
        return;
    }
    if !eq_ic(sub, "ENCODING") {
        let s = String::from_utf8_lossy(sub).into_owned();
        return ctx.err(&format!("ERR unknown subcommand '{s}'. Try OBJECT HELP."));
    }
    if args.len() != 3 {
        return ctx.err(&arity_error("object|encoding"));
    }
    let k = args.get(2);
    // Redis looks the key up without touching it: not a keyspace hit or miss.
    match ctx.shard(k).get(k).map(|e| e.value.encoding()) {
        Some(enc) => ctx.out.bulk(enc.as_bytes()),
        None => ctx.out.null(),
    }
}
