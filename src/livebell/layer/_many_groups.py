"""Adding a channel to many groups (and removing it) in one go.

Private machinery of the hub (:mod:`livebell.layer.fanout`), which joins a group for
each user's first socket in the process. The channel layer API adds one group
per call; on channels-redis' ``RedisPubSubChannelLayer`` each call is one
``SUBSCRIBE`` through redis-py's command machinery, and its reply is read back
on the layer's receive task. When every socket of a
connect storm is a new user, that was the largest single cost of a connect.

Redis' ``SUBSCRIBE`` and ``UNSUBSCRIBE`` take many channels. On the pub/sub
layer, :func:`group_add_many` and :func:`group_discard_many` therefore do what
its ``group_add`` and ``group_discard`` do, for all the groups at once: the same
bookkeeping, one command per shard. That relies on the layer's internals (those
of channels-redis 4.2 and 4.3); when they are not as expected, and on any other
layer, each group is one call of the public API.

:func:`reconnect` drops the pub/sub layer's subscriber connections, which
redis-py then opens again (asking Redis Sentinel for the primary, when the
layer finds it that way) and resubscribes: the hub's way out of a connection to
a server that stopped answering without closing it (:mod:`livebell.layer.fanout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels.layers import BaseChannelLayer

__all__ = ["group_add_many", "group_discard_many", "reconnect", "reconnects"]

# Channels per SUBSCRIBE or UNSUBSCRIBE command.
MAX_CHANNELS_PER_COMMAND = 500

_SHARD_INTERNALS = ("_lock", "_subscribed_to", "_ensure_redis", "_ensure_receiver", "_pubsub")
_LAYER_INTERNALS = ("channels", "groups", "_shards", "_get_shard", "_get_group_channel_name")


async def group_add_many(layer: BaseChannelLayer, groups: Sequence[str], channel: str) -> None:
    """``layer.group_add(group, channel)`` for each of ``groups``."""
    inner = _pubsub_loop_layer(layer)
    if inner is None or channel not in inner.channels:
        for group in groups:
            await layer.group_add(group, channel)
        return
    by_shard: dict[Any, list[str]] = {}
    for group in groups:
        name = inner._get_group_channel_name(group)
        inner.groups.setdefault(name, set()).add(channel)
        by_shard.setdefault(inner._get_shard(name), []).append(name)
    await _listen(by_shard, listening=True)


async def group_discard_many(layer: BaseChannelLayer, groups: Sequence[str], channel: str) -> None:
    """``layer.group_discard(group, channel)`` for each of ``groups``."""
    inner = _pubsub_loop_layer(layer)
    if inner is None:
        for group in groups:
            await layer.group_discard(group, channel)
        return
    by_shard: dict[Any, list[str]] = {}
    for group in groups:
        name = inner._get_group_channel_name(group)
        channels = inner.groups.get(name)
        if not channels or channel not in channels:
            continue
        channels.remove(channel)
        if not channels:  # the layer's last channel in the group: stop listening
            del inner.groups[name]
            by_shard.setdefault(inner._get_shard(name), []).append(name)
    await _listen(by_shard, listening=False)


async def _listen(by_shard: dict[Any, list[str]], *, listening: bool) -> None:
    """Subscribe each shard to its Redis channels (or unsubscribe), as its
    ``subscribe()`` and ``unsubscribe()`` do, many channels per command."""
    for shard, names in by_shard.items():
        async with shard._lock:
            subscribed = shard._subscribed_to
            change = [name for name in dict.fromkeys(names) if (name in subscribed) != listening]
            if not change:
                continue
            shard._ensure_redis()
            shard._ensure_receiver()
            for start in range(0, len(change), MAX_CHANNELS_PER_COMMAND):
                chunk = change[start : start + MAX_CHANNELS_PER_COMMAND]
                if listening:
                    await shard._pubsub.subscribe(*chunk)
                    subscribed.update(chunk)
                else:
                    await shard._pubsub.unsubscribe(*chunk)
                    subscribed.difference_update(chunk)


def reconnects(layer: BaseChannelLayer) -> bool:
    """Whether :func:`reconnect` can renew ``layer``'s subscriptions (the pub/sub layer)."""
    inner = _pubsub_loop_layer(layer)
    return inner is not None and all(hasattr(shard, "_pubsub") for shard in inner._shards)


async def reconnect(layer: BaseChannelLayer) -> None:
    """Close the subscriber connection of each of ``layer``'s shards.

    The shard's receive task (``get_message()``) finds its connection closed and
    connects again, and redis-py's connect callback subscribes it to every
    channel it had: through a ``SentinelConnectionPool``, to the primary the
    Sentinels name now. Nothing else can see that a server stopped answering
    (frozen, or cut off without a reset): the subscriber only ever reads, with a
    short timeout, and redis-py's health check sends a ``PING`` without waiting
    for its reply.
    """
    inner = _pubsub_loop_layer(layer)
    if inner is None:
        return
    for shard in inner._shards:
        pubsub = getattr(shard, "_pubsub", None)
        connection = getattr(pubsub, "connection", None)
        if connection is not None:
            # nowait: no goodbye to a server that does not answer.
            await connection.disconnect(nowait=True)


def _pubsub_loop_layer(layer: BaseChannelLayer) -> Any | None:
    """The running loop's layer behind a ``RedisPubSubChannelLayer``, or None."""
    try:
        from channels_redis.pubsub import RedisPubSubChannelLayer
    except ImportError:
        return None
    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    inner = layer._get_layer()
    if not all(hasattr(inner, name) for name in _LAYER_INTERNALS):
        return None
    shards = inner._shards
    if not all(hasattr(shard, name) for shard in shards for name in _SHARD_INTERNALS):
        return None
    return inner
