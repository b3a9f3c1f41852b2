//! Commands layer: the table, dispatch and the handlers, one module per family (like Redis's t_*.c).

pub mod dispatch;
pub mod reply_budget;
pub mod table;

pub mod connection;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod scan;
pub mod server;
pub mod sets;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;
