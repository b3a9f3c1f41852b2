//! Store layer: values, containers and the partitioned keyspace with lazy and active expiry.

pub mod db;
pub mod reclaim;
pub mod scan_map;
pub mod types;
