//! redis-server-optimized: a Redis-compatible RESP2 server whose performance knobs are real.

pub mod cmd;
pub mod commands;
pub mod config;
pub mod connection;
pub mod db;
pub mod frame;
pub mod longdouble;
pub mod pool;
pub mod reply;
pub mod server;
pub mod types;

/// Redis version this server reports (the compatibility target).
pub const REDIS_VERSION: &str = "8.0.2";

/// Allocator compiled in (reported by INFO memory and the start-up line).
#[cfg(feature = "alloc-jemalloc")]
pub const ALLOCATOR: &str = "jemalloc";
#[cfg(all(feature = "alloc-mimalloc", not(feature = "alloc-jemalloc")))]
pub const ALLOCATOR: &str = "mimalloc";
#[cfg(not(any(feature = "alloc-jemalloc", feature = "alloc-mimalloc")))]
pub const ALLOCATOR: &str = "libc";
