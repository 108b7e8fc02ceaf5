//! Running the independent tools the interoperability tests talk to (Python's
//! `websockets`, Node's `ws`, headless Chromium): whether a tool is here, and running a
//! script under a watchdog.
//!
//! A missing tool makes a test print a note and check nothing, so that `cargo test` works
//! on a fresh machine; CI sets `LORI_REQUIRE_INTEROP=1`, which makes it a failure instead
//! (`.ci/run` installs every tool).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Whether `tool` can run here. When it cannot: a failure under `LORI_REQUIRE_INTEROP`
/// (CI), else a note naming `install` and `false` (the test checks nothing).
pub fn require(tool: &str, available: bool, install: &str) -> bool {
    if !available {
        assert!(
            std::env::var_os("LORI_REQUIRE_INTEROP").is_none(),
            "{tool} is required ({install})"
        );
        println!("note: {tool} is missing; skipping ({install})");
    }
    available
}

/// Whether `program args` runs and exits 0 (its output discarded).
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `tests/node`, where the Node scripts and their `node_modules` live.
pub fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Whether Node and the `ws` package (`npm ci` in `tests/node`) are here; see [`require`].
pub fn node_available() -> bool {
    let here = runs("node", &["--version"]) && node_dir().join("node_modules/ws").is_dir();
    require(
        "node with the `ws` package",
        here,
        "apt-get install nodejs npm; npm ci in tests/node",
    )
}

/// The Chromium binary, if one is here; see [`require`].
pub fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| runs(name, &["--version"]));
    require("chromium", found.is_some(), "apt-get install chromium").then_some(found?)
}

/// Runs `command` (stdin closed, output collected) and fails the test unless it exits 0
/// within `watchdog` (it is killed, by its id, when it runs over). Returns its stdout.
pub fn run_script(what: &str, command: &mut Command, watchdog: Duration) -> String {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{what}: cannot start: {error}"));
    let pid = child.id();
    let (done, output) = mpsc::channel::<std::io::Result<Output>>();
    thread::spawn(move || {
        // The test gave up waiting: nobody to tell.
        let _gone = done.send(child.wait_with_output());
    });
    let output = match output.recv_timeout(watchdog) {
        Ok(output) => output.expect("the script's output"),
        Err(_) => {
            // Ours, by its id: the script hangs past the watchdog.
            let _killed = Command::new("kill").arg(pid.to_string()).status();
            panic!("{what}: ran over {watchdog:?} and was killed");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A Node script of `tests/node` with `args`, as a command to run.
pub fn node_script(script: &str, args: &[&str]) -> Command {
    let mut command = Command::new("node");
    command.arg(node_dir().join(script)).args(args);
    command
}

/// A path as an argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
