"""The notification socket: one per browser tab, fed its own user's pushes only."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from livebell import auth, fanout, inbox, protocol
from livebell.conf import livebell_settings
from livebell.groups import user_group
from livebell.resume_queue import acatch_up

__all__ = ["CLOSE_UNAUTHENTICATED", "NotificationConsumer"]

# Application close code (4000-4999) telling the client to log in rather than retry.
CLOSE_UNAUTHENTICATED = 4401


class NotificationConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Pushes the user's notifications; answers the client frames of ``docs/protocol.md``.

    Anonymous sockets are accepted and closed at once with code 4401, so browsers
    see a reason instead of a failed handshake. Bad client frames get an ``error``
    frame and the socket stays open.

    Each socket keeps ``last_id``, the newest notification id its client has. The
    socket registers with its process's hub (:mod:`livebell.fanout`) for the
    user's pushes *before* reading the database, and the consumer handles one
    message at a time, so live pushes that arrive during a catch-up wait in its
    mailbox; those the catch-up already sent (``id <= last_id``) are then dropped.
    A push whose ``prev_id`` is newer than ``last_id`` reveals a missed push (the
    layer was down, say), and the socket catches up from the database. So each
    client gets each notification once, in id order.
    """

    group: str | None = None
    last_id: int = 0
    hub: fanout.Hub | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels would give this socket its own layer channel, read by a task
        # per message. Instead the process's hub (livebell.fanout) receives from
        # the layer once per process and queues messages here; the client's
        # frames join the same queue, so everything is handled one at a time.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self.mailbox: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        pump = asyncio.create_task(self._pump(receive))
        try:
            while True:
                message = await self.mailbox.get()
                if isinstance(message, BaseException):
                    raise message
                await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await self.leave_hub()

    async def _pump(self, receive: Any) -> None:
        """Move the client's messages into the mailbox until it disconnects."""
        try:
            while True:
                message = await receive()
                self.mailbox.put_nowait(message)
                if message["type"] == "websocket.disconnect":
                    return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # re-raised by __call__, not lost in this task
            self.mailbox.put_nowait(exc)

    def deliver(self, message: dict[str, Any]) -> None:
        """Queue a layer message from the hub (see :class:`livebell.fanout.Subscriber`)."""
        self.mailbox.put_nowait(message)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels runs close_old_connections() in a worker thread before every
        # message: a turn on the one database thread per delivered notification and
        # per connect, most of the cost of a push and a queue behind every resume
        # in a reconnect storm. This consumer (and AuthMiddlewareStack before it)
        # reaches the database only through database_sync_to_async, which does that
        # housekeeping itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None:  # behind SessionMiddlewareStack: resolve it here, batched
            user = self.scope["user"] = await auth.ascope_user(self.scope)
        if not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.rate_limit = protocol.TokenBucket(
            livebell_settings.RATE_LIMIT_PER_SECOND, livebell_settings.RATE_LIMIT_BURST
        )
        self.max_frame_bytes = int(livebell_settings.MAX_FRAME_BYTES)
        # Read per connection, so the LIVEBELL setting is honoured lazily.
        layer = get_channel_layer(livebell_settings.CHANNEL_LAYER)
        if layer is None:
            raise ImproperlyConfigured(
                f"CHANNEL_LAYERS has no {livebell_settings.CHANNEL_LAYER!r} layer "
                "(see LIVEBELL['CHANNEL_LAYER'])."
            )
        self.group = user_group(user.pk)
        self.hub = fanout.hub_for(layer)
        # Join first: nothing created from now on can be missed by the catch-up below.
        await self.hub.join(self.group, self)
        await self.accept()
        after, bad_last_id = None, None
        raw = parse_qs(self.scope.get("query_string", b"").decode()).get("last_id")
        if raw:
            try:
                after = protocol.parse_last_id(raw[-1])
            except protocol.ProtocolError as error:
                bad_last_id = error
        if bad_last_id is not None:
            await self.send(text_data=protocol.error_frame(bad_last_id))
        await self.catch_up(after)

    async def disconnect(self, code: int) -> None:
        await self.leave_hub()

    async def leave_hub(self) -> None:
        """Stop this socket's pushes; safe to call more than once."""
        hub, group = self.hub, self.group
        self.hub = None
        if hub is not None and group is not None:
            await hub.leave(group, self)

    async def catch_up(self, after: int | None) -> None:
        """Send the notifications after ``after`` (none if None), then ``synced``."""
        catchup = await acatch_up(self.user_id, after, limit=livebell_settings.RESUME_MAX)
        for payload in catchup.notifications:
            await self.send(text_data=protocol.notification_frame(payload, catchup.unread_count))
        self.last_id = catchup.last_id
        await self.send(text_data=protocol.synced_frame(catchup))

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
        """Act on one valid client frame (its type is one of ``protocol.CLIENT_TYPES``).

        Read-state changes are answered by the ``read``/``unread`` event that every
        socket of the user receives, this one included.
        """
        kind = frame["type"]
        if kind == "ping":
            await self.send(text_data=protocol.encode({"type": "pong"}))
        elif kind == "resume":
            await self.catch_up(frame["last_id"])
        elif kind == "mark_all_read":
            await inbox.amark_all_read(self.user_id, before_id=frame.get("before_id"))
        else:
            change = inbox.amark_read if kind == "mark_read" else inbox.amark_unread
            try:
                ids = inbox.clean_ids(frame.get("ids"))
            except (TypeError, ValueError) as exc:
                raise protocol.ProtocolError("bad_frame", str(exc)) from None
            await change(self.user_id, ids)

    # Channel-layer events, named by their "type" ("livebell.notification" → livebell_notification).

    async def livebell_notification(self, event: dict[str, Any]) -> None:
        if event["id"] <= self.last_id:
            return  # already sent by a catch-up
        previous = event.get("prev_id")
        if previous is not None and previous > self.last_id:
            # A push before this one never arrived: the database has it.
            await self.catch_up(self.last_id)
            return
        self.last_id = event["id"]
        await self.send(text_data=event["frame"])

    async def livebell_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["frame"])
