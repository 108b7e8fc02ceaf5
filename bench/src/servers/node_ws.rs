//! Node's `ws` server with permessage-deflate, the baseline of the compressed WebSocket
//! scenarios (no Rust WebSocket library we compare with has permessage-deflate).
//!
//! `lori-bench server --impl node-ws-deflate` replaces itself with `node` running
//! [`SCRIPT`] (so the process the benchmark measures is Node's), which loads `ws` from
//! the directory in `LORI_BENCH_NODE_MODULES`, else from the workspace's
//! `tests/node/node_modules` (where `.ci/run` installs it with `npm ci`). `ws` runs with
//! `perMessageDeflate: true` (zlib level 6 through Node's asynchronous zlib, 32 KiB
//! windows, context takeover; its threshold of 1 KiB applies only without context
//! takeover, so every message is compressed), `maxPayload` 64 MiB, and sends each message
//! back as it came (text as text). Node reads up to 64 KiB at a time; its read size cannot
//! be set to the other servers' 16 KiB.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The server: CommonJS, so that `require` takes a path. Arguments: the directory holding
/// `ws`, the port. Prints the line every server prints when it listens.
pub const SCRIPT: &str = r#"
const [modules, port] = process.argv.slice(1);
const { WebSocketServer } = require(require("path").join(modules, "ws"));
const server = new WebSocketServer({
  host: "127.0.0.1",
  port: Number(port),
  perMessageDeflate: true,
  maxPayload: 64 * 1024 * 1024,
});
server.on("listening", () => {
  process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
});
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on("error", () => {});
});
"#;

/// Where `ws` is looked for.
pub fn modules_dir() -> PathBuf {
    match std::env::var_os("LORI_BENCH_NODE_MODULES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/node/node_modules"),
    }
}

/// Whether `node` runs and loads `ws`; why not, if it does not.
pub fn available() -> Result<(), String> {
    let dir = modules_dir();
    let check = format!(
        "require(require(\"path\").join({:?}, \"ws\"))",
        dir.to_string_lossy()
    );
    match Command::new("node")
        .args(["-e", &check])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(_) => Err(format!(
            "Node's `ws` package was not found in {} (run `npm ci` in tests/node, or set \
             LORI_BENCH_NODE_MODULES to a node_modules directory holding it)",
            dir.display()
        )),
        Err(error) => Err(format!("`node` could not be run ({error})")),
    }
}

/// Replaces this process with Node's `ws` server on `port`; returns only on failure.
pub(super) fn exec(port: u16) -> io::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let error = Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg(modules_dir())
        .arg(port.to_string())
        .exec();
    Err(io::Error::other(format!(
        "node could not be started: {error}"
    )))
}
