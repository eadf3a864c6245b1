"""The load client: an agent process holding pools of WebSockets and timing what arrives.

Started by the bench as ``python -m bench.client``; commands (see
:mod:`bench.agent`):

- ``connect``: open a named pool of sockets, ``concurrency`` handshakes at a time,
  with the ``picows`` client (C-accelerated, never offers per-message deflate) or,
  with ``deflate=true``, the ``websockets`` client offering permessage-deflate as
  browsers do; or, for an ``http://`` URL, a pool of event streams (Server-Sent
  Events, :class:`SseConn`), each one ``GET`` read as its bytes arrive.
- ``status`` / ``close``: how many sockets of a pool are open; close a pool.
- ``drop`` / ``resume`` (the reconnect storm, W4): close every socket of a pool at
  once but remember each one's user and newest notification id; then reopen them
  all, each resuming from that id, and report what each received and when.
- ``collect``: wait until ``expect`` frames of a phase have arrived (or ``within``
  seconds, or ``idle`` seconds without one), then report their count, first and last
  receipt times and latencies.

Every text frame (or event's data: the stream carries the socket's frames) is
parsed; the bench's marker (see :mod:`bench.stats`) is found
at the pool's ``marker`` path, so one client serves every target. Each socket
also remembers the newest notification id it saw (``id_paths``), which the
reconnect-storm workload (W4) sends back as ``?last_id=``; each pool counts its
frames by ``"type"``, and notes when each socket receives its ``done_type`` frame
(livebell's ``synced``, which ends a catch-up).
"""

from __future__ import annotations

import asyncio
import contextlib
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
import uvloop
import websockets
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.agent import Reply, serve_async
from bench.stats import dig, now_ns, parse_marker, summarise

__all__ = ["Bucket", "Pool", "Recorder", "SseConn", "main"]


@dataclass
class Bucket:
    """What arrived for one phase: count, first and last receipt, latencies (ns)."""

    count: int = 0
    first_ns: int = 0
    last_ns: int = 0
    latencies: array[int] = field(default_factory=lambda: array("q"))

    def add(self, received_ns: int, sent_ns: int) -> None:
        if not self.count:
            self.first_ns = received_ns
        self.count += 1
        self.last_ns = received_ns
        self.latencies.append(received_ns - sent_ns)


class Recorder:
    """Sorts marked frames into per-phase buckets; counts frames without a marker."""

    def __init__(self) -> None:
        self.buckets: dict[int, Bucket] = {}
        self.unmarked = 0

    def record(self, frame: Any, marker_path: Sequence[str], received_ns: int) -> None:
        try:
            marker = parse_marker(dig(frame, marker_path))
            phase, sent_ns = marker["p"], marker["t"]
        except (KeyError, TypeError, IndexError):
            self.unmarked += 1
            return
        bucket = self.buckets.get(phase)
        if bucket is None:
            bucket = self.buckets[phase] = Bucket()
        bucket.add(received_ns, sent_ns)


