//! One client connection: buffered reads, command batching under held shard locks, flushing.

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::commands::dispatch::{count_errors, execute};
use crate::commands::table::Args;
use crate::config::Config;
use crate::net::pool::ResponsePool;
use crate::protocol::frame::{
    parse_command_resume, ArgSource, ParseState, Parsed, MAX_BULK_LEN, TOO_BIG_QUERY,
};
use crate::protocol::reply::Reply;
use crate::session::{ClientActivity, ClientState, Shared};
use crate::store::db::{Locked, Rng};

/// Pending output beyond which a connection stops executing commands until the client reads.
const OUTPUT_LIMIT: usize = 1 << 20;
/// Pending output written at once instead of at the end of the event-loop iteration.
const DEFERRED_OUTPUT_LIMIT: usize = 64 * 1024;

/// Whether the event loop keeps the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Keep,
    /// Keep, and write its pending replies once every ready connection was served.
    Flush,
    Close,
}

/// A client connection and its buffers.
pub struct Conn {
    pub stream: TcpStream,
    /// Received bytes live in `rbuf[rstart..rend]`; the buffer stays initialised (no memset per read).
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Pending bytes needed before a re-parse can make progress.
    need: usize,
    /// Reply buffer borrowed from the response pool while output is pending (capacity 0 otherwise).
    out: Vec<u8>,
    wpos: usize,
    args: Vec<(usize, usize)>,
    /// Where parsing of a request that arrived in part resumes (offsets from `rstart`).
    parse: ParseState,
    scratch: Vec<u8>,
    parts: Vec<usize>,
    pub state: ClientState,
    writable: bool,
    read_size: usize,
    token: Token,
    /// Figures CLIENT LIST shows, published after each event.
    pub activity: Arc<ClientActivity>,
    /// The last turn ended on its read budget with input possibly left in the socket: the event
    /// loop serves the connection again next iteration (edge-triggered epoll will not report it).
    pub more_to_read: bool,
    /// EPOLLRDHUP/ERR was seen (kept across turns that end on the budget).
    peer_closed: bool,
}

impl Conn {
    pub fn new(stream: TcpStream, token: Token, id: u64, addr: String, laddr: String, cfg: &Config) -> Conn {
        Conn {
            stream,
            rbuf: vec![0; cfg.read_size],
            rstart: 0,
            rend: 0,
            need: 0,
            out: Vec::new(),
            wpos: 0,
            args: Vec::with_capacity(8),
            parse: ParseState::default(),
            scratch: Vec::new(),
            parts: Vec::with_capacity(4),
            state: ClientState::new(id, addr, laddr),
            writable: false,
            read_size: cfg.read_size,
            token,
            activity: Arc::default(),
            more_to_read: false,
            peer_closed: false,
        }
    }

    /// Publishes this connection's figures for CLIENT LIST (after it was served: an interaction).
    pub fn publish_activity(&self, shared: &Shared) {
        let a = &self.activity;
        a.touch(shared.started);
        a.omem.store((self.out.len() - self.wpos) as u64, Ordering::Relaxed);
        a.qbuf.store((self.rend - self.rstart) as u64, Ordering::Relaxed);
        a.tot_mem.store((self.rbuf.len() + self.out.capacity()) as u64, Ordering::Relaxed);
        a.resp.store(u64::from(self.state.resp), Ordering::Relaxed);
    }

