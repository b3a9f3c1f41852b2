//! UNLINK and FLUSHALL/FLUSHDB ASYNC leave the freeing to the freeing thread.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn wait_until(what: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !what() {
        assert!(Instant::now() < deadline, "timed out waiting for the freeing thread");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn sadd_many(h: &mut Harness, key: &str, n: usize) {
    let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let mut argv: Vec<&[u8]> = vec![b"SADD", key.as_bytes()];
    argv.extend(members.iter().map(|m| m.as_bytes()));
    assert_eq!(String::from_utf8_lossy(&h.run(&argv)), int(n as i64));
}

#[test]
fn unlink_hands_big_values_to_the_freeing_thread_and_frees_small_ones_inline() {
    let mut h = Harness::new();
    sadd_many(&mut h, "big", 1000);
    assert_eq!(h.q("SET small v"), OK);
    let pause = h.shared.reclaimer.pause();
    assert_eq!(h.q("UNLINK big small missing"), int(2));
    // The command answered while the freeing thread is held: the big set waits there.
    assert_eq!(h.shared.reclaimer.pending(), 1);
    assert_eq!(h.q("EXISTS big small"), int(0));
    drop(pause);
    wait_until(|| h.shared.reclaimer.pending() == 0);
    assert_eq!(h.shared.reclaimer.freed(), 1);
    // DEL stays synchronous (Redis 8.0's lazyfree-lazy-user-del is no).
    sadd_many(&mut h, "big", 1000);
    assert_eq!(h.q("DEL big"), int(1));
    assert_eq!(h.shared.reclaimer.freed(), 1);
}

#[test]
fn flushall_async_answers_before_the_data_is_freed() {
    let mut h = Harness::new();
    for i in 0..50 {
        assert_eq!(h.q(&format!("SET k{i} v")), OK);
    }
    sadd_many(&mut h, "s", 10_000);
    let pause = h.shared.reclaimer.pause();
    assert_eq!(h.q("FLUSHALL ASYNC"), OK);
    assert_eq!(h.shared.reclaimer.pending(), 1);
    assert_eq!(h.q("DBSIZE"), int(0));
    assert_eq!(h.q("SCARD s"), int(0));
    // The keyspace is usable at once.
    assert_eq!(h.q("SET k0 new"), OK);
    assert_eq!(h.q("GET k0"), bulk("new"));
    drop(pause);
    wait_until(|| h.shared.reclaimer.pending() == 0);
    assert_eq!(h.q("FLUSHDB ASYNC"), OK);
    wait_until(|| h.shared.reclaimer.freed() == 2);
    assert_eq!(h.q("DBSIZE"), int(0));
    assert_eq!(h.q("SET x y"), OK);
    assert_eq!(h.q("FLUSHALL SYNC"), OK);
    assert_eq!(h.q("FLUSHALL"), OK);
    assert_eq!(h.shared.reclaimer.freed(), 2);
    assert_eq!(h.q("FLUSHALL LAZY"), SYNTAX);
}
