"""Real server processes for the fault tests: a private Redis, uvicorn, a producer.

Everything here binds to 127.0.0.1 on a free port and is killed when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import connect

from tests.conftest import free_port, service_missing, tcp_reachable, test_database_url

ROOT = Path(__file__).resolve().parent.parent


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        if tcp_reachable("127.0.0.1", port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


class RedisServer:
    """A throwaway redis-server on a free port, that a test may kill and restart."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            service_missing("redis-server (to start a private instance)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *options: str) -> None:
        """Start (again) on the same port; ``options`` go to redis-server as they are."""
        assert self.binary is not None
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--protected-mode", "no", *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, self.process)

    def freeze(self) -> None:
        """Stop the server (SIGSTOP): its connections stay open and nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # frozen or not
            self.process.wait(10)


class SentinelRedis:
    """A Redis primary, its replica and three Sentinels, each a private process on a free port.

    The Sentinels watch the primary as :attr:`MASTER_NAME` and declare it down after
    ``down_after_ms`` without an answer, so that a test can kill it and see the replica
    promoted within seconds. :meth:`layer_host` is the channel-layer ``hosts`` entry
    that finds the primary through them (the shape of docs/deployment.md).
    """

    MASTER_NAME = "livebell"
    QUORUM = 2

    def __init__(self, down_after_ms: int = 500, failover_timeout_ms: int = 3000) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            service_missing("redis-server (to start a private Redis with Sentinels)")
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.directory = Path(tempfile.mkdtemp(prefix="livebell-sentinel-"))
        self.primary = RedisServer()
        self.replica = RedisServer()
        self.sentinel_ports: list[int] = []
        self.sentinels: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """Start the primary, the replica and the Sentinels; return once the Sentinels
        know each other and the replica is in sync, ready to fail over."""
        # The replica writes the copy it loads from the primary into its --dir.
        self.primary.start("--dir", str(self.directory))
        self.replica.start(
            "--dir", str(self.directory), "--replicaof", "127.0.0.1", str(self.primary.port)
        )
        assert self.binary is not None
        for i in range(3):
            self._start_sentinel(i)
        self._wait(self._ready, "the Sentinels to know each other and the replica")

    def _start_sentinel(self, i: int) -> None:
        assert self.binary is not None
        # Other programs on the machine may take the free port first: try another.
        for _attempt in range(3):
            port = free_port()
            config = self.directory / f"sentinel-{i}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\nprotected-mode no\n"
                f"dir {self.directory}\n"
                f"sentinel monitor {self.MASTER_NAME} 127.0.0.1 {self.primary.port} {self.QUORUM}\n"
                f"sentinel down-after-milliseconds {self.MASTER_NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.MASTER_NAME} {self.failover_timeout_ms}\n"
            )
            process = subprocess.Popen(
                [self.binary, str(config), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.sentinels.append(process)
            try:
                wait_for_port(port, process)
            except RuntimeError:
                continue
            self.sentinel_ports.append(port)
            return
        service_missing("redis-server --sentinel (Redis Sentinel)")

    def layer_host(self) -> dict[str, Any]:
        """The ``hosts`` entry of a channel layer on this primary, found through the Sentinels."""
        return {
            "sentinels": [["127.0.0.1", port] for port in self.sentinel_ports],
            "master_name": self.MASTER_NAME,
        }

    def master_port(self, sentinel: int = 0) -> int | None:
        """The primary's port as one of the Sentinels sees it."""
        import redis

        with redis.Redis(port=self.sentinel_ports[sentinel], socket_timeout=2) as client:
            address = client.sentinel_get_master_addr_by_name(self.MASTER_NAME)
        return int(address[1]) if address else None

    def wait_for_failover(self, timeout: float = 30) -> None:
        """Wait until every Sentinel names the replica as the primary, and it acts as one."""
        self._wait(self._failed_over, "the Sentinels to promote the replica", timeout)

    def _ready(self) -> bool:
        import redis

        for port in self.sentinel_ports:
            with redis.Redis(port=port, socket_timeout=2, decode_responses=True) as client:
                [master] = client.sentinel_masters().values()
                if master["num-other-sentinels"] < 2 or master["num-slaves"] < 1:
                    return False
        with redis.Redis(port=self.replica.port, socket_timeout=2, decode_responses=True) as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    def _failed_over(self) -> bool:
        import redis

        if any(self.master_port(i) != self.replica.port for i in range(len(self.sentinel_ports))):
            return False
        with redis.Redis(port=self.replica.port, socket_timeout=2, decode_responses=True) as client:
            return bool(client.info("replication")["role"] == "master")

    def _wait(self, check: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not within {timeout}s")
            time.sleep(0.1)

    def kill(self) -> None:
        """Kill every process started (those still running), and remove the directory."""
        for process in self.sentinels:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        self.replica.kill()
        self.primary.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def child_env(
    layer: dict[str, Any],
    livebell: dict[str, Any] | None = None,
    log_level: str | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment of a child process sharing the test's database and channel layer.

    ``livebell`` becomes the child's ``LIVEBELL`` setting; ``log_level`` shows
    livebell's log lines at that level on its stderr; ``env`` is set over the rest
    (another ``DATABASE_URL``, a ``LIVEBELL_TEST_SECRET_KEY``: another site).
    """
    child = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        # The checkout first, then whatever the test run itself was given.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": test_database_url(),
        "LIVEBELL_TEST_CHANNEL_LAYERS": json.dumps({"default": layer}),
        "LIVEBELL_TEST_LIVEBELL": json.dumps(livebell or {}),
    }
    if log_level:
        child["LIVEBELL_TEST_LOG_LEVEL"] = log_level
    else:
        child.pop("LIVEBELL_TEST_LOG_LEVEL", None)
    return {**child, **(env or {})}


#: The transport's frame cap, as every server the project starts sets it (docs/deployment.md).
WS_MAX_SIZE = 65536


class AsgiServer:
    """uvicorn serving the test suite's ASGI app in its own process.

    Served as the docs say (``--ws-max-size 65536``, no per-message deflate).
    ``livebell`` is its ``LIVEBELL`` setting; with ``log_level`` its stderr (and
    livebell's log lines) is kept for :meth:`log`; ``options`` go to the server's
    command line after the rest; ``env`` goes to :func:`child_env`.
    """

    @staticmethod
    def command(port: int) -> list[str]:
        """The command line serving ``tests.asgi:application`` on ``port``."""
        return [sys.executable, "-m", "uvicorn", "tests.asgi:application", "--host",
                "127.0.0.1", "--port", str(port), "--lifespan", "off", "--log-level",
                "warning", "--ws-max-size", str(WS_MAX_SIZE), "--ws-per-message-deflate",
                "false"]  # fmt: skip

    def __init__(
        self,
        layer: dict[str, Any],
        *,
        livebell: dict[str, Any] | None = None,
        log_level: str | None = None,
        options: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        # Closed by kill().
        self._stderr = tempfile.TemporaryFile() if log_level else None  # noqa: SIM115
        # Other programs on the machine may take the free port first: try another.
        for attempt in range(3):
            self.port = free_port()
            self.url = f"ws://127.0.0.1:{self.port}/ws/notifications/"
            self.origin = f"http://127.0.0.1:{self.port}"
            self.http = self.origin
            self.process = subprocess.Popen(
                [*self.command(self.port), *options],
                env=child_env(layer, livebell, log_level, env),
                cwd=ROOT,
                stderr=self._stderr,
            )
            try:
                wait_for_port(self.port, self.process)
                return
            except RuntimeError:
                if self.process.poll() is None or attempt == 2:
                    raise
                if self._stderr is not None:
                    self._stderr.seek(0)
                    self._stderr.truncate()

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.process.send_signal(sig)
            self.process.wait(10)
        if self._stderr is not None and sig == signal.SIGKILL:
            self._stderr.close()

    def rss_bytes(self) -> int:
        """The server process's resident set size (``VmRSS``)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        [line] = [line for line in status.splitlines() if line.startswith("VmRSS:")]
        return int(line.split()[1]) * 1024

    def log(self) -> str:
        """What the server wrote to stderr so far (needs ``log_level``)."""
        assert self._stderr is not None, "started without log_level"
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")


class DaphneServer(AsgiServer):
    """daphne serving the same ASGI app, as docs/deployment.md serves it (the same
    frame cap on what clients send; daphne has no per-message deflate). Its access
    log is off (``-v 0``); livebell's log lines still reach :meth:`log`."""

    @staticmethod
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0",
                "--websocket-max-message-size", str(WS_MAX_SIZE),
                "tests.asgi:application"]  # fmt: skip


@contextlib.contextmanager
def asgi_servers(layer: dict[str, Any], count: int, **options: Any) -> Iterator[list[AsgiServer]]:
    servers: list[AsgiServer] = []
    try:
        for _ in range(count):
            servers.append(AsgiServer(layer, **options))
        yield servers
    finally:
        for server in servers:
            server.kill()


def start_producer(
    layer: dict[str, Any],
    usernames: list[str],
    count: int,
    interval: float,
    *,
    together: bool = False,
) -> subprocess.Popen[str]:
    """A separate process calling notify() ``count`` times, round-robin over users
    (``together``: each call to all of them at once)."""
    mode = "together" if together else "each"
    argv = ["tests.producer", ",".join(usernames), str(count), str(interval), mode]
    return subprocess.Popen(
        [sys.executable, "-m", *argv],
        env=child_env(layer),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def finish_producer(process: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


class ResumingClient:
    """A WebSocket client that behaves like livebell.js: it reconnects (to the next
    server when one fails) and resumes from the last id it has.

    ``received`` keeps every notification id in arrival order, duplicates included,
    so a test can assert exactly-once delivery on the wire rather than after dedup.
    """

    def __init__(self, servers: list[AsgiServer], cookie: str, first: int = 0) -> None:
        self.servers = servers
        self.cookie = cookie
        self.index = first
        self.received: list[int] = []
        self.last_id: int | None = None
        self.connects = 0
        self.synced = asyncio.Event()
        self.socket: Any = None
        self.stopping = False
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.stopping = True
        if self.socket is not None:
            await self.socket.close()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)

    async def resume(self) -> None:
        """Ask the server for anything after ``last_id`` on the open socket."""
        self.synced.clear()
        await self.socket.send(json.dumps({"type": "resume", "last_id": self.last_id or 0}))
        await asyncio.wait_for(self.synced.wait(), 10)

    async def _run(self) -> None:
        while not self.stopping:
            server = self.servers[self.index % len(self.servers)]
            query = "" if self.last_id is None else f"?last_id={self.last_id}"
            try:
                async with connect(
                    server.url + query,
                    additional_headers={"Origin": server.origin, "Cookie": self.cookie},
                    open_timeout=3,
                ) as socket:
                    self.socket = socket
                    self.connects += 1
                    async for raw in socket:
                        self._on_frame(json.loads(raw))
            except (OSError, TimeoutError, websockets.WebSocketException):
                self.index += 1  # try the next server
            finally:
                self.socket = None
            if not self.stopping:
                await asyncio.sleep(0.2)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "notification":
            self.received.append(frame["notification"]["id"])
            self.last_id = frame["notification"]["id"]
        elif frame["type"] == "synced":
            self.last_id = frame["last_id"]
            self.synced.set()


async def eventually(check: Any, timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.05)
