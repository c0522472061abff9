"""How far a client on this machine is behind in reading a stream.

A reader that stops reading is invisible to our writes while its kernel's receive buffer
takes the data, and Linux grows that buffer as data arrives, read or not (up to `tcp_rmem`'s
maximum, 32 MiB by default: hours of tokens), while still advertising an open window. The
sending side cannot tell. But a local client's socket lives in the same kernel, and the
kernel's socket diagnostics (sock_diag, what `ss` reads) report its receive queue: the bytes
it has received and not read. A queue that stays above `backlog_bytes` without shrinking (the
client read nothing) for `stall_after_s` is a stalled reader, whatever its buffer's size.

Linux only, and only for clients on this host (the default: the server listens on loopback);
elsewhere `sample` is never stalled and the send-side buffer limits (gateway.lifecycle) are the
check: they see a stalled client once its receive buffer is full.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any, Optional

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NO_COOKIE = struct.pack("=II", 0xFFFFFFFF, 0xFFFFFFFF)
# struct inet_diag_msg after the netlink header: family/state/timer/retrans, the socket id
# (48 bytes), expires, then rqueue (bytes received and not read, for an established socket).
_RQUEUE_OFFSET = 16 + 4 + 48 + 4


def _address(host: str) -> bytes:
    packed = ipaddress.ip_address(host.split("%", 1)[0]).packed
    return packed + b"\0" * (16 - len(packed))


def _diag_request(family: int, src: tuple, dst: tuple) -> bytes:
    """An exact-match inet_diag_req_v2 for the TCP socket from `src` to `dst`."""
    sock_id = struct.pack("!HH", src[1], dst[1]) + _address(src[0]) + _address(dst[0]) + struct.pack("=I", 0)
    request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sock_id + _NO_COOKIE
    return struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0) + request


def client_unread_bytes(request: bytes) -> Optional[int]:
    """The receive queue of the socket `request` names; None when this kernel does not know it
    (a client on another host) or cannot say."""
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as diag:
            diag.settimeout(0.1)
            diag.send(request)
            answer = diag.recv(4096)
    except (OSError, AttributeError):  # no AF_NETLINK (not Linux), or not allowed
        return None
    if len(answer) < _RQUEUE_OFFSET + 4 or struct.unpack_from("=H", answer, 4)[0] != _SOCK_DIAG_BY_FAMILY:
        return None  # NLMSG_ERROR: no such socket here
    return struct.unpack_from("=I", answer, _RQUEUE_OFFSET)[0]


class PeerBacklog:
    """One stream's view of its local client's unread bytes; `sample()` on every write."""

    def __init__(self, sock: Any, backlog_bytes: int, stall_after_s: float, every_s: float = 0.25):
        self._request: Optional[bytes] = None
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # The client's socket: from its address to ours.
                self._request = _diag_request(sock.family, sock.getpeername(), sock.getsockname())
        except (OSError, ValueError):
            pass
        self._backlog_bytes = backlog_bytes
        self._stall_after = stall_after_s
        self._every = every_s
        self._last = 0
        self._progress_at: Optional[float] = None  # last time the client read (or was not behind)
        self._next_at = 0.0
        self.unread = 0

    def sample(self, now: float) -> bool:
        """True when the client has been behind by more than `backlog_bytes`, reading nothing,
        for `stall_after_s`."""
        if self._request is None or now < self._next_at:
            return False
        self._next_at = now + self._every
        unread = client_unread_bytes(self._request)
        if unread is None:
            self._request = None  # not on this host: nothing to learn here
            return False
        if self._progress_at is None or unread < self._last or unread <= self._backlog_bytes:
            self._progress_at = now  # it read something, or it is not behind
        self._last = self.unread = unread
        return now - self._progress_at > self._stall_after
