"""Raw-socket HTTP clients for faults no client library produces on purpose: a reader that
stops reading, a slowloris sender, a connection left idle, a stream cut mid-body."""
from __future__ import annotations

import json
import socket
import time


def post_bytes(port: int, path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def stalled_reader(port: int, path: str, body: dict) -> socket.socket:
    """Send a request, then never read: a tiny receive buffer makes the server's writes stall soon."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.connect(("127.0.0.1", port))
    sock.sendall(post_bytes(port, path, body))
    return sock


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True when the server closes the connection (EOF or reset) within `within_s` seconds."""
    deadline = time.monotonic() + within_s
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            continue
        except ConnectionError:
            return True
    return False


def wait_for(predicate, timeout_s: float, interval_s: float = 0.3):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)
