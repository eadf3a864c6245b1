"""Process-local fan-out: one layer subscription per process and user, shared by the
user's sockets; one layer message per batch of recipients, on every layer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.contrib.auth import get_user_model

from livebell import anotify, notify
from livebell.layer import fanout
from livebell.layer.groups import fanout_group, user_group
from tests.conftest import REDIS_URL, RUN_PREFIX, connect_synced, receive_json, redis_host
from tests.processes import asgi_servers
from tests.test_faults import all_clients, assert_exactly_once, layer_on, start_clients

pytestmark = [pytest.mark.django_db(transaction=True)]


async def assert_silent(communicator: Any, within: float = 0.3) -> None:
    assert await communicator.receive_nothing(timeout=within)


async def redis_subscribers(group: str, url: str = REDIS_URL) -> int:
    """How many Redis connections listen to ``group`` (pub/sub layer only)."""
    from redis.asyncio import Redis

    # The layer names the Redis channel of a group; the count comes from Redis itself.
    channel = get_channel_layer()._get_layer()._get_group_channel_name(group)
    async with Redis.from_url(url) as redis:
        [(_, count)] = await redis.pubsub_numsub(channel)
    return int(count)


async def test_tabs_of_one_user_share_one_subscription(layer_kind: str, amake_user: Any) -> None:
    bob, alice = await amake_user("bob"), await amake_user("alice")
    tab1, tab2 = await connect_synced(bob), await connect_synced(bob)
    alice_tab = await connect_synced(alice)
    hub = fanout.hub_for(get_channel_layer())
    assert len(hub.members[user_group(bob.pk)]) == 2
    if layer_kind == "redis_pubsub":
        assert await redis_subscribers(user_group(bob.pk)) == 1

    [one] = await anotify(bob, "for bob")
    for tab in (tab1, tab2):
        frame = await receive_json(tab)
        assert frame["notification"]["id"] == one.pk
    await assert_silent(alice_tab)

    rows = await anotify([bob, alice], "for both")
    ids = {row.recipient_id: row.pk for row in rows}
    for tab, user in ((tab1, bob), (tab2, bob), (alice_tab, alice)):
        frame = await receive_json(tab)
        assert frame["notification"]["id"] == ids[user.pk]
        await assert_silent(tab, within=0.1)  # exactly once

    await tab1.disconnect()
    assert len(hub.members[user_group(bob.pk)]) == 1
    await tab2.disconnect()
    assert user_group(bob.pk) not in hub.members
    if layer_kind == "redis_pubsub":
        assert await redis_subscribers(user_group(bob.pk)) == 0
    await alice_tab.disconnect()
    # The last socket gone, the process leaves the fan-out group too.
    assert hub.members == {} and hub.channel is None


async def test_a_malformed_layer_message_does_not_stop_the_hub(
    layer_kind: str, amake_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bob = await amake_user("bob")
    tab = await connect_synced(bob)
    layer = get_channel_layer()
    await layer.group_send(fanout_group(), {"type": "livebell.batch", "items": [["short"]]})
    await layer.group_send(user_group(bob.pk), {"type": "livebell.push"})  # no fields
    await layer.group_send(user_group(bob.pk), {"type": "someone.else"})
    [row] = await anotify(bob, "still delivered")
    frame = await receive_json(tab)
    assert frame["notification"]["id"] == row.pk
    await assert_silent(tab)
    assert caplog.text.count("ignored a layer message") == 3
    assert "Traceback" not in caplog.text
    await tab.disconnect()


async def redis_command_calls(url: str, command: str) -> int:
    """How many times ``command`` ran on the Redis at ``url`` (INFO commandstats)."""
    from redis.asyncio import Redis

    async with Redis.from_url(url) as redis:
        stats = await redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


@pytest.mark.parametrize("kind", ["redis_pubsub", "redis"])
async def test_a_connect_storm_joins_its_users_groups_in_few_layer_calls(
    private_redis: Any, amake_user: Any, settings: Any, kind: str
) -> None:
    """Sockets of 30 users connecting at once: on the pub/sub layer their groups are
    a few SUBSCRIBEs, not one each (and the same when they close); on every layer
    each user then gets their own pushes, once."""
    settings.CHANNEL_LAYERS = {"default": layer_on(private_redis, kind)}
    users = [await amake_user(f"user{i}") for i in range(30)]

    async def subscribers_of(users: list[Any]) -> list[int]:
        return [await redis_subscribers(user_group(u.pk), private_redis.url) for u in users]

    subscribes = await redis_command_calls(private_redis.url, "subscribe")
    tabs = await asyncio.gather(*(connect_synced(user) for user in users))
    if kind == "redis_pubsub":
        assert await redis_command_calls(private_redis.url, "subscribe") - subscribes <= 5
        assert await subscribers_of(users) == [1] * 30
    rows = await anotify(users, "to all")
    ids = {row.recipient_id: row.pk for row in rows}
    for tab, user in zip(tabs, users, strict=True):
        assert (await receive_json(tab))["notification"]["id"] == ids[user.pk]
    [mine] = await anotify(users[7], "to one")
    assert (await receive_json(tabs[7]))["notification"]["id"] == mine.pk
    for tab in tabs:
        await assert_silent(tab, within=0.05)

    unsubscribes = await redis_command_calls(private_redis.url, "unsubscribe")
    await asyncio.gather(*(tab.disconnect() for tab in tabs))
    hub = fanout.hub_for(get_channel_layer())
    assert hub.members == {} and hub.channel is None
    if kind == "redis_pubsub":
        assert await redis_command_calls(private_redis.url, "unsubscribe") - unsubscribes <= 5
        assert await subscribers_of(users) == [0] * 30


async def test_a_socket_that_reconnects_while_its_last_one_closes_stays_subscribed(
    layer_kind: str, amake_user: Any
) -> None:
    """The last socket's close (a leave) and a new socket's open (a join) of one user,
    at once, in both orders: the user's group stays joined and pushes arrive."""
    bob = await amake_user("bob")
    for first_close in (True, False):
        old = await connect_synced(bob)
        if first_close:
            _, new = await asyncio.gather(old.disconnect(), connect_synced(bob))
        else:
            new, _ = await asyncio.gather(connect_synced(bob), old.disconnect())
        if layer_kind == "redis_pubsub":
            assert await redis_subscribers(user_group(bob.pk)) == 1
        [row] = await anotify(bob, "after the reconnect")
        assert (await receive_json(new))["notification"]["id"] == row.pk
        await new.disconnect()
    if layer_kind == "redis_pubsub":
        assert await redis_subscribers(user_group(bob.pk)) == 0


