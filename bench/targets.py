"""The servers under test, described once: how to start each and how to talk to it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.procs import LOOPBACK

__all__ = [
    "BENCH",
    "PEERS",
    "PROJECTS",
    "REPO",
    "SERVED",
    "TARGETS",
    "Project",
    "TargetSpec",
]

REPO = Path(__file__).resolve().parent.parent

# The interpreters a process may run in: the project's own (.venv, livebell installed)
# or the peers' virtualenv (bench.peers.venv), resolved to paths when a run starts.
BENCH = "bench"
PEERS = "peers"


@dataclass(frozen=True)
class Project:
    """A Django project whose users, sessions and notifications targets share.

    Its fixtures (``bench.fixtures``) run in ``interpreter`` with ``settings``, and
    empty the tables of the ``empty`` models before every run.
    """

    name: str
    settings: str
    interpreter: str
    empty: tuple[str, ...]
    # Tables VACUUM (ANALYZE)d before each target's W1, W2 and W4 (bench.fixtures).
    tables: tuple[str, ...]
    # How the notes name it.
    title: str = ""


PROJECTS: dict[str, Project] = {
    project.name: project
    for project in (
        # livebell's users and sessions, which the reference shares (the same auth_user).
        Project(
            name="livebell",
            settings="demo.settings",
            interpreter=BENCH,
            empty=("livebell.Notification", "livebell.InboxState"),
            tables=(
                "livebell_notification",
                "livebell_inboxstate",
                "auth_user",
                "django_session",
            ),
            title="livebell",
        ),
        Project(
            name="openwisp",
            settings="bench.peers.openwisp.settings",
            interpreter=PEERS,
            empty=("openwisp_notifications.Notification",),
            tables=(
                "peer_openwisp.openwisp_notifications_notification",
                "peer_openwisp.openwisp_users_user",
                "peer_openwisp.django_session",
            ),
            title="openwisp-notifications",
        ),
        Project(
            name="community",
            settings="bench.peers.community.settings",
            interpreter=PEERS,
            empty=("notifications.Notification",),
            tables=("peer_community.notifications_notification",),
            title="django-notifications-community",
        ),
    )
}


def _uvicorn(python: str, app: str, port: int, options: tuple[str, ...]) -> list[str]:
    """uvicorn as ``make demo`` runs it, with every choice spelled out, one process."""
    return [
        python,
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


def _granian(python: str, app: str, port: int, options: tuple[str, ...]) -> list[str]:
    """granian (a Rust HTTP and WebSocket server) on the same app, one worker process.

    It has no WebSocket frame-size option: livebell's own ``MAX_FRAME_BYTES`` is the
    only cap (docs/deployment.md).
    """
    return [
        python,
        "-m",
        "granian",
        "--interface=asgi",
        f"--host={LOOPBACK}",
        f"--port={port}",
        "--workers=1",
        "--runtime-mode=st",
        "--loop=uvloop",
        "--http=1",
        "--ws",
        # A socket is a request to granian: its default (the backlog) would hold
        # every socket past 1,024 in the queue.
        "--backlog=4096",
        "--backpressure=100000",
        "--http1-buffer-size=16384",
        "--no-access-log",
        "--log-level=warning",
        *options,
        app,
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
    # Redis servers the target's channel layer shards over (its ``hosts``).
    redis_servers: int = 1
    # Whose users and sessions its sockets log in with (a key of PROJECTS); its
    # server and sender run in that project's interpreter.
    project: str = "livebell"
    # Shown in the scale-out table (processes and Redis servers) instead of the main one.
    scale_out: bool = False
    # The ASGI server: "uvicorn" or "granian".
    server: str = "uvicorn"
    # How its clients read: "websocket", or "sse" (the event stream, a plain GET).
    transport: str = "websocket"

    @property
    def serves(self) -> bool:
        """Whether it has a server (storage-only targets are measured in process)."""
        return bool(self.workloads - {"storage"})

    @property
    def own_table(self) -> bool:
        """Shown in a table of its own (scale-out, transports), not in the summary's columns."""
        return self.scale_out or self.transport != "websocket"

    @property
    def interpreter(self) -> str:
        return PROJECTS[self.project].interpreter

    def server_argv(self, python: str, port: int) -> list[str]:
        if self.asgi_app is None:
            return [python, "-m", "bench.raw_server", f"--port={port}"]
        if self.server == "granian":
            return _granian(python, self.asgi_app, port, self.server_options)
        return _uvicorn(python, self.asgi_app, port, self.server_options)


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
    workloads=frozenset({"W1", "W2", "W3", "W4", "W5", "storage"}),
    # As docs/deployment.md recommends: notification frames are a few hundred
    # bytes, too small to gain from compression, and each socket's zlib state
    # would cost about 40 KiB of server memory.
    server_options=("--ws-per-message-deflate=false",),
)

