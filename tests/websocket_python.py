"""The Python `websockets` client against a running ws_echo, and a `websockets` echo server
for our client (run by tests/websocket_python.rs).

    python3 websocket_python.py echo URL [--ca PEM]   every message echoed, a ping answered,
                                                       our close code echoed
    python3 websocket_python.py limit URL LIMIT       LIMIT bytes echoed, LIMIT + 1 refused
                                                       with close code 1009
    python3 websocket_python.py serve                 an asyncio echo server on 127.0.0.1,
                                                       any free port

The client offers permessage-deflate (its default), which ws_echo must decline. Exits 0
when every check passed; otherwise an assertion names the one that failed. Every wait is
bounded (10 s).

The server prints `listening on 127.0.0.1:PORT` once it accepts, echoes every message
(a text `ping me` is answered instead by a Ping of its own and, once the Pong came back,
the text `pong received`), prints one line per ended connection (`closed CODE REASON BY`,
BY being `client` or `server`: who started the close handshake; or `failed ERROR`), and on
SIGINT closes and exits 0.
"""

import argparse
import asyncio
import logging
import signal
import ssl
import sys

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

WAIT = 10
MIB = 1024 * 1024


def open_ws(url, ca=None, max_size=None):
    context = ssl.create_default_context(cafile=ca) if ca else None
    return connect(
        url,
        ssl=context,
        proxy=None,
        max_size=max_size,
        open_timeout=WAIT,
        close_timeout=WAIT,
        ping_interval=None,
    )


def echo(url, ca):
    messages = [
        "hello",
        b"\x00\x01\xff",
        "",
        b"",
        "žluťoučký kůň 🐎",
        bytes(range(256)) * (MIB // 256),
        "ab" * (MIB // 2),
    ]
    with open_ws(url, ca) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert (extensions or "").split(";")[0] == "permessage-deflate", (
            f"ws_echo must agree to permessage-deflate (websockets offers it), got {extensions!r}"
        )
        for message in messages:
            ws.send(message)
            answer = ws.recv(timeout=WAIT)
            assert type(answer) is type(message), f"{type(answer)} for {type(message)}"
            assert answer == message, f"echo of a {len(message)}-long message differs"
        ws.send(iter(["frag", "mented ", "text"]))
        assert ws.recv(timeout=WAIT) == "fragmented text", "a fragmented message"
        pong = ws.ping(b"are you there")
        assert pong.wait(WAIT), "no pong"
        ws.close(code=4000, reason="bye")
        assert ws.protocol.close_rcvd is not None, "no Close from ws_echo"
        assert ws.protocol.close_rcvd.code == 4000, f"close code {ws.protocol.close_rcvd.code}, not 4000"
    print(f"{len(messages) + 3} checks of the echo passed")


def limit(url, size):
    with open_ws(url) as ws:
        ws.send(b"x" * size)
        assert ws.recv(timeout=WAIT) == b"x" * size, "the message at the limit"
        ws.send(b"x" * (size + 1))
        try:
            ws.recv(timeout=WAIT)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "no Close from ws_echo"
            assert closed.rcvd.code == 1009, f"close code {closed.rcvd.code}, not 1009"
        else:
            raise AssertionError("a message over the limit was echoed")
    print("the limit was enforced with 1009")


async def echo_connection(ws):
    try:
        async for message in ws:
            if message == "ping me":
                pong = await ws.ping(b"from the server")
                await asyncio.wait_for(pong, WAIT)
                await ws.send("pong received")
            else:
                await ws.send(message)
    except ConnectionClosed:
        # Any code but 1000 and 1001 ends the loop with an exception: the close frames
        # below tell whether the handshake completed.
        pass
    await ws.wait_closed()
    received, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
    if received is None or sent is None:
        print(f"failed: received {received}, sent {sent}", flush=True)
        return
    by = "client" if ws.protocol.close_rcvd_then_sent else "server"
    print(f"closed {received.code} {received.reason} {by}", flush=True)


async def serve_echo():
    from websockets.asyncio.server import serve

    # The library's own warnings and errors (a connection it found broken) go to stderr,
    # where the test looks for them.
    logging.basicConfig(level=logging.WARNING)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    async with serve(
        echo_connection,
        "127.0.0.1",
        0,
        max_size=4 * MIB,
        ping_interval=None,
        close_timeout=WAIT,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await stop


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    echo_args = sub.add_parser("echo")
    echo_args.add_argument("url")
    echo_args.add_argument("--ca")
    limit_args = sub.add_parser("limit")
    limit_args.add_argument("url")
    limit_args.add_argument("size", type=int)
    sub.add_parser("serve")
    args = parser.parse_args()
    if args.mode == "echo":
        echo(args.url, args.ca)
    elif args.mode == "limit":
        limit(args.url, args.size)
    else:
        asyncio.run(serve_echo())


if __name__ == "__main__":
    sys.exit(main())
