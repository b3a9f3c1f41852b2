//! Per-client state that commands read and change (protocol, name, MULTI queue).

use std::time::Instant;

/// A command queued by MULTI: owned argument bytes and their ranges.
pub type QueuedCommand = (Vec<u8>, Vec<(usize, usize)>);

/// Per-client state visible to commands.
pub struct ClientState {
    pub id: u64,
    pub name: Vec<u8>,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    /// Queued commands while in MULTI (owned argument bytes + ranges).
    pub multi: Option<Vec<QueuedCommand>>,
    pub multi_dirty: bool,
    pub close_after_reply: bool,
    pub resp: u8,
    pub last_cmd: &'static str,
    /// Authenticated as the default user (true at creation when it has no password, like Redis).
    pub authenticated: bool,
}

impl ClientState {
    pub fn new(id: u64, addr: String, laddr: String) -> ClientState {
        ClientState {
            id,
            name: Vec::new(),
            addr,
            laddr,
            created: Instant::now(),
            multi: None,
            multi_dirty: false,
            close_after_reply: false,
            resp: 2,
            last_cmd: "NULL",
            authenticated: true,
        }
    }
}
