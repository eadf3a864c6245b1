"""Pushing stored notifications to their recipients' open sockets.

Pushes happen only after the transaction that stored the rows commits, and only
to each recipient's own group. A push that fails (channel layer down or slow) is
logged and counted, never raised into the caller: the row is stored, and the
client gets it from the database when it next resumes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from livebell import protocol
from livebell.conf import livebell_settings
from livebell.groups import user_group
from livebell.models import Notification
from livebell.payloads import notification_payload

__all__ = [
    "DeliveryStats",
    "Push",
    "apush",
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


def prepare_pushes(
    notifications: Sequence[Notification], previous_ids: Mapping[Any, int | None]
) -> list[Push]:
    """Build one layer message per notification, with its recipient's fresh unread count.

    ``previous_ids`` maps each recipient to the id of their notification before this
    one (None for their first): a socket that has not sent that id knows it missed
    something and catches up from the database. Runs one grouped COUNT query per
    thousand recipients; call it after commit.
    """
    counts = Notification.objects.unread_counts(n.recipient_id for n in notifications)
    return [
        (
            user_group(n.recipient_id),
            {
                "type": "livebell.notification",
                "id": n.pk,
                "prev_id": previous_ids.get(n.recipient_id),
                "frame": protocol.notification_frame(
                    notification_payload(n), counts[n.recipient_id]
                ),
            },
        )
        for n in notifications
    ]


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
            await asyncio.wait_for(layer.group_send(group, message), SEND_TIMEOUT_SECONDS)
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
    return (user_group(user_id), {"type": "livebell.event", "frame": frame})


def push_now(pushes: Sequence[Push]) -> None:
    """Send prepared messages from synchronous code (e.g. an on_commit callback)."""
    async_to_sync(apush)(pushes)
