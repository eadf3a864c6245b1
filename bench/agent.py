"""A tiny request/reply protocol between the bench and its agent processes.

The bench writes one JSON object per line to an agent's stdin,
``{"cmd": "connect", ...arguments}``, and reads one line back from its stdout:
``{"ok": true, "result": {...}}`` or ``{"ok": false, "error": "..."}``. Agents run
one command at a time. Everything an agent prints by accident (a library's
``print``) goes to stderr, so it cannot corrupt the replies.
"""

from __future__ import annotations

import asyncio
import os
import select
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import IO, Any

import orjson

from bench.procs import Service

__all__ = ["Agent", "AgentError", "serve", "serve_async"]

Reply = dict[str, Any]


class AgentError(RuntimeError):
    """An agent answered with an error, died, or did not answer in time."""


class Agent:
    """The bench's handle on an agent process started with ``pipes=True``."""

    def __init__(self, service: Service) -> None:
        assert service.proc.stdin is not None and service.proc.stdout is not None
        self.service = service
        self._stdin = service.proc.stdin
        self._fd = service.proc.stdout.fileno()
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.service.pid

    def call(self, cmd: str, *, wait: float, **args: Any) -> Reply:
        """Send one command with its arguments; wait at most ``wait`` seconds for the reply."""
        self.service.check_running()
        try:
            self._stdin.write(orjson.dumps({"cmd": cmd, **args}) + b"\n")
            self._stdin.flush()
        except BrokenPipeError:
            raise AgentError(f"{self.service.name} is gone:\n{self.service.log_tail()}") from None
        reply = orjson.loads(self._read_line(cmd, wait))
        if not reply["ok"]:
            raise AgentError(f"{self.service.name} failed {cmd!r}: {reply['error']}")
        result: Reply = reply["result"]
        return result

    def _read_line(self, cmd: str, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentError(f"{self.service.name} did not answer {cmd!r} in {timeout:.0f} s")
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise AgentError(
                    f"{self.service.name} exited during {cmd!r}:\n{self.service.log_tail()}"
                )
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


def _reply_channel() -> IO[bytes]:
    """Keep the real stdout for replies; point fd 1 (and ``print``) at stderr."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return replies


def _answer(out: IO[bytes], reply: Reply) -> None:
    out.write(orjson.dumps(reply) + b"\n")
    out.flush()


def _error(exc: BaseException) -> Reply:
    traceback.print_exc(file=sys.stderr)
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def serve(handlers: Mapping[str, Callable[..., Reply]]) -> None:
    """Answer commands from stdin with synchronous handlers until stdin closes."""
    out = _reply_channel()
    for line in sys.stdin.buffer:
        request = orjson.loads(line)
        try:
            reply = {"ok": True, "result": handlers[request.pop("cmd")](**request)}
        except Exception as exc:
            reply = _error(exc)
        _answer(out, reply)


async def serve_async(handlers: Mapping[str, Callable[..., Awaitable[Reply]]]) -> None:
    """Answer commands from stdin with coroutine handlers until stdin closes."""
    out = _reply_channel()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    while line := await reader.readline():
        request = orjson.loads(line)
        try:
            reply = {"ok": True, "result": await handlers[request.pop("cmd")](**request)}
        except Exception as exc:
            reply = _error(exc)
        _answer(out, reply)
