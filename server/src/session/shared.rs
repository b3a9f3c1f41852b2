//! State shared by every client and thread: keyspace, config, live knobs, counters, client registry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::Config;
use crate::store::compact::EncodingLimits;
use crate::store::db::Db;
use crate::store::reclaim::Reclaimer;

/// What CLIENT LIST shows about a client of any thread.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub name: Vec<u8>,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub thread: usize,
    /// The socket's file descriptor.
    pub fd: i32,
    /// Published by the connection after each event (its thread writes, CLIENT LIST reads).
    pub activity: Arc<ClientActivity>,
}

/// A connection's live figures for CLIENT LIST, published after every event it handled.
#[derive(Debug, Default)]
pub struct ClientActivity {
    /// Milliseconds since server start of the last read or write (Redis's `lastinteraction`).
    last_interaction_ms: AtomicU64,
    /// Reply bytes not yet written to the socket (`omem`).
    pub omem: AtomicU64,
    /// Received bytes not yet executed (`qbuf`).
    pub qbuf: AtomicU64,
    /// Bytes held by the connection's buffers (`tot-mem`).
    pub tot_mem: AtomicU64,
    /// Protocol of the client (2 or 3).
    pub resp: AtomicU64,
}

impl ClientActivity {
    /// Records an interaction now (`started` is the server's start).
    pub fn touch(&self, started: Instant) {
        self.last_interaction_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Whole seconds since the last interaction (`idle`).
    pub fn idle_secs(&self, started: Instant) -> u64 {
        let now = started.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000
    }
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
    /// Error replies sent (INFO total_error_replies).
    pub error_replies: AtomicU64,
}

/// Samples of commands per second, like Redis's `trackInstantaneousMetric` (16 samples taken
/// every 100 ms by the cron; INFO shows their mean as `instantaneous_ops_per_sec`).
#[derive(Default)]
pub struct OpsMeter {
    last_ms: u64,
    last_count: u64,
    samples: [u64; OpsMeter::SAMPLES],
    next: usize,
}

impl OpsMeter {
    pub const SAMPLES: usize = 16;

    /// Records the rate since the previous sample (`count` commands so far at `now_ms`).
    pub fn sample(&mut self, count: u64, now_ms: u64) {
        if self.last_ms != 0 && now_ms > self.last_ms {
            let ops = count.saturating_sub(self.last_count);
            self.samples[self.next] = ops * 1000 / (now_ms - self.last_ms);
            self.next = (self.next + 1) % Self::SAMPLES;
        }
        self.last_ms = now_ms;
        self.last_count = count;
    }

    /// Mean of the samples: commands per second over the last 1.6 s.
    pub fn per_sec(&self) -> u64 {
        self.samples.iter().sum::<u64>() / Self::SAMPLES as u64
    }
}

/// Knobs that CONFIG SET may change while running (read per event on the hot path).
pub struct LiveKnobs {
    pub max_size: AtomicUsize,
    pub min_pipeline_buffer: AtomicUsize,
    pub batch_threshold: AtomicUsize,
}

/// The compact-encoding thresholds (`encoding.*`), live: CONFIG SET changes them for the
/// conversions that follow (existing values keep their encoding, as in Redis).
pub struct LiveEncoding([AtomicUsize; 7]);

/// `encoding.*` knob names with Redis's names for the same settings, in `LiveEncoding` order.
pub const ENCODING_KNOBS: [(&str, &str); 7] = [
    ("encoding.set_max_intset_entries", "set-max-intset-entries"),
    ("encoding.set_max_listpack_entries", "set-max-listpack-entries"),
    ("encoding.set_max_listpack_value", "set-max-listpack-value"),
    ("encoding.hash_max_listpack_entries", "hash-max-listpack-entries"),
    ("encoding.hash_max_listpack_value", "hash-max-listpack-value"),
    ("encoding.zset_max_listpack_entries", "zset-max-listpack-entries"),
    ("encoding.zset_max_listpack_value", "zset-max-listpack-value"),
];

impl LiveEncoding {
    fn new(c: &Config) -> LiveEncoding {
        LiveEncoding(EncodingLimits::from(c).to_array().map(AtomicUsize::new))
    }

