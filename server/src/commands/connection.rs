//! PING ECHO HELLO SELECT QUIT RESET CLIENT.

use crate::commands::table::{arity_error, eq_ic, int_arg, Args, Ctx, NOT_INTEGER};
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::protocol::reply::Reply;
use crate::session::{ClientInfo, ClientState};

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
    let mut auth: Option<(&[u8], &[u8])> = None;
    let mut name: Option<&[u8]> = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if eq_ic(args.get(i), "AUTH") && more >= 2 {
            auth = Some((args.get(i + 1), args.get(i + 2)));
            i += 3;
        } else if eq_ic(args.get(i), "SETNAME") && more >= 1 {
            if !valid_client_name(args.get(i + 1)) {
                return ctx.err(BAD_NAME);
            }
            name = Some(args.get(i + 1));
            i += 2;
        } else {
            let opt = String::from_utf8_lossy(args.get(i)).into_owned();
            return ctx.err(&format!("ERR Syntax error in HELLO option '{opt}'"));
        }
    }
    // Like Redis's helloCommand: authenticate first, then require it, then name and protocol.
    if let Some((user, password)) = auth {
        if !ctx.shared.auth.check(user, password) {
            return ctx.err(WRONGPASS);
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated && ctx.shared.auth.required() {
        return ctx.err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        set_name(ctx, name);
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

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// AUTH [user] password: the default user and `requirepass` (CONFIG SET requirepass) only.
pub fn auth(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let (user, password): (&[u8], &[u8]) = match args.len() {
        2 => {
            if !ctx.shared.auth.required() {
                return ctx.err(
                    "ERR AUTH <password> called without any password configured for the default \
                     user. Are you sure your configuration is correct?",
                );
            }
            (b"default", args.get(1))
        }
        3 => (args.get(1), args.get(2)),
        _ => return ctx.err(crate::commands::table::SYNTAX),
    };
    if ctx.shared.auth.check(user, password) {
        ctx.client.authenticated = true;
        ctx.out.ok();
    } else {
        ctx.err(WRONGPASS);
    }
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
    // Back to the default user: authenticated only if it has no password (Redis's RESET).
    ctx.client.authenticated = !ctx.shared.auth.required();
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

/// One CLIENT LIST line in Redis's field order. `fd`, `age`, `idle`, `qbuf`, `omem`, `tot-mem` and
/// `resp` are real; fields of features this server lacks show Redis's values for an idle client.
fn client_line(id: u64, info: &ClientInfo, started: Instant, own: Option<&ClientState>) -> String {
    let a = &info.activity;
    let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
    // The calling client is being served right now: idle 0, its own name, command and MULTI state.
    let (name, idle, cmd, multi) = match own {
        Some(c) => (&c.name, 0, c.last_cmd, c.multi.as_ref().map_or(-1, |q| q.len() as i64)),
        None => (&info.name, a.idle_secs(started), "NULL", -1),
    };
    let cmd = match cmd {
        "client" => "client|list",
        other => other,
    };
    format!(
        "id={id} addr={} laddr={} fd={} name={} age={} idle={idle} flags=N db=0 sub=0 psub=0 \
         ssub=0 multi={multi} watch=0 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 \
         oll=0 omem={} tot-mem={} events=r cmd={cmd} user=default redir=-1 resp={} lib-name= \
         lib-ver= io-thread={}",
        info.addr,
        info.laddr,
        info.fd,
        String::from_utf8_lossy(name),
        info.created.elapsed().as_secs(),
        load(&a.qbuf),
        load(&a.omem),
        load(&a.tot_mem),
        own.map_or(load(&a.resp), |c| u64::from(c.resp)),
        info.thread,
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
            let me =
                ctx.shared.clients.lock().unwrap_or_else(|p| p.into_inner()).get(&ctx.client.id).cloned();
            // A client run by the engine alone (no connection) has no registry entry.
            let info = me.unwrap_or_else(|| ClientInfo {
                name: Vec::new(),
                addr: ctx.client.addr.clone(),
                laddr: ctx.client.laddr.clone(),
                created: ctx.client.created,
                thread: 0,
                fd: -1,
                activity: Default::default(),
            });
            let mut line = client_line(ctx.client.id, &info, ctx.shared.started, Some(ctx.client));
            line = line.replace(" cmd=client|list ", " cmd=client|info ");
            ctx.out.verbatim(format!("{line}\n").as_bytes());
        }
        b"list" => {
            if argc != 2 {
                return ctx.err(crate::commands::table::SYNTAX);
            }
            let clients = ctx.shared.clients.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let mut s = String::new();
            for (id, info) in &clients {
                let own = (*id == ctx.client.id).then_some(&*ctx.client);
                s.push_str(&client_line(*id, info, ctx.shared.started, own));
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
