"""Tools of the adversarial tests: hostile clients of a real server process.

Each attack is bounded in frames, bytes and seconds, and talks only to servers on
127.0.0.1 that the test started (:class:`tests.processes.AsgiServer`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from tests.processes import AsgiServer

#: What a server must never print: a crash of the ASGI app, or a traceback through
#: livebell. (uvicorn itself logs one for a text frame that is not UTF-8, and closes
#: the socket with 1007, before livebell sees it.)
CRASH_MARKERS = ("Exception in ASGI application", "/livebell/", "Task exception was never")


def seed_notifications(user: Any, count: int, data_bytes: int = 0) -> list[int]:
    """``count`` stored notifications for ``user`` (written together, no push), their ids."""
    from livebell import notify
    from livebell.conf import livebell_settings

    data = {"pad": "x" * data_bytes} if data_bytes else None
    ids: list[int] = []
    batch = max(1, int(livebell_settings.BATCH_SIZE))
    for start in range(0, count, batch):
        for i in range(start, min(count, start + batch)):
            ids.extend(n.pk for n in notify(user, f"seeded {i}", data=data))
    return ids


async def open_ws(
    server: AsgiServer,
    cookie: str | None = None,
    *,
    query: str = "",
    origin: str | None = "",
    sock: socket.socket | None = None,
    **options: Any,
) -> ClientConnection:
    """A WebSocket to ``server`` (its own origin unless ``origin`` says otherwise;
    None sends no Origin at all)."""
    headers: dict[str, str] = {}
    if origin is not None:
        headers["Origin"] = origin or server.origin
    if cookie:
        headers["Cookie"] = cookie
    url = server.url + (f"?{query}" if query else "")
    return await connect(url, additional_headers=headers, sock=sock, open_timeout=5, **options)


def small_receive_buffer_socket(server: AsgiServer, size: int = 4096) -> socket.socket:
    """A connected TCP socket with a small receive buffer: a client that reads slowly
    fills the server's buffers quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    sock.connect(("127.0.0.1", server.port))
    return sock


async def next_frame(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def until_synced(ws: ClientConnection, timeout: float = 10) -> list[dict[str, Any]]:
    """Every frame up to and including the next ``synced``."""
    frames = []
    while True:
        frame = await next_frame(ws, timeout)
        frames.append(frame)
        if frame["type"] == "synced":
            return frames


async def close_code(ws: ClientConnection, timeout: float = 10) -> int | None:
    """Read until the server closes the socket; its close code."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


@dataclass
class Tally:
    """Frames and bytes that went each way on a set of sockets."""

    frames_in: int = 0  # client to server
    bytes_in: int = 0
    frames_out: int = 0  # server to client
    bytes_out: int = 0
    types: dict[str, int] = field(default_factory=dict)

    def sent(self, text: str) -> None:
        self.frames_in += 1
        self.bytes_in += len(text.encode())

    def received(self, text: str | bytes) -> None:
        self.frames_out += 1
        self.bytes_out += len(text)
        kind = json.loads(text).get("type", "?")
        self.types[kind] = self.types.get(kind, 0) + 1

    def factors(self) -> dict[str, float]:
        """Frames and bytes out per frame and byte in."""
        return {
            "frames_out_per_frame_in": self.frames_out / max(1, self.frames_in),
            "bytes_out_per_byte_in": self.bytes_out / max(1, self.bytes_in),
        }


async def drain(ws: ClientConnection, tally: Tally) -> int | None:
    """Read and count every frame until the socket closes; its close code."""
    try:
        async for raw in ws:
            tally.received(raw)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame built by hand (RFC 6455), for frames a library would refuse to send."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body


def report(name: str, figures: dict[str, Any]) -> None:
    """Print measured figures (``pytest -s`` shows them; docs/security.md quotes them)."""
    shown = ", ".join(
        f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}"
        for key, value in figures.items()
    )
    print(f"\n[measured] {name}: {shown}")


async def sample_rss(server: AsgiServer, stop: Callable[[], bool], every: float = 0.05) -> int:
    """The highest RSS of ``server`` seen until ``stop()`` is true."""
    peak = server.rss_bytes()
    while not stop():
        peak = max(peak, server.rss_bytes())
        await asyncio.sleep(every)
    return max(peak, server.rss_bytes())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def monotonic_ms() -> float:
    return time.monotonic() * 1000