    /// Index of a knob by its dotted or Redis name.
    pub fn index_of(name: &str) -> Option<usize> {
        ENCODING_KNOBS.iter().position(|(dotted, redis)| *dotted == name || *redis == name)
    }

    pub fn get(&self, i: usize) -> usize {
        self.0[i].load(Ordering::Relaxed)
    }

    pub fn set(&self, i: usize, v: usize) {
        self.0[i].store(v, Ordering::Relaxed)
    }

    /// The current thresholds.
    pub fn limits(&self) -> EncodingLimits {
        EncodingLimits::from_array(std::array::from_fn(|i| self.get(i)))
    }
}

/// The default user's password (`requirepass`), as AUTH and HELLO ... AUTH check it.
#[derive(Default)]
pub struct Auth {
    /// Whether a password is set: read per command (one relaxed load) to gate unauthenticated clients.
    required: AtomicBool,
    password: Mutex<Vec<u8>>,
}

impl Auth {
    /// Whether the default user has a password (Redis: the default user is not `nopass`).
    #[inline]
    pub fn required(&self) -> bool {
        self.required.load(Ordering::Relaxed)
    }

    /// Sets the password; empty = none (every connection is the default user without AUTH).
    pub fn set_password(&self, password: &[u8]) {
        *self.password.lock().unwrap_or_else(|p| p.into_inner()) = password.to_vec();
        self.required.store(!password.is_empty(), Ordering::Relaxed);
    }

    pub fn password(&self) -> Vec<u8> {
        self.password.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `user`/`password` authenticate: only the `default` user exists; without a
    /// password it accepts any (Redis's `nopass`).
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        if user != b"default" {
            return false;
        }
        let stored = self.password.lock().unwrap_or_else(|p| p.into_inner());
        stored.is_empty() || constant_time_eq(&stored, password)
    }
}

/// Byte comparison whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// State shared by every event-loop thread.
pub struct Shared {
    pub db: Db,
    /// Frees what UNLINK and FLUSH* ASYNC removed, on its own thread.
    pub reclaimer: Reclaimer,
    pub config: Config,
    pub live: LiveKnobs,
    pub encoding: LiveEncoding,
    pub stats: Stats,
    pub ops: Mutex<OpsMeter>,
    /// `maxmemory` in bytes (0 = no limit); over it, `denyoom` commands are refused (noeviction).
    pub maxmemory: AtomicU64,
    pub auth: Auth,
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
            reclaimer: Reclaimer::new(),
            live: LiveKnobs {
                max_size: AtomicUsize::new(config.max_size),
                min_pipeline_buffer: AtomicUsize::new(config.min_pipeline_buffer),
                batch_threshold: AtomicUsize::new(config.batch_threshold),
            },
            encoding: LiveEncoding::new(&config),
            config,
            stats: Stats::default(),
            ops: Mutex::new(OpsMeter::default()),
            maxmemory: AtomicU64::new(0),
            auth: Auth::default(),
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

#[cfg(test)]
mod tests {
    use super::OpsMeter;

    #[test]
    fn ops_meter_averages_sixteen_samples() {
        let mut m = OpsMeter::default();
        m.sample(0, 1000);
        assert_eq!(m.per_sec(), 0);
        // 100 commands every 100 ms = 1000/s once all 16 samples are in.
        for i in 1..=16u64 {
            m.sample(i * 100, 1000 + i * 100);
        }
        assert_eq!(m.per_sec(), 1000);
        // Idle again: the mean falls back to 0 within 16 samples.
        for i in 17..=32u64 {
            m.sample(1600, 1000 + i * 100);
        }
        assert_eq!(m.per_sec(), 0);
    }
}
