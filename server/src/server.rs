//! Shared server state and the per-thread mio (epoll) event loop.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use crate::config::Config;
use crate::connection::{Conn, Status};
use crate::db::{now_ms, Db, Rng};
use crate::pool::ResponsePool;

/// A command queued by MULTI: owned argument bytes and their ranges.
pub type QueuedCommand = (Vec<u8>, Vec<(usize, usize)>);

/// Per-client state visible to commands.
pub struct ClientState {
    pub id: u64,
    pub name: Vec<u8>,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    /// Queued commands while in MULTI (owned argument bytes + ranges).
    pub multi: Option<Vec<QueuedCommand>>,
    pub multi_dirty: bool,
    pub close_after_reply: bool,
    pub resp: u8,
    pub last_cmd: &'static str,
}

impl ClientState {
    pub fn new(id: u64, addr: String, laddr: String) -> ClientState {
        ClientState {
            id,
            name: Vec::new(),
            addr,
            laddr,
            created: Instant::now(),
            multi: None,
            multi_dirty: false,
            close_after_reply: false,
            resp: 2,
            last_cmd: "NULL",
        }
    }
}

/// What CLIENT LIST shows about a client of any thread.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub name: Vec<u8>,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub thread: usize,
}

/// Counters for INFO stats.
#[derive(Default)]
pub struct Stats {
    pub commands: AtomicU64,
    pub connections_received: AtomicU64,
    pub connected_clients: AtomicU64,
    pub rejected_protocol: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

/// Knobs that CONFIG SET may change while running (read per event on the hot path).
pub struct LiveKnobs {
    pub max_size: AtomicUsize,
    pub min_pipeline_buffer: AtomicUsize,
    pub batch_threshold: AtomicUsize,
}

/// State shared by every event-loop thread.
pub struct Shared {
    pub db: Db,
    pub config: Config,
    pub live: LiveKnobs,
    pub stats: Stats,
    pub clients: Mutex<BTreeMap<u64, ClientInfo>>,
    pub next_client_id: AtomicU64,
    pub shutdown: Arc<AtomicBool>,
    pub started: Instant,
    pub port: u16,
    pub bind: String,
    pub config_file: String,
}

impl Shared {
    pub fn new(config: Config, port: u16, bind: String, config_file: String) -> Shared {
        Shared {
            db: Db::new(config.num_shards),
            live: LiveKnobs {
                max_size: AtomicUsize::new(config.max_size),
                min_pipeline_buffer: AtomicUsize::new(config.min_pipeline_buffer),
                batch_threshold: AtomicUsize::new(config.batch_threshold),
            },
            config,
            stats: Stats::default(),
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            shutdown: Arc::new(AtomicBool::new(false)),
            started: Instant::now(),
            port,
            bind,
            config_file,
        }
    }
}

const LISTENER: Token = Token(usize::MAX);
const CRON_PERIOD: Duration = Duration::from_millis(100);
/// Keys sampled per active-expiry round per partition (Redis: 20).
const EXPIRE_SAMPLES: usize = 20;

/// Runs `threads` event loops on the listener until SHUTDOWN or a signal.
pub fn run(shared: Arc<Shared>, listener: std::net::TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut handles = Vec::new();
    for tid in 1..shared.config.threads {
        let l = listener.try_clone()?;
        let s = Arc::clone(&shared);
        handles.push(
            std::thread::Builder::new()
                .name(format!("event-loop-{tid}"))
                .spawn(move || event_loop(tid, s, l))?,
        );
    }
    let result = event_loop(0, Arc::clone(&shared), listener);
    shared.shutdown.store(true, Ordering::SeqCst);
    for h in handles {
        let _ = h.join();
    }
    result
}

fn event_loop(tid: usize, shared: Arc<Shared>, listener: std::net::TcpListener) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::from_std(listener);
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let cfg = &shared.config;
    let mut pool = ResponsePool::new(cfg.response_pool_capacity, cfg.response_pool_buffer_size);
    let mut rng = Rng::new(now_ms() ^ ((tid as u64 + 1) << 32) ^ u64::from(std::process::id()));
    let mut last_cron = Instant::now();
    let mut pending_writes: Vec<usize> = Vec::new();
    loop {
        match poll.poll(&mut events, Some(CRON_PERIOD)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(tid, &shared, &mut poll, &mut listener, &mut conns, &mut free)?;
                continue;
            }
            let idx = event.token().0;
            let Some(Some(conn)) = conns.get_mut(idx) else { continue };
            let peer_closed = event.is_read_closed() || event.is_error();
            match conn.on_event(&shared, &mut pool, &mut rng, poll.registry(), peer_closed) {
                Status::Keep => {}
                Status::Flush => pending_writes.push(idx),
                Status::Close => {
                    let mut conn = conns[idx].take().expect("present");
                    conn.close(&shared, &mut pool, poll.registry());
                    free.push(idx);
                }
            }
        }
        // Replies of this iteration go out together, after every ready client was read.
        for idx in pending_writes.drain(..) {
            let Some(Some(conn)) = conns.get_mut(idx) else { continue };
            if conn.flush_deferred(&shared, &mut pool, poll.registry()) == Status::Close {
                let mut conn = conns[idx].take().expect("present");
                conn.close(&shared, &mut pool, poll.registry());
                free.push(idx);
            }
        }
        if shared.shutdown.load(Ordering::Relaxed) {
            break;
        }
        if last_cron.elapsed() >= CRON_PERIOD {
            active_expire(tid, &shared, &mut rng);
            last_cron = Instant::now();
        }
    }
    for slot in conns.iter_mut() {
        if let Some(mut c) = slot.take() {
            c.close(&shared, &mut pool, poll.registry());
        }
    }
    Ok(())
}

