//! Flow control: mute with a full read buffer, and mute from a `Sent` handler
//! (lori's `_test_flow_control`).

mod support;

use lori_core::{BufferUntil, Config, Event, ReadBufferSize};
use support::Script;

#[test]
fn mute_with_a_full_read_buffer_holds_everything_and_never_reads_zero_bytes() {
    // lori #324: a full buffer made lori read 0 bytes, which looked like EOF.
    let config = Config::default().read_buffer_size(ReadBufferSize::new(256).unwrap());
    let mut s = Script::server(config);
    s.conn
        .set_buffer_until(BufferUntil::exact(4).unwrap())
        .unwrap();
    let payload: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
    let mut offered = &payload[..];
    let mut delivered = Vec::new();
    let mut muted_rounds = 0;
    while !offered.is_empty() || s.conn.buffered_read_bytes() > 0 {
        while s.conn.wants_read() && !offered.is_empty() {
            let n = s.read(offered);
            offered = &offered[n..];
        }
        if s.conn.buffered_read_bytes() == 256 && !s.conn.is_muted() {
            s.conn.mute();
            muted_rounds += 1;
            assert!(
                !s.conn.wants_read(),
                "muted with a full buffer: no read at all"
            );
            assert_eq!(s.conn.poll_event(), None);
            s.conn.unmute();
        }
        while let Some(event) = s.conn.poll_event() {
            let Event::Received(chunk) = event else {
                panic!("{event:?}")
            };
            assert_eq!(chunk.len(), 4);
            delivered.extend_from_slice(&chunk);
        }
    }
    assert!(
        muted_rounds >= 4,
        "the buffer filled while muted several times"
    );
    assert_eq!(
        delivered, payload,
        "every byte in order, none lost, no spurious close"
    );
}

#[test]
fn mute_from_a_sent_event_takes_effect_before_the_first_read() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"greeting"[..]).unwrap();
    s.write_all();
    assert_eq!(s.conn.poll_event(), Some(Event::Sent(token)));
    s.conn.mute();
    assert!(!s.conn.wants_read());
    s.conn.unmute();
    s.read(b"data");
    s.conn.mute();
    assert_eq!(
        s.conn.poll_event(),
        None,
        "muted from the handler: nothing delivered"
    );
}

#[test]
fn mute_does_not_stop_writes() {
    let mut s = Script::default_server();
    s.conn.mute();
    let token = s.conn.send(&b"still writing"[..]).unwrap();
    assert!(s.conn.wants_write());
    assert_eq!(s.write_all(), b"still writing");
    assert_eq!(s.events(), [Event::Sent(token)]);
}
