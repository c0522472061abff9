"""How far a client is behind in reading a stream, seen from the sending side.

A reader that stops reading is invisible to our writes while its kernel's receive buffer
takes the data: that buffer grows (autotuning) to megabytes once the client has read for a
while (32 MiB under Linux's default `tcp_rmem`), hours of tokens. But the peer advertises how
much room is left in it with every ACK (the receive window), and Linux reports the last one in
TCP_INFO: the room it had at its best minus the room it has now is what the client has received
and not read. A backlog that stays above `backlog_bytes` while the room never grows back (the
client read nothing) is a stalled reader, whatever its buffer's size.

Linux only (TCP_INFO's layout); elsewhere `PeerBacklog.sample` is never stalled and the
transport's own buffer limits (gateway.lifecycle) are the only check.
"""
from __future__ import annotations

import socket
import struct
from typing import Any, Optional

# struct tcp_info (linux/tcp.h): tcpi_snd_wnd (5.4+), the peer's last advertised receive window.
_SND_WND_OFFSET = 228
_TCP_INFO_LEN = 232
_TCP_INFO = getattr(socket, "TCP_INFO", None)


def _send_window(sock: Any) -> Optional[int]:
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_LEN)
    except (OSError, TypeError):
        return None
    if len(info) < _TCP_INFO_LEN:
        return None  # a kernel without tcpi_snd_wnd
    return struct.unpack_from("I", info, _SND_WND_OFFSET)[0]


class PeerBacklog:
    """One stream's view of its client's unread bytes; `sample()` on every write."""

    def __init__(self, sock: Any, backlog_bytes: int, stall_after_s: float, every_s: float = 0.25):
        self._sock = sock if _TCP_INFO is not None else None
        self._backlog_bytes = backlog_bytes
        self._stall_after = stall_after_s
        self._every = every_s
        self._best = 0  # the most room the client's buffer has had
        self._last = 0  # the room at the previous sample
        self._progress_at: Optional[float] = None  # last time the client read (or was not behind)
        self._next_at = 0.0
        self.backlog = 0

    def sample(self, now: float) -> bool:
        """True when the client has been behind by more than `backlog_bytes`, reading nothing,
        for `stall_after_s`."""
        if self._sock is None or now < self._next_at:
            return False
        self._next_at = now + self._every
        window = _send_window(self._sock)
        if window is None:
            self._sock = None
            return False
        self._best = max(self._best, window)
        self.backlog = self._best - window
        if self._progress_at is None or window > self._last or self.backlog <= self._backlog_bytes:
            self._progress_at = now  # room grew back (it read), or it is not behind
        self._last = window
        return now - self._progress_at > self._stall_after
