//! Test harness: runs commands through the real dispatcher without a socket.

#![allow(dead_code)]

use rso::commands::dispatch::execute;
use rso::commands::table::Args;
use rso::config::Config;
use rso::session::{ClientState, Shared};
use rso::store::db::{Locked, Rng};

pub struct Harness {
    pub shared: Shared,
    pub state: ClientState,
    rng: Rng,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(Config::default())
    }

    pub fn with_config(cfg: Config) -> Harness {
        Harness {
            shared: Shared::new(cfg, 0, "127.0.0.1".into(), "test".into()),
            state: ClientState::new(1, "127.0.0.1:1".into(), "127.0.0.1:0".into()),
            rng: Rng::new(42),
        }
    }

    /// Runs one command given as separate (binary-safe) arguments; returns the raw reply.
    pub fn run(&mut self, argv: &[&[u8]]) -> Vec<u8> {
        let mut base = Vec::new();
        let mut ranges = Vec::new();
        for a in argv {
            let s = base.len();
            base.extend_from_slice(a);
            ranges.push((s, base.len()));
        }
        let args = Args::new(&base, &ranges);
        let mut out = Vec::new();
        let mut locked = Locked::None;
        let mut parts = Vec::new();
        execute(&args, &mut self.state, &mut out, &self.shared, &mut locked, &mut self.rng, &mut parts);
        out
    }

    /// Runs a whitespace-separated command and returns the reply as text.
    pub fn q(&mut self, line: &str) -> String {
        let argv: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        String::from_utf8_lossy(&self.run(&argv)).into_owned()
    }
}

/// Encodes a bulk-string reply.
pub fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// Encodes an array of bulk strings.
pub fn bulks(items: &[&str]) -> String {
    let mut r = format!("*{}\r\n", items.len());
    for i in items {
        r.push_str(&bulk(i));
    }
    r
}

pub const OK: &str = "+OK\r\n";
pub const NIL: &str = "$-1\r\n";
pub const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
pub const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";
pub const SYNTAX: &str = "-ERR syntax error\r\n";

pub fn int(n: i64) -> String {
    format!(":{n}\r\n")
}
