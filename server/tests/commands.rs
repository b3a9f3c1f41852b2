//! Every command family against Redis 8's replies (checked by hand against redis-server 8.0.2).

mod common;

use common::*;

#[test]
fn connection_family() {
    let mut h = Harness::new();
    assert_eq!(h.q("PING"), "+PONG\r\n");
    assert_eq!(h.q("ping hi"), bulk("hi"));
    assert_eq!(h.q("PING a b"), "-ERR wrong number of arguments for 'ping' command\r\n");
    assert_eq!(h.q("ECHO x"), bulk("x"));
    assert_eq!(h.q("SELECT 0"), OK);
    assert_eq!(h.q("SELECT x"), NOT_INT);
    assert!(h.q("HELLO 2").starts_with("*14\r\n$6\r\nserver\r\n"));
    assert_eq!(h.q("HELLO 4"), "-NOPROTO unsupported protocol version\r\n");
    assert_eq!(h.q("HELLO x"), "-ERR Protocol version is not an integer or out of range\r\n");
    assert_eq!(h.q("CLIENT SETNAME worker"), OK);
    assert_eq!(h.q("CLIENT GETNAME"), bulk("worker"));
    assert_eq!(h.q("CLIENT ID"), int(1));
    assert_eq!(h.q("CLIENT BOGUS"), "-ERR unknown subcommand 'BOGUS'. Try CLIENT HELP.\r\n");
    assert_eq!(h.q("CLIENT SETNAME"), "-ERR wrong number of arguments for 'client|setname' command\r\n");
    assert_eq!(h.q("RESET"), "+RESET\r\n");
    assert_eq!(h.q("CLIENT GETNAME"), NIL);
    assert_eq!(h.q("QUIT"), OK);
    assert!(h.state.close_after_reply);
}

