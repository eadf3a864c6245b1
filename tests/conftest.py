"""Shared fixtures: users, sessions, channel layers on real servers, live ASGI servers.

A required service that is down skips its tests on a developer's machine but
fails the run in CI (``CI`` set), so a green CI always means the real parts ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

# The browser and demo-site fixtures live with their helpers.
pytest_plugins = ["tests.browser", "tests.demo_site"]

IN_CI = bool(os.environ.get("CI"))
REDIS_URL = os.environ.get("LIVEBELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# One prefix per run, so runs sharing a Redis never see each other's messages.
RUN_PREFIX = f"lbtest{uuid.uuid4().hex[:8]}"


def service_missing(what: str) -> None:
    """Skip locally, fail in CI: a CI run must exercise every real service."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available.", pytrace=False)
    pytest.skip(f"{what} is not available")


def tcp_reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def pytest_sessionstart(session: pytest.Session) -> None:
    """A database server that is down stops the run: skipped locally, failed in CI."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        return
    host, port = database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 0)
    if not tcp_reachable(host, port):
        what = f"{database['ENGINE'].rsplit('.', 1)[-1]} at {host}:{port}"
        if IN_CI:
            pytest.exit(f"{what} is required in CI but is not reachable.", returncode=1)
        pytest.exit(f"{what} is not reachable; this run is skipped.", returncode=0)


def test_database_url(name: str | None = None) -> str:
    """A DATABASE_URL naming the test database, for processes started by a test.

    ``name``: another database on the same server instead (on SQLite, another file).
    """
    from django.db import connection

    settings = connection.settings_dict
    name = name or settings["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connection.vendor]
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    return f"{scheme}://{auth}@{settings['HOST']}:{settings['PORT']}/{name}"


test_database_url.__test__ = False  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_host(url: str) -> dict[str, Any]:
    """A channels_redis host at ``url`` whose reads never time out.

    RedisChannelLayer blocks up to 5 s per receive; redis-py 8's default 5-second
    read timeout would fail idle receives (the system check livebell.W001).
    """
    return {"address": url, "socket_timeout": None}


def redis_layers() -> dict[str, dict[str, Any]]:
    return {
        "memory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        "redis": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_host(REDIS_URL)], "prefix": RUN_PREFIX},
        },
        "redis_pubsub": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": RUN_PREFIX},
        },
    }


def require_redis() -> None:
    """Skip (locally) or fail (CI) unless the shared Redis answers."""
    from redis import Redis

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        service_missing(f"Redis at {REDIS_URL}")


@pytest.fixture
def redis_required() -> None:
    """The test needs the shared Redis (see :func:`require_redis`)."""
    require_redis()


@pytest.fixture(params=["memory", "redis", "redis_pubsub"])
def layer_kind(request: pytest.FixtureRequest, settings: Any) -> str:
    """Run the test once per channel layer: in-memory, Redis, and Redis pub/sub."""
    kind: str = request.param
    if kind.startswith("redis"):
        from redis import Redis

        try:
            Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        except Exception:
            service_missing(f"Redis at {REDIS_URL}")
    settings.CHANNEL_LAYERS = {"default": redis_layers()[kind]}
    return kind


def count_batches(monkeypatch: pytest.MonkeyPatch, coalescer: Any) -> list[int]:
    """Record the size of every batch a ``livebell._coalescer.Coalescer`` runs."""
    sizes: list[int] = []
    real = coalescer.run_batch

    def counting(requests: Any) -> Any:
        sizes.append(len(requests))
        return real(requests)

    monkeypatch.setattr(coalescer, "run_batch", counting)
    return sizes


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test databases, and on PostgreSQL no stray session at the end.

    Async tests reach the database from asgiref's worker threads, whose connections
    stay open after the test; PostgreSQL refuses to drop a database with sessions.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def private_redis() -> Iterator[Any]:
    """A throwaway redis-server on a free port, for tests that kill or restart it."""
    from tests.processes import RedisServer

    redis = RedisServer()
    redis.start()
    yield redis
    redis.kill()


@pytest.fixture(autouse=True)
def _fresh_local_cache() -> None:
    """Each test starts with an empty per-process cache. Web push remembers a tab's
    "received live" there by notification id, and rolled-back tests reuse ids on
    SQLite, so one test's acknowledgement would hold back another's push. A shared
    cache (Redis, set by LIVEBELL_TEST_CACHES) is left alone: other runs use it."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture
