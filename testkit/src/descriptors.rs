//! This process's file descriptors: counting them, and running out of them on purpose.
//!
//! Linux only (`/proc/self`), like the tests that use it.

use std::fs::File;
use std::io;
use std::process::Command;

/// How many descriptors this process has open now.
///
/// Counts `/proc/self/fd`, whose own directory handle is among them: compare two counts,
/// never one with a constant.
#[track_caller]
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// The highest descriptor number open now.
#[track_caller]
pub fn highest_fd() -> u32 {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The process out of descriptors: its soft `RLIMIT_NOFILE` lowered to a few above the
/// highest open descriptor, and every descriptor under it taken, so the next `open`,
/// `socket` or `accept` of any thread fails with `EMFILE`. Dropping it closes the taken
/// descriptors, then restores the original limit.
///
/// It changes the whole process: use it only in a test binary with one test. The limit is
/// changed with the `prlimit` tool (util-linux), as a program cannot otherwise lower its
/// own limit without `unsafe`. Make every descriptor the test needs (client sockets)
/// before taking them.
pub struct OutOfDescriptors {
    spare: Vec<File>,
    original: String,
}

/// How many descriptors above the highest open one the lowered limit allows.
///
/// All of them are taken at once: room for whatever another thread opens meanwhile.
const HEADROOM: u32 = 8;

impl OutOfDescriptors {
    /// Lowers the limit and takes every descriptor under it.
    ///
    /// `None`, with a note printed, when the `prlimit` tool is missing (the caller skips its
    /// test).
    #[track_caller]
    pub fn take() -> Option<Self> {
        let original = soft_limit();
        let lowered = (highest_fd() + HEADROOM).to_string();
        match set_soft_limit(&lowered) {
            Ok(true) => {}
            Ok(false) => panic!("prlimit could not lower the limit to {lowered}"),
            Err(error) => {
                println!("note: prlimit unavailable ({error}); skipping");
                return None;
            }
        }
        let mut spare = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(file) => spare.push(file),
                Err(error) if error.raw_os_error() == Some(libc::EMFILE) => break,
                Err(error) => panic!("taking descriptors: {error}"),
            }
        }
        Some(Self { spare, original })
    }

    /// Gives the descriptors back and restores the limit (what dropping does).
    ///
    /// Fails the test if the limit cannot be restored.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for OutOfDescriptors {
    fn drop(&mut self) {
        // Closed first: starting `prlimit` needs descriptors of its own.
        self.spare.clear();
        let restored = set_soft_limit(&self.original);
        if !matches!(restored, Ok(true)) && !std::thread::panicking() {
            panic!("the descriptor limit was not restored: {restored:?}");
        }
    }
}

/// Sets this process's soft descriptor limit to `soft` with the `prlimit` tool.
///
/// `soft` is a number or `unlimited`. Returns whether it succeeded, or why it could not be
/// run.
fn set_soft_limit(soft: &str) -> io::Result<bool> {
    let pid = std::process::id().to_string();
    let limit = format!("--nofile={soft}:");
    let status = Command::new("prlimit")
        .args(["--pid", &pid, &limit])
        .status()?;
    Ok(status.success())
}

/// The current soft descriptor limit, as `/proc/self/limits` (and `prlimit`) spell it.
#[track_caller]
fn soft_limit() -> String {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("the open files line");
    line.split_whitespace()
        .nth(3)
        .expect("the soft limit")
        .to_owned()
}
