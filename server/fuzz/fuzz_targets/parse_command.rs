//! Fuzzes the RESP parser: never panics, consumes within bounds, ranges stay inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rso::protocol::frame::{parse_command, ArgSource, Parsed};

fuzz_target!(|data: &[u8]| {
    let mut args = Vec::new();
    let mut scratch = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        match parse_command(rest, &mut args, &mut scratch, 1 << 20) {
            Parsed::Command { consumed, source } => {
                assert!(consumed > 0 && consumed <= rest.len());
                let base = match source {
                    ArgSource::Buffer => rest,
                    ArgSource::Scratch => &scratch[..],
                };
                for &(s, e) in &args {
                    assert!(s <= e && e <= base.len());
                }
                rest = &rest[consumed..];
            }
            Parsed::Incomplete { need } => {
                assert!(need > rest.len());
                break;
            }
            Parsed::Error(_) => break,
        }
    }
});
