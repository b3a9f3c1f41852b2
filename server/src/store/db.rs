//! The keyspace: `num_shards` partitions, each its own lock and hash table; lazy + active expiry.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::hash_value::HashValue;
use crate::store::key::Key;
use crate::store::set_value::SetValue;
use crate::store::types::{Stream, ZSet};

/// Fast, randomly seeded hasher for every table in the server.
pub type Hasher = foldhash::fast::RandomState;
/// Owned binary-safe byte string (keys, members, fields).
pub type Bytes = Box<[u8]>;
/// Hash map of the keyspace and of hashes/zsets: dense entries, SCAN-stable cursor.
pub type Map<K, V> = crate::store::scan_map::ScanMap<K, V>;
/// Hash set of set values and of the volatile keys, with the same SCAN guarantee.
pub type Set<K> = crate::store::scan_map::ScanSet<K>;

/// A value of one of the Redis data types. Kept small (32 bytes: every keyspace entry is this
/// size): the large containers are boxed, the compact encodings are one buffer each.
#[derive(Debug, Clone)]
pub enum Value {
    Str(Vec<u8>),
    List(Box<VecDeque<Bytes>>),
    Set(SetValue),
    Hash(HashValue),
    ZSet(ZSet),
    Stream(Box<Stream>),
}

impl Value {
    /// Name as returned by TYPE.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Hash(_) => "hash",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// Redis's OBJECT ENCODING name. Strings and lists approximate Redis's rules: `int` for a
    /// canonical integer, `embstr` up to 44 bytes, else `raw` (Redis keeps `raw` after APPEND
    /// and SETRANGE); lists of up to 128 elements are `listpack`, longer ones `quicklist`.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if crate::protocol::frame::parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
            Value::List(l) if l.len() <= 128 => "listpack",
            Value::List(_) => "quicklist",
            Value::Set(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Whether an aggregate became empty (Redis deletes empty aggregates).
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) | Value::Stream(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }

    /// Allocations freeing this value costs (Redis's `lazyfreeGetFreeEffort`): decides whether
    /// UNLINK frees it inline or on the freeing thread.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::List(l) => l.len(),
            Value::Set(s) => s.len(),
            Value::Hash(h) => h.len(),
            Value::ZSet(z) => z.len() * 2,
            Value::Stream(s) => s.len(),
        }
    }
}

/// A keyspace entry; `expire_at` is a Unix time in ms, 0 when the key is persistent.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expire_at: u64,
}

thread_local! {
    /// The time of the command running on this thread (0: none runs).
    static COMMAND_NOW: Cell<u64> = const { Cell::new(0) };
}

/// Current Unix time in milliseconds: the running command's snapshot (see `CommandClock`), else
/// the system clock.
#[inline]
pub fn now_ms() -> u64 {
    match COMMAND_NOW.with(Cell::get) {
        0 => system_now_ms(),
        frozen => frozen,
    }
}

/// The system clock in Unix milliseconds.
pub fn system_now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// One clock reading for a whole top-level command (and a whole EXEC), like Redis's
/// `commandTimeSnapshot`: while the guard lives, `now_ms()` on this thread returns that reading,
/// so a key that is live when a command checks it is still live when the command uses it.
/// Nested guards (a command run inside EXEC) keep the outer reading.
pub struct CommandClock {
    outer: bool,
}

impl CommandClock {
    /// Freezes the clock at the system time, unless a command already froze it.
    pub fn start() -> CommandClock {
        CommandClock::start_at(system_now_ms())
    }

    /// Freezes the clock at `now` (Unix ms, > 0), unless a command already froze it.
    pub fn start_at(now: u64) -> CommandClock {
        let outer = COMMAND_NOW.with(|c| {
            if c.get() == 0 {
                c.set(now.max(1));
                true
            } else {
                false
            }
        });
        CommandClock { outer }
    }
}

impl Drop for CommandClock {
    fn drop(&mut self) {
        if self.outer {
            COMMAND_NOW.with(|c| c.set(0));
        }
    }
}

/// The tables of a flushed partition, owned until dropped.
pub struct ShardTables {
    _map: Map<Key, Entry>,
    _volatile: Set<Bytes>,
}

/// One keyspace partition.
#[derive(Default)]
pub struct Shard {
    map: Map<Key, Entry>,
    /// Keys with a TTL, sampled by the active expiry cycle.
    volatile: Set<Bytes>,
    pub expired_keys: u64,
    /// Read lookups that found a live key / found none (INFO keyspace_hits / keyspace_misses).
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

impl Shard {
    /// Number of keys (including logically expired ones not yet reclaimed, like Redis).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    fn expire_if_needed(&mut self, idx: usize) -> bool {
        let at = self.map[idx].expire_at;
        if at != 0 && at <= now_ms() {
            let (k, _) = self.map.swap_remove_index(idx).expect("index in range");
            self.volatile.swap_remove(k.as_bytes());
            self.expired_keys += 1;
            true
        } else {
            false
        }
    }

