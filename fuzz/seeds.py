#!/usr/bin/env python3
"""Writes the hand-made seeds of the fuzz corpus (fuzz/corpus/TARGET/seed-*).

The connection targets take `[mode?, ops_len_lo, ops_len_hi, ops.., inbound..]` (see
fuzz/src/lib.rs); `ops` is decoded with `arbitrary`, whose encoding this script
reproduces for the few ops a seed needs: an enum variant is a little-endian u32 `v` with
`(v * count) >> 32 == index`, integers are little-endian, an `Option` or `bool` is one
byte (low bit). The inbound part holds real protocol bytes: a TLS ClientHello and a server
flight made by Python's ssl module, a WebSocket upgrade and frames.

Run from fuzz/: `python3 seeds.py` (needs the `openssl` command for a throwaway
certificate). The fuzzers grow the corpus from here; `cargo fuzz cmin` keeps it small.
"""

import os
import ssl
import struct
import subprocess
import tempfile

OPS = [
    "Arrive", "Eof", "ReadError", "Writable", "WriteError", "ShutdownError", "Advance",
    "NewTurn", "Failed", "DriverClose", "DriverHardClose", "Send", "SendVectored", "Close",
    "HardClose", "Mute", "Unmute", "YieldRead", "BufferUntil", "ResizeReadBuffer",
    "SetReadBufferMinimum", "SetTimer", "CancelTimer", "IdleTimeout",
]


def variant(index, count):
    value = (index * (1 << 32) + count - 1) // count
    assert (value * count) >> 32 == index
    return struct.pack("<I", value)


def u16(n):
    return struct.pack("<H", n)


def op(name, *args):
    out = variant(OPS.index(name), len(OPS))
    for arg in args:
        out += u16(arg)
    return out


def settings(idle=None, linger=None):
    out = u16(16384) + u16(65535)  # read size, budget
    out += b"\x00"  # queue: None
    out += b"\x00"  # half_close
    out += b"\x01"  # one user timer
    for value in (idle, None, linger, None):  # idle, close, linger, stall
        out += b"\x00" if value is None else b"\x01" + u16(value)
    return out


def seed(ops, inbound, prefix=b""):
    return prefix + u16(len(ops)) + ops + inbound


def write(target, name, data):
    folder = os.path.join("corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def tls_flights():
    """A ClientHello, and a server's answer to another ClientHello (its key share will not
    match ours, so it goes as far as the server hello and certificate parsing)."""
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
            check=True, capture_output=True)
        flights = {}
        for version in ("tls13", "tls12"):
            client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client_ctx.check_hostname = False
            client_ctx.verify_mode = ssl.CERT_NONE
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(cert, key)
            if version == "tls12":
                client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
            server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
            try:
                client.do_handshake()
            except ssl.SSLWantReadError:
                pass
            hello = c_out.read()
            s_in.write(hello)
            try:
                server.do_handshake()
            except ssl.SSLWantReadError:
                pass
            flights[version] = (hello, s_out.read())
        return flights


MASK = b"\x01\x02\x03\x04"


def masked(opcode, payload, fin=True):
    assert len(payload) < 126
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + MASK + body


def unmasked(opcode, payload, fin=True):
    assert len(payload) < 126
    return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload


REQUEST = (b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")
RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def main():
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    exchange = (op("Writable", 65535) + op("Arrive", 7) + op("Arrive", 65535) + op("Advance", 10)
                + op("Send", 300) + op("Writable", 100) + op("Advance", 1000) + op("Arrive", 65535)
                + op("Close") + op("Writable", 65535) + op("Advance", 1500) + op("Eof")
                + op("Advance", 3000))
    write("connection", "echo", seed(settings(idle=1000, linger=2000) + exchange, b"hello, world\n" * 8))
    muted = (op("Writable", 10) + op("Arrive", 5) + op("Mute") + op("Send", 5000) + op("Close")
             + op("Arrive", 100) + op("Unmute") + op("Writable", 65535) + op("Advance", 2500))
    write("connection", "muted-close", seed(settings(linger=2000) + muted, b"x" * 200))

    flights = tls_flights()
    handshake = (op("Writable", 65535) + op("Arrive", 65535) + op("Advance", 5) + op("Send", 100)
                 + op("Writable", 65535) + op("Close") + op("Eof") + op("Advance", 3000))
    for version, (hello, server_flight) in flights.items():
        write("connection_tls", "server-" + version,
              seed(settings() + handshake, hello, prefix=b"\x00"))
        write("connection_tls", "client-" + version,
              seed(settings() + handshake, server_flight, prefix=b"\x01"))

    frames = (masked(0x1, b"hello") + masked(0x2, b"\x00\x01\x02") + masked(0x9, b"ping")
              + masked(0x1, b"frag", fin=False) + masked(0x0, b"ment") + masked(0x8, b"\x03\xe8bye"))
    ws_ops = (op("Writable", 65535) + op("Arrive", 40) + op("Arrive", 65535) + op("Advance", 10)
              + op("Writable", 65535) + op("Eof") + op("Advance", 6000))
    write("ws_protocol", "server", seed(settings() + ws_ops, REQUEST + frames, prefix=b"\x00"))
    server_frames = (unmasked(0x1, b"hello") + unmasked(0x9, b"") + unmasked(0x8, b"\x03\xe8"))
    write("ws_protocol", "client", seed(settings() + ws_ops, RESPONSE + server_frames, prefix=b"\x01"))
    plain = b"GET /page HTTP/1.1\r\nHost: localhost\r\n\r\n"
    write("ws_protocol", "plain-http", seed(settings() + ws_ops, plain, prefix=b"\x00"))

    write("ws_handshake", "request", REQUEST)
    write("ws_handshake", "response", RESPONSE)
    write("ws_handshake", "plain", plain)


if __name__ == "__main__":
    main()
