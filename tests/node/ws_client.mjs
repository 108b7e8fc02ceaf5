// Node's `ws` client against a running ws_echo (run by tests/websocket_node.rs):
//
//     node ws_client.mjs echo URL [--ca PEM]   every message echoed (text, binary, empty,
//                                              1 MiB, fragmented), a ping answered, our
//                                              close code echoed
//     node ws_client.mjs limit URL LIMIT       LIMIT bytes echoed, LIMIT + 1 refused with
//                                              close code 1009
//
// The client offers permessage-deflate (its default), which ws_echo must decline. Exits 0
// when every check passed; otherwise prints the one that failed and exits 1. Every wait is
// bounded by one deadline.

import { readFileSync } from "node:fs";
import WebSocket from "ws";

// Below the Rust test's watchdog, so a hang is reported by this script.
const DEADLINE = Date.now() + 20_000;
const MIB = 1024 * 1024;

function check(condition, what) {
  if (!condition) {
    throw new Error(what);
  }
}

/// Rejects at the deadline, naming `what` did not happen.
function bounded(what, promise) {
  const ms = Math.max(DEADLINE - Date.now(), 0);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/// A connected client and what it received, in order: messages, then the close.
class Client {
  static async open(url, ca) {
    const socket = new WebSocket(url, {
      ca: ca ? readFileSync(ca) : undefined,
      maxPayload: 4 * MIB,
      perMessageDeflate: true,
    });
    const client = new Client(socket);
    await bounded(
      "the handshake",
      new Promise((resolve, reject) => {
        socket.once("open", resolve);
        socket.once("error", reject);
        socket.once("unexpected-response", (_, response) =>
          reject(new Error(`the server answered ${response.statusCode}`)),
        );
      }),
    );
    return client;
  }

  constructor(socket) {
    this.socket = socket;
    this.inbox = [];
    this.wake = null;
    this.closed = null;
    socket.on("message", (data, isBinary) => this.push({ data, isBinary }));
    socket.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.push(null);
    });
  }

  push(item) {
    if (item) {
      this.inbox.push(item);
    }
    if (this.wake) {
      this.wake();
      this.wake = null;
    }
  }

  /// The next message; fails if the connection closes first.
  async next(what) {
    while (this.inbox.length === 0) {
      check(this.closed === null, `closed (${this.closed?.code}) before ${what}`);
      await bounded(what, new Promise((resolve) => (this.wake = resolve)));
    }
    return this.inbox.shift();
  }

  /// The close code and reason; fails if a message comes first.
  async close(what) {
    while (this.closed === null) {
      check(this.inbox.length === 0, `a message before ${what}`);
      await bounded(what, new Promise((resolve) => (this.wake = resolve)));
    }
    check(this.inbox.length === 0, `a message before ${what}`);
    return this.closed;
  }
}

/// Sends `message` and checks the echo has its kind and bytes.
async function roundTrip(client, message) {
  const binary = typeof message !== "string";
  client.socket.send(message, { binary });
  const what = `the echo of a ${message.length}-long ${binary ? "binary" : "text"} message`;
  const { data, isBinary } = await client.next(what);
  check(isBinary === binary, `${what}: wrong kind`);
  const expected = binary ? Buffer.from(message) : Buffer.from(message, "utf8");
  check(Buffer.compare(data, expected) === 0, `${what}: different bytes`);
}

async function echo(url, ca) {
  const pattern = Buffer.alloc(MIB);
  for (let i = 0; i < MIB; i++) {
    pattern[i] = i % 251;
  }
  const messages = [
    "hello",
    Buffer.from([0, 1, 255]),
    "",
    Buffer.alloc(0),
    "žluťoučký kůň 🐎",
    pattern,
    "ab".repeat(MIB / 2),
  ];
  const client = await Client.open(url, ca);
  check(
    client.socket.extensions === "permessage-deflate",
    `ws_echo must agree to permessage-deflate, got ${JSON.stringify(client.socket.extensions)}`,
  );
  for (const message of messages) {
    await roundTrip(client, message);
  }
  client.socket.send("frag", { fin: false });
  client.socket.send("mented ", { fin: false });
  client.socket.send("text", { fin: true });
  const fragmented = await client.next("the echo of a fragmented message");
  check(
    !fragmented.isBinary && fragmented.data.toString() === "fragmented text",
    "a fragmented message",
  );
  const pong = bounded(
    "the pong",
    new Promise((resolve) => client.socket.once("pong", resolve)),
  );
  client.socket.ping(Buffer.from("are you there"));
  check((await pong).toString() === "are you there", "the pong's payload");
  client.socket.close(4000, "bye");
  const closed = await client.close("the close handshake");
  check(closed.code === 4000, `close code ${closed.code}, not 4000`);
  console.log(`${messages.length + 4} checks of the echo passed`);
}

async function limit(url, size) {
  const client = await Client.open(url);
  await roundTrip(client, Buffer.alloc(size, 0x78));
  client.socket.send(Buffer.alloc(size + 1, 0x78));
  const closed = await client.close("the close after a message over the limit");
  check(closed.code === 1009, `close code ${closed.code}, not 1009`);
  console.log("the limit was enforced with 1009");
}

async function main() {
  const [mode, url, ...rest] = process.argv.slice(2);
  if (mode === "echo" && url && (rest.length === 0 || (rest.length === 2 && rest[0] === "--ca"))) {
    await echo(url, rest[1]);
  } else if (mode === "limit" && url && rest.length === 1 && Number.isInteger(Number(rest[0]))) {
    await limit(url, Number(rest[0]));
  } else {
    throw new Error("usage: ws_client.mjs echo URL [--ca PEM] | limit URL LIMIT");
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`ws_client: ${error.message}`);
    process.exit(1);
  },
);