    /// Handles readiness: execute what is buffered, flush, read until the socket is drained.
    ///
    /// `peer_closed` (EPOLLRDHUP/ERR seen) disables the short-read shortcut: the EOF may already
    /// be queued behind the data, and edge-triggered epoll will not report it again.
    pub fn on_event(
        &mut self,
        shared: &Shared,
        pool: &mut ResponsePool,
        rng: &mut Rng,
        registry: &Registry,
        peer_closed: bool,
    ) -> Status {
        self.peer_closed |= peer_closed;
        let peer_closed = self.peer_closed;
        self.more_to_read = false;
        // One full read (`buffers.read_size`) per turn, then the other ready connections of this
        // thread are served first: a client streaming a huge pipeline cannot starve them. Redis
        // does the same (one 16 KiB read per client per event-loop iteration).
        let budget = self.read_size;
        let mut read_this_turn = 0usize;
        let mut drained = false;
        loop {
            let stalled = self.process(shared, pool, rng);
            // Replies are normally written after every ready connection was read (like Redis's
            // beforeSleep), so clients get them in bursts; write now only when we must.
            let flush_now = stalled
                || self.state.close_after_reply
                || self.writable
                || self.out.len() - self.wpos >= DEFERRED_OUTPUT_LIMIT;
            if flush_now {
                match self.flush(shared, pool) {
                    Err(_) => return Status::Close,
                    Ok(false) => {
                        // The client is not reading: wait for writability, read nothing more meanwhile.
                        if self.writable {
                            return Status::Keep;
                        }
                        return self.set_interest(registry, true);
                    }
                    Ok(true) => {
                        if self.writable && self.set_interest(registry, false) == Status::Close {
                            return Status::Close;
                        }
                    }
                }
                if self.state.close_after_reply {
                    return Status::Close;
                }
                if stalled {
                    continue;
                }
            }
            if drained {
                return self.idle_status();
            }
            if read_this_turn >= budget {
                // Fair share used: let the other ready connections run, come back next iteration.
                self.more_to_read = true;
                return self.idle_status();
            }
            match self.read() {
                Ok(0) => {
                    // The peer half-closed: answer what it sent, then close.
                    let _ = self.flush(shared, pool);
                    return Status::Close;
                }
                Ok(n) => {
                    read_this_turn += n;
                    shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    // A short read drained the socket; edge-triggered epoll reports new data.
                    drained = n < self.read_size && !peer_closed;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.idle_status(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Status::Close,
            }
        }
    }

    /// Keep, or Flush when replies wait for the end-of-iteration write.
    fn idle_status(&self) -> Status {
        if self.out.len() > self.wpos {
            Status::Flush
        } else {
            Status::Keep
        }
    }

    /// Writes replies deferred by `on_event`; waits for writability when the socket is full.
    pub fn flush_deferred(
        &mut self,
        shared: &Shared,
        pool: &mut ResponsePool,
        registry: &Registry,
    ) -> Status {
        match self.flush(shared, pool) {
            Err(_) => Status::Close,
            Ok(false) if !self.writable => self.set_interest(registry, true),
            Ok(_) => Status::Keep,
        }
    }

    fn set_interest(&mut self, registry: &Registry, writable: bool) -> Status {
        self.writable = writable;
        let interest = if writable { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        let token = self.token;
        match registry.reregister(&mut self.stream, token, interest) {
            Ok(()) => Status::Keep,
            Err(_) => Status::Close,
        }
    }

    fn read(&mut self) -> io::Result<usize> {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        if self.rbuf.len() - self.rend < self.read_size {
            if self.rstart > 0 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            }
            if self.rbuf.len() - self.rend < self.read_size {
                self.rbuf.resize(self.rend + self.read_size, 0);
            }
        }
        let n = self.stream.read(&mut self.rbuf[self.rend..self.rend + self.read_size])?;
        self.rend += n;
        Ok(n)
    }

    /// Writes pending output; true when everything was written (the buffer goes back to the pool).
    fn flush(&mut self, shared: &Shared, pool: &mut ResponsePool) -> io::Result<bool> {
        let done = write_out(&mut self.stream, &mut self.out, &mut self.wpos, shared)?;
        if done && self.out.capacity() > 0 {
            pool.give(std::mem::take(&mut self.out));
        }
        Ok(done)
    }

    /// Executes every complete command in the read buffer; true if stopped by the output limit.
    fn process(&mut self, shared: &Shared, pool: &mut ResponsePool, rng: &mut Rng) -> bool {
        let pending = self.rend - self.rstart;
        if pending == 0 || pending < self.need || self.state.close_after_reply {
            return false;
        }
        let max_size = shared.live.max_size.load(Ordering::Relaxed);
        let interactive = pending < shared.live.min_pipeline_buffer.load(Ordering::Relaxed);
        let threshold = shared.live.batch_threshold.load(Ordering::Relaxed);
        let max_bulk = MAX_BULK_LEN.min(max_size);
        if self.out.capacity() == 0 {
            self.out = pool.take();
        }
        let Conn { stream, rbuf, rstart, rend, need, out, wpos, args, parse, scratch, parts, state, .. } =
            self;
        let mut locked = Locked::None;
        let mut in_batch = 0usize;
        let mut executed = 0u64;
        let mut stalled = false;
        loop {
            if *rstart == *rend {
                *need = 0;
                break;
            }
            if out.len() - *wpos >= OUTPUT_LIMIT {
                stalled = true;
                break;
            }
            let input = &rbuf[*rstart..*rend];
            match parse_command_resume(input, args, scratch, max_bulk, parse) {
                Parsed::Command { consumed, source } => {
                    let base: &[u8] = match source {
                        ArgSource::Buffer => input,
                        ArgSource::Scratch => scratch,
                    };
                    let a = Args::new(base, args);
                    execute(&a, state, out, shared, &mut locked, rng, parts);
                    *rstart += consumed;
                    *need = 0;
                    executed += 1;
                    in_batch += 1;
                    if state.close_after_reply {
                        break;
                    }
                    if interactive || in_batch >= threshold {
                        // End of a batch: release the partition and push replies out now.
                        locked = Locked::None;
                        in_batch = 0;
                        // A write error resurfaces at the final flush.
                        let _ = write_out(stream, out, wpos, shared);
                    }
                }
                Parsed::Incomplete { need: n } => {
                    if n > max_size {
                        out.error(TOO_BIG_QUERY);
                        state.close_after_reply = true;
                        shared.stats.rejected_protocol.fetch_add(1, Ordering::Relaxed);
                    }
                    *need = n;
                    break;
                }
                Parsed::Error(e) => {
                    out.error(e);
                    state.close_after_reply = true;
                    shared.stats.rejected_protocol.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        drop(locked);
        // Protocol errors are error replies too (Redis counts them in total_error_replies).
        count_errors(shared);
        if *rstart == *rend {
            *rstart = 0;
            *rend = 0;
            // Give back memory a huge request made the read buffer grow to.
            if rbuf.len() > 4 * self.read_size.max(1 << 16) {
                rbuf.truncate(self.read_size);
                rbuf.shrink_to_fit();
            }
        }
        if executed > 0 {
            shared.stats.commands.fetch_add(executed, Ordering::Relaxed);
        }
        stalled
    }

    /// Releases the connection's resources and unregisters it.
    pub fn close(&mut self, shared: &Shared, pool: &mut ResponsePool, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
        if self.out.capacity() > 0 {
            pool.give(std::mem::take(&mut self.out));
        }
        shared.clients.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.state.id);
        shared.stats.connected_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

fn write_out(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    wpos: &mut usize,
    shared: &Shared,
) -> io::Result<bool> {
    while *wpos < out.len() {
        match stream.write(&out[*wpos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *wpos += n;
                shared.stats.net_output_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.clear();
    *wpos = 0;
    Ok(true)
}
