//! The event loop over real sockets: split frames, pipelines, limits, bad input, shutdown.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rso::config::Config;
use rso::net::run;
use rso::session::Shared;

struct TestServer {
    port: u16,
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(cfg: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::new(cfg, port, "127.0.0.1".into(), "test".into()));
        let s = Arc::clone(&shared);
        let handle = std::thread::spawn(move || run(s, listener).unwrap());
        TestServer { port, shared, handle: Some(handle) }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

/// Reads until `expected` bytes arrived (or the peer closed).
fn read_n(s: &mut TcpStream, expected: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while buf.len() < expected && Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    buf
}

/// Reads one whole bulk-string reply.
fn read_bulk(s: &mut TcpStream) -> String {
    let mut header = Vec::new();
    let mut b = [0u8; 1];
    while !header.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        header.push(b[0]);
    }
    let len: usize = std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap();
    let mut body = vec![0u8; len + 2];
    s.read_exact(&mut body).unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

/// True when the server closed the connection (read returns 0 or reset).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1024];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
            }
        }
    }
}

#[test]
fn frame_split_at_every_byte_over_tcp() {
    let srv = TestServer::start(Config::default());
    let mut s = srv.connect();
    let frame = b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$5\r\nv\0lue\r\n*2\r\n$3\r\nGET\r\n$3\r\nk\r\n\r\n";
    for b in frame.iter() {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let expect = b"+OK\r\n$5\r\nv\0lue\r\n";
    assert_eq!(read_n(&mut s, expect.len()), expect);
}

#[test]
fn inline_commands_and_pipelines() {
    let srv = TestServer::start(Config::default());
    let mut s = srv.connect();
    s.write_all(b"PING\r\nSET a \"x y\"\r\nGET a\n").unwrap();
    let expect = b"+PONG\r\n+OK\r\n$3\r\nx y\r\n";
    assert_eq!(read_n(&mut s, expect.len()), expect);
    // A 100k-deep pipeline answered in order, with output backpressure exercised.
    let n = 100_000;
    let mut req = Vec::new();
    for _ in 0..n {
        req.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n");
    }
    let mut writer = s.try_clone().unwrap();
    let t = std::thread::spawn(move || writer.write_all(&req).unwrap());
    let expected: Vec<u8> = (1..=n).flat_map(|i| format!(":{i}\r\n").into_bytes()).collect();
    let got = read_n(&mut s, expected.len());
    t.join().unwrap();
    assert!(got == expected, "pipeline replies differ (got {} bytes)", got.len());
}

#[test]
fn batching_knobs_do_not_change_results() {
    for (min_buf, threshold, shards) in [(0, 1, 1), (1 << 20, 1, 4), (0, 4096, 16), (64, 3, 7)] {
        let cfg = Config {
            min_pipeline_buffer: min_buf,
            batch_threshold: threshold,
            num_shards: shards,
            read_size: 512,
            response_pool_capacity: 0,
            ..Default::default()
        };
        let srv = TestServer::start(cfg);
        let mut s = srv.connect();
        let mut req = Vec::new();
        let mut expect = Vec::new();
        for i in 0..2000 {
            req.extend_from_slice(format!("SET key{i} {i}\r\nGET key{i}\r\n").as_bytes());
            expect.extend_from_slice(format!("+OK\r\n${}\r\n{i}\r\n", i.to_string().len()).as_bytes());
        }
        req.extend_from_slice(b"MSET a 1 b 2 c 3\r\nMGET a b c\r\n");
        expect.extend_from_slice(b"+OK\r\n*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
        s.write_all(&req).unwrap();
        assert_eq!(read_n(&mut s, expect.len()), expect, "config {min_buf} {threshold} {shards}");
    }
}

#[test]
fn protocol_errors_reply_and_close() {
    let srv = TestServer::start(Config::default());
    for (input, err) in [
        (&b"*abc\r\n"[..], &b"-ERR Protocol error: invalid multibulk length\r\n"[..]),
        (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$1073741824\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n+x\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"SET \"a\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    ] {
        let mut s = srv.connect();
        s.write_all(input).unwrap();
        assert_eq!(read_n(&mut s, err.len()), err);
        assert!(closed(&mut s));
    }
    // Other clients are unaffected.
    let mut s = srv.connect();
    s.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut s, 7), b"+PONG\r\n");
}

#[test]
fn max_size_limit_closes_connection() {
    let cfg = Config { max_size: 65536, ..Default::default() };
    let srv = TestServer::start(cfg);
    // Declared bulk over the limit: rejected before any payload arrives.
    let mut s = srv.connect();
    s.write_all(b"*2\r\n$3\r\nGET\r\n$100000\r\n").unwrap();
    let err = b"-ERR Protocol error: too big query buffer (exceeds buffers.max_size)\r\n";
    assert_eq!(read_n(&mut s, err.len()), err);
    assert!(closed(&mut s));
    // Many small arguments adding up past the limit.
    let mut s = srv.connect();
    let mut req = b"*100000\r\n".to_vec();
    for _ in 0..20000 {
        req.extend_from_slice(b"$1\r\nx\r\n");
    }
    let _ = s.write_all(&req);
    assert_eq!(read_n(&mut s, err.len()), err);
    assert!(closed(&mut s));
}

#[test]
fn vanished_clients_do_not_hurt_others() {
    let srv = TestServer::start(Config::default());
    for _ in 0..50 {
        let mut s = srv.connect();
        s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc").unwrap();
        drop(s);
    }
    let mut s = srv.connect();
    s.write_all(b"GET k\r\n").unwrap();
    assert_eq!(read_n(&mut s, 5), b"$-1\r\n");
}

#[test]
fn clients_vanishing_mid_frame_are_reaped() {
    let srv = TestServer::start(Config::default());
    for i in 0..100 {
        let mut s = srv.connect();
        if i % 2 == 0 {
            s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk").unwrap();
        } else {
            s.write_all(b"SET inline-half va").unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut s = srv.connect();
    loop {
        s.write_all(b"INFO clients\r\n").unwrap();
        let r = read_bulk(&mut s);
        if r.contains("connected_clients:1\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "vanished clients not reaped: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn quit_and_shutdown() {
    let srv = TestServer::start(Config { threads: 2, ..Default::default() });
    let mut s = srv.connect();
    s.write_all(b"QUIT\r\n").unwrap();
    assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
    assert!(closed(&mut s));
    let mut s = srv.connect();
    s.write_all(b"SHUTDOWN\r\n").unwrap();
    assert!(closed(&mut s));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !srv.handle.as_ref().unwrap().is_finished() {
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn active_expiry_reclaims_keys() {
    let srv = TestServer::start(Config { num_shards: 4, ..Default::default() });
    let mut s = srv.connect();
    let mut req = Vec::new();
    for i in 0..200 {
        req.extend_from_slice(format!("SET k{i} v PX 50\r\n").as_bytes());
    }
    s.write_all(&req).unwrap();
    assert_eq!(read_n(&mut s, 200 * 5).len(), 1000);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        s.write_all(b"DBSIZE\r\n").unwrap();
        let r = read_n(&mut s, 4);
        if r == b":0\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "keys not reclaimed: {:?}", String::from_utf8_lossy(&r));
        std::thread::sleep(Duration::from_millis(50));
    }
}
