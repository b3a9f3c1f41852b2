//! One clock reading per top-level command and per EXEC (Redis's `commandTimeSnapshot`).

mod common;

use common::*;
use rso::store::db::{system_now_ms, CommandClock};

#[test]
fn a_command_sees_the_time_it_started_at() {
    let mut h = Harness::new();
    let t = system_now_ms() + 60_000;
    {
        // An outer reading (as EXEC takes) wins over the one each command would take.
        let _clock = CommandClock::start_at(t);
        assert_eq!(h.q(&format!("SET k v PXAT {}", t + 1)), OK);
        assert_eq!(h.q("PTTL k"), int(1));
    }
    {
        let _clock = CommandClock::start_at(t + 1);
        assert_eq!(h.q("GET k"), NIL);
        assert_eq!(h.q("EXISTS k"), int(0));
    }
}

#[test]
fn rename_of_a_key_expiring_meanwhile_is_never_an_internal_error() {
    // RENAME checked that the key exists, then removed it expecting it present; a TTL ending
    // between the two readings of the clock was a panic, answered as an internal error.
    let mut h = Harness::new();
    let mut internal = 0;
    let mut renames = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(400) {
        assert_eq!(h.q("PSETEX a 1 v"), OK);
        let (mut from, mut to) = ("a", "b");
        loop {
            let reply = h.q(&format!("RENAME {from} {to}"));
            renames += 1;
            if reply.contains("internal error") {
                internal += 1;
            }
            if reply != OK {
                assert!(reply == "-ERR no such key\r\n" || reply.contains("internal error"), "{reply}");
                break;
            }
            std::mem::swap(&mut from, &mut to);
        }
    }
    assert_eq!(internal, 0, "{internal} of {renames} RENAMEs failed with an internal error");
}

#[test]
fn exec_runs_at_one_time() {
    // Like Redis 8.0: a key set with a 1 ms TTL inside a transaction that runs for longer is
    // still there at the transaction's end.
    let mut h = Harness::new();
    assert_eq!(h.q("MULTI"), OK);
    assert_eq!(h.q("SET k v PX 1"), "+QUEUED\r\n");
    for _ in 0..50_000 {
        h.q("INCR c");
    }
    h.q("GET k");
    h.q("PTTL k");
    let started = std::time::Instant::now();
    let reply = h.q("EXEC");
    assert!(started.elapsed() >= std::time::Duration::from_millis(2), "EXEC was too fast to tell");
    assert!(reply.ends_with(&format!("{}{}", bulk("v"), int(1))), "{}", &reply[reply.len() - 40..]);
}
