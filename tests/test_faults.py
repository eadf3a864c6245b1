"""Nothing lost under real faults: Redis killed and restarted, an ASGI server SIGKILLed,
notifications created by another process during a resume.

Every server here is a real process on a free port: a private redis-server (never
the shared one), two uvicorn processes, and a producer process calling notify().
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from livebell.models import Notification
from tests.conftest import RUN_PREFIX, redis_host, session_cookie
from tests.processes import (
    RedisServer,
    ResumingClient,
    asgi_servers,
    eventually,
    finish_producer,
    start_producer,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

LAYERS = {
    "redis_pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "redis": "channels_redis.core.RedisChannelLayer",
}


def layer_on(redis: RedisServer, kind: str) -> dict[str, Any]:
    return {
        "BACKEND": LAYERS[kind],
        "CONFIG": {"hosts": [redis_host(redis.url)], "prefix": RUN_PREFIX},
    }


@pytest.fixture
def users(make_user: Any) -> dict[str, Any]:
    return {name: make_user(name) for name in ("bob", "carol", "dave")}


def ids_in_db(user: Any) -> list[int]:
    return list(
        Notification.objects.filter(recipient=user).order_by("id").values_list("id", flat=True)
    )


aids_in_db = sync_to_async(ids_in_db)
acookie = sync_to_async(session_cookie)


async def start_clients(
    servers: list[Any], users: dict[str, Any]
) -> dict[str, list[ResumingClient]]:
    """Two clients per user, one on each server, each synced before returning."""
    clients: dict[str, list[ResumingClient]] = {}
    for name, user in users.items():
        cookie = await acookie(user)
        clients[name] = [ResumingClient(servers, cookie, first=i) for i in range(len(servers))]
        for client in clients[name]:
            client.start()
    for client in all_clients(clients):
        await asyncio.wait_for(client.synced.wait(), 15)
    return clients


def all_clients(clients: dict[str, list[ResumingClient]]) -> list[ResumingClient]:
    return [client for group in clients.values() for client in group]


async def assert_exactly_once(clients: dict[str, list[ResumingClient]], users: Any) -> int:
    total = 0
    for name, group in clients.items():
        expected = await aids_in_db(users[name])
        for client in group:
            await eventually(
                lambda c=client, e=expected: sorted(set(c.received)) == e,
                what=f"{name}'s client to have all {len(expected)} notifications",
            )
            assert client.received == expected, "a duplicate, or out of order"
            total += len(client.received)
    return total


@pytest.mark.parametrize("kind", ["redis_pubsub", "redis"])
async def test_redis_killed_and_restarted_while_notifying(
    private_redis: RedisServer, users: dict[str, Any], kind: str
) -> None:
    layer = layer_on(private_redis, kind)
    with asgi_servers(layer, 2) as servers:
        clients = await start_clients(servers, users)
        producer = start_producer(layer, list(users), count=60, interval=0.05)
        await asyncio.sleep(1.0)
        private_redis.kill()  # mid-stream: pushes fail, subscriptions drop
        await asyncio.sleep(1.0)
        private_redis.start()
        summary = await sync_to_async(finish_producer)(producer)
        assert len(summary["created"]) == 60
        assert summary["push_failures"] > 0, "the outage did not overlap the producer"

        # Nobody restarted the servers; one more notification each must arrive live
        # and, through its prev_id, bring along whatever the outage swallowed.
        await asyncio.sleep(2.0)
        final = start_producer(layer, list(users), count=3, interval=0)
        await sync_to_async(finish_producer)(final)
        delivered = await assert_exactly_once(clients, users)
        for client in all_clients(clients):
            await client.resume()  # and a resume finds nothing more
        assert await assert_exactly_once(clients, users) == delivered == 2 * 63
        assert all(server.alive() for server in servers)
        # The pub/sub layer resubscribes: its sockets never had to reconnect.
        if kind == "redis_pubsub":
            assert all(c.connects == 1 for c in all_clients(clients))
        for client in all_clients(clients):
            await client.stop()


async def test_a_killed_asgi_server_loses_nothing(
    private_redis: RedisServer, users: dict[str, Any]
) -> None:
    layer = layer_on(private_redis, "redis_pubsub")
    with asgi_servers(layer, 2) as servers:
        clients = await start_clients(servers, users)
        producer = start_producer(layer, list(users), count=60, interval=0.04)
        await asyncio.sleep(1.0)
        servers[0].kill()  # SIGKILL: no close frames, no cleanup
        summary = await sync_to_async(finish_producer)(producer)
        assert len(summary["created"]) == 60
        assert await assert_exactly_once(clients, users) == 2 * 60
        orphans = [group[0] for group in clients.values()]
        assert all(c.connects >= 2 for c in orphans), "clients of the dead server reconnected"
        assert servers[1].alive()
        for client in all_clients(clients):
            await client.stop()


async def test_notifications_created_by_another_process_during_a_resume(
    private_redis: RedisServer, users: dict[str, Any]
) -> None:
    """bob was away for 300 notifications; he resumes while 100 more are being made."""
    layer = layer_on(private_redis, "redis_pubsub")
    bob = users["bob"]
    with asgi_servers(layer, 1) as servers:
        backlog = start_producer(layer, ["bob"], count=300, interval=0)
        await sync_to_async(finish_producer)(backlog)
        first_id = (await aids_in_db(bob))[0]

        during = start_producer(layer, ["bob"], count=100, interval=0.005)
        client = ResumingClient(servers, await acookie(bob))
        client.last_id = first_id  # he has the first one only
        client.start()
        await sync_to_async(finish_producer)(during)

        expected = (await aids_in_db(bob))[1:]
        assert len(expected) == 399
        await eventually(lambda: sorted(set(client.received)) == expected, what="all 399")
        assert client.received == expected  # no gap, no duplicate, in order
        await client.stop()
