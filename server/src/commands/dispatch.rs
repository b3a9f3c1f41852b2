//! Dispatch: look a command up, check its arity, queue it (MULTI) or lock its partitions and run it.
//!
//! This is the whole command engine as the network layer sees it: it takes parsed arguments and
//! appends the reply to a buffer, so it runs (and is tested) without a socket.

use crate::commands::table::{self, Args, Ctx, F_DENYOOM, F_NO_AUTH, F_TX_CONTROL};
use std::sync::atomic::Ordering;

use crate::protocol::reply::{self, Reply};
use crate::session::{ClientState, Shared};
use crate::store::db::{CommandClock, Locked, Rng};

/// Looks up, checks, queues (MULTI) or runs one command, locking only the partitions it needs.
///
/// `locked` may already hold a partition from the previous command of the same batch; it is kept
/// when this command needs exactly that partition, else released before locking anew.
pub fn execute<'a>(
    args: &Args<'_>,
    state: &mut ClientState,
    out: &mut Vec<u8>,
    shared: &'a Shared,
    locked: &mut Locked<'a>,
    rng: &mut Rng,
    parts: &mut Vec<usize>,
) {
    run_one(args, state, out, shared, locked, rng, parts);
    count_errors(shared);
}

fn run_one<'a>(
    args: &Args<'_>,
    state: &mut ClientState,
    out: &mut Vec<u8>,
    shared: &'a Shared,
    locked: &mut Locked<'a>,
    rng: &mut Rng,
    parts: &mut Vec<usize>,
) {
    if args.is_empty() {
        return;
    }
    let Some(spec) = table::lookup(args.get(0)) else {
        if state.multi.is_some() {
            state.multi_dirty = true;
        }
        out.error(&table::unknown_command_error(args));
        return;
    };
    if !spec.arity_ok(args.len()) {
        let msg = table::arity_error(spec.name);
        if spec.name == "exec" {
            // Like Redis's rejectCommand for EXEC: the transaction (if any) is discarded.
            state.multi = None;
            state.multi_dirty = false;
            let reason = msg.trim_start_matches("ERR ");
            out.error(&format!("EXECABORT Transaction discarded because of: {reason}"));
            return;
        }
        if state.multi.is_some() {
            state.multi_dirty = true;
        }
        out.error(&msg);
        return;
    }
    if !state.authenticated && spec.flags & F_NO_AUTH == 0 && shared.auth.required() {
        return reject(spec, state, out, "NOAUTH Authentication required.");
    }
    let maxmemory = shared.maxmemory.load(Ordering::Relaxed);
    if maxmemory != 0 && denied_on_oom(spec, state) && crate::alloc::used_memory() as u64 > maxmemory {
        return reject(spec, state, out, OOM);
    }
    state.last_cmd = spec.name;
    if let Some(queue) = state.multi.as_mut() {
        if spec.flags & F_TX_CONTROL == 0 {
            queue.push(args.to_owned_parts());
            out.simple(b"QUEUED");
            return;
        }
    }
    let db = &shared.db;
    if !spec.partitions(args, db, parts) {
        *locked = Locked::None;
        *locked = Locked::all(db);
    } else if let [only] = parts[..] {
        if !locked.holds_only(only) {
            *locked = Locked::None;
            *locked = Locked::acquire(db, parts);
        }
    } else if !parts.is_empty() {
        *locked = Locked::None;
        *locked = Locked::acquire(db, parts);
    }
    crate::protocol::reply::set_resp3(state.resp == 3);
    // One `now` for the whole command (EXEC included): no key expires halfway through it.
    let _clock = CommandClock::start();
    let mark = out.len();
    let mut ctx = Ctx { out, locked, db, client: state, shared, rng };
    // A bug in one handler must not take the whole server down: answer an error instead.
    // (Partition locks poisoned by the panic are recovered in `Db::lock`.)
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (spec.run)(&mut ctx, args)));
    if ran.is_err() {
        ctx.out.truncate(mark);
        reply::take_error_replies(); // errors of the discarded partial reply were never sent
        ctx.out.error(&format!("ERR internal error while executing '{}'", spec.name));
    }
}

/// Redis's error when `maxmemory` is exceeded under the noeviction policy.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Whether running `spec` now may grow memory, as Redis 8.0 decides: a `denyoom` command (also
/// when queued in MULTI), or EXEC of a transaction holding one.
fn denied_on_oom(spec: &table::CommandSpec, state: &ClientState) -> bool {
    if spec.flags & F_DENYOOM != 0 {
        return true;
    }
    match state.multi.as_ref() {
        Some(queue) if spec.name == "exec" => queue.iter().any(|(base, ranges)| {
            let name = Args::new(base, ranges).get(0);
            table::lookup(name).is_some_and(|c| c.flags & F_DENYOOM != 0)
        }),
        _ => false,
    }
}

/// Refuses a command before it runs (Redis's rejectCommand): in MULTI the transaction is
/// flagged, and a refused EXEC discards it.
fn reject(spec: &table::CommandSpec, state: &mut ClientState, out: &mut Vec<u8>, msg: &str) {
    if spec.name == "exec" {
        state.multi = None;
        state.multi_dirty = false;
        out.error(&format!("EXECABORT Transaction discarded because of: {msg}"));
        return;
    }
    if state.multi.is_some() {
        state.multi_dirty = true;
    }
    out.error(msg);
}

/// Adds the error replies written on this thread to INFO's total_error_replies.
#[inline]
pub fn count_errors(shared: &Shared) {
    let n = reply::take_error_replies();
    if n != 0 {
        shared.stats.error_replies.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Runs `line` (space-separated arguments) through the engine; returns the reply bytes.
    fn run(shared: &Shared, state: &mut ClientState, line: &str) -> String {
        let mut base = Vec::new();
        let mut ranges = Vec::new();
        for a in line.split(' ') {
            let s = base.len();
            base.extend_from_slice(a.as_bytes());
            ranges.push((s, base.len()));
        }
        let (mut out, mut locked, mut rng, mut parts) = (Vec::new(), Locked::None, Rng::new(7), Vec::new());
        execute(&Args::new(&base, &ranges), state, &mut out, shared, &mut locked, &mut rng, &mut parts);
        String::from_utf8(out).expect("utf-8 reply")
    }

    #[test]
    fn engine_runs_commands_without_a_socket() {
        let shared = Shared::new(Config::default(), 0, "127.0.0.1".into(), "test".into());
        let mut c = ClientState::new(1, "a".into(), "b".into());
        assert_eq!(run(&shared, &mut c, "SET k v"), "+OK\r\n");
        assert_eq!(run(&shared, &mut c, "get k"), "$1\r\nv\r\n");
        assert_eq!(run(&shared, &mut c, "MULTI"), "+OK\r\n");
        assert_eq!(run(&shared, &mut c, "INCR n"), "+QUEUED\r\n");
        assert_eq!(run(&shared, &mut c, "DEL k"), "+QUEUED\r\n");
        assert_eq!(run(&shared, &mut c, "EXEC"), "*2\r\n:1\r\n:1\r\n");
        assert_eq!(run(&shared, &mut c, "EXISTS k n"), ":1\r\n");
        assert_eq!(run(&shared, &mut c, "GET"), "-ERR wrong number of arguments for 'get' command\r\n");
        assert!(run(&shared, &mut c, "NOPE x").starts_with("-ERR unknown command 'NOPE'"));
        // A second client sees the same keyspace.
        let mut other = ClientState::new(2, "c".into(), "d".into());
        assert_eq!(run(&shared, &mut other, "GET n"), "$1\r\n1\r\n");
    }
}
