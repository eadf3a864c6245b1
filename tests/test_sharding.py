"""A channel layer sharded over two Redis servers, with sockets on two server processes.

channels-redis spreads one layer over several ``hosts``: every channel and group
name hashes to one of them (``channels_redis.utils._consistent_hash``). With
livebell that puts each user's group on the shard its name hashes to, and the
fan-out group, which every server process joins, on one shard. The tests start two
private redis-server processes and two uvicorn processes on such a layer, pick
users whose groups land on both shards, check in each Redis that the layer really
put them there, and have producer processes send targeted notifications (user
groups) and broadcasts (the fan-out group) at the same time: every socket, on
either server, must get each of its notifications once and in order, whichever
shard carried it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from channels_redis.utils import _consistent_hash

from livebell.layer.groups import fanout_group, user_group
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

SHARDS = 2
LAYERS = {
    "redis_pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "redis": "channels_redis.core.RedisChannelLayer",
}


@pytest.fixture
def shards() -> Iterator[list[RedisServer]]:
    servers = [RedisServer() for _ in range(SHARDS)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.kill()


def group_key(kind: str, group: str) -> str:
    """What the layer hashes to pick a group's shard, and the name it has in Redis."""
    if kind == "redis_pubsub":
        return f"{RUN_PREFIX}__group__{group}"  # a pub/sub channel
    return f"{RUN_PREFIX}:group:{group}"  # a sorted set of channel names


def shard_of(kind: str, group: str) -> int:
    # The pub/sub layer hashes the group's channel name, the core layer the group name.
    name = group_key(kind, group) if kind == "redis_pubsub" else group
    return _consistent_hash(name, SHARDS)


def groups_on(server: RedisServer, kind: str) -> set[str]:
    """The layer's groups that this Redis holds."""
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        if kind == "redis_pubsub":
            names = client.pubsub_channels(f"{RUN_PREFIX}__group__*")
        else:
            names = client.keys(f"{RUN_PREFIX}:group:*")
    finally:
        client.close()
    return {name.split("group", 1)[1].lstrip("_:") for name in names}


@pytest.fixture
def users_on_both_shards(make_user: Any) -> list[Any]:
    """Users made until each shard holds the groups of two of them, for either layer."""
    made: list[Any] = []
    for i in range(64):
        made.append(make_user(f"shard{i}"))
        for kind in LAYERS:
            counts = [0] * SHARDS
            for user in made:
                counts[shard_of(kind, user_group(user.pk))] += 1
            if min(counts) < 2:
                break
        else:
            return made
    raise AssertionError("64 users and still a shard without two user groups")


def ids_of(user: Any) -> list[int]:
    return list(
        Notification.objects.filter(recipient=user).order_by("id").values_list("id", flat=True)
    )


@pytest.mark.parametrize("kind", list(LAYERS))
async def test_pushes_and_broadcasts_reach_both_processes_through_two_redis_shards(
    shards: list[RedisServer], users_on_both_shards: list[Any], kind: str
) -> None:
    layer = {
        "BACKEND": LAYERS[kind],
        "CONFIG": {"hosts": [redis_host(shard.url) for shard in shards], "prefix": RUN_PREFIX},
    }
    users = users_on_both_shards
    names = [user.username for user in users]
    with asgi_servers(layer, 2) as servers:
        # Two sockets per user, one on each server process.
        clients = []
        for user in users:
            cookie = await sync_to_async(session_cookie)(user)
            clients += [(user, ResumingClient(servers, cookie, first=i)) for i in range(2)]
        for _, client in clients:
            client.start()
        for _, client in clients:
            await asyncio.wait_for(client.synced.wait(), 15)

        # The layer put the user groups on both Redis servers, as it hashes them,
        # and the fan-out group on exactly one.
        held = [groups_on(shard, kind) for shard in shards]
        for user in users:
            group = user_group(user.pk)
            assert group in held[shard_of(kind, group)], f"{group} not on its shard"
            assert group not in held[1 - shard_of(kind, group)]
        assert [fanout_group() in groups for groups in held].count(True) == 1

        # Targeted pushes (each on its user's shard) and broadcasts (one message on
        # the fan-out group's shard, to both processes) at the same time.
        targeted = start_producer(layer, names, count=4 * len(users), interval=0.01)
        broadcasts = start_producer(layer, names, count=8, interval=0.03, together=True)
        made = await sync_to_async(finish_producer)(targeted)
        made_together = await sync_to_async(finish_producer)(broadcasts)
        assert made["push_failures"] == made_together["push_failures"] == 0
        assert len(made["created"]) == 4 * len(users)
        assert len(made_together["created"]) == 8 * len(users)

        for user, client in clients:
            expected = await sync_to_async(ids_of)(user)
            assert len(expected) == 4 + 8
            await eventually(
                lambda c=client, e=expected: sorted(set(c.received)) == e,
                what=f"{user.username}'s socket on server {client.index % 2} to have all 12",
            )
            assert client.received == expected, "a duplicate, or out of order"
            assert client.connects == 1, "the socket had to reconnect"
        for _, client in clients:
            await client.stop()
