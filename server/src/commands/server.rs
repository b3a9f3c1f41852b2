//! COMMAND INFO CONFIG DBSIZE FLUSHDB FLUSHALL TIME SHUTDOWN.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::commands::table::{arity_error, eq_ic, glob_match, lookup, Args, Ctx, KeySpec, COMMANDS, SYNTAX};
use crate::commands::table::{F_DENYOOM, F_FAST, F_NO_AUTH, F_READONLY, F_WRITE};
use crate::config::{KnobSpec, KNOBS};
use crate::protocol::reply::Reply;
use crate::session::shared::{LiveEncoding, ENCODING_KNOBS};

fn command_info(out: &mut Vec<u8>, spec: &crate::commands::table::CommandSpec) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(i64::from(spec.arity));
    let mut flags: Vec<&str> = Vec::new();
    if spec.flags & F_WRITE != 0 {
        flags.push("write");
    }
    if spec.flags & F_READONLY != 0 {
        flags.push("readonly");
    }
    if spec.flags & F_DENYOOM != 0 {
        flags.push("denyoom");
    }
    if spec.flags & F_FAST != 0 {
        flags.push("fast");
    }
    if spec.flags & F_NO_AUTH != 0 {
        flags.push("no_auth");
    }
    out.array(flags.len());
    for f in flags {
        out.simple(f.as_bytes());
    }
    let (first, last, step) = match spec.keys {
        KeySpec::Range { first, last, step } => (first as i64, i64::from(last), step as i64),
        _ => (0, 0, 0),
    };
    out.int(first);
    out.int(last);
    out.int(step);
    for _ in 0..4 {
        out.array(0);
    }
}

pub fn command(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    if args.len() == 1 {
        ctx.out.array(COMMANDS.len());
        for c in COMMANDS {
            command_info(ctx.out, c);
        }
        return;
    }
    let sub = args.get(1).to_ascii_lowercase();
    match &sub[..] {
        b"count" if args.len() == 2 => ctx.out.int(COMMANDS.len() as i64),
        b"docs" => {
            // No documentation is bundled: an empty map is what redis-cli accepts.
            ctx.out.map(0);
        }
        b"info" => {
            if args.len() == 2 {
                ctx.out.array(COMMANDS.len());
                for c in COMMANDS {
                    command_info(ctx.out, c);
                }
                return;
            }
            ctx.out.array(args.len() - 2);
            for name in args.from(2) {
                match lookup(name) {
                    Some(c) => command_info(ctx.out, c),
                    None => ctx.out.null_array(),
                }
            }
        }
        b"list" if args.len() == 2 => {
            ctx.out.array(COMMANDS.len());
            for c in COMMANDS {
                ctx.out.bulk(c.name.as_bytes());
            }
        }
        b"count" | b"list" => {
            let s = String::from_utf8_lossy(&sub).into_owned();
            ctx.err(&arity_error(&format!("command|{s}")));
        }
        _ => {
            let s = String::from_utf8_lossy(args.get(1)).into_owned();
            ctx.err(&format!("ERR unknown subcommand '{s}'. Try COMMAND HELP."));
        }
    }
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<usize>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn human(bytes: usize) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

pub fn info(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let all = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "keyspace"];
    let wanted: Vec<String> = if args.len() == 1 {
        all.iter().map(|s| s.to_string()).collect()
    } else {
        args.from(1).map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect()
    };
    let want = |s: &str| wanted.iter().any(|w| w == s || w == "all" || w == "everything" || w == "default");
    let shared = ctx.shared;
    let uptime = shared.started.elapsed().as_secs();
    let mut sections: Vec<String> = Vec::new();
    if want("server") {
        sections.push(format!(
            "# Server\r\nredis_version:{}\r\nredis_mode:standalone\r\nserver_name:redis-server-optimized\r\n\
             server_version:{}\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\n\
             process_id:{}\r\nrun_id:{:040x}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\n\
             uptime_in_days:{}\r\nhz:10\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n\
             event_loop_threads:{}\r\nnum_shards:{}\r\n",
            crate::REDIS_VERSION,
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            u128::from(std::process::id()) * 0x9e37_79b9_7f4a_7c15,
            shared.port,
            uptime / 86400,
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            shared.config_file,
            shared.config.threads,
            shared.config.num_shards,
        ));
    }
    if want("clients") {
        sections.push(format!(
            "# Clients\r\nconnected_clients:{}\r\nblocked_clients:0\r\ntracking_clients:0\r\n\
             maxclients:10000\r\n",
            shared.stats.connected_clients.load(Ordering::Relaxed)
        ));
    }
    if want("memory") {
        // Counted by the global allocator on every (de)allocation: O(1), no walk over the data.
        let used = crate::alloc::used_memory();
        let rss = rss_bytes();
        let maxmemory = shared.maxmemory.load(Ordering::Relaxed) as usize;
        sections.push(format!(
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
             used_memory_rss_human:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\n\
             maxmemory_policy:noeviction\r\nmem_allocator:{}\r\nlazyfree_pending_objects:{}\r\n",
            human(used),
            human(rss),
            human(maxmemory),
            crate::ALLOCATOR,
            shared.reclaimer.pending(),
        ));
    }
    if want("persistence") {
        sections.push(
            "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\n\
             aof_enabled:0\r\naof_rewrite_in_progress:0\r\n"
                .to_string(),
        );
    }
    if want("stats") {
        let s = &shared.stats;
        // Per-partition counters (INFO holds every partition): O(partitions), not O(keys).
        let (expired, hits, misses) = ctx
            .locked
            .shards()
            .fold((0, 0, 0), |(e, h, m), s| (e + s.expired_keys, h + s.keyspace_hits, m + s.keyspace_misses));
        let ops_per_sec = shared.ops.lock().unwrap_or_else(|p| p.into_inner()).per_sec();
        // Errors of this command batch not yet added to the shared counter are included.
        let errors =
            s.error_replies.load(Ordering::Relaxed) + crate::protocol::reply::pending_error_replies();
        sections.push(format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             instantaneous_ops_per_sec:{ops_per_sec}\r\n\
             total_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:0\r\n\
             expired_keys:{expired}\r\nevicted_keys:0\r\nkeyspace_hits:{hits}\r\n\
             keyspace_misses:{misses}\r\ntotal_error_replies:{errors}\r\nprotocol_errors:{}\r\n\
             lazyfreed_objects:{}\r\n",
            s.connections_received.load(Ordering::Relaxed),
            s.commands.load(Ordering::Relaxed),
            s.net_input_bytes.load(Ordering::Relaxed),
            s.net_output_bytes.load(Ordering::Relaxed),
            s.rejected_protocol.load(Ordering::Relaxed),
            shared.reclaimer.freed(),
        ));
    }
    if want("replication") {
        sections.push("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n".to_string());
    }
    if want("cpu") {
        sections.push("# CPU\r\n".to_string());
    }
    if want("keyspace") {
        let (keys, volatile) =
            ctx.locked.shards().fold((0, 0), |(k, v), s| (k + s.len(), v + s.volatile_len()));
        let mut s = "# Keyspace\r\n".to_string();
        if keys > 0 {
            s.push_str(&format!("db0:keys={keys},expires={volatile},avg_ttl=0,subexpiry=0\r\n"));
        }
        sections.push(s);
    }
    ctx.out.verbatim(sections.join("\r\n").as_bytes());
}

