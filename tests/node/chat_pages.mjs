// Two pages of headless Chromium chat through a running ws_chat (run by
// tests/websocket_chat.rs):
//
//     node chat_pages.mjs CHROMIUM URL [--insecure]
//
// Starts CHROMIUM headless with a fresh profile and the DevTools protocol on a free
// loopback port (`--insecure`: accepting any certificate, for a test server's self-signed
// one), opens URL (ws_chat's page) in two tabs, waits until both WebSockets are
// open with permessage-deflate agreed (the response's Sec-WebSocket-Extensions, as the page
// sees it), then types a message into each page in turn, as a user would, and waits until it
// shows up in both pages (the sender's included). Exits 0 when both messages arrived
// everywhere; otherwise prints what it was waiting for and exits 1. Every wait is bounded
// by one deadline, and Chromium's whole process group is killed on the way out.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";

// Below the Rust test's watchdog, so this script always cleans up after itself.
const DEADLINE = Date.now() + 20_000;
const POLL_MS = 50;

function left(what) {
  const ms = DEADLINE - Date.now();
  if (ms <= 0) {
    throw new Error(`timed out waiting for ${what}`);
  }
  return ms;
}

/// Polls `check` until it returns a truthy value (bounded by the deadline).
async function until(what, check) {
  for (;;) {
    left(what);
    const value = await check();
    if (value) {
      return value;
    }
    await sleep(POLL_MS);
  }
}

/// One DevTools protocol session over a WebSocket (a page target's debugger URL).
class Session {
  static async open(url) {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    return new Session(socket);
  }

  constructor(socket) {
    this.socket = socket;
    this.next = 1;
    this.waiting = new Map();
    socket.on("message", (data) => {
      const reply = JSON.parse(data.toString());
      const pending = this.waiting.get(reply.id);
      if (pending) {
        this.waiting.delete(reply.id);
        pending(reply);
      }
    });
  }

  async call(method, params = {}) {
    const id = this.next++;
    const reply = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${method}`)), left(method));
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
    if (reply.error) {
      throw new Error(`${method}: ${reply.error.message}`);
    }
    return reply.result;
  }

  /// The value of a JavaScript expression in the page; undefined while the page is
  /// still loading (its context is replaced by navigation) or when it throws.
  async evaluate(expression) {
    const result = await this.call("Runtime.evaluate", { expression, returnByValue: true });
    return result.exceptionDetails ? undefined : result.result.value;
  }

  close() {
    this.socket.terminate();
  }
}

const texts = "[...document.querySelectorAll('#log li')].map((li) => li.textContent)";

/// Types `text` into the page's input and presses its Send button.
async function say(page, text) {
  await page.call("Runtime.evaluate", {
    expression: "document.getElementById('text').focus()",
  });
  await page.call("Input.insertText", { text });
  const sent = await page.evaluate(
    "document.getElementById('button').click(), document.getElementById('text').value === ''",
  );
  if (!sent) {
    throw new Error(`the page did not send ${JSON.stringify(text)}`);
  }
}

async function main() {
  const [chromium, url, ...rest] = process.argv.slice(2);
  const insecure = rest.length === 1 && rest[0] === "--insecure";
  if (!chromium || !url || (rest.length > 0 && !insecure)) {
    throw new Error("usage: node chat_pages.mjs CHROMIUM URL [--insecure]");
  }
  const profile = mkdtempSync(join(tmpdir(), "lori-chromium-"));
  const browser = spawn(
    chromium,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      ...(insecure ? ["--ignore-certificate-errors"] : []),
      "about:blank",
    ],
    { detached: true, stdio: ["ignore", "ignore", "pipe"] },
  );
  let errors = "";
  browser.stderr.on("data", (chunk) => {
    errors += chunk;
  });
  const sessions = [];
  try {
    const portFile = join(profile, "DevToolsActivePort");
    const port = await until("Chromium's DevTools port", () => {
      if (browser.exitCode !== null) {
        throw new Error(`Chromium exited with ${browser.exitCode}:\n${errors}`);
      }
      return existsSync(portFile) && readFileSync(portFile, "utf8").split("\n")[0];
    });
    const pages = [];
    for (const name of ["A", "B"]) {
      const target = await fetch(`http://127.0.0.1:${port}/json/new?${encodeURIComponent(url)}`, {
        method: "PUT",
        signal: AbortSignal.timeout(left("a new tab")),
      }).then((response) => response.json());
      const session = await Session.open(target.webSocketDebuggerUrl);
      sessions.push(session);
      pages.push({ name, session });
    }
    for (const { name, session } of pages) {
      await until(`page ${name}'s WebSocket to open`, () =>
        session.evaluate("document.getElementById('state')?.textContent === 'open'"),
      );
      const extensions = await session.evaluate("document.getElementById('state').dataset.extensions");
      if (!/^permessage-deflate(;|$)/.test(extensions ?? "")) {
        throw new Error(
          `page ${name}: Sec-WebSocket-Extensions is ${JSON.stringify(extensions)}, not permessage-deflate`,
        );
      }
    }
    for (const { name, session } of pages) {
      const text = `hello from ${name} ✓`;
      await say(session, text);
      for (const other of pages) {
        await until(`${JSON.stringify(text)} in page ${other.name}`, async () => {
          const shown = await other.session.evaluate(texts);
          return Array.isArray(shown) && shown.includes(text);
        });
      }
    }
    const logs = [];
    for (const { name, session } of pages) {
      logs.push(`${name}: ${JSON.stringify(await session.evaluate(texts))}`);
    }
    console.log(`two pages chatted through ws_chat; ${logs.join("; ")}`);
  } finally {
    for (const session of sessions) {
      session.close();
    }
    // The browser first, so that it reaps its helpers; then whatever of its process group
    // is left. Each wait is bounded on its own, as the deadline may be past.
    const exited = async () => {
      for (let i = 0; i < 100 && browser.exitCode === null && browser.signalCode === null; i++) {
        await sleep(POLL_MS);
      }
    };
    browser.kill("SIGTERM");
    await exited();
    try {
      process.kill(-browser.pid, "SIGKILL");
    } catch {
      // The group is gone already.
    }
    await exited();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`chat_pages: ${error.message}`);
    process.exit(1);
  },
);
