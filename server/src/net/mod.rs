//! Network layer: client connections and the event loops that serve them.

pub mod connection;
pub mod event_loop;
pub mod pool;

pub use event_loop::run;