@pytest.mark.any_database
@pytest.mark.parametrize("socket_timeout", [2, None])
async def test_an_idle_hub_on_redis_channel_layer_fails_only_with_a_short_read_timeout(
    private_redis: Any,
    amake_user: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    socket_timeout: int | None,
) -> None:
    """RedisChannelLayer's receive blocks up to 5 s: a Redis read timeout shorter than
    that fails idle receives (the check livebell.W001 says so); without one the hub
    idles quietly and the next push arrives."""
    from django.core import checks

    host = {"address": private_redis.url, "socket_timeout": socket_timeout}
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [host], "prefix": f"{RUN_PREFIX}idle"},
        }
    }
    warned = [m.id for m in checks.run_checks(databases=[]) if m.id == "livebell.W001"]
    monkeypatch.setattr(fanout, "HEARTBEAT_SECONDS", 60.0)  # nothing but the push arrives
    bob = await amake_user("bob")
    tab = await connect_synced(bob)
    await asyncio.sleep(6)  # past the layer's 5-second blocking receive
    [row] = await anotify(bob, "after the idle time")
    assert (await receive_json(tab))["notification"]["id"] == row.pk
    await tab.disconnect()
    failed = "channel layer receive failed" in caplog.text
    assert failed == bool(warned) == (socket_timeout is not None)


class HangingLeaveLayer(InMemoryChannelLayer):  # type: ignore[misc]
    """A layer whose ``group_discard`` never returns (a Redis that stopped answering)."""

    async def group_discard(self, group: str, channel: str) -> None:
        await asyncio.Event().wait()


async def test_a_layer_that_hangs_on_leave_does_not_hold_up_closes(
    amake_user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """Sockets closing while the layer hangs end within the leave timeout, the
    failure logged once per round, and a socket opened afterwards gets its pushes."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.test_fanout.HangingLeaveLayer"}}
    monkeypatch.setattr(fanout, "LEAVE_TIMEOUT_SECONDS", 0.3)
    users = [await amake_user(f"user{i}") for i in range(5)]
    tabs = await asyncio.gather(*(connect_synced(user) for user in users))
    started = asyncio.get_running_loop().time()
    async with asyncio.timeout(5):
        await asyncio.gather(*(tab.disconnect() for tab in tabs))
    assert asyncio.get_running_loop().time() - started < 2
    assert 1 <= caplog.text.count("could not leave") <= 2
    again = await connect_synced(users[0])
    [row] = await anotify(users[0], "after the hang")
    assert (await receive_json(again))["notification"]["id"] == row.pk
    await again.disconnect()


@pytest.mark.parametrize("kind", ["redis_pubsub", "redis"])
async def test_a_broadcast_reaches_every_socket_on_every_process_once(
    private_redis: Any, make_user: Any, settings: Any, kind: str
) -> None:
    """Two server processes, two sockets per user (one on each): one notify() to all
    users is one layer message, and every socket gets its own user's row, once."""
    users = {name: await sync_to_async(make_user)(name) for name in ("bob", "carol", "dave")}
    layer = layer_on(private_redis, kind)
    settings.CHANNEL_LAYERS = {"default": layer}
    with asgi_servers(layer, 2) as servers:
        clients = await start_clients(servers, users)
        everyone = get_user_model().objects.filter(pk__in=[u.pk for u in users.values()])
        for i in range(5):
            await sync_to_async(notify)(everyone, f"announcement {i}")
        delivered = await assert_exactly_once(clients, users)
        assert delivered == 5 * len(users) * 2
        await asyncio.gather(*(client.stop() for client in all_clients(clients)))


async def test_the_hub_renews_its_groups_before_redis_forgets_them(
    private_redis: Any, amake_user: Any, settings: Any
) -> None:
    """RedisChannelLayer forgets group memberships after group_expiry: the hub adds
    them again in time, so a long-lived process keeps receiving pushes and broadcasts."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [redis_host(private_redis.url)],
                "prefix": "expiry",
                "group_expiry": 2,
            },
        }
    }
    bob, carol = await amake_user("bob"), await amake_user("carol")
    bobs, carols = await connect_synced(bob), await connect_synced(carol)
    await asyncio.sleep(3.5)  # past the expiry: without renewal both groups are gone
    [mine] = await anotify(bob, "to bob")
    rows = await anotify([bob, carol], "to both")
    assert (await receive_json(bobs, timeout=3))["notification"]["id"] == mine.pk
    ids = {row.recipient_id: row.pk for row in rows}
    assert (await receive_json(bobs, timeout=3))["notification"]["id"] == ids[bob.pk]
    assert (await receive_json(carols, timeout=3))["notification"]["id"] == ids[carol.pk]
    await bobs.disconnect()
    await carols.disconnect()
