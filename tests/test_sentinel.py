"""Redis fails over under Sentinel: the primary is lost, its replica promoted, nothing lost.

The test starts, each on a free port, a Redis primary, its replica and three
Sentinels watching them, then two uvicorn processes whose channel layer finds the
primary through the Sentinels (the ``hosts`` entry of docs/deployment.md), and a
producer process calling notify(). While notifications are being sent it takes
the primary away, in one of two ways:

- ``killed``: SIGKILL. Every connection to it is reset at once.
- ``frozen``: SIGSTOP, as a hung server or one cut off by the network looks from
  outside: connections stay open and nothing answers. A pub/sub subscriber (which
  only reads) cannot tell that from a quiet Redis; the server's hub has to notice.

The Sentinels promote the replica. Then the sockets must keep receiving: each
notification sent after the failover reaches every socket of its user live, and
its ``prev_id`` brings along what was lost while there was no primary. In the
end every socket has every notification of its user exactly once, in order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import RUN_PREFIX
from tests.processes import (
    ResumingClient,
    SentinelRedis,
    asgi_servers,
    eventually,
    finish_producer,
    start_producer,
)
from tests.test_faults import LAYERS, all_clients, assert_exactly_once, start_clients

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

# How long the sockets may take to receive again after the replica's promotion: the
# hub's heartbeat (livebell.layer.fanout) notices a frozen primary within 15 s.
RECOVERY_SECONDS = 30


@pytest.fixture
def sentinel_redis() -> Iterator[SentinelRedis]:
    redis = SentinelRedis(down_after_ms=500, failover_timeout_ms=3000)
    try:
        redis.start()
        yield redis
    finally:
        redis.kill()


@pytest.fixture
def users(make_user: Any) -> dict[str, Any]:
    return {name: make_user(name) for name in ("bob", "carol", "dave")}


def layer_through(redis: SentinelRedis, kind: str) -> dict[str, Any]:
    """The channel layer as docs/deployment.md configures it for Sentinel."""
    return {
        "BACKEND": LAYERS[kind],
        "CONFIG": {"hosts": [redis.layer_host()], "prefix": RUN_PREFIX},
    }


async def receive_again(
    layer: dict[str, Any], clients: dict[str, list[ResumingClient]], users: dict[str, Any]
) -> int:
    """Notify each user (from another process) until every socket gets its
    notification live; the rounds it took."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    for round_ in range(1, 100):
        producer = start_producer(layer, list(users), count=len(users), interval=0)
        created = set((await sync_to_async(finish_producer)(producer))["created"])
        try:
            # Each user got one of them: each socket must have its user's.
            await eventually(
                lambda c=created: all(c & set(client.received) for client in all_clients(clients)),
                timeout=max(0.1, min(2.0, deadline - time.monotonic())),
            )
            return round_
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the sockets received nothing live for {RECOVERY_SECONDS}s after the failover"
                ) from None
    raise AssertionError("the sockets received nothing live in 99 rounds")


@pytest.mark.parametrize("fault", ["killed", "frozen"])
@pytest.mark.parametrize("kind", ["redis_pubsub", "redis"])
async def test_the_primary_fails_over_while_notifying(
    sentinel_redis: SentinelRedis, users: dict[str, Any], kind: str, fault: str
) -> None:
    layer = layer_through(sentinel_redis, kind)
    with asgi_servers(layer, 2) as servers:
        clients = await start_clients(servers, users)
        producer = start_producer(layer, list(users), count=60, interval=0.05)
        try:
            # Notifications flowing to every socket, then the primary goes.
            await eventually(
                lambda: all(len(c.received) >= 3 for c in all_clients(clients)),
                what="the first notifications on every socket",
            )
            if fault == "killed":
                sentinel_redis.primary.kill()
            else:
                sentinel_redis.primary.freeze()
            await sync_to_async(sentinel_redis.wait_for_failover)()
            summary = await sync_to_async(finish_producer)(producer)
        finally:
            if producer.poll() is None:
                producer.kill()
                producer.wait(10)
        assert sentinel_redis.master_port() == sentinel_redis.replica.port
        assert len(summary["created"]) == 60
        assert summary["push_failures"] > 0, "the failover did not overlap the producer"

        # Through the new primary, each socket receives live again; what was lost
        # during the failover comes with it (prev_id), and a resume finds no more.
        await receive_again(layer, clients, users)
        delivered = await assert_exactly_once(clients, users)
        for client in all_clients(clients):
            await client.resume()
        assert await assert_exactly_once(clients, users) == delivered
        assert all(server.alive() for server in servers)
        # Nobody closed a socket: the servers followed the failover themselves.
        assert all(c.connects == 1 for c in all_clients(clients))
        for client in all_clients(clients):
            await client.stop()
