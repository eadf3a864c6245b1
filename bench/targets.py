"""The servers under test, described once: how to start each and how to talk to it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from bench.procs import LOOPBACK

__all__ = ["REPO", "TARGETS", "TargetSpec"]

REPO = Path(__file__).resolve().parent.parent


def _uvicorn(app: str, port: int, options: tuple[str, ...]) -> list[str]:
    """uvicorn as ``make demo`` runs it, with every choice spelled out, one process."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        f"--host={LOOPBACK}",
        f"--port={port}",
        "--loop=uvloop",
        "--http=httptools",
        "--ws=websockets-sansio",
        "--ws-max-size=65536",
        "--lifespan=off",
        "--no-access-log",
        "--log-level=warning",
        *options,
    ]


@dataclass(frozen=True)
class TargetSpec:
    """One server under test and the client's view of it."""

    name: str
    title: str
    # The ASGI app uvicorn serves, or None for bench.raw_server.
    asgi_app: str | None
    cwd: Path
    env: dict[str, str]
    # The sender backend of bench.sender, and its extra environment.
    sender: str
    # URL paths (formatted with u=user id, s=session key) for broadcast and targeted pools.
    broadcast_path: str
    targeted_path: str
    # Where the bench's marker sits in this target's frames, and where a frame may carry
    # the newest notification id the socket has (first path that resolves wins).
    marker: tuple[str, ...]
    id_paths: tuple[tuple[str, ...], ...] = ()
    # W4: the path a dropped socket reconnects to (formatted with u, s and last_id, the
    # newest id it had), and the frame type that ends its catch-up; None: no catch-up,
    # a reconnected socket only gets what is sent from then on.
    reconnect_path: str = ""
    synced_type: str | None = None
    # Whether a lost frame at a fixed load, or a socket that fails to open, fails the run
    # (otherwise it is reported in the notes).
    strict: bool = True
    # The workloads run on this target.
    workloads: frozenset[str] = frozenset({"W1", "W2", "W3"})
    # Extra uvicorn options: the target's own recommended deployment.
    server_options: tuple[str, ...] = ()
    # Server processes sharing the target's sockets (round-robin by user), as
    # behind a load balancer; each is its own uvicorn on its own port.
    processes: int = 1

    def server_argv(self, port: int) -> list[str]:
        if self.asgi_app is None:
            return [sys.executable, "-m", "bench.raw_server", f"--port={port}"]
        return _uvicorn(self.asgi_app, port, self.server_options)


LIVEBELL = TargetSpec(
    name="livebell",
    title="livebell",
    asgi_app="demo.asgi:application",
    cwd=REPO / "demo",
    # The demo's settings with storm control off: every frame is counted.
    env={"DJANGO_SETTINGS_MODULE": "bench.livebell_settings"},
    sender="livebell",
    broadcast_path="/ws/notifications/",
    targeted_path="/ws/notifications/",
    marker=("notification", "data"),
    # notification frames, and "synced" (which ends every catch-up).
    id_paths=(("notification", "id"), ("last_id",)),
    reconnect_path="/ws/notifications/?last_id={last_id}",
    synced_type="synced",
    workloads=frozenset({"W1", "W2", "W3", "W4"}),
    # As docs/deployment.md recommends: notification frames are a few hundred
    # bytes, too small to gain from compression, and each socket's zlib state
    # would cost about 40 KiB of server memory.
    server_options=("--ws-per-message-deflate=false",),
)

TARGETS: dict[str, TargetSpec] = {
    spec.name: spec
    for spec in (
        LIVEBELL,
        # The same, its sockets spread over two server processes (W1, W2): every
        # process gets each fan-out message once, and its own users' pushes.
        replace(
            LIVEBELL,
            name="livebell-2",
            title="livebell, 2 processes",
            processes=2,
            workloads=frozenset({"W1", "W2"}),
        ),
        TargetSpec(
            name="reference",
            title="reference",
            asgi_app="bench.reference.asgi:application",
            cwd=REPO,
            env={
                "DJANGO_SETTINGS_MODULE": "bench.reference.settings",
                "BENCH_CHANNEL_LAYER": "pubsub",
            },
            sender="reference",
            broadcast_path="/ws/notifications/",
            targeted_path="/ws/notifications/user/",
            marker=("message",),
            # The tutorial's client reconnects to the same URL; there is nothing to resume.
            reconnect_path="/ws/notifications/",
            workloads=frozenset({"W1", "W2", "W3", "W4"}),
        ),
        TargetSpec(
            name="reference-core",
            title="reference (RedisChannelLayer)",
            asgi_app="bench.reference.asgi:application",
            cwd=REPO,
            env={
                "DJANGO_SETTINGS_MODULE": "bench.reference.settings",
                "BENCH_CHANNEL_LAYER": "core",
            },
            sender="reference",
            broadcast_path="/ws/notifications/",
            targeted_path="/ws/notifications/user/",
            marker=("message",),
            # RedisChannelLayer drops messages over its per-channel capacity (100 by
            # default) and runs out of pooled Redis connections in connect/close storms;
            # the tutorial keeps the defaults, so losses are reported, not failed.
            strict=False,
            # Delivery only: W3 (10,000 sockets) would mostly measure its connection errors.
            workloads=frozenset({"W1", "W2"}),
        ),
        TargetSpec(
            name="raw",
            title="raw (picows + Redis)",
            asgi_app=None,
            cwd=REPO,
            env={},
            sender="raw",
            broadcast_path="/?u={u}",
            targeted_path="/?u={u}",
            marker=(),
        ),
    )
}
