//! PING ECHO HELLO SELECT QUIT RESET CLIENT.

use crate::commands::table::{arity_error, eq_ic, int_arg, Args, Ctx, NOT_INTEGER};
use crate::protocol::reply::Reply;

pub fn ping(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    match args.len() {
        1 => ctx.out.simple(b"PONG"),
        2 => ctx.out.bulk(args.get(1)),
        _ => ctx.err(&arity_error("ping")),
    }
}

pub fn echo(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    ctx.out.bulk(args.get(1));
}

pub fn hello(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let mut i = 1;
    let mut proto = ctx.client.resp;
    if args.len() > 1 {
        match int_arg(args.get(1)) {
            Some(v @ (2 | 3)) => proto = v as u8,
            Some(_) => return ctx.err("NOPROTO unsupported protocol version"),
            None => return ctx.err("ERR Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    while i < args.len() {
        let more = args.len() - i - 1;
        if eq_ic(args.get(i), "AUTH") && more >= 2 {
            i += 3;
        } else if eq_ic(args.get(i), "SETNAME") && more >= 1 {
            let name = args.get(i + 1);
            if !valid_client_name(name) {
                return ctx.err(BAD_NAME);
            }
            set_name(ctx, name);
            i += 2;
        } else {
            let opt = String::from_utf8_lossy(args.get(i)).into_owned();
            return ctx.err(&format!("ERR Syntax error in HELLO option '{opt}'"));
        }
    }
    ctx.client.resp = proto;
    crate::protocol::reply::set_resp3(proto == 3);
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(i64::from(proto));
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

pub fn select(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    match int_arg(args.get(1)) {
        None => ctx.err(NOT_INTEGER),
        Some(0) => ctx.out.ok(),
        Some(_) => ctx.err("ERR DB index is out of range"),
    }
}

pub fn quit(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
}

pub fn reset(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    ctx.client.multi = None;
    ctx.client.multi_dirty = false;
    set_name(ctx, b"");
    ctx.client.resp = 2;
    crate::protocol::reply::set_resp3(false);
    ctx.out.simple(b"RESET");
}

const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn set_name(ctx: &mut Ctx<'_, '_>, name: &[u8]) {
    ctx.client.name = name.to_vec();
    let mut clients = ctx.shared.clients.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(info) = clients.get_mut(&ctx.client.id) {
        info.name = name.to_vec();
    }
}

#[allow(clippy::too_many_arguments)]
/// One CLIENT LIST line in Redis's field order (fields we do not track are reported as Redis's idle values).
fn client_line(
    id: u64,
    addr: &str,
    laddr: &str,
    name: &[u8],
    age: u64,
    cmd: &str,
    multi: i64,
    thread: usize,
) -> String {
    format!(
        "id={id} addr={addr} laddr={laddr} fd=0 name={} age={age} idle=0 flags=N db=0 sub=0 psub=0 \
         ssub=0 multi={multi} watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 \
         oll=0 omem=0 tot-mem=0 events=r cmd={cmd} user=default redir=-1 resp=2 lib-name= \
         lib-ver= io-thread={thread}",
        String::from_utf8_lossy(name)
    )
}

pub fn client(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let sub = args.get(1).to_ascii_lowercase();
    let argc = args.len();
    let arity = |ok: bool, ctx: &mut Ctx<'_, '_>| {
        if !ok {
            let s = String::from_utf8_lossy(&sub).into_owned();
            ctx.err(&arity_error(&format!("client|{s}")));
        }
        ok
    };
    match &sub[..] {
        b"setname" => {
            if !arity(argc == 3, ctx) {
                return;
            }
            let name = args.get(2);
            if !valid_client_name(name) {
                return ctx.err(BAD_NAME);
            }
            set_name(ctx, name);
            ctx.out.ok();
        }
        b"getname" => {
            if !arity(argc == 2, ctx) {
                return;
            }
            if ctx.client.name.is_empty() {
                ctx.out.null();
            } else {
                let n = ctx.client.name.clone();
                ctx.out.bulk(&n);
            }
        }
        b"id" => {
            if arity(argc == 2, ctx) {
                ctx.out.int(ctx.client.id as i64);
            }
        }
        b"info" => {
            if !arity(argc == 2, ctx) {
                return;
            }
            let c = &ctx.client;
            let multi = c.multi.as_ref().map(|q| q.len() as i64).unwrap_or(-1);
            let line = client_line(
                c.id,
                &c.addr,
                &c.laddr,
                &c.name,
                c.created.elapsed().as_secs(),
                "client|info",
                multi,
                0,
            );
            ctx.out.verbatim(format!("{line}\n").as_bytes());
        }
        b"list" => {
            if argc != 2 {
                return ctx.err(crate::commands::table::SYNTAX);
            }
            let clients = ctx.shared.clients.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let mut s = String::new();
            for (id, info) in &clients {
                let cmd = if *id == ctx.client.id { "client|list" } else { "NULL" };
                s.push_str(&client_line(
                    *id,
                    &info.addr,
                    &info.laddr,
                    &info.name,
                    info.created.elapsed().as_secs(),
                    cmd,
                    -1,
                    info.thread,
                ));
                s.push('\n');
            }
            ctx.out.verbatim(s.as_bytes());
        }
        b"setinfo" => {
            if arity(argc == 4, ctx) {
                ctx.out.ok();
            }
        }
        b"no-evict" | b"no-touch" => {
            if arity(argc == 3, ctx) {
                ctx.out.ok();
            }
        }
        _ => {
            let s = String::from_utf8_lossy(args.get(1)).into_owned();
            ctx.err(&format!("ERR unknown subcommand '{s}'. Try CLIENT HELP."));
        }
    }
}
