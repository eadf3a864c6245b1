"""Pushing stored notifications to their recipients' open sockets.

Pushes happen only after the transaction that stored the rows commits: to the
recipient's own group, or, for many recipients, as one message to the fan-out
group, which each server process splits among its own sockets (only each
recipient's frame to that recipient's sockets; see :mod:`livebell.fanout`).

A push that fails (channel layer down or slow) is logged and counted, never
raised into the caller: the row is stored, and the client gets it from the
database when it next resumes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from livebell import protocol
from livebell.conf import livebell_settings
from livebell.fanout import BATCH_TYPE
from livebell.groups import fanout_group, user_group
from livebell.models import Notification
from livebell.payloads import NotificationPayload, notification_payload

__all__ = [
    "DeliveryStats",
    "Push",
    "RecipientState",
    "apush",
    "build_pushes",
    "chain_states",
    "prepare_pushes",
    "prepare_state_push",
    "push_now",
    "stats",
]

logger = logging.getLogger("livebell.delivery")

# How long one group_send may take before the rest of a batch is given up.
SEND_TIMEOUT_SECONDS = 5.0

Push = tuple[str, dict[str, Any]]


@dataclass
class DeliveryStats:
    """Process-wide counters of pushes handed to the channel layer, and of those given up."""

    pushed: int = 0
    failed: int = 0


stats = DeliveryStats()


class RecipientState(NamedTuple):
    """A recipient as ``notify()`` found them, under lock, before inserting."""

    #: Their newest notification's id, None if they had none.
    previous_id: int | None
    #: How many of their notifications were unread.
    unread: int


def chain_states(
    notifications: Sequence[Notification], before: Mapping[Any, RecipientState]
) -> dict[int, RecipientState]:
    """Each new notification's recipient state just before it, by notification id.

    ``before`` is each recipient's state before all of them. A recipient with
    several new notifications (concurrent ``anotify()`` calls stored together)
    gets them chained in id order: each one's ``prev_id`` is the one before.
    """
    running = dict(before)
    states: dict[int, RecipientState] = {}
    for n in sorted(notifications, key=lambda n: n.pk):
        state = running[n.recipient_id]
        states[n.pk] = state
        running[n.recipient_id] = RecipientState(n.pk, state.unread + 1)
    return states


def prepare_pushes(
    notifications: Sequence[Notification], before: Mapping[Any, RecipientState]
) -> list[Push]:
    """Build the layer messages for new notifications, without a query.

    ``before`` is each recipient's state before the insert: the pushed unread count
    is theirs plus this notification, and ``prev_id`` lets a socket that has not
    sent that id know it missed something and catch up from the database.
    """
    return build_pushes(notifications, chain_states(notifications, before))


def build_pushes(
    notifications: Sequence[Notification], state_before: Mapping[int, RecipientState]
) -> list[Push]:
    """Build the layer messages for new notifications from :func:`chain_states`.

    One recipient's push goes to their own group. Pushes to several recipients go
    as one message per ``BATCH_SIZE`` recipients to the fan-out group, which every
    server process receives once and hands to its own sockets
    (:mod:`livebell.fanout`): a broadcast to 1,000 users is one publish, not 1,000.
    """
    payload = _payload_builder()
    items: list[list[Any]] = [
        [
            user_group(n.recipient_id),
            n.pk,
            state_before[n.pk].previous_id,
            protocol.notification_frame(payload(n), state_before[n.pk].unread + 1),
        ]
        for n in sorted(notifications, key=lambda n: n.pk)
    ]
    if len(items) == 1:
        [[group, notification_id, previous_id, frame]] = items
        assert isinstance(group, str)
        return [
            (
                group,
                {
                    "type": "livebell.notification",
                    "group": group,
                    "id": notification_id,
                    "prev_id": previous_id,
                    "frame": frame,
                },
            )
        ]
    # Bounded messages: BATCH_SIZE recipients each, like the INSERTs.
    size = max(1, int(livebell_settings.BATCH_SIZE))
    return [
        (fanout_group(), {"type": BATCH_TYPE, "items": items[start : start + size]})
        for start in range(0, len(items), size)
    ]


def _payload_builder() -> Callable[[Notification], NotificationPayload]:
    """``notification_payload``, built once per notification rather than per recipient.

    The rows of one ``notify()`` call differ only in id and recipient (they share
    the very same ``data`` object), so their payloads differ only in ``id``.
    """
    built: dict[tuple[Any, ...], NotificationPayload] = {}

    def payload(n: Notification) -> NotificationPayload:
        key = (
            id(n.data),
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
        shared = built.get(key)
        if shared is None:
            shared = built[key] = notification_payload(n)
        return {**shared, "id": n.pk}

    return payload


async def apush(pushes: Sequence[Push]) -> None:
    """Send prepared messages to their groups; on the first failure give up the rest."""
    if not pushes:
        return
    layer = get_channel_layer(livebell_settings.CHANNEL_LAYER)
    if layer is None:
        stats.failed += len(pushes)
        logger.warning(
            "livebell: no channel layer %r; %d notification(s) stored but not pushed.",
            livebell_settings.CHANNEL_LAYER,
            len(pushes),
        )
        return
    for index, (group, message) in enumerate(pushes):
        try:
            # asyncio.timeout, not wait_for: no extra task per push (3.11+).
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await layer.group_send(group, message)
        except Exception as exc:
            missed = len(pushes) - index
            stats.failed += missed
            # One line per failed batch, not a traceback per push: during an outage
            # every notify() fails the same way.
            logger.warning(
                "livebell: channel layer push failed (%s: %s); %d push(es) given up. "
                "The notifications are stored: clients get them on their next push or resume.",
                type(exc).__name__,
                exc,
                missed,
            )
            logger.debug("livebell: push failure", exc_info=True)
            return
        stats.pushed += 1


def prepare_state_push(user_id: Any, event: dict[str, Any]) -> Push:
    """Build the layer message telling a user's sockets that their inbox changed.

    ``event`` is the frame without its count (e.g. ``{"type": "read", "ids": [3]}``);
    the user's fresh unread count is added. Call it after commit.
    """
    count = Notification.objects.for_user(user_id).unread_count()
    frame = protocol.encode({**event, "unread_count": count})
    group = user_group(user_id)
    return (group, {"type": "livebell.event", "group": group, "frame": frame})


def push_now(pushes: Sequence[Push]) -> None:
    """Send prepared messages from synchronous code (e.g. an on_commit callback).

    Blocks until they are handed to the layer (or given up).
    """
    if not pushes:
        return
    layer = get_channel_layer(livebell_settings.CHANNEL_LAYER)
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer's queues belong to the server's event loop:
        # async_to_sync runs the push there when called from a sync view's thread.
        async_to_sync(apush)(pushes)
        return
    # A network layer is fine from any loop. Outside an ASGI server (WSGI, Celery,
    # commands) async_to_sync would make a new event loop, and so a new Redis
    # connection, per call: keep one loop per process instead.
    asyncio.run_coroutine_threadsafe(apush(pushes), _push_loop()).result()


_loop_guard = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def _push_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for pushes from synchronous code, started on first use."""
    global _loop, _loop_pid
    with _loop_guard:
        # After a fork the thread running the parent's loop does not exist.
        if _loop is None or _loop_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="livebell-push", daemon=True).start()
        return _loop