    /// Live entry for `key` (deleting it first if it has expired).
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let idx = self.map.get_index_of(key)?;
        if self.expire_if_needed(idx) {
            return None;
        }
        Some(&mut self.map[idx])
    }

    /// Live entry for `key`, counted as a keyspace hit or miss: the lookup of a read command
    /// (Redis's `lookupKeyRead`). Writes use `get_mut`, which counts nothing, like `lookupKeyWrite`.
    #[inline]
    pub fn get_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        match self.map.get_index_of(key) {
            Some(idx) if !self.expire_if_needed(idx) => {
                self.keyspace_hits += 1;
                Some(&mut self.map[idx])
            }
            _ => {
                self.keyspace_misses += 1;
                None
            }
        }
    }

    /// Zeroes the counters CONFIG RESETSTAT resets.
    pub fn reset_stats(&mut self) {
        self.expired_keys = 0;
        self.keyspace_hits = 0;
        self.keyspace_misses = 0;
    }

    /// Live entry for `key`, read-only.
    #[inline]
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        self.get_mut(key).map(|e| &*e)
    }

    /// Whether a live key exists.
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.get_mut(key).is_some()
    }

    /// Inserts or overwrites, clearing any TTL (like SET without KEEPTTL).
    #[inline]
    pub fn set(&mut self, key: &[u8], value: Value) {
        match self.map.get_index_of(key) {
            Some(idx) => {
                let e = &mut self.map[idx];
                if e.expire_at != 0 {
                    e.expire_at = 0;
                    self.volatile.swap_remove(key);
                }
                e.value = value;
            }
            None => {
                self.map.insert(key.into(), Entry { value, expire_at: 0 });
            }
        }
    }

    /// Inserts or overwrites with an explicit expiry (0 = none).
    pub fn set_with_expire(&mut self, key: &[u8], value: Value, expire_at: u64) {
        self.set(key, value);
        if expire_at != 0 {
            self.set_expire(key, expire_at);
        }
    }

    /// Live entry for `key`, created with `make` when missing.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> Value) -> &mut Entry {
        let idx = match self.map.get_index_of(key) {
            Some(idx) if !self.expire_if_needed(idx) => idx,
            _ => self.map.insert_full(key.into(), Entry { value: make(), expire_at: 0 }).0,
        };
        &mut self.map[idx]
    }

    /// Removes a key, returning its entry if it was live.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (_, k, e) = self.map.swap_remove_full(key)?;
        if e.expire_at != 0 {
            self.volatile.swap_remove(k.as_bytes());
            if e.expire_at <= now_ms() {
                self.expired_keys += 1;
                return None;
            }
        }
        Some(e)
    }

    /// Removes an empty aggregate left behind by a pop/remove.
    pub fn remove_if_empty(&mut self, key: &[u8]) {
        if let Some(e) = self.map.get(key) {
            if e.value.is_empty_aggregate() {
                self.remove(key);
            }
        }
    }

    /// Sets the expiry of an existing key (0 = persist). Returns false when the key is missing.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let Some(e) = self.map.get_mut(key) else { return false };
        e.expire_at = at;
        if at == 0 {
            self.volatile.swap_remove(key);
        } else {
            self.volatile.insert(key.into());
        }
        true
    }

    /// Key at position `idx` in table order (SCAN cursor, RANDOMKEY).
    pub fn key_at(&self, idx: usize) -> Option<(&[u8], &Entry)> {
        self.map.get_index(idx).map(|(k, e)| (&**k, e))
    }

    /// One SCAN step over this partition: visits one bucket's keys (expired ones included; the
    /// caller filters) and returns the next cursor, 0 when the partition is done.
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a [u8], &'a Entry)) -> u64 {
        self.map.scan(cursor, |k, e| visit(k, e))
    }

    /// All live keys.
    pub fn keys(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        let now = now_ms();
        self.map.iter().filter(move |(_, e)| e.expire_at == 0 || e.expire_at > now).map(|(k, e)| (&**k, e))
    }

    pub fn clear(&mut self) {
        drop(self.take_tables());
    }

    /// Empties the partition and hands over its old tables, to be dropped elsewhere (FLUSHALL
    /// ASYNC drops them on the freeing thread).
    pub fn take_tables(&mut self) -> ShardTables {
        ShardTables { _map: std::mem::take(&mut self.map), _volatile: std::mem::take(&mut self.volatile) }
    }

    /// One active-expiry round: samples up to `samples` volatile keys; returns (sampled, expired).
    pub fn expire_sample(&mut self, samples: usize, rng: &mut Rng, now: u64) -> (usize, usize) {
        let n = self.volatile.len().min(samples);
        let mut expired = 0;
        for _ in 0..n {
            if self.volatile.is_empty() {
                break;
            }
            let i = rng.below(self.volatile.len());
            let key = self.volatile.get_index(i).expect("index in range").clone();
            let due = self.map.get(&key[..]).map(|e| e.expire_at != 0 && e.expire_at <= now).unwrap_or(true);
            if due {
                self.map.swap_remove(&key[..]);
                self.volatile.swap_remove_index(i);
                self.expired_keys += 1;
                expired += 1;
            }
        }
        (n, expired)
    }
}