TARGETS: dict[str, TargetSpec] = {
    spec.name: spec
    for spec in (
        LIVEBELL,
        # The same, its sockets spread over 2 and 4 server processes (W1, W2): every
        # process gets each fan-out message once, and its own users' pushes. Shown in
        # the scale-out table, beside livebell's own (1 process).
        *(
            replace(
                LIVEBELL,
                name=f"livebell-{n}",
                title=f"livebell, {n} processes",
                processes=n,
                workloads=frozenset({"W1", "W2"}),
                scale_out=True,
            )
            for n in (2, 4)
        ),
        # The same app served by granian instead of uvicorn (docs/deployment.md).
        replace(
            LIVEBELL,
            name="livebell-granian",
            title="livebell on granian",
            server="granian",
            server_options=(),
            workloads=frozenset({"W1", "W2", "W3", "W4"}),
        ),
        # The same server, its clients reading the event stream (docs/protocol.md,
        # "Server-Sent Events") instead of the socket: W1 only, in the transports table.
        replace(
            LIVEBELL,
            name="livebell-sse",
            title="livebell over SSE",
            transport="sse",
            broadcast_path="/api/notifications/stream/",
            targeted_path="/api/notifications/stream/",
            reconnect_path="/api/notifications/stream/?last_id={last_id}",
            workloads=frozenset({"W1"}),
        ),
        # 2 processes on a channel layer sharded over 2 Redis servers (its ``hosts``).
        replace(
            LIVEBELL,
            name="livebell-2-shards",
            title="livebell, 2 processes, 2 Redis",
            processes=2,
            redis_servers=2,
            workloads=frozenset({"W1", "W2"}),
            scale_out=True,
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
        # The peers (bench.peers), installed from PyPI into their own virtualenv.
        TargetSpec(
            name="openwisp",
            title="openwisp-notifications",
            asgi_app="bench.peers.openwisp.asgi:application",
            cwd=REPO,
            env={"DJANGO_SETTINGS_MODULE": "bench.peers.openwisp.settings"},
            sender="openwisp",
            broadcast_path="/ws/notification/",
            targeted_path="/ws/notification/",
            # Its frames carry the rendered message, which is the marker as text.
            marker=("notification", "message"),
            # A peer: what it loses or fails to open is reported, not failed.
            strict=False,
            workloads=frozenset({"W1", "W2"}),
            project="openwisp",
        ),
        TargetSpec(
            name="community",
            title="django-notifications-community",
            asgi_app=None,
            cwd=REPO,
            env={"DJANGO_SETTINGS_MODULE": "bench.peers.community.settings"},
            sender="",
            broadcast_path="",
            targeted_path="",
            marker=(),
            strict=False,
            # Rows only, no push: the storage workload.
            workloads=frozenset({"storage"}),
            project="community",
        ),
    )
}

# The targets with a server of their own (the others are measured in process).
SERVED = frozenset(name for name, spec in TARGETS.items() if spec.serves)
