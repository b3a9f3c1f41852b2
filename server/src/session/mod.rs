//! Session layer: what a command sees of the server besides the keyspace (client and shared state).

pub mod client;
pub mod shared;

pub use client::{ClientState, QueuedCommand};
pub use shared::{ClientActivity, ClientInfo, LiveKnobs, Shared, Stats};