def make_user(django_user_model: Any) -> Callable[..., Any]:
    def make(username: str, **fields: Any) -> Any:
        return django_user_model.objects.create_user(username=username, password="pw", **fields)

    return make


@pytest.fixture
def amake_user(make_user: Callable[..., Any]) -> Callable[..., Any]:
    return database_sync_to_async(make_user)


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


asession_cookie = database_sync_to_async(session_cookie)


def application() -> Any:
    from tests.asgi import application

    return application


async def open_socket(
    user: Any | None = None,
    *,
    origin: str = "http://testserver",
    path: str = "/ws/notifications/",
    headers: list[tuple[bytes, bytes]] | None = None,
    cookies: str = "",
) -> WebsocketCommunicator:
    """A WebsocketCommunicator through the test suite's full ASGI stack (not yet connected).

    ``cookies`` are sent beside the user's session cookie, in the same header. It
    sends ``Host: testserver`` (unless ``headers`` has one), as a browser on
    http://testserver would.
    """
    headers = [(b"origin", origin.encode()), *(headers or [])]
    if not any(name == b"host" for name, _ in headers):
        headers.append((b"host", b"testserver"))
    if user is not None:
        cookies = "; ".join(filter(None, [await asession_cookie(user), cookies]))
    if cookies:
        headers.append((b"cookie", cookies.encode()))
    communicator = WebsocketCommunicator(application(), path, headers=headers)
    return communicator


async def receive_json(communicator: WebsocketCommunicator, timeout: float = 3) -> Any:
    return await communicator.receive_json_from(timeout=timeout)


async def connect_synced(user: Any, **kwargs: Any) -> WebsocketCommunicator:
    """Open an authenticated socket and read its opening ``synced`` frame."""
    communicator = await open_socket(user, **kwargs)
    # Not the communicator's 1 s: tests open dozens at once, on a machine that may be busy.
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    synced = await receive_json(communicator, timeout=5)
    assert synced["type"] == "synced", synced
    return communicator


@pytest.fixture
async def group_listener() -> AsyncIterator[Callable[..., Any]]:
    """Subscribe a bare layer channel to a group and read what the group receives."""
    layer = get_channel_layer()
    joined: list[tuple[str, str]] = []

    async def listen(group: str) -> Callable[..., Any]:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        joined.append((group, channel))

        async def next_message(timeout: float = 3) -> Any:
            return await asyncio.wait_for(layer.receive(channel), timeout)

        return next_message

    yield listen
    for group, channel in joined:
        await layer.group_discard(group, channel)


@pytest.fixture
async def live_server_url(transactional_db: None) -> AsyncIterator[str]:
    """A real uvicorn serving the test suite's ASGI app on a free port, in this event loop.

    Same loop and process as the test, so the in-memory channel layer works too.
    """
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        application(),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws_max_size=65536,  # as docs/deployment.md serves it
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    else:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def rest_client() -> Callable[..., Any]:
    """Make a DRF ``APIClient``: logged in with a session as ``user``, or anonymous for None.

    Extra keyword arguments go to ``APIClient`` (e.g. ``enforce_csrf_checks=True``).
    """
    from rest_framework.test import APIClient

    def make(user: Any | None = None, **kwargs: Any) -> Any:
        client = APIClient(**kwargs)
        if user is not None:
            client.force_login(user)
        return client

    return make
