//! Workspace root package of lori for Rust: it owns the cross-crate tests in `tests/` and
//! the programs in `examples/`. Its docs are the README, whose Rust examples are compiled
//! and run as doc tests.
#![doc = include_str!("../README.md")]