/// Redis settings CONFIG GET answers (redis-benchmark asks for two) and CONFIG SET accepts
/// where the value is true here; `requirepass` and `maxmemory` are live.
const REDIS_SETTINGS: &[&str] = &[
    "save",
    "appendonly",
    "databases",
    "maxmemory",
    "maxmemory-policy",
    "proto-max-bulk-len",
    "requirepass",
];

const MAX_BULK: u64 = 512 * 1024 * 1024;

fn redis_setting(ctx: &Ctx<'_, '_>, name: &str) -> String {
    match name {
        "save" => String::new(),
        "appendonly" => "no".into(),
        "databases" => "1".into(),
        "maxmemory" => ctx.shared.maxmemory.load(Ordering::Relaxed).to_string(),
        "maxmemory-policy" => "noeviction".into(),
        "proto-max-bulk-len" => MAX_BULK.to_string(),
        "requirepass" => String::from_utf8_lossy(&ctx.shared.auth.password()).into_owned(),
        _ => String::new(),
    }
}

/// Redis's memtoull: bytes with an optional k/kb/m/mb/g/gb unit (k = 1000, kb = 1024).
fn parse_memory(raw: &str) -> Option<u64> {
    let lower = raw.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let mul: u64 = match &lower[digits.len()..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

/// A validated CONFIG SET pair, applied only once every pair was accepted.
enum ConfigUpdate {
    Knob(String, usize),
    Maxmemory(u64),
    /// An `encoding.*` threshold, by its `LiveEncoding` index.
    Encoding(usize, usize),
    Requirepass(Vec<u8>),
    /// The value is what this server already does (e.g. `save ""`).
    Unchanged,
}

/// Validates a Redis setting for CONFIG SET: only values that are true here are accepted.
fn redis_setting_update(name: &str, raw: &[u8]) -> Result<ConfigUpdate, String> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let fail = |why: &str| format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}");
    match name {
        "maxmemory" => parse_memory(&text)
            .map(ConfigUpdate::Maxmemory)
            .ok_or_else(|| fail("argument must be a memory value")),
        "maxmemory-policy" => match text.to_ascii_lowercase().as_str() {
            "noeviction" => Ok(ConfigUpdate::Unchanged),
            "volatile-lru" | "volatile-lfu" | "volatile-random" | "volatile-ttl" | "allkeys-lru"
            | "allkeys-lfu" | "allkeys-random" => {
                Err(fail("eviction is not implemented by this server: only noeviction is supported"))
            }
            _ => Err(fail(
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, \
                 volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            )),
        },
        "requirepass" => Ok(ConfigUpdate::Requirepass(raw.to_vec())),
        "save" if text.trim().is_empty() => Ok(ConfigUpdate::Unchanged),
        "appendonly" if text.eq_ignore_ascii_case("no") => Ok(ConfigUpdate::Unchanged),
        "proto-max-bulk-len" if parse_memory(&text) == Some(MAX_BULK) => Ok(ConfigUpdate::Unchanged),
        "databases" => Err(fail("can't set immutable config")),
        "save" | "appendonly" => Err(fail("persistence is not implemented by this server")),
        _ => Err(fail("only the default value is supported by this server")),
    }
}

