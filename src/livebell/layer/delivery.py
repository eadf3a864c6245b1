"""Sending livebell's messages to the open sockets, through the channel layer.

:func:`pushes` builds the :class:`~livebell.layer.messages.Push` of each stored
notification; :func:`send` (from synchronous code, e.g. an ``on_commit``
callback) and :func:`asend` (from the event loop) hand any messages to the layer
(:func:`livebell.layer.messages.encode` decides the groups: a notification to many
users is one message to every server process, which hands each recipient's part
to that recipient's sockets only; see :mod:`livebell.layer.fanout`).

A send that fails (channel layer down or slow) is logged and counted, never
raised into the caller: what it announced is stored, and clients get it from the
database when they next catch up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import orjson
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.utils import translation

from livebell import protocol
from livebell.conf import livebell_settings
from livebell.layer import messages
from livebell.layer.groups import user_groups
from livebell.layer.messages import Message, Push
from livebell.models import Notification
from livebell.payloads import notification_payload
from livebell.storage.state import Transition

__all__ = ["DeliveryStats", "asend", "pushes", "send", "stats"]

logger = logging.getLogger("livebell.delivery")

# How long one group_send may take before the rest of the messages are given up.
SEND_TIMEOUT_SECONDS = 5.0


@dataclass
class DeliveryStats:
    """Process-wide counters of layer sends made, and of those given up."""

    pushed: int = 0
    failed: int = 0


stats = DeliveryStats()


def pushes(
    notifications: Sequence[Notification], transitions: Mapping[int, Transition]
) -> list[Push]:
    """The pushes of newly stored notifications, in id order, without a query.

    ``transitions`` is what :func:`livebell.storage.inserts.store` returned with them.
    """
    frame_of = _frame_builder()
    language = settings.LANGUAGE_CODE
    in_order = sorted(notifications, key=attrgetter("id"))
    groups = user_groups([n.recipient_id for n in in_order])
    built = []
    # Rendered in the site's language; sockets reading another render it again.
    with translation.override(language):
        for n, group in zip(in_order, groups, strict=True):
            previous_id, unread_count, revision = transitions[n.id]
            frame = frame_of(n, unread_count)
            language_of_frame = language if n.type else None
            built.append(
                Push(group, n.id, previous_id, unread_count, revision, frame, language_of_frame)
            )
    return built


def _frame_builder() -> Callable[[Notification, int], str]:
    """``frame_of(row, unread_count)``: the row's ``notification`` frame, its payload
    built and encoded once per distinct payload rather than per recipient
    (:func:`protocol.notification_frames`).

    The rows of one ``notify()`` call differ only in id and recipient (merged rows
    of a grouping type in count, actors and group too), so they share one payload.
    The cache is keyed by the values the payload is built from, ``data`` and
    ``actors`` by their JSON, so a row whose values differ never gets another's
    frame, whatever objects the rows hold.
    """
    built: dict[tuple[Any, ...], Callable[[int, int], str]] = {}

    def frame_of(n: Notification, unread_count: int) -> str:
        key = (
            _json_key(n.data),
            _json_key(n.actors),
            n.type,
            n.count,
            n.group,
            n.verb,
            n.actor_id,
            n.level,
            n.target_content_type_id,
            n.target_object_id,
            n.target_text,
            n.target_url,
            n.created_at,
            n.read_at,
        )
        frame = built.get(key)
        if frame is None:
            frame = built[key] = protocol.notification_frames(notification_payload(n))
        return frame(n.id, unread_count)

    return frame_of


def _json_key(value: Any) -> bytes | object:
    """``value`` as a cache key: its JSON, or, for what JSON cannot hold, a key equal
    to nothing else (no sharing)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return object()


async def asend(outgoing: Sequence[Message]) -> None:
    """Hand messages to the channel layer, in order; on the first failure give up the rest."""
    if not outgoing:
        return
    layer = get_channel_layer(livebell_settings.CHANNEL_LAYER)
    sends = messages.encode(outgoing, batch_size=int(livebell_settings.BATCH_SIZE))
    if layer is None:
        stats.failed += len(sends)
        logger.warning(
            "livebell: no channel layer %r; %d message(s) not sent.",
            livebell_settings.CHANNEL_LAYER,
            len(sends),
        )
        return
    for index, (group, body) in enumerate(sends):
        try:
            # asyncio.timeout, not wait_for: no extra task per send (3.11+).
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await layer.group_send(group, body)
        except Exception as exc:
            missed = len(sends) - index
            stats.failed += missed
            # One line per failed call, not a traceback per message: during an outage
            # every notify() fails the same way.
            logger.warning(
                "livebell: channel layer send failed (%s: %s); %d message(s) given up. "
                "Notifications are stored: clients get them on their next push or catch-up.",
                type(exc).__name__,
                exc,
                missed,
            )
            logger.debug("livebell: send failure", exc_info=True)
            return
        stats.pushed += 1


def send(outgoing: Sequence[Message]) -> None:
    """Hand messages to the channel layer from synchronous code (an ``on_commit`` callback).

    Blocks until they are handed over (or given up); never raises for a layer failure.
    """
    if not outgoing:
        return
    layer = get_channel_layer(livebell_settings.CHANNEL_LAYER)
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer's queues belong to the server's event loop:
        # async_to_sync runs the send there when called from a sync view's thread.
        async_to_sync(asend)(outgoing)
        return
    # A network layer is fine from any loop. Outside an ASGI server (WSGI, Celery,
    # commands) async_to_sync would make a new event loop, and so a new Redis
    # connection, per call: keep one loop per process instead.
    asyncio.run_coroutine_threadsafe(asend(outgoing), _send_loop()).result()


_loop_guard = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def _send_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for sends from synchronous code, started on first use."""
    global _loop, _loop_pid
    with _loop_guard:
        # After a fork the thread running the parent's loop does not exist.
        if _loop is None or _loop_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="livebell-send", daemon=True).start()
        return _loop
