//! Read buffer sizing: lori's eight `_test_read_buffer` scenarios and the invariant
//! `buffer_until <= read_buffer_minimum <= read_buffer_size`.

mod support;

use lori_core::{BufferUntil, BufferUntilError, Config, ReadBufferError, ReadBufferSize};
use support::Script;

fn size(n: usize) -> ReadBufferSize {
    ReadBufferSize::new(n).unwrap()
}

fn exact(n: usize) -> BufferUntil {
    BufferUntil::exact(n).unwrap()
}

fn server_with_buffer(n: usize) -> Script {
    Script::server(Config::default().read_buffer_size(size(n)))
}

#[test]
fn constructor_size_sets_the_initial_size_and_the_minimum() {
    let s = server_with_buffer(128);
    assert_eq!(s.conn.read_buffer_size(), 128);
    assert_eq!(s.conn.read_buffer_minimum(), 128);
}

#[test]
fn set_read_buffer_minimum_succeeds_and_grows_the_buffer() {
    let mut s = server_with_buffer(128);
    s.conn.set_read_buffer_minimum(size(1024)).unwrap();
    assert_eq!(s.conn.read_buffer_minimum(), 1024);
    assert_eq!(s.conn.read_buffer_size(), 1024);
}

#[test]
fn set_read_buffer_minimum_below_buffer_until_is_refused() {
    let mut s = server_with_buffer(128);
    s.conn.set_buffer_until(exact(64)).unwrap();
    assert_eq!(
        s.conn.set_read_buffer_minimum(size(32)),
        Err(ReadBufferError::BelowBufferUntil {
            requested: 32,
            buffer_until: 64
        })
    );
    assert_eq!(s.conn.read_buffer_minimum(), 128, "unchanged");
}

#[test]
fn resize_read_buffer_succeeds_for_valid_sizes() {
    let mut s = server_with_buffer(128);
    s.conn.resize_read_buffer(size(4096)).unwrap();
    assert_eq!(s.conn.read_buffer_size(), 4096);
    assert_eq!(s.conn.read_buffer_minimum(), 128);
    s.conn.resize_read_buffer(size(128)).unwrap();
    assert_eq!(s.conn.read_buffer_size(), 128);
}

#[test]
fn resize_read_buffer_below_buffer_until_is_refused() {
    let mut s = server_with_buffer(128);
    s.conn.set_buffer_until(exact(100)).unwrap();
    assert_eq!(
        s.conn.resize_read_buffer(size(50)),
        Err(ReadBufferError::BelowBufferUntil {
            requested: 50,
            buffer_until: 100
        })
    );
}

#[test]
fn resize_read_buffer_below_buffered_bytes_is_refused() {
    let mut s = server_with_buffer(128);
    s.read(b"0123456789");
    s.conn.mute();
    assert_eq!(
        s.conn.resize_read_buffer(size(8)),
        Err(ReadBufferError::BelowBuffered {
            requested: 8,
            buffered: 10
        })
    );
}

#[test]
fn resize_below_the_minimum_lowers_the_minimum() {
    let mut s = server_with_buffer(128);
    s.conn.resize_read_buffer(size(64)).unwrap();
    assert_eq!(s.conn.read_buffer_minimum(), 64);
    assert_eq!(
        s.conn.set_buffer_until(exact(100)),
        Err(BufferUntilError::AboveMinimum {
            requested: 100,
            minimum: 64
        }),
        "a later buffer_until sees the lowered minimum"
    );
}

#[test]
fn buffer_until_above_the_minimum_is_refused() {
    let mut s = server_with_buffer(128);
    assert_eq!(
        s.conn.set_buffer_until(exact(129)),
        Err(BufferUntilError::AboveMinimum {
            requested: 129,
            minimum: 128
        })
    );
    assert_eq!(s.conn.buffer_until(), BufferUntil::Streaming);
}

#[test]
fn buffer_until_at_the_minimum_is_accepted() {
    let mut s = server_with_buffer(128);
    s.conn.set_buffer_until(exact(128)).unwrap();
    assert_eq!(s.conn.buffer_until(), exact(128));
}

#[test]
fn a_grown_buffer_shrinks_back_to_the_minimum_when_it_empties() {
    let mut s = server_with_buffer(16);
    s.conn.resize_read_buffer(size(64)).unwrap();
    s.read_all(&[b'x'; 40]);
    assert_eq!(
        s.conn.read_buffer_size(),
        64,
        "still holding data: no shrink"
    );
    assert_eq!(s.received().concat().len(), 40);
    assert_eq!(s.conn.read_buffer_size(), 16, "empty: back to the minimum");
}

#[test]
fn large_frames_need_a_raised_minimum() {
    // lori's read-buffer-size example: a small control phase, then big frames.
    let mut s = server_with_buffer(128);
    s.conn.set_read_buffer_minimum(size(8192)).unwrap();
    s.conn.set_buffer_until(exact(8192)).unwrap();
    let frame = vec![9u8; 8192];
    s.read_all(&frame);
    assert_eq!(s.received(), [frame]);
}

#[test]
fn a_frame_the_buffer_was_sized_for_is_handed_over_uniquely_owned() {
    let mut s = server_with_buffer(64);
    s.conn.set_buffer_until(exact(64)).unwrap();
    s.read(&[7; 64]);
    let frames = s.received();
    assert_eq!(frames.len(), 1);
    assert!(
        frames[0].is_unique(),
        "the buffer's memory went with the frame"
    );
    let mut owned = frames
        .into_iter()
        .next()
        .unwrap()
        .try_into_mut()
        .expect("ours alone");
    owned[0] = 1;
    assert_eq!(owned.len(), 64);
}

#[test]
fn streaming_chunks_and_smaller_frames_share_the_buffer_the_next_read_fills() {
    let mut s = server_with_buffer(64);
    s.read(&[7; 10]);
    let streamed = s.received();
    assert!(
        !streamed[0].is_unique(),
        "the rest of the buffer holds it too"
    );

    s.conn.set_buffer_until(exact(4)).unwrap();
    s.read(&[8; 8]);
    let frames = s.received();
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|frame| !frame.is_unique()));
}
