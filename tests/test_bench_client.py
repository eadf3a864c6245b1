"""The bench's event-stream client (bench.client.SseConn) against a real uvicorn.

The bench compares the stream with the socket by what its client counts, so the
client must count each notification once, with the latency of the frame's own
marker, however the server's bytes are cut into reads.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from bench.stats import make_marker, now_ns

from livebell import anotify
from tests.conftest import asession_cookie

if TYPE_CHECKING:
    from bench import client as bench_client

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.bench_tools,
    pytest.mark.any_database,
]

PATH = "/api/notifications/stream/"
MARKER_PATH = ["notification", "data"]


def bench_module(name: str) -> Any:
    """A module of the bench, imported when a test runs: the bench extra (picows) is in
    the main virtualenv only, and runs that deselect these tests must still collect them."""
    return importlib.import_module(f"bench.{name}")


@pytest.fixture
async def agent(live_server_url: str) -> AsyncIterator[bench_client.Client]:
    """The bench's client; its streams closed before the server stops (uvicorn waits
    for open responses to end)."""
    client = bench_module("client").Client()
    yield client
    for pool in list(client.pools):
        await client.close(pool=pool, within=5)


def one_byte_at_a_time(base: type) -> type:
    """``base`` (the bench's ``SseConn``) reading the same responses one byte per
    ``data_received``: every way a read can end inside a chunk-size line, a chunk, a
    line or an event."""

    class OneByteAtATime(base):  # type: ignore[misc,valid-type]
        def data_received(self, data: bytes) -> None:
            for i in range(len(data)):
                super().data_received(data[i : i + 1])

    return OneByteAtATime


@pytest.mark.parametrize("reads", ["as they arrive", "one byte at a time"])
async def test_every_notification_is_counted_once_with_its_markers_latency(
    live_server_url: str,
    agent: bench_client.Client,
    amake_user: Any,
    monkeypatch: pytest.MonkeyPatch,
    reads: str,
) -> None:
    client_module = bench_module("client")
    if reads == "one byte at a time":
        monkeypatch.setattr(client_module, "SseConn", one_byte_at_a_time(client_module.SseConn))
    users = [await amake_user(name) for name in ("ann", "bob")]
    sockets = [
        {"u": user.pk, "s": (await asession_cookie(user)).removeprefix("sessionid=")}
        for user in users
    ]
    opened = await agent.connect(
        pool="w1",
        url=live_server_url + PATH,
        sockets=sockets,
        origin=live_server_url,
        marker=MARKER_PATH,
        id_paths=[["notification", "id"], ["last_id"]],
        done_type="synced",
        within=10,
        settle=0.1,
    )
    assert opened["open"] == 2 and opened["failed"] == 0, opened
    assert opened["frames_by_type"] == {"synced": 2}  # the retry: hint is no frame

    phase, count = 7, 3
    sent_ns = now_ns()
    for _ in range(count):
        for user in users:
            await anotify(user, "bench", data=dict(make_marker(phase, sent_ns)))
    got = await agent.collect(phase=phase, expect=2 * count, within=10, idle=5)

    assert got["received"] == 2 * count
    assert got["unmarked"] == 2  # the synced frames
    assert sent_ns < got["first_ns"] <= got["last_ns"] <= now_ns()
    assert 0 < got["p50_ms"] <= got["max_ms"] < 10_000
    pool = agent.pools["w1"]
    assert pool.kinds["notification"] == 2 * count
    assert all(isinstance(conn, client_module.SseConn) for conn in pool.conns)
    newest = [conn.last_id for conn in pool.conns]
    assert all(isinstance(last_id, int) and last_id > 0 for last_id in newest)

    closed = await agent.close(pool="w1", within=5)
    assert closed["closed"] == 2
    assert not any(conn.open for conn in pool.conns)


async def test_a_refused_stream_is_an_error_that_names_the_status(
    live_server_url: str, agent: bench_client.Client, amake_user: Any
) -> None:
    user = await amake_user("bob")
    cookie = (await asession_cookie(user)).removeprefix("sessionid=")
    opened = await agent.connect(
        pool="refused",
        url=live_server_url + PATH,
        sockets=[{"u": user.pk, "s": cookie}],
        origin="http://evil.example",
        marker=MARKER_PATH,
        within=5,
        settle=0,
    )
    assert opened["open"] == 0 and opened["failed"] == 1
    [error] = opened["errors"]
    assert "403" in error
