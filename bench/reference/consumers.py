"""The tutorial's consumer: everybody in one group, each event forwarded as JSON."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

__all__ = [
    "BROADCAST_GROUP",
    "EVENT_TYPE",
    "NotificationConsumer",
    "PerUserNotificationConsumer",
    "user_group",
]

BROADCAST_GROUP = "notifications"
# The event type a sender puts in group_send(); Channels calls notification_message().
EVENT_TYPE = "notification.message"


def user_group(user_id: Any) -> str:
    """The per-user group of :class:`PerUserNotificationConsumer` (not in the tutorial)."""
    return f"user.{user_id}"


class NotificationConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """The tutorial design: close anonymous users, join ONE group for everybody."""

    joined: tuple[str, ...] = ()

    async def connect(self) -> None:
        user = self.scope["user"]
        if user.is_anonymous:
            await self.close()
            return
        self.joined = self.groups_of(user)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    def groups_of(self, user: Any) -> tuple[str, ...]:
        return (BROADCAST_GROUP,)

    async def disconnect(self, code: int) -> None:
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def notification_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"message": event["message"]}))


class PerUserNotificationConsumer(NotificationConsumer):
    """For the targeted workload: the tutorial's consumer, in a per-user group instead."""

    def groups_of(self, user: Any) -> tuple[str, ...]:
        return (user_group(user.pk),)
