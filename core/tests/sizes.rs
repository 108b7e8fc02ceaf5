//! What every connection and every event costs in memory, on 64-bit targets: a guard so
//! that neither grows back unnoticed (DESIGN's 2 KiB per idle connection; every event is
//! moved through the queue at least twice).

#![cfg(target_pointer_width = "64")]

use std::mem::size_of;

use lori_core::{Connection, Event};

#[test]
fn an_event_is_a_received_chunk_and_a_tag() {
    // `Received(Bytes)` is the largest variant: 32 bytes of `Bytes` and the tag.
    assert!(
        size_of::<Event>() <= 40,
        "Event is {} bytes",
        size_of::<Event>()
    );
}

#[test]
fn a_connection_stays_small_inline() {
    // 624 bytes with Rust 1.95 and the `tls` feature (536 without); everything else it
    // holds is allocated only while in use.
    assert!(
        size_of::<Connection>() <= 624,
        "Connection is {} bytes",
        size_of::<Connection>()
    );
}