#[test]
fn unknown_and_arity_errors() {
    let mut h = Harness::new();
    assert_eq!(h.q("foo a b"), "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
    assert_eq!(h.q("foo"), "-ERR unknown command 'foo', with args beginning with: \r\n");
    assert_eq!(h.q("GET"), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(h.q("set k"), "-ERR wrong number of arguments for 'set' command\r\n");
    assert_eq!(h.q("MSET a 1 b"), "-ERR wrong number of arguments for 'mset' command\r\n");
}

#[test]
fn strings_family() {
    let mut h = Harness::new();
    assert_eq!(h.q("GET k"), NIL);
    assert_eq!(h.q("SET k v"), OK);
    assert_eq!(h.q("GET k"), bulk("v"));
    assert_eq!(h.q("SET k v2 NX"), NIL);
    assert_eq!(h.q("SET k v2 XX GET"), bulk("v"));
    assert_eq!(h.q("SET nokey v XX"), NIL);
    assert_eq!(h.q("SET k v NX XX"), SYNTAX);
    assert_eq!(h.q("SET k v EX 0"), "-ERR invalid expire time in 'set' command\r\n");
    assert_eq!(h.q("SET k v EX x"), NOT_INT);
    assert_eq!(h.q("SET k v EX 100"), OK);
    assert_eq!(h.q("TTL k"), int(100));
    assert_eq!(h.q("SET k v3 KEEPTTL"), OK);
    assert_eq!(h.q("TTL k"), int(100));
    assert_eq!(h.q("SET k v4"), OK);
    assert_eq!(h.q("TTL k"), int(-1));
    assert_eq!(h.q("SETNX k x"), int(0));
    assert_eq!(h.q("SETNX k2 x"), int(1));
    assert_eq!(h.q("SETEX k3 10 v"), OK);
    assert_eq!(h.q("SETEX k3 -1 v"), "-ERR invalid expire time in 'setex' command\r\n");
    assert_eq!(h.q("MSET a 1 b 2"), OK);
    assert_eq!(h.q("MGET a b nokey"), format!("*3\r\n{}{}{NIL}", bulk("1"), bulk("2")));
    assert_eq!(h.q("MSETNX a 1 c 3"), int(0));
    assert_eq!(h.q("MSETNX c 3 d 4"), int(1));
    assert_eq!(h.q("INCR n"), int(1));
    assert_eq!(h.q("INCRBY n 10"), int(11));
    assert_eq!(h.q("DECR n"), int(10));
    assert_eq!(h.q("DECRBY n 20"), int(-10));
    assert_eq!(h.q("INCR k"), NOT_INT);
    assert_eq!(h.q("INCRBY n x"), NOT_INT);
    assert_eq!(h.q("SET big 9223372036854775807"), OK);
    assert_eq!(h.q("INCR big"), "-ERR increment or decrement would overflow\r\n");
    assert_eq!(h.q("SET f 10.5"), OK);
    assert_eq!(h.q("INCRBYFLOAT f 0.1"), bulk("10.6"));
    assert_eq!(h.q("INCRBYFLOAT f x"), "-ERR value is not a valid float\r\n");
    assert_eq!(h.q("APPEND s hello"), int(5));
    assert_eq!(h.q("APPEND s _world"), int(11));
    assert_eq!(h.q("STRLEN s"), int(11));
    assert_eq!(h.q("GETRANGE s 0 4"), bulk("hello"));
    assert_eq!(h.q("GETRANGE s -5 -1"), bulk("world"));
    assert_eq!(h.q("GETRANGE s 5 1"), bulk(""));
    assert_eq!(h.q("SETRANGE s 6 WORLD"), int(11));
    assert_eq!(h.q("GET s"), bulk("hello_WORLD"));
    assert_eq!(h.q("SETRANGE pad 3 x"), int(4));
    assert_eq!(h.q("GET pad"), "$4\r\n\0\0\0x\r\n");
    assert_eq!(h.q("SETRANGE s -1 x"), "-ERR offset is out of range\r\n");
    assert_eq!(h.q("GETSET s new"), bulk("hello_WORLD"));
    assert_eq!(h.q("GETDEL s"), bulk("new"));
    assert_eq!(h.q("EXISTS s"), int(0));
    h.q("LPUSH list a");
    assert_eq!(h.q("GET list"), WRONGTYPE);
    assert_eq!(h.q("APPEND list x"), WRONGTYPE);
    assert_eq!(h.q("SET list v GET"), WRONGTYPE);
}

#[test]
fn binary_safe_keys_and_values() {
    let mut h = Harness::new();
    let key: &[u8] = b"k\r\n\0\xff";
    let val: &[u8] = b"\0\r\n$3\r\n\xfe";
    assert_eq!(h.run(&[b"SET", key, val]), b"+OK\r\n");
    let mut expect = format!("${}\r\n", val.len()).into_bytes();
    expect.extend_from_slice(val);
    expect.extend_from_slice(b"\r\n");
    assert_eq!(h.run(&[b"GET", key]), expect);
    assert_eq!(h.run(&[b"STRLEN", key]), b":8\r\n");
}

#[test]
fn keys_family() {
    let mut h = Harness::new();
    h.q("MSET a 1 b 2 c 3");
    assert_eq!(h.q("EXISTS a b nokey a"), int(3));
    assert_eq!(h.q("DEL a nokey"), int(1));
    assert_eq!(h.q("UNLINK b"), int(1));
    assert_eq!(h.q("TYPE c"), "+string\r\n");
    assert_eq!(h.q("TYPE nokey"), "+none\r\n");
    assert_eq!(h.q("TTL nokey"), int(-2));
    assert_eq!(h.q("TTL c"), int(-1));
    assert_eq!(h.q("EXPIRE c 100"), int(1));
    assert_eq!(h.q("EXPIRE c 50 GT"), int(0));
    assert_eq!(h.q("EXPIRE c 50 LT"), int(1));
    assert_eq!(h.q("EXPIRE c 50 NX"), int(0));
    assert_eq!(
        h.q("EXPIRE c 50 NX XX"),
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
    );
    assert_eq!(h.q("EXPIRE c x"), NOT_INT);
    assert_eq!(h.q("EXPIRE nokey 10"), int(0));
    let pttl = h.q("PTTL c");
    let ms: i64 = pttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(ms > 49_000 && ms <= 50_000, "{pttl}");
    assert_eq!(h.q("PERSIST c"), int(1));
    assert_eq!(h.q("PERSIST c"), int(0));
    assert_eq!(h.q("PEXPIRE c -1"), int(1));
    assert_eq!(h.q("EXISTS c"), int(0));
    h.q("MSET user:1 a user:2 b other c");
    let mut keys = h.q("KEYS user:*");
    keys = keys.replace("user:2\r\n$6\r\nuser:1", "user:1\r\n$6\r\nuser:2");
    assert_eq!(keys, bulks(&["user:1", "user:2"]));
    assert_eq!(h.q("RENAME other moved"), OK);
    assert_eq!(h.q("GET moved"), bulk("c"));
    assert_eq!(h.q("RENAME nokey x"), "-ERR no such key\r\n");
    assert_eq!(h.q("RENAMENX moved user:1"), int(0));
    assert!(h.q("RANDOMKEY").starts_with('$'));
    assert_eq!(h.q("DBSIZE"), int(3));
    assert_eq!(h.q("FLUSHDB"), OK);
    assert_eq!(h.q("RANDOMKEY"), NIL);
    assert_eq!(h.q("SCAN x"), "-ERR invalid cursor\r\n");
}

#[test]
fn scan_visits_every_key_once() {
    let mut h = Harness::new();
    for i in 0..500 {
        h.q(&format!("SET key:{i} v"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    for _ in 0..1000 {
        let r = h.q(&format!("SCAN {cursor} COUNT 7"));
        let lines: Vec<&str> = r.split("\r\n").collect();
        cursor = lines[2].to_string();
        for l in lines[5..].iter().step_by(2) {
            if l.starts_with("key:") {
                assert!(seen.insert(l.to_string()), "duplicate {l}");
            }
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(cursor, "0");
    assert_eq!(seen.len(), 500);
}

#[test]
fn lazy_expiry() {
    let mut h = Harness::new();
    assert_eq!(h.q("SET k v PX 1"), OK);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(h.q("GET k"), NIL);
    assert_eq!(h.q("DBSIZE"), int(0));
}

#[test]
fn lists_family() {
    let mut h = Harness::new();
    assert_eq!(h.q("RPUSH l a b c"), int(3));
    assert_eq!(h.q("LPUSH l z"), int(4));
    assert_eq!(h.q("LRANGE l 0 -1"), bulks(&["z", "a", "b", "c"]));
    assert_eq!(h.q("LRANGE l 1 2"), bulks(&["a", "b"]));
    assert_eq!(h.q("LRANGE l 5 10"), "*0\r\n");
    assert_eq!(h.q("LRANGE l x 1"), NOT_INT);
    assert_eq!(h.q("LLEN l"), int(4));
    assert_eq!(h.q("LINDEX l -1"), bulk("c"));
    assert_eq!(h.q("LINDEX l 10"), NIL);
    assert_eq!(h.q("LSET l 0 y"), OK);
    assert_eq!(h.q("LSET l 10 y"), "-ERR index out of range\r\n");
    assert_eq!(h.q("LSET nokey 0 y"), "-ERR no such key\r\n");
    assert_eq!(h.q("LPOP l"), bulk("y"));
    assert_eq!(h.q("RPOP l"), bulk("c"));
    assert_eq!(h.q("RPUSH l a a b a"), int(6));
    assert_eq!(h.q("LREM l 2 a"), int(2));
    assert_eq!(h.q("LRANGE l 0 -1"), bulks(&["b", "a", "b", "a"]));
    assert_eq!(h.q("LREM l -1 a"), int(1));
    assert_eq!(h.q("LINSERT l BEFORE b x"), int(4));
    assert_eq!(h.q("LINSERT l AFTER nope x"), int(-1));
    assert_eq!(h.q("LINSERT l MIDDLE b x"), SYNTAX);
    assert_eq!(h.q("LTRIM l 1 -1"), OK);
    assert_eq!(h.q("LRANGE l 0 -1"), bulks(&["b", "a", "b"]));
    assert_eq!(h.q("LPOP l 2"), bulks(&["b", "a"]));
    assert_eq!(h.q("LPOP l -1"), "-ERR value is out of range, must be positive\r\n");
    assert_eq!(h.q("LPOP l 5"), bulks(&["b"]));
    assert_eq!(h.q("EXISTS l"), int(0));
    assert_eq!(h.q("LPOP l"), NIL);
    assert_eq!(h.q("LPOP l 2"), "*-1\r\n");
    assert_eq!(h.q("LPUSHX l a"), int(0));
    assert_eq!(h.q("RPUSHX l a"), int(0));
    h.q("SET s v");
    assert_eq!(h.q("LPUSH s a"), WRONGTYPE);
    assert_eq!(h.q("LRANGE s 0 -1"), WRONGTYPE);
}

#[test]
fn sets_family() {
    let mut h = Harness::new();
    assert_eq!(h.q("SADD s a b c a"), int(3));
    assert_eq!(h.q("SCARD s"), int(3));
    assert_eq!(h.q("SISMEMBER s a"), int(1));
    assert_eq!(h.q("SISMEMBER s x"), int(0));
    assert_eq!(h.q("SMISMEMBER s a x"), "*2\r\n:1\r\n:0\r\n");
    assert_eq!(h.q("SREM s a x"), int(1));
    assert_eq!(h.q("SADD t b d"), int(2));
    assert_eq!(h.q("SINTER s t"), bulks(&["b"]));
    assert_eq!(h.q("SDIFF s t"), bulks(&["c"]));
    assert_eq!(h.q("SUNIONSTORE u s t"), int(3));
    assert_eq!(h.q("SCARD u"), int(3));
    assert_eq!(h.q("SINTERSTORE e s nokey"), int(0));
    assert_eq!(h.q("EXISTS e"), int(0));
    assert_eq!(h.q("SDIFFSTORE d s t"), int(1));
    let m = h.q("SRANDMEMBER u");
    assert!(["b", "c", "d"].iter().any(|x| m == bulk(x)), "{m}");
    assert!(h.q("SRANDMEMBER u 10").starts_with("*3\r\n"));
    assert!(h.q("SRANDMEMBER u -10").starts_with("*10\r\n"));
    assert!(h.q("SPOP u 2").starts_with("*2\r\n"));
    assert_eq!(h.q("SCARD u"), int(1));
    assert!(h.q("SPOP u").starts_with('$'));
    assert_eq!(h.q("EXISTS u"), int(0));
    assert_eq!(h.q("SPOP u"), NIL);
    assert_eq!(h.q("SMEMBERS nokey"), "*0\r\n");
    h.q("SET str v");
    assert_eq!(h.q("SADD str a"), WRONGTYPE);
    assert_eq!(h.q("SINTER s str"), WRONGTYPE);
}

#[test]
fn hashes_family() {
    let mut h = Harness::new();
    assert_eq!(h.q("HSET h f1 v1 f2 v2"), int(2));
    assert_eq!(h.q("HSET h f1 v9"), int(0));
    assert_eq!(h.q("HSET h f1"), "-ERR wrong number of arguments for 'hset' command\r\n");
    assert_eq!(h.q("HGET h f1"), bulk("v9"));
    assert_eq!(h.q("HGET h nope"), NIL);
    assert_eq!(h.q("HMGET h f1 nope f2"), format!("*3\r\n{}{NIL}{}", bulk("v9"), bulk("v2")));
    assert_eq!(h.q("HMSET h f3 v3"), OK);
    assert_eq!(h.q("HSETNX h f3 x"), int(0));
    assert_eq!(h.q("HLEN h"), int(3));
    assert_eq!(h.q("HEXISTS h f3"), int(1));
    assert_eq!(h.q("HSTRLEN h f3"), int(2));
    assert_eq!(h.q("HKEYS h"), bulks(&["f1", "f2", "f3"]));
    assert_eq!(h.q("HVALS h"), bulks(&["v9", "v2", "v3"]));
    assert_eq!(h.q("HGETALL h"), bulks(&["f1", "v9", "f2", "v2", "f3", "v3"]));
    assert_eq!(h.q("HINCRBY h n 5"), int(5));
    assert_eq!(h.q("HINCRBY h f1 1"), "-ERR hash value is not an integer\r\n");
    assert_eq!(h.q("HINCRBY h n x"), NOT_INT);
    assert_eq!(h.q("HINCRBYFLOAT h fl 1.5"), bulk("1.5"));
    assert_eq!(h.q("HINCRBYFLOAT h f1 1"), "-ERR hash value is not a float\r\n");
    assert_eq!(h.q("HDEL h f1 f2 nope"), int(2));
    assert_eq!(h.q("HINCRBY nokey f x"), NOT_INT);
    assert_eq!(h.q("HINCRBY fresh f 9223372036854775807"), int(i64::MAX));
    assert_eq!(h.q("HINCRBY fresh f 1"), "-ERR increment or decrement would overflow\r\n");
    h.q("DEL h fresh");
    assert_eq!(h.q("DBSIZE"), int(0));
    h.q("SET str v");
    assert_eq!(h.q("HGET str f"), WRONGTYPE);
    assert_eq!(h.q("HSET str f v"), WRONGTYPE);
}

#[test]
fn zsets_family() {
    let mut h = Harness::new();
    assert_eq!(h.q("ZADD z 1 a 2 b 3 c"), int(3));
    assert_eq!(h.q("ZADD z CH 5 a 2 b 4 d"), int(2));
    assert_eq!(h.q("ZADD z NX 10 a"), int(0));
    assert_eq!(h.q("ZADD z XX 11 new"), int(0));
    assert_eq!(h.q("ZADD z GT CH 1 a"), int(0));
    assert_eq!(h.q("ZADD z LT CH 1 a"), int(1));
    assert_eq!(h.q("ZADD z INCR 2 a"), bulk("3"));
    assert_eq!(h.q("ZADD z NX XX 1 a"), "-ERR XX and NX options at the same time are not compatible\r\n");
    assert_eq!(
        h.q("ZADD z GT LT 1 a"),
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
    );
    assert_eq!(h.q("ZADD z INCR 1 a 2 b"), "-ERR INCR option supports a single increment-element pair\r\n");
    assert_eq!(h.q("ZADD z x a"), "-ERR value is not a valid float\r\n");
    assert_eq!(h.q("ZADD z 1"), "-ERR wrong number of arguments for 'zadd' command\r\n");
    assert_eq!(h.q("ZADD z 1 a 2"), SYNTAX);
    assert_eq!(h.q("ZSCORE z a"), bulk("3"));
    assert_eq!(h.q("ZMSCORE z a nope"), format!("*2\r\n{}{NIL}", bulk("3")));
    assert_eq!(h.q("ZINCRBY z 0.5 b"), bulk("2.5"));
    assert_eq!(h.q("ZCARD z"), int(4));
    assert_eq!(h.q("ZCOUNT z 2.5 (4"), int(3));
    assert_eq!(h.q("ZCOUNT z -inf +inf"), int(4));
    assert_eq!(h.q("ZCOUNT z x 1"), "-ERR min or max is not a float\r\n");
    assert_eq!(h.q("ZRANK z a"), int(1));
    assert_eq!(h.q("ZREVRANK z a"), int(2));
    assert_eq!(h.q("ZRANK z a WITHSCORE"), "*2\r\n:1\r\n$1\r\n3\r\n");
    assert_eq!(h.q("ZRANK z nope"), NIL);
    assert_eq!(h.q("ZRANGE z 0 -1"), bulks(&["b", "a", "c", "d"]));
    assert_eq!(h.q("ZRANGE z 0 1 WITHSCORES"), bulks(&["b", "2.5", "a", "3"]));
    assert_eq!(h.q("ZRANGE z 0 -1 REV"), bulks(&["d", "c", "a", "b"]));
    assert_eq!(h.q("ZRANGE z (2.5 3 BYSCORE"), bulks(&["a", "c"]));
    assert_eq!(h.q("ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2"), bulks(&["c", "a"]));
    assert_eq!(
        h.q("ZRANGE z 0 1 LIMIT 0 1"),
        "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"
    );
    assert_eq!(h.q("ZREVRANGE z 0 0 WITHSCORES"), bulks(&["d", "4"]));
    assert_eq!(h.q("ZRANGEBYSCORE z 3 4"), bulks(&["a", "c", "d"]));
    assert_eq!(h.q("ZRANGEBYSCORE z -inf +inf LIMIT 1 1"), bulks(&["a"]));
    assert_eq!(h.q("ZREVRANGEBYSCORE z 4 3"), bulks(&["d", "c", "a"]));
    assert_eq!(h.q("ZPOPMIN z"), bulks(&["b", "2.5"]));
    assert_eq!(h.q("ZPOPMAX z 2"), bulks(&["d", "4", "c", "3"]));
    assert_eq!(h.q("ZPOPMIN z -1"), "-ERR value is out of range, must be positive\r\n");
    assert_eq!(h.q("ZREM z a nope"), int(1));
    assert_eq!(h.q("EXISTS z"), int(0));
    assert_eq!(h.q("ZPOPMIN z"), "*0\r\n");
    assert_eq!(h.q("ZADD f 1e20 big 0.1 small"), int(2));
    assert_eq!(h.q("ZSCORE f big"), bulk("1e+20"));
    h.q("SET str v");
    assert_eq!(h.q("ZADD str 1 a"), WRONGTYPE);
}

#[test]
fn streams_family() {
    let mut h = Harness::new();
    assert_eq!(h.q("XADD s 1-1 f v"), bulk("1-1"));
    assert_eq!(h.q("XADD s 1-* f v"), bulk("1-2"));
    assert_eq!(
        h.q("XADD s 1-1 f v"),
        "-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"
    );
    assert_eq!(h.q("XADD s 0-0 f v"), "-ERR The ID specified in XADD must be greater than 0-0\r\n");
    assert_eq!(h.q("XADD s bad f v"), "-ERR Invalid stream ID specified as stream command argument\r\n");
    assert_eq!(h.q("XADD s * f"), "-ERR wrong number of arguments for 'xadd' command\r\n");
    assert!(h.q("XADD s * f v").starts_with('$'));
    assert_eq!(h.q("XLEN s"), int(3));
    assert_eq!(h.q("XRANGE s - + COUNT 1"), "*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert_eq!(h.q("XRANGE s 1 1"), "*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert!(h.q("XADD s MAXLEN 1 * f v").starts_with('$'));
    assert_eq!(h.q("XLEN s"), int(1));
    assert_eq!(h.q("XLEN nokey"), int(0));
    assert_eq!(h.q("XADD nokey NOMKSTREAM * f v"), NIL);
    h.q("SET str v");
    assert_eq!(h.q("XADD str * f v"), WRONGTYPE);
}

#[test]
fn transactions() {
    let mut h = Harness::new();
    assert_eq!(h.q("EXEC"), "-ERR EXEC without MULTI\r\n");
    assert_eq!(h.q("DISCARD"), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(h.q("MULTI"), OK);
    assert_eq!(h.q("MULTI"), "-ERR MULTI calls can not be nested\r\n");
    assert_eq!(h.q("SET a 1"), "+QUEUED\r\n");
    assert_eq!(h.q("INCR a"), "+QUEUED\r\n");
    assert_eq!(h.q("LPUSH a x"), "+QUEUED\r\n");
    assert_eq!(h.q("EXEC"), format!("*3\r\n{OK}{}{WRONGTYPE}", int(2)));
    assert_eq!(h.q("MULTI"), OK);
    assert_eq!(h.q("SET a"), "-ERR wrong number of arguments for 'set' command\r\n");
    assert_eq!(h.q("EXEC"), "-EXECABORT Transaction discarded because of previous errors.\r\n");
    assert_eq!(h.q("MULTI"), OK);
    assert_eq!(h.q("SET a 5"), "+QUEUED\r\n");
    assert_eq!(h.q("DISCARD"), OK);
    assert_eq!(h.q("GET a"), bulk("2"));
    let abort =
        "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n";
    assert_eq!(h.q("EXEC x"), abort);
    assert_eq!(h.q("MULTI"), OK);
    assert_eq!(h.q("SET a 9"), "+QUEUED\r\n");
    assert_eq!(h.q("EXEC x"), abort);
    assert_eq!(h.q("EXEC"), "-ERR EXEC without MULTI\r\n");
    assert_eq!(h.q("GET a"), bulk("2"));
}

#[test]
fn server_family() {
    let mut h = Harness::new();
    h.q("SET a 1");
    let info = h.q("INFO");
    for needle in ["# Server", "# Clients", "# Memory", "used_memory:", "# Stats", "# Keyspace", "db0:keys=1"]
    {
        assert!(info.contains(needle), "missing {needle}");
    }
    assert!(!h.q("INFO memory").contains("# Server"));
    assert_eq!(h.q("CONFIG GET save"), bulks(&["save", ""]));
    assert_eq!(h.q("CONFIG GET num_shards"), bulks(&["num_shards", "16"]));
    assert_eq!(h.q("CONFIG SET batching.batch_threshold 8"), OK);
    assert_eq!(h.q("CONFIG GET batching.batch_threshold"), bulks(&["batching.batch_threshold", "8"]));
    assert_eq!(
        h.q("CONFIG SET num_shards 2"),
        "-ERR CONFIG SET failed (possibly related to argument 'num_shards') - can't set immutable config\r\n"
    );
    assert!(h.q("CONFIG SET batching.batch_threshold 0").starts_with("-ERR CONFIG SET failed"));
    assert!(h.q("COMMAND COUNT").starts_with(':'));
    assert!(h.q("TIME").starts_with("*2\r\n"));
    assert_eq!(h.q("DBSIZE"), int(1));
    assert_eq!(h.q("FLUSHALL"), OK);
    assert_eq!(h.q("DBSIZE"), int(0));
    assert_eq!(h.q("SHUTDOWN"), "");
    assert!(h.shared.shutdown.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn single_shard_behaves_the_same() {
    let cfg = rso::config::Config { num_shards: 1, ..Default::default() };
    let mut h = Harness::with_config(cfg);
    assert_eq!(h.q("MSET a 1 b 2"), OK);
    assert_eq!(h.q("RENAME a c"), OK);
    assert_eq!(h.q("MGET a b c"), format!("*3\r\n{NIL}{}{}", bulk("2"), bulk("1")));
}

#[test]
fn resp3_reply_shapes() {
    let mut h = Harness::new();
    assert!(h.q("HELLO 3").starts_with("%7\r\n$6\r\nserver\r\n"));
    assert_eq!(h.q("GET nokey"), "_\r\n");
    h.q("HSET h f v");
    assert_eq!(h.q("HGETALL h"), "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    h.q("SADD s a");
    assert_eq!(h.q("SMEMBERS s"), "~1\r\n$1\r\na\r\n");
    h.q("ZADD z 1.5 a 2 b");
    assert_eq!(h.q("ZSCORE z a"), ",1.5\r\n");
    assert_eq!(h.q("ZRANGE z 0 0 WITHSCORES"), "*1\r\n*2\r\n$1\r\na\r\n,1.5\r\n");
    assert_eq!(h.q("ZPOPMIN z"), "*2\r\n$1\r\na\r\n,1.5\r\n");
    assert_eq!(h.q("ZPOPMAX z 1"), "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n");
    assert_eq!(h.q("CONFIG GET maxmemory"), "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    assert!(h.q("INFO keyspace").starts_with('='));
    assert_eq!(h.q("LPOP nokey 2"), "_\r\n");
    assert_eq!(h.q("RESET"), "+RESET\r\n");
    assert_eq!(h.q("GET nokey"), NIL);
    assert_eq!(h.q("HELLO 4"), "-NOPROTO unsupported protocol version\r\n");
}
