//! Constrained types: lori's boundary tests for every bounded value.

use std::time::Duration;

use lori_core::{
    BufferSize, BufferUntil, CloseTimeout, ConnectionTimeout, IdleTimeout, MAX_MILLIS, MaxSpawn,
    ReadBufferSize, TimerDuration,
};

#[test]
fn read_buffer_size_rejects_zero() {
    assert!(ReadBufferSize::new(0).is_err());
}

#[test]
fn read_buffer_size_accepts_its_boundaries() {
    assert_eq!(ReadBufferSize::new(1).unwrap().get(), 1);
    assert_eq!(ReadBufferSize::new(usize::MAX).unwrap().get(), usize::MAX);
}

#[test]
fn default_read_buffer_size_is_16384() {
    assert_eq!(ReadBufferSize::default().get(), 16384);
}

#[test]
fn buffer_size_rejects_zero_and_accepts_one() {
    assert!(BufferSize::new(0).is_err());
    assert!(BufferUntil::exact(0).is_err());
    assert_eq!(BufferSize::new(1).unwrap().get(), 1);
}

#[test]
fn max_spawn_rejects_zero() {
    assert!(MaxSpawn::new(0).is_err());
}

#[test]
fn max_spawn_accepts_its_boundaries() {
    assert_eq!(MaxSpawn::new(1).unwrap().get(), 1);
    assert_eq!(MaxSpawn::new(u32::MAX).unwrap().get(), u32::MAX);
}

#[test]
fn default_max_spawn_is_100000() {
    assert_eq!(MaxSpawn::default().get(), 100_000);
}

#[test]
fn connection_timeout_rejects_zero() {
    assert!(ConnectionTimeout::from_millis(0).is_err());
}

#[test]
fn connection_timeout_accepts_its_boundaries_and_rejects_one_past_the_maximum() {
    assert_eq!(ConnectionTimeout::from_millis(1).unwrap().as_millis(), 1);
    assert_eq!(
        ConnectionTimeout::from_millis(MAX_MILLIS)
            .unwrap()
            .as_millis(),
        MAX_MILLIS
    );
    assert!(ConnectionTimeout::from_millis(MAX_MILLIS + 1).is_err());
}

#[test]
fn timer_duration_rejects_zero() {
    assert!(TimerDuration::from_millis(0).is_err());
}

#[test]
fn timer_duration_accepts_its_boundaries_and_rejects_one_past_the_maximum() {
    assert_eq!(TimerDuration::from_millis(1).unwrap().as_millis(), 1);
    assert_eq!(
        TimerDuration::from_millis(MAX_MILLIS).unwrap().as_millis(),
        MAX_MILLIS
    );
    assert!(TimerDuration::from_millis(MAX_MILLIS + 1).is_err());
}

#[test]
fn idle_timeout_accepts_its_boundaries_and_rejects_the_rest() {
    assert!(IdleTimeout::from_millis(0).is_err());
    assert!(IdleTimeout::from_millis(1).is_ok());
    assert!(IdleTimeout::from_millis(MAX_MILLIS).is_ok());
    assert!(IdleTimeout::from_millis(MAX_MILLIS + 1).is_err());
}

#[test]
fn max_millis_converts_to_nanoseconds_without_overflow() {
    assert_eq!(MAX_MILLIS, 18_446_744_073_709);
    assert!(MAX_MILLIS.checked_mul(1_000_000).is_some());
}

#[test]
fn seconds_convert_and_overflowing_seconds_are_rejected() {
    let timeout = IdleTimeout::from_secs(5).unwrap();
    assert_eq!(timeout.as_duration(), Duration::from_secs(5));
    assert!(IdleTimeout::from_secs(u64::MAX).is_err());
    assert!(IdleTimeout::from_secs(0).is_err());
}

#[test]
fn close_timeout_defaults_to_thirty_seconds() {
    assert_eq!(
        CloseTimeout::default().as_duration(),
        Duration::from_secs(30)
    );
}
