//! Protocol layer: RESP request parsing and reply encoding. Depends on nothing else in the crate.

pub mod frame;
pub mod reply;
