"""The notification socket: one per browser tab, joined to its user's group only."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from livebell import protocol
from livebell.conf import livebell_settings
from livebell.groups import user_group

__all__ = ["CLOSE_UNAUTHENTICATED", "NotificationConsumer"]

# Application close code (4000-4999) telling the client to log in rather than retry.
CLOSE_UNAUTHENTICATED = 4401


class NotificationConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Pushes the user's notifications; answers the client frames of ``docs/protocol.md``.

    Anonymous sockets are accepted and closed at once with code 4401, so browsers
    see a reason instead of a failed handshake. Bad client frames get an ``error``
    frame and the socket stays open.
    """

    group: str | None = None

    @property
    def channel_layer_alias(self) -> str:
        # Read per connection, so the LIVEBELL setting is honoured lazily.
        return str(livebell_settings.CHANNEL_LAYER)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.rate_limit = protocol.TokenBucket(
            livebell_settings.RATE_LIMIT_PER_SECOND, livebell_settings.RATE_LIMIT_BURST
        )
        self.max_frame_bytes = int(livebell_settings.MAX_FRAME_BYTES)
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.group is None:  # closed as anonymous; ignore anything still in flight
            return
        try:
            if not self.rate_limit.allow():
                raise protocol.ProtocolError(
                    "rate_limited", "Too many frames; slow down and retry later."
                )
            frame = protocol.parse_client_frame(text_data, max_bytes=self.max_frame_bytes)
            await self.handle_frame(frame)
        except protocol.ProtocolError as error:
            await self.send(text_data=protocol.error_frame(error))

    async def handle_frame(self, frame: dict[str, Any]) -> None:
        """Act on one valid client frame (its type is one of ``protocol.CLIENT_TYPES``)."""
        if frame["type"] == "ping":
            await self.send(text_data=protocol.encode({"type": "pong"}))

    # Channel-layer events, named by their "type" ("livebell.notification" → livebell_notification).

    async def livebell_notification(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["frame"])