class Conn:
    """One client socket, whichever library opened it."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.open = False
        self.close_code: int | None = None
        self.last_id: Any = None  # the newest notification id seen (for resume, W4)
        self.deflate = False
        # Who this socket is ({"u": user id, "s": session key}), to reopen it (W4).
        self.entry: dict[str, Any] = {}
        self.opened_ns = 0
        # When the pool's ``done_type`` frame arrived (0: not yet).
        self.done_ns = 0
        # Ids of the notifications received, in order, when the pool tracks them (W4).
        self.ids: list[Any] | None = [] if pool.track_ids else None

    def on_opened(self) -> None:
        self.open = True
        self.opened_ns = now_ns()

    def on_text(self, payload: bytes | str | memoryview) -> Any:
        """Count and time one frame; return it parsed."""
        received = now_ns()
        frame = orjson.loads(payload)
        pool = self.pool
        pool.recorder.record(frame, pool.marker, received)
        kind = frame.get("type") if isinstance(frame, dict) else None
        if isinstance(frame, dict):
            pool.kinds[str(kind)] += 1
        done = kind is not None and kind == pool.done_type
        if done and not self.done_ns:
            self.done_ns = received
        for path in pool.id_paths:
            try:
                self.last_id = dig(frame, path)
            except (KeyError, TypeError, IndexError):
                continue
            if self.ids is not None and not done:
                self.ids.append(self.last_id)
            break
        return frame

    @property
    def finished(self) -> bool:
        """Open and, if the pool waits for a ``done_type`` frame, past it."""
        return self.opened_ns > 0 and (self.pool.done_type is None or self.done_ns > 0)

    async def close(self) -> None:
        raise NotImplementedError


class PicowsConn(Conn, WSListener):
    """A socket opened by picows; frames arrive in a callback, no task per socket."""

    transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.on_opened()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.on_text(frame.get_payload_as_memoryview())
        elif frame.msg_type == WSMsgType.CLOSE:
            self.close_code = frame.get_close_code().value
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.open = False

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()
            await self.transport.wait_disconnected()


class WebsocketsConn(Conn):
    """A socket opened by the ``websockets`` client, read by one task."""

    ws: websockets.ClientConnection
    reader: asyncio.Task[None]

    def start(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.on_opened()
        self.deflate = bool(ws.protocol.extensions)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self.ws:
                self.on_text(message)
        self.open = False
        self.close_code = self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


class SseConn(Conn, asyncio.Protocol):
    """An event stream read over one HTTP/1.1 connection, parsed as its bytes arrive.

    Like picows, a callback and no task per stream: :meth:`data_received` reads the
    status line and headers, then takes the chunked body apart and the
    ``text/event-stream`` inside it, and hands each event's data, the frame a socket
    would have received, to :meth:`Conn.on_text`. Comments (heartbeats), ``retry:``
    and ``id:`` lines are skipped: the frame itself carries the notification id, as
    on the socket. The stream's last event, ``{"type": "close", ...}``, is its
    close code.
    """

    def __init__(self, pool: Pool, request: bytes) -> None:
        super().__init__(pool)
        self.request = request
        self.transport: asyncio.Transport | None = None
        # Resolved once the response's head is read: 200, or an error to raise.
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._head: bytes | None = b""  # the head read so far; None once read
        self._chunked = False
        self._chunk_left = 0  # bytes of the current chunk's data still to come
        self._undecoded = b""  # an incomplete chunk-size line
        self._events = b""  # the stream's text after its last complete event
        self._cr = False  # the last bytes ended with CR (its LF may come next)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not a subclass of asyncio.Transport, but is one.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.started.done():
            self.started.set_exception(ConnectionError(f"closed before a response: {exc}"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self._read(data)
        except ValueError:
            # Not a stream this parser understands: leave rather than hold it open.
            assert self.transport is not None
            self.transport.close()
            raise

    def _read(self, data: bytes) -> None:
        if self._head is not None:
            head = self._head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self._head = head
                return
            self._head, data = None, head[end + 4 :]
            if not self._start(head[:end], data):
                return
        if self._chunked:
            data = self._dechunk(data)
        self._feed(data)

    def _start(self, head: bytes, rest: bytes) -> bool:
        """Read the response's head: True for a 200 stream (the stream is open)."""
        status_line, *lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "200":
            self.started.set_exception(
                ConnectionError(f"{status_line}: {rest[:120].decode(errors='replace')}")
            )
            assert self.transport is not None
            self.transport.close()
            return False
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "transfer-encoding":
                self._chunked = "chunked" in value.lower()
        self.on_opened()
        self.started.set_result(None)
        return True

    def _dechunk(self, data: bytes) -> bytes:
        """The body's bytes in ``data`` (and what was held back), without the chunking."""
        buf = self._undecoded + data if self._undecoded else data
        out = []
        pos, size = 0, len(buf)
        while pos < size:
            if self._chunk_left:
                piece = buf[pos : pos + self._chunk_left]
                out.append(piece)
                pos += len(piece)
                self._chunk_left -= len(piece)
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            line, pos = buf[pos:eol], eol + 2
            if not line:
                continue  # the CRLF after a chunk's data
            self._chunk_left = int(line.split(b";", 1)[0], 16)
            if not self._chunk_left:  # the last chunk: the response ended
                self._ended()
                break
        self._undecoded = buf[pos:] if pos < size else b""
        return b"".join(out)

    def _feed(self, text: bytes) -> None:
        """Dispatch every event ``text`` completes (lines end with LF, CRLF or CR)."""
        if self._cr and text.startswith(b"\n"):
            text = text[1:]
        self._cr = text.endswith(b"\r")
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._events + text
        start = 0
        while (end := buf.find(b"\n\n", start)) >= 0:
            self._dispatch(buf[start:end])
            start = end + 2
        self._events = buf[start:]

    def _dispatch(self, block: bytes) -> None:
        data = [line[5:].removeprefix(b" ") for line in block.split(b"\n") if line[:5] == b"data:"]
        if not data:
            return  # comments (heartbeats), retry: hint
        frame = self.on_text(data[0] if len(data) == 1 else b"\n".join(data))
        if isinstance(frame, dict) and frame.get("type") == "close":
            self.close_code = frame.get("code")

    def _ended(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        await self.lost


@dataclass
class Pool:
    """Sockets opened together for one workload on one target."""

    recorder: Recorder
    marker: Sequence[str]
    id_paths: Sequence[Sequence[str]] = ()
    # The frame type that ends a socket's catch-up (livebell's "synced"), if any.
    done_type: str | None = None
    # Keep each socket's received notification ids (W4 checks them).
    track_ids: bool = False
    conns: list[Conn] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    def status(self) -> Reply:
        codes = Counter(str(c.close_code) for c in self.conns if not c.open)
        return {
            "open": sum(c.open for c in self.conns),
            "closed": sum(not c.open for c in self.conns),
            "close_codes": dict(codes),
            "deflate": sum(c.deflate for c in self.conns),
            "frames_by_type": dict(self.kinds),
        }


async def _open_picows(pool: Pool, url: str, headers: dict[str, str], within: float) -> Conn:
    conn = PicowsConn(pool)
    await ws_connect(
        lambda: conn,
        url,
        extra_headers=headers,
        websocket_handshake_timeout=within,
        max_redirects=0,
    )
    return conn


async def _open_websockets(pool: Pool, url: str, headers: dict[str, str], within: float) -> Conn:
    conn = WebsocketsConn(pool)
    ws = await websockets.connect(
        url,
        origin=websockets.Origin(headers.pop("Origin")),
        additional_headers=headers,
        compression="deflate",
        proxy=None,
        open_timeout=within,
        ping_interval=None,
        max_queue=None,
    )
    conn.start(ws)
    return conn


async def _open_sse(pool: Pool, url: str, headers: dict[str, str], within: float) -> Conn:
    """``GET`` the event stream at ``url`` as ``EventSource`` would; open once it answers 200."""
    parts = urlsplit(url)
    target = f"{parts.path or '/'}{'?' + parts.query if parts.query else ''}"
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Accept: text/event-stream",
        "Cache-Control: no-cache",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    conn = SseConn(pool, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    loop = asyncio.get_running_loop()
    transport = None
    try:
        async with asyncio.timeout(within):
            transport, _ = await loop.create_connection(
                lambda: conn, parts.hostname or "", parts.port or 80
            )
            await conn.started
    except BaseException:
        if transport is not None:
            transport.close()
        raise
    return conn


Opener = Callable[[Pool, str, dict[str, str], float], Awaitable[Conn]]


def _opener(url: str, *, deflate: bool = False) -> Opener:
    """How to open ``url``: an ``http://`` URL is the event stream, others a socket."""
    if url.startswith("http://"):
        return _open_sse
    return _open_websockets if deflate else _open_picows


@dataclass
class Opened:
    """What opening a batch of sockets gave: the sockets (None where it failed) and errors."""

    conns: list[Conn | None]
    errors: Counter[str]
    start_ns: int
    # When the last handshake completed (when opening ended, if none did).
    last_ns: int


async def _open_many(
    pool: Pool,
    url: str,
    entries: list[dict[str, Any]],
    *,
    origin: str,
    opener: Opener,
    concurrency: int,
    within: float,
) -> Opened:
    """Open one socket per entry, ``concurrency`` handshakes at a time, for ``within`` s.

    ``url`` is formatted with each entry (``{u}``, ``{last_id}``…). Each socket is
    added to ``pool`` as soon as it opens.
    """
    gate = asyncio.Semaphore(concurrency)
    opened = Opened([None] * len(entries), Counter(), now_ns(), 0)

    async def one(index: int, entry: dict[str, Any]) -> None:
        headers = {"Origin": origin.format(**entry), "Cookie": f"sessionid={entry['s']}"}
        async with gate:
            try:
                conn = await opener(pool, url.format(**entry), headers, within)
            except Exception as exc:
                opened.errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
                return
        conn.entry = entry
        pool.conns.append(conn)
        opened.conns[index] = conn

    tasks = [asyncio.ensure_future(one(i, entry)) for i, entry in enumerate(entries)]
    _, pending = await asyncio.wait(tasks, timeout=within)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
        opened.errors["timed out"] += len(pending)
    opened.last_ns = max((c.opened_ns for c in opened.conns if c), default=now_ns())
    return opened


async def _close_all(conns: list[Conn], within: float) -> float:
    """Close every socket at once; return the seconds it took."""
    start = now_ns()
    tasks = [asyncio.ensure_future(conn.close()) for conn in conns]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=within)
        for task in pending:
            task.cancel()
    return (now_ns() - start) / 1e9


async def _until(done: Callable[[], bool], deadline_ns: int) -> None:
    """Poll ``done`` every 10 ms until it is true or the deadline passes."""
    while now_ns() < deadline_ns:
        if done():
            return
        await asyncio.sleep(0.01)


class Client:
    """The agent's state: its recorder and its named pools."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.pools: dict[str, Pool] = {}

    async def connect(
        self,
        *,
        pool: str,
        url: str,
        sockets: list[dict[str, Any]],
        origin: str,
        marker: list[str],
        id_paths: list[list[str]] | None = None,
        done_type: str | None = None,
        deflate: bool = False,
        concurrency: int = 100,
        within: float = 60.0,
        settle: float = 0.5,
    ) -> Reply:
        """Open one socket per entry of ``sockets`` (``u``: user id, ``s``: session key).

        ``url`` is formatted with each entry, e.g. ``ws://…/?u={u}``; an ``http://``
        URL opens event streams instead of sockets (:class:`SseConn`). Reports how many
        opened, how long it took from the first handshake to the last, and how many
        are still open ``settle`` seconds later (the server may close after accepting).
        With ``done_type``, also waits (within the same ``within``) until every open
        socket has received a frame of that type.
        """
        if pool in self.pools:
            raise ValueError(f"pool {pool!r} is already open")
        target = self.pools[pool] = Pool(self.recorder, marker, id_paths or (), done_type)
        opener = _opener(url, deflate=deflate)
        opened = await _open_many(
            target,
            url,
            sockets,
            origin=origin,
            opener=opener,
            concurrency=concurrency,
            within=within,
        )
        deadline = opened.start_ns + int(within * 1e9)
        await _until(lambda: all(c.finished for c in target.conns if c.open), deadline)
        await asyncio.sleep(settle)
        return {
            "opened": len(target.conns),
            "failed": sum(opened.errors.values()),
            "errors": dict(opened.errors.most_common(3)),
            "seconds": (opened.last_ns - opened.start_ns) / 1e9,
            "unfinished": sum(c.open and not c.finished for c in target.conns),
            **target.status(),
        }

    async def status(self, *, pool: str) -> Reply:
        return self.pools[pool].status()

    async def close(self, *, pool: str, within: float = 30.0) -> Reply:
        """Close every socket of ``pool`` and forget it."""
        target = self.pools.pop(pool)
        seconds = await _close_all(target.conns, within)
        return {"closed": len(target.conns), "seconds": seconds}

    async def drop(self, *, pool: str, within: float = 30.0) -> Reply:
        """Close every socket of ``pool`` at once (a clean close by the client), but keep
        each socket's user and newest notification id for :meth:`resume`."""
        target = self.pools[pool]
        seconds = await _close_all(target.conns, within)
        return {
            "closed": len(target.conns),
            "still_open": target.status()["open"],
            "seconds": seconds,
        }

    async def resume(
        self,
        *,
        pool: str,
        url: str,
        origin: str,
        concurrency: int,
        within: float,
        settle: float = 0.5,
    ) -> Reply:
        """Reopen every socket of a dropped pool at once, each from the newest id it had.

        ``url`` is formatted with each socket's ``u``, ``s`` and ``last_id``. Waits until
        every socket is open and (with the pool's ``done_type``) caught up, or
        ``within`` seconds, then ``settle`` seconds more for stray frames. Reports, per
        socket, its user, the id it resumed from, the seconds from the start of the
        storm to its handshake and to its ``done_type`` frame (None if none came), and
        the notification ids it received in order.
        """
        old = self.pools[pool]
        if old.status()["open"]:
            raise ValueError(f"pool {pool!r} has open sockets: drop it first")
        fresh = self.pools[pool] = Pool(
            self.recorder, old.marker, old.id_paths, old.done_type, track_ids=True
        )
        entries = [{**c.entry, "last_id": c.last_id} for c in old.conns]
        opened = await _open_many(
            fresh,
            url,
            entries,
            origin=origin,
            opener=_opener(url),
            concurrency=concurrency,
            within=within,
        )
        start = opened.start_ns
        await _until(lambda: all(c.finished for c in fresh.conns), start + int(within * 1e9))
        await asyncio.sleep(settle)

        def since(ns: int) -> float | None:
            return (ns - start) / 1e9 if ns else None

        return {
            "sockets": [
                {
                    "u": entry["u"],
                    "from": entry["last_id"],
                    "opened": since(conn.opened_ns) if conn else None,
                    "done": since(conn.done_ns) if conn else None,
                    "ids": (conn.ids or []) if conn else [],
                }
                for entry, conn in zip(entries, opened.conns, strict=True)
            ],
            "errors": dict(opened.errors.most_common(3)),
            "failed": sum(opened.errors.values()),
            **fresh.status(),
        }

    async def collect(self, *, phase: int, expect: int, within: float, idle: float) -> Reply:
        """Wait for ``expect`` frames of ``phase``, then report them.

        Gives up after ``within`` seconds, or once no frame of the phase has arrived
        for ``idle`` seconds (frames were lost: waiting longer measures nothing).
        """
        start = now_ns()
        deadline = start + int(within * 1e9)
        idle_ns = int(idle * 1e9)
        while (now := now_ns()) < deadline:
            bucket = self.recorder.buckets.get(phase)
            if bucket is not None and bucket.count >= expect:
                break
            if now - (bucket.last_ns if bucket else start) > idle_ns:
                break
            await asyncio.sleep(0.01)
        bucket = self.recorder.buckets.pop(phase, None) or Bucket()
        return {
            "received": bucket.count,
            "first_ns": bucket.first_ns,
            "last_ns": bucket.last_ns,
            "unmarked": self.recorder.unmarked,
            **summarise(bucket.latencies),
        }


async def _main() -> None:
    client = Client()
    await serve_async(
        {
            "connect": client.connect,
            "status": client.status,
            "close": client.close,
            "drop": client.drop,
            "resume": client.resume,
            "collect": client.collect,
        }
    )


def main() -> None:
    uvloop.run(_main())


if __name__ == "__main__":
    main()
