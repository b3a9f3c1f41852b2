//! MULTI EXEC DISCARD (WATCH/UNWATCH accepted without optimistic locking: see README).

use crate::commands::table::{lookup, Args, Ctx};
use crate::protocol::reply::Reply;
use crate::store::db::Locked;

pub fn multi(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    if ctx.client.multi.is_some() {
        return ctx.err("ERR MULTI calls can not be nested");
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_dirty = false;
    ctx.out.ok();
}

pub fn exec(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    let Some(queue) = ctx.client.multi.take() else { return ctx.err("ERR EXEC without MULTI") };
    if std::mem::take(&mut ctx.client.multi_dirty) {
        return ctx.err("EXECABORT Transaction discarded because of previous errors.");
    }
    // Hold every partition for the whole transaction: nothing interleaves with it.
    *ctx.locked = Locked::None;
    *ctx.locked = Locked::all(ctx.db);
    ctx.out.array(queue.len());
    for (base, ranges) in &queue {
        let args = Args::new(base, ranges);
        let spec = lookup(args.get(0)).expect("validated when queued");
        (spec.run)(ctx, &args);
    }
    *ctx.locked = Locked::None;
}

pub fn discard(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    if ctx.client.multi.take().is_none() {
        return ctx.err("ERR DISCARD without MULTI");
    }
    ctx.client.multi_dirty = false;
    ctx.out.ok();
}

pub fn watch(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    if ctx.client.multi.is_some() {
        return ctx.err("ERR WATCH inside MULTI is not allowed");
    }
    ctx.out.ok();
}

pub fn unwatch(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    ctx.out.ok();
}