fn accept_all(
    tid: usize,
    shared: &Shared,
    poll: &mut Poll,
    listener: &mut TcpListener,
    conns: &mut Vec<Option<Conn>>,
    free: &mut Vec<usize>,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let idx = free.pop().unwrap_or_else(|| {
                    conns.push(None);
                    conns.len() - 1
                });
                let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
                let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
                let mut conn = Conn::new(stream, Token(idx), id, addr.to_string(), laddr, &shared.config);
                if let Err(e) = poll.registry().register(&mut conn.stream, Token(idx), Interest::READABLE) {
                    eprintln!("register failed: {e}");
                    free.push(idx);
                    continue;
                }
                shared.clients.lock().unwrap_or_else(|p| p.into_inner()).insert(
                    id,
                    ClientInfo {
                        name: Vec::new(),
                        addr: conn.state.addr.clone(),
                        laddr: conn.state.laddr.clone(),
                        created: conn.state.created,
                        thread: tid,
                    },
                );
                shared.stats.connections_received.fetch_add(1, Ordering::Relaxed);
                shared.stats.connected_clients.fetch_add(1, Ordering::Relaxed);
                conns[idx] = Some(conn);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and friends: log and keep serving existing clients.
                eprintln!("accept failed: {e}");
                return Ok(());
            }
        }
    }
}

/// Redis-style active expiry: sample volatile keys of this thread's partitions, repeat while
/// more than a quarter of a sample had expired, within a 1 ms budget.
fn active_expire(tid: usize, shared: &Shared, rng: &mut Rng) {
    let threads = shared.config.threads;
    let start = Instant::now();
    let now = now_ms();
    for idx in (tid..shared.db.num_shards()).step_by(threads) {
        loop {
            let mut shard = shared.db.lock(idx);
            if shard.volatile_len() == 0 {
                break;
            }
            let (sampled, expired) = shard.expire_sample(EXPIRE_SAMPLES, rng, now);
            drop(shard);
            if sampled == 0 || expired * 4 <= sampled || start.elapsed() > Duration::from_millis(1) {
                break;
            }
        }
    }
}