/// A CONFIG SET value for a knob: an integer within its range, else Redis's error text.
fn knob_value(spec: &KnobSpec, name: &str, raw: &str) -> Result<usize, String> {
    match raw.parse::<i64>() {
        Ok(v) if v >= spec.min && v <= spec.max => Ok(v as usize),
        _ => Err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be between {} and {} inclusive",
            spec.min, spec.max
        )),
    }
}

pub fn config(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    let sub = args.get(1).to_ascii_lowercase();
    match &sub[..] {
        b"get" => {
            if args.len() < 3 {
                return ctx.err(&arity_error("config|get"));
            }
            let mut pairs: Vec<(String, String)> = Vec::new();
            for pat in args.from(2) {
                for k in KNOBS {
                    if glob_match(pat, k.name.as_bytes(), true) && !pairs.iter().any(|(n, _)| n == k.name) {
                        let v = live_value(ctx, k.name);
                        pairs.push((k.name.to_string(), v.to_string()));
                    }
                }
                for (_, n) in ENCODING_KNOBS {
                    if glob_match(pat, n.as_bytes(), true) && !pairs.iter().any(|(p, _)| p == n) {
                        let i = LiveEncoding::index_of(n).expect("listed");
                        pairs.push((n.to_string(), ctx.shared.encoding.get(i).to_string()));
                    }
                }
                for n in REDIS_SETTINGS {
                    if glob_match(pat, n.as_bytes(), true) && !pairs.iter().any(|(p, _)| p == n) {
                        pairs.push((n.to_string(), redis_setting(ctx, n)));
                    }
                }
                if pat.eq_ignore_ascii_case(b"port") {
                    pairs.push(("port".into(), ctx.shared.port.to_string()));
                }
                if pat.eq_ignore_ascii_case(b"bind") {
                    pairs.push(("bind".into(), ctx.shared.bind.clone()));
                }
            }
            ctx.out.map(pairs.len());
            for (n, v) in pairs {
                ctx.out.bulk(n.as_bytes());
                ctx.out.bulk(v.as_bytes());
            }
        }
        b"set" => {
            if args.len() < 4 || !args.len().is_multiple_of(2) {
                return ctx.err(&arity_error("config|set"));
            }
            // Validate everything first so a failing pair changes nothing (like Redis).
            let mut updates = Vec::new();
            for i in (2..args.len()).step_by(2) {
                let name = String::from_utf8_lossy(args.get(i)).to_ascii_lowercase();
                let raw = String::from_utf8_lossy(args.get(i + 1)).into_owned();
                if let Some(e) = LiveEncoding::index_of(&name) {
                    let spec = KNOBS.iter().find(|k| k.name == ENCODING_KNOBS[e].0).expect("a knob");
                    match knob_value(spec, &name, &raw) {
                        Ok(v) => updates.push(ConfigUpdate::Encoding(e, v)),
                        Err(e) => return ctx.err(&e),
                    }
                    continue;
                }
                let Some(spec) = KNOBS.iter().find(|k| k.name == name) else {
                    if REDIS_SETTINGS.contains(&name.as_str()) {
                        match redis_setting_update(&name, args.get(i + 1)) {
                            Ok(u) => updates.push(u),
                            Err(e) => return ctx.err(&e),
                        }
                        continue;
                    }
                    return ctx.err(&format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                    ));
                };
                if !matches!(
                    name.as_str(),
                    "buffers.max_size" | "batching.min_pipeline_buffer" | "batching.batch_threshold"
                ) {
                    return ctx.err(&format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                    ));
                }
                match knob_value(spec, &name, &raw) {
                    Ok(v) => updates.push(ConfigUpdate::Knob(name, v)),
                    Err(e) => return ctx.err(&e),
                }
            }
            let live = &ctx.shared.live;
            for update in updates {
                match update {
                    ConfigUpdate::Knob(name, v) => match name.as_str() {
                        "buffers.max_size" => live.max_size.store(v, Ordering::Relaxed),
                        "batching.min_pipeline_buffer" => {
                            live.min_pipeline_buffer.store(v, Ordering::Relaxed)
                        }
                        "batching.batch_threshold" => live.batch_threshold.store(v, Ordering::Relaxed),
                        _ => {}
                    },
                    ConfigUpdate::Maxmemory(v) => ctx.shared.maxmemory.store(v, Ordering::Relaxed),
                    ConfigUpdate::Encoding(i, v) => ctx.shared.encoding.set(i, v),
                    ConfigUpdate::Requirepass(p) => ctx.shared.auth.set_password(&p),
                    ConfigUpdate::Unchanged => {}
                }
            }
            ctx.out.ok();
        }
        b"resetstat" => {
            let s = &ctx.shared.stats;
            s.commands.store(0, Ordering::Relaxed);
            s.connections_received.store(0, Ordering::Relaxed);
            s.net_input_bytes.store(0, Ordering::Relaxed);
            s.net_output_bytes.store(0, Ordering::Relaxed);
            s.rejected_protocol.store(0, Ordering::Relaxed);
            s.error_replies.store(0, Ordering::Relaxed);
            crate::protocol::reply::take_error_replies();
            *ctx.shared.ops.lock().unwrap_or_else(|p| p.into_inner()) = Default::default();
            // CONFIG holds every partition (its table entry), so the partition counters reset too.
            for shard in ctx.locked.shards() {
                shard.reset_stats();
            }
            ctx.out.ok();
        }
        b"rewrite" => ctx.err("ERR The server is running without a config file"),
        _ => {
            let s = String::from_utf8_lossy(args.get(1)).into_owned();
            ctx.err(&format!("ERR unknown subcommand '{s}'. Try CONFIG HELP."));
        }
    }
}

