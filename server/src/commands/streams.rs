//! XADD XLEN XRANGE XREVRANGE (enough for redis-benchmark's XADD test and simple readers).

use crate::commands::table::{arity_error, eq_ic, int_arg, wrongtype, Args, Ctx, NOT_INTEGER, SYNTAX};
use crate::protocol::reply::Reply;
use crate::store::db::{now_ms, Bytes, Entry, Value};
use crate::store::types::StreamId;

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// An XADD ID: None = "*", Some((ms, None)) = "ms-*", Some((ms, Some(seq))) = explicit.
fn parse_add_id(a: &[u8]) -> Result<Option<(u64, Option<u64>)>, ()> {
    if a == b"*" {
        return Ok(None);
    }
    match a.iter().position(|&c| c == b'-') {
        None => Ok(Some((parse_u64(a).ok_or(())?, Some(0)))),
        Some(p) => {
            let ms = parse_u64(&a[..p]).ok_or(())?;
            let rest = &a[p + 1..];
            if rest == b"*" {
                Ok(Some((ms, None)))
            } else {
                Ok(Some((ms, Some(parse_u64(rest).ok_or(())?))))
            }
        }
    }
}

pub fn xadd(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let mut i = 2;
    let mut nomkstream = false;
    let mut maxlen: Option<usize> = None;
    loop {
        let a = args.get(i);
        if eq_ic(a, "NOMKSTREAM") {
            nomkstream = true;
            i += 1;
        } else if eq_ic(a, "MAXLEN") && i + 1 < args.len() {
            i += 1;
            if args.get(i) == b"=" || args.get(i) == b"~" {
                i += 1;
            }
            match args.from(i).next().and_then(int_arg) {
                Some(n) if n >= 0 => maxlen = Some(n as usize),
                Some(_) => return ctx.err("ERR The MAXLEN argument must be >= 0."),
                None => return ctx.err(NOT_INTEGER),
            }
            i += 1;
        } else {
            break;
        }
        if i >= args.len() {
            return ctx.err(SYNTAX);
        }
    }
    let fields = args.len() - i - 1;
    if fields == 0 || !fields.is_multiple_of(2) {
        return ctx.err(&arity_error("xadd"));
    }
    let Ok(want) = parse_add_id(args.get(i)) else { return ctx.err(INVALID_ID) };
    if want == Some((0, Some(0))) {
        return ctx.err("ERR The ID specified in XADD must be greater than 0-0");
    }
    let shard = ctx.shard(k);
    match shard.get(k) {
        Some(e) if !matches!(e.value, Value::Stream(_)) => return wrongtype(ctx.out),
        None if nomkstream => return ctx.out.null(),
        _ => {}
    }
    let entry = shard.get_or_insert_with(k, || Value::Stream(Box::default()));
    let Value::Stream(s) = &mut entry.value else { unreachable!("checked above") };
    let last = s.last_id;
    let id = match want {
        None => {
            let ms = now_ms().max(last.ms);
            if ms == last.ms {
                match last.seq.checked_add(1) {
                    Some(seq) => StreamId { ms, seq },
                    None => {
                        return ctx.err(
                            "ERR The stream has exhausted the last possible ID, unable to add more items",
                        )
                    }
                }
            } else {
                StreamId { ms, seq: 0 }
            }
        }
        Some((ms, None)) => {
            if ms == last.ms {
                match last.seq.checked_add(1) {
                    Some(seq) => StreamId { ms, seq },
                    None => return ctx.err(
                        "ERR The ID specified in XADD is equal or smaller than the target stream top item",
                    ),
                }
            } else {
                StreamId { ms, seq: 0 }
            }
        }
        Some((ms, Some(seq))) => StreamId { ms, seq },
    };
    if id <= last {
        let empty_new = s.entries_added == 0;
        if empty_new {
            shard.remove_if_empty(k);
        }
        return ctx.err("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    }
    let pairs: Vec<(Bytes, Bytes)> = (i + 1..args.len())
        .step_by(2)
        .map(|j| (Bytes::from(args.get(j)), Bytes::from(args.get(j + 1))))
        .collect();
    s.entries.push((id, pairs));
    s.last_id = id;
    s.entries_added += 1;
    if let Some(max) = maxlen {
        if s.entries.len() > max {
            let excess = s.entries.len() - max;
            s.entries.drain(..excess);
        }
    }
    ctx.out.bulk(id.format().as_bytes());
}

pub fn xlen(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let k = args.get(1);
    let Ctx { out, locked, db, .. } = ctx;
    match locked.shard_idx(db.shard_of(k)).get_read(k).map(|e| &*e) {
        None => out.int(0),
        Some(Entry { value: Value::Stream(s), .. }) => out.int(s.len() as i64),
        Some(_) => wrongtype(out),
    }
}

/// A range bound: "-", "+", "ms", "ms-seq", "(ms-seq" (exclusive). `end` fills a missing seq with max.
fn parse_range_id(a: &[u8], end: bool) -> Option<(StreamId, bool)> {
    if a == b"-" {
        return Some((StreamId { ms: 0, seq: 0 }, false));
    }
    if a == b"+" {
        return Some((StreamId { ms: u64::MAX, seq: u64::MAX }, false));
    }
    let (excl, body) = if a.first() == Some(&b'(') { (true, &a[1..]) } else { (false, a) };
    let id = match body.iter().position(|&c| c == b'-') {
        None => StreamId { ms: parse_u64(body)?, seq: if end { u64::MAX } else { 0 } },
        Some(p) => StreamId { ms: parse_u64(&body[..p])?, seq: parse_u64(&body[p + 1..])? },
    };
    Some((id, excl))
}

fn generic_range(ctx: &mut Ctx<'_, '_>, args: &Args<'_>, rev: bool) {
    let (a, b) = if rev { (args.get(3), args.get(2)) } else { (args.get(2), args.get(3)) };
    let (Some((start, sx)), Some((end, ex))) = (parse_range_id(a, false), parse_range_id(b, true)) else {
        return ctx.err(INVALID_ID);
    };
    let mut count: Option<usize> = None;
    if args.len() > 4 {
        if args.len() != 6 || !eq_ic(args.get(4), "COUNT") {
            return ctx.err(SYNTAX);
        }
        match int_arg(args.get(5)) {
            Some(c) => count = Some(c.max(0) as usize),
            None => return ctx.err(NOT_INTEGER),
        }
    }
    let k = args.get(1);
    let Ctx { out, locked, db, .. } = ctx;
    let s = match locked.shard_idx(db.shard_of(k)).get_read(k).map(|e| &*e) {
        None => return out.array(0),
        Some(Entry { value: Value::Stream(s), .. }) => s,
        Some(_) => return wrongtype(out),
    };
    if count == Some(0) {
        // Redis answers a null array for COUNT <= 0 on an existing stream.
        return out.null_array();
    }
    let inside = |id: &StreamId| {
        (if sx { *id > start } else { *id >= start }) && (if ex { *id < end } else { *id <= end })
    };
    let mut items: Vec<&(StreamId, Vec<(Bytes, Bytes)>)> = if rev {
        s.entries.iter().rev().filter(|e| inside(&e.0)).collect()
    } else {
        s.entries.iter().filter(|e| inside(&e.0)).collect()
    };
    if let Some(c) = count {
        items.truncate(c);
    }
    out.array(items.len());
    for (id, pairs) in items {
        out.array(2);
        out.bulk(id.format().as_bytes());
        out.array(pairs.len() * 2);
        for (f, v) in pairs {
            out.bulk(f);
            out.bulk(v);
        }
    }
}

pub fn xrange(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_range(ctx, args, false);
}

pub fn xrevrange(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    generic_range(ctx, args, true);
}
