//! The per-thread mio (epoll) event loop: accept, serve ready clients, write, run the cron.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use crate::net::connection::{Conn, Status};
use crate::net::pool::ResponsePool;
use crate::session::{ClientInfo, Shared};
use crate::store::db::{now_ms, Rng};

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
    // Connections whose last turn ended on the read budget, and this iteration's work list.
    let mut again: Vec<usize> = Vec::new();
    let mut ready: Vec<(usize, bool)> = Vec::new();
    loop {
        // With connections waiting for another turn, only look for new events, do not sleep.
        let timeout = if again.is_empty() { CRON_PERIOD } else { Duration::ZERO };
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(tid, &shared, &mut poll, &mut listener, &mut conns, &mut free)?;
                continue;
            }
            ready.push((event.token().0, event.is_read_closed() || event.is_error()));
        }
        ready.extend(again.drain(..).map(|idx| (idx, false)));
        for (idx, peer_closed) in ready.drain(..) {
            let Some(Some(conn)) = conns.get_mut(idx) else { continue };
            let status = conn.on_event(&shared, &mut pool, &mut rng, poll.registry(), peer_closed);
            conn.publish_activity(&shared);
            if conn.more_to_read && status != Status::Close && !again.contains(&idx) {
                again.push(idx);
            }
            match status {
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
            let status = conn.flush_deferred(&shared, &mut pool, poll.registry());
            conn.publish_activity(&shared);
            if status == Status::Close {
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
            if tid == 0 {
                let done = shared.stats.commands.load(Ordering::Relaxed);
                shared.ops.lock().unwrap_or_else(|p| p.into_inner()).sample(done, now_ms());
            }
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
                let fd = stream.as_raw_fd();
                let mut conn = Conn::new(stream, Token(idx), id, addr.to_string(), laddr, &shared.config);
                // A client starts authenticated only while the default user has no password.
                conn.state.authenticated = !shared.auth.required();
                conn.activity.touch(shared.started);
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
                        fd,
                        activity: Arc::clone(&conn.activity),
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
