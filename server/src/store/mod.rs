//! Store layer: values, containers and the partitioned keyspace with lazy and active expiry.

pub mod compact;
pub mod db;
pub mod hash_value;
pub mod key;
pub mod reclaim;
pub mod scan_map;
pub mod set_value;
pub mod types;
