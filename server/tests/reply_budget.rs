//! Count-driven replies are bounded by `buffers.max_reply_size` (Redis builds them until OOM).

mod common;

use common::*;
use rso::config::Config;

const REJECTED: &str = "-ERR reply exceeds buffers.max_reply_size (65536 bytes)\r\n";

fn small_budget() -> Harness {
    Harness::with_config(Config { max_reply_size: 65536, ..Config::default() })
}

#[test]
fn a_huge_negative_count_is_refused_at_once() {
    let mut h = Harness::new();
    assert_eq!(h.q("SADD s a b c"), int(3));
    let started = std::time::Instant::now();
    assert_eq!(
        h.q("SRANDMEMBER s -4000000000000000000"),
        "-ERR reply exceeds buffers.max_reply_size (536870912 bytes)\r\n"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // Redis's own range check, and a count of -LONG_MAX, which Redis accepts (and builds).
    assert_eq!(
        h.q("SRANDMEMBER s -9223372036854775808"),
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
    );
    assert!(h.q("SRANDMEMBER s -9223372036854775807").starts_with("-ERR reply exceeds"));
    // A missing key is an empty array whatever the count, like Redis.
    assert_eq!(h.q("SRANDMEMBER nope -4000000000000000000"), "*0\r\n");
}

#[test]
fn a_reply_growing_past_the_limit_is_dropped_for_the_error() {
    let mut h = small_budget();
    let member = "m".repeat(100);
    assert_eq!(h.q(&format!("SADD s {member}")), int(1));
    // 500 * 108 bytes fit in 64 KiB; 1000 do not, though 1000 minimal elements would.
    let ok = h.q("SRANDMEMBER s -500");
    assert!(ok.starts_with("*500\r\n$100\r\n"), "{}", &ok[..20]);
    assert_eq!(ok.len(), 6 + 500 * 108);
    assert_eq!(h.q("SRANDMEMBER s -1000"), REJECTED);
    assert_eq!(h.q("SRANDMEMBER s -20000"), REJECTED);
    // The connection's other replies are untouched and the data too.
    assert_eq!(h.q("SCARD s"), int(1));
    assert!(h.q("SRANDMEMBER s 5").starts_with("*1\r\n"));
}
