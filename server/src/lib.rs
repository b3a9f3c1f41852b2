//! redis-server-optimized: a Redis-compatible RESP2 server whose performance knobs are real.
//!
//! Layers point one way: `protocol` (frame, reply) -> `store` (values, db) -> `session` (client
//! and shared state) -> `commands` (table, dispatch, families) -> `net` (connection, event loop).
//! `config`, `longdouble` and `alloc` are leaves every layer may use. `tests/layers.rs` checks the order.

pub mod alloc;
pub mod config;
pub mod longdouble;

pub mod protocol;

pub mod store;

pub mod session;

pub mod commands;

pub mod net;

/// Redis version this server reports (the compatibility target).
pub const REDIS_VERSION: &str = "8.0.2";

/// Allocator compiled in (reported by INFO memory and the start-up line).
#[cfg(feature = "alloc-jemalloc")]
pub const ALLOCATOR: &str = "jemalloc";
#[cfg(all(feature = "alloc-mimalloc", not(feature = "alloc-jemalloc")))]
pub const ALLOCATOR: &str = "mimalloc";
#[cfg(not(any(feature = "alloc-jemalloc", feature = "alloc-mimalloc")))]
pub const ALLOCATOR: &str = "libc";

#[cfg(feature = "alloc-jemalloc")]
#[global_allocator]
static GLOBAL: alloc::Counting<tikv_jemallocator::Jemalloc> = alloc::Counting(tikv_jemallocator::Jemalloc);

#[cfg(all(feature = "alloc-mimalloc", not(feature = "alloc-jemalloc")))]
#[global_allocator]
static GLOBAL: alloc::Counting<mimalloc::MiMalloc> = alloc::Counting(mimalloc::MiMalloc);

#[cfg(not(any(feature = "alloc-jemalloc", feature = "alloc-mimalloc")))]
#[global_allocator]
static GLOBAL: alloc::Counting<std::alloc::System> = alloc::Counting(std::alloc::System);
