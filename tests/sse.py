"""A small Server-Sent Events client over a plain asyncio TCP connection, for the
stream's live tests: it reads the response as a browser's ``EventSource`` would
(status and headers, chunked body, ``id:``/``data:``/``retry:`` fields and comment
lines), and keeps every line it read so a test can look at the wire itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Event:
    """One event: its ``id`` (None: the event set none), and its data as JSON."""

    id: str | None
    data: Any


@dataclass
class Stream:
    """An open response of the stream (or a refusal: ``status`` and ``body``)."""

    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    body: bytes = b""
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    last_event_id: str | None = None
    _buffer: str = ""
    _chunked: bool = True

    async def _read_chunk(self) -> bytes:
        if not self._chunked:
            return await self.reader.read(65536)
        size_line = await self.reader.readline()
        if not size_line:
            return b""
        size = int(size_line.strip().split(b";")[0], 16)
        if size == 0:
            await self.reader.readline()
            return b""
        data = await self.reader.readexactly(size)
        await self.reader.readexactly(2)
        return data

    async def next_event(self, timeout: float = 5) -> Event | None:
        """The next event (comments and ``retry:`` are noted on the way); None when
        the response ended."""
        async with asyncio.timeout(timeout):
            while True:
                while "\n\n" in self._buffer:
                    block, self._buffer = self._buffer.split("\n\n", 1)
                    found = self._parse(block)
                    if found is not None:
                        return found
                chunk = await self._read_chunk()
                if not chunk:
                    return None
                self._buffer += chunk.decode()

    def _parse(self, block: str) -> Event | None:
        data: list[str] = []
        event_id: str | None = None
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
                self.last_event_id = value
            elif name == "retry":
                self.retry = int(value)
        if not data:
            return None
        return Event(event_id, json.loads("\n".join(data)))

    async def events_until(self, kind: str, timeout: float = 5) -> list[Event]:
        """Every event up to and including the first whose ``type`` is ``kind``."""
        seen = []
        while True:
            found = await self.next_event(timeout)
            assert found is not None, f"the stream ended before a {kind!r}: {seen}"
            seen.append(found)
            if found.data.get("type") == kind:
                return seen

    async def close(self) -> None:
        """Drop the connection, as a network failure or a closed tab does."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def open_stream(
    url: str, headers: dict[str, str] | None = None, *, sock: socket.socket | None = None
) -> Stream:
    """``GET url`` over HTTP/1.1 with ``headers``; the response's head read.

    ``sock``: a socket already connected to the URL's host (one with a small
    receive buffer, say), instead of a new connection.
    """
    parts = urlsplit(url)
    if sock is None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    else:
        reader, writer = await asyncio.open_connection(sock=sock)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    status = int(status_line.split()[1])
    received: dict[str, str] = {}
    while True:
        line = (await reader.readline()).decode().strip()
        if not line:
            break
        name, _, value = line.partition(":")
        received[name.strip().lower()] = value.strip()
    stream = Stream(status, received, reader, writer)
    stream._chunked = received.get("transfer-encoding") == "chunked"
    if status != 200:
        if "content-length" in received:
            stream.body = await reader.readexactly(int(received["content-length"]))
        else:
            chunks = []
            while chunk := await stream._read_chunk():
                chunks.append(chunk)
            stream.body = b"".join(chunks)
        await stream.close()
    return stream
