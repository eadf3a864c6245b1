"""A small HTTP proxy on 127.0.0.1 that refuses WebSocket upgrades, as some corporate
proxies do, and passes every other request on; a test can drop the event streams it
carries, as a network that cuts long responses does, and let upgrades through from
then on (``allow_upgrades``), as a network the laptop moved to does."""

from __future__ import annotations

import asyncio
import contextlib

from tests.conftest import free_port


class RefusingProxy:
    """Forwards plain HTTP to ``upstream`` (``host:port``), one request per connection;
    answers an ``Upgrade: websocket`` request with 403, or passes it on once
    ``allow_upgrades`` is set."""

    def __init__(self, upstream: str) -> None:
        self.upstream_host, port = upstream.split(":")
        self.upstream_port = int(port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.allow_upgrades = False
        self.refused_upgrades = 0
        self.passed_upgrades = 0
        self.streams_opened = 0
        self._streams: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.drop_streams()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_streams(self) -> None:
        """Cut every event stream in flight, both ways."""
        streams, self._streams = self._streams, []
        for client, upstream in streams:
            client.transport.abort()
            upstream.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        upgrade = any(line.lower().replace(" ", "") == "upgrade:websocket" for line in lines)
        if upgrade and self.allow_upgrades:
            # Passed on as it came (its Connection: Upgrade too), then piped both ways.
            self.passed_upgrades += 1
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
            up_writer.write(head)
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
            for side in (writer, up_writer):
                side.close()
            return
        if upgrade:
            self.refused_upgrades += 1
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        # One request per connection: the browser opens another for the next one.
        kept = [line for line in lines if line and not line.lower().startswith("connection:")]
        forwarded = ("\r\n".join([*kept, "Connection: close"]) + "\r\n\r\n").encode("latin-1")
        up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        if "/stream/" in lines[0]:
            self.streams_opened += 1
            self._streams.append((writer, up_writer))
        up_writer.write(forwarded)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for side in (writer, up_writer):
            side.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            with contextlib.suppress(Exception):
                sink.write_eof()