/// The whole keyspace.
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
}

impl Db {
    pub fn new(num_shards: usize) -> Db {
        Db { shards: (0..num_shards.max(1)).map(|_| Mutex::new(Shard::default())).collect() }
    }

    pub fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Partition owning `key`.
    #[inline]
    pub fn shard_of(&self, key: &[u8]) -> usize {
        let n = self.shards.len();
        if n == 1 {
            return 0;
        }
        // 8 bytes per step (multiply-xorshift); the table inside the partition hashes with its own
        // seeded hasher, so this only needs to spread keys evenly across partitions.
        let mut h: u64 = key.len() as u64 ^ 0x9e37_79b9_7f4a_7c15;
        let mut chunks = key.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            h = (h ^ v).wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^= h >> 32;
        }
        let mut tail = 0u64;
        for (i, &b) in chunks.remainder().iter().enumerate() {
            tail |= u64::from(b) << (8 * i);
        }
        h = (h ^ tail).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 29;
        (h % n as u64) as usize
    }

    /// Locks one partition (a poisoned lock is recovered: the data stays consistent per command).
    #[inline]
    pub fn lock(&self, idx: usize) -> MutexGuard<'_, Shard> {
        self.shards[idx].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Small xorshift generator for SPOP/SRANDMEMBER/RANDOMKEY and expiry sampling.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform integer in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The set of partitions a command holds while it runs.
pub enum Locked<'a> {
    None,
    One(usize, MutexGuard<'a, Shard>),
    Many(Vec<(usize, MutexGuard<'a, Shard>)>),
}

impl<'a> Locked<'a> {
    /// Locks the sorted, deduplicated partitions `idxs` (ascending order avoids deadlock).
    pub fn acquire(db: &'a Db, idxs: &[usize]) -> Locked<'a> {
        match idxs {
            [] => Locked::None,
            [i] => Locked::One(*i, db.lock(*i)),
            many => Locked::Many(many.iter().map(|&i| (i, db.lock(i))).collect()),
        }
    }

    /// Locks every partition.
    pub fn all(db: &'a Db) -> Locked<'a> {
        let idxs: Vec<usize> = (0..db.num_shards()).collect();
        Locked::Many(idxs.iter().map(|&i| (i, db.lock(i))).collect())
    }

    /// Whether exactly partition `idx` is held.
    #[inline]
    pub fn holds_only(&self, idx: usize) -> bool {
        matches!(self, Locked::One(i, _) if *i == idx)
    }

    /// The held partition at index `idx` (panics if the command did not declare it: a bug).
    #[inline]
    pub fn shard_idx(&mut self, idx: usize) -> &mut Shard {
        match self {
            Locked::One(i, g) if *i == idx => g,
            Locked::Many(v) => {
                &mut v.iter_mut().find(|(i, _)| *i == idx).expect("partition locked by command").1
            }
            _ => panic!("partition {idx} not locked by command"),
        }
    }

    /// Every held partition.
    pub fn shards(&mut self) -> impl Iterator<Item = &mut Shard> {
        let v: Vec<&mut Shard> = match self {
            Locked::None => Vec::new(),
            Locked::One(_, g) => vec![&mut **g],
            Locked::Many(v) => v.iter_mut().map(|(_, g)| &mut **g).collect(),
        };
        v.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_entries_stay_small() {
        // Every key pays for one Entry: the big containers are boxed so it stays at 40 bytes.
        assert!(std::mem::size_of::<Value>() <= 32, "{}", std::mem::size_of::<Value>());
        assert!(std::mem::size_of::<Entry>() <= 40);
    }
}