fn live_value(ctx: &Ctx<'_, '_>, name: &str) -> i64 {
    let live = &ctx.shared.live;
    match name {
        "buffers.max_size" => live.max_size.load(Ordering::Relaxed) as i64,
        "batching.min_pipeline_buffer" => live.min_pipeline_buffer.load(Ordering::Relaxed) as i64,
        "batching.batch_threshold" => live.batch_threshold.load(Ordering::Relaxed) as i64,
        other if LiveEncoding::index_of(other).is_some() => {
            ctx.shared.encoding.get(LiveEncoding::index_of(other).expect("checked")) as i64
        }
        other => ctx.shared.config.get(other).unwrap_or(0),
    }
}

pub fn dbsize(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    let n: usize = ctx.locked.shards().map(|s| s.len()).sum();
    ctx.out.int(n as i64);
}

pub fn flushdb(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    if args.len() > 2 || (args.len() == 2 && !eq_ic(args.get(1), "ASYNC") && !eq_ic(args.get(1), "SYNC")) {
        return ctx.err(SYNTAX);
    }
    if args.len() == 2 && eq_ic(args.get(1), "ASYNC") {
        // Swap every partition's tables for empty ones; the freeing thread drops the old ones.
        let old: Vec<_> = ctx.locked.shards().map(|s| s.take_tables()).collect();
        ctx.shared.reclaimer.free(old);
    } else {
        for s in ctx.locked.shards() {
            s.clear();
        }
    }
    ctx.out.ok();
}

pub fn time(ctx: &mut Ctx<'_, '_>, _args: &Args<'_>) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(d.as_secs().to_string().as_bytes());
    ctx.out.bulk(d.subsec_micros().to_string().as_bytes());
}

pub fn shutdown(ctx: &mut Ctx<'_, '_>, args: &Args<'_>) {
    for a in args.from(1) {
        let ok = ["NOSAVE", "SAVE", "NOW", "FORCE", "ABORT"].iter().any(|k| eq_ic(a, k));
        if !ok {
            return ctx.err(SYNTAX);
        }
        if eq_ic(a, "ABORT") {
            return ctx.err("ERR No shutdown in progress.");
        }
    }
    eprintln!("redis-server-optimized: SHUTDOWN requested by client {}", ctx.client.id);
    ctx.shared.shutdown.store(true, Ordering::SeqCst);
    // Like Redis, a successful SHUTDOWN closes the connection without a reply.
    ctx.client.close_after_reply = true;
}
