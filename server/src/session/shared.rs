//! State shared by every client and thread: keyspace, config, live knobs, counters, client registry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::Config;
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
    /// Frees what UNLINK and FLUSH* ASYNC removed, on its own thread.
    pub reclaimer: Reclaimer,
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
            reclaimer: Reclaimer::new(),
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
