"""A Python asyncio DatagramProtocol client for the udp_echo example (tests/udp_python.rs).

    python3 tests/udp_python.py echo HOST PORT COUNT
        sends COUNT numbered datagrams of random sizes (4 to 1,400 bytes), at most WINDOW
        unanswered at once, and checks that each comes back byte for byte from the
        server, exactly once; any datagram not echoed within a second of the last answer
        is counted lost, and a loss fails the run.
    python3 tests/udp_python.py truncate HOST PORT MAX
        sends MAX + 1 bytes, then MAX bytes: only the second may come back.

Prints one line starting with "ok" and exits 0 on success; prints the problem and exits 1
otherwise.
"""

import asyncio
import random
import struct
import sys

WINDOW = 64
QUIET = 1.0


class Client(asyncio.DatagramProtocol):
    def __init__(self):
        self.transport = None
        self.answers = asyncio.Queue()
        self.problem = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.answers.put_nowait((data, addr))

    def error_received(self, exc):
        self.problem = f"socket error: {exc!r}"


async def open_client(host, port):
    loop = asyncio.get_running_loop()
    _, client = await loop.create_datagram_endpoint(Client, remote_addr=(host, port))
    return client


async def echo(host, port, count):
    client = await open_client(host, port)
    rng = random.Random(19)
    pending = {}
    sent = answered = 0
    while answered < count:
        while sent < count and len(pending) < WINDOW:
            size = rng.randint(4, 1400)
            data = struct.pack(">I", sent) + rng.randbytes(size - 4)
            pending[sent] = data
            client.transport.sendto(data)
            sent += 1
        try:
            data, _ = await asyncio.wait_for(client.answers.get(), QUIET)
        except asyncio.TimeoutError:
            return f"{len(pending)} datagrams lost (of {sent} sent, {answered} echoed)"
        if client.problem:
            return client.problem
        if len(data) < 4:
            return f"a {len(data)}-byte answer"
        (seq,) = struct.unpack(">I", data[:4])
        want = pending.pop(seq, None)
        if want is None:
            return f"datagram {seq} echoed twice or never sent"
        if data != want:
            return f"datagram {seq} changed: {len(data)} bytes back for {len(want)}"
        answered += 1
    client.transport.close()
    print(f"ok {answered} echoed, 0 lost")
    return None


async def truncate(host, port, max_size):
    client = await open_client(host, port)
    client.transport.sendto(b"x" * (max_size + 1))
    client.transport.sendto(b"y" * max_size)
    try:
        data, _ = await asyncio.wait_for(client.answers.get(), 5)
    except asyncio.TimeoutError:
        return "no echo of the datagram at the maximum"
    if data != b"y" * max_size:
        return f"the first echo was {len(data)} bytes of {data[:1]!r}, not the {max_size}-byte one"
    try:
        extra, _ = await asyncio.wait_for(client.answers.get(), QUIET)
        return f"an echo of the oversized datagram came back: {len(extra)} bytes"
    except asyncio.TimeoutError:
        pass
    client.transport.close()
    print("ok the oversized datagram was not echoed")
    return None


def main():
    mode, host, port, number = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    run = {"echo": echo, "truncate": truncate}[mode]
    problem = asyncio.run(run(host, port, number))
    if problem:
        print(problem)
        sys.exit(1)


if __name__ == "__main__":
    main()
