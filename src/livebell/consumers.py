"""The notification socket: one per browser tab, fed its own user's messages only.

:class:`NotificationConsumer` is the I/O around :class:`livebell.connection.Connection`,
which decides everything: it reads the user and the channel layer, joins the
process's hub (:mod:`livebell.fanout`), runs catch-ups (:mod:`livebell.catchup`),
read-state changes (:mod:`livebell.inbox`) and session checks
(:mod:`livebell.auth`), and sends what the connection says to send.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone, translation
from django.utils.translation import trans_real

from livebell import auth, fanout, inbox, protocol
from livebell.catchup import acatch_up
from livebell.conf import livebell_settings
from livebell.connection import (
    CLOSE_UNAUTHENTICATED,
    CatchUpFrom,
    ChangeInbox,
    CheckSession,
    Close,
    Connection,
    Decision,
    Send,
)
from livebell.groups import user_group
from livebell.messages import InboxChange, Message, Push, RecheckSessions, SessionEnded
from livebell.payloads import localize, localize_frame
from livebell.ratelimit import TokenBucket

__all__ = ["CLOSE_UNAUTHENTICATED", "NotificationConsumer", "reader_language"]

# A session check that fails is made once more after this pause: a password change
# saves the user (which asks every socket to check) a moment before Django's
# update_session_auth_hash() re-keys the changer's own session, which is then gone
# from under the old key (a reconnect, 4001) rather than invalid (4401).
RECHECK_GRACE_SECONDS = 0.3


class NotificationConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Pushes the user's notifications; answers the client frames of ``docs/protocol.md``.

    Anonymous sockets are accepted and closed at once with code 4401, so browsers
    see a reason instead of a failed handshake. Bad client frames get an ``error``
    frame and the socket stays open.

    The socket registers with its process's hub for the user's messages *before*
    it reads the database, and it handles one message at a time, so pushes that
    arrive during a catch-up wait in its mailbox and are then dropped if the
    catch-up already sent them (:class:`~livebell.connection.Connection` has the rules).
    """

    connection: Connection | None = None
    hub: fanout.Hub | None = None
    group: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the socket: Channels' loop, replaced.

        Channels would give this socket its own layer channel and group
        memberships, read by a loop of its own. Instead the process's hub
        (:mod:`livebell.fanout`) receives from the layer once per process and
        hands this socket its user's messages through :meth:`deliver`; they join
        the client's frames in one mailbox, handled one at a time, which is what
        keeps catch-ups and live pushes from overlapping.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self.mailbox: asyncio.Queue[dict[str, Any] | Message | BaseException] = asyncio.Queue()
        self._check_timer: asyncio.TimerHandle | None = None
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
            if self._check_timer is not None:
                self._check_timer.cancel()
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

    def deliver(self, message: Message) -> None:
        """Queue a message from the hub (see :class:`livebell.fanout.Subscriber`)."""
        self.mailbox.put_nowait(message)

    async def dispatch(self, message: dict[str, Any] | Message) -> None:
        """Handle one mailbox item: an ASGI event or a livebell message."""
        if not isinstance(message, dict):
            await self.on_message(message)
            return
        # Channels runs close_old_connections() in a worker thread before every
        # ASGI message: a turn on the one database thread per frame and per connect.
        # This consumer reaches the database only through database_sync_to_async,
        # which does that housekeeping itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # Channels' hooks.

    async def connect(self) -> None:
        """Accept the socket: refuse (4401) nobody, or join the hub and catch up."""
        user = self.scope.get("user")
        if user is None:  # behind SessionMiddlewareStack: resolve it here, batched
            user = self.scope["user"] = await auth.ascope_user(self.scope)
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.language = reader_language(self.scope)
        self.connection = Connection(
            max_frame_bytes=int(livebell_settings.MAX_FRAME_BYTES),
            rate_limit=TokenBucket(
                livebell_settings.RATE_LIMIT_PER_SECOND, livebell_settings.RATE_LIMIT_BURST
            ),
            session_hash=auth.session_hash(self.session_key),
        )
        if not user.is_authenticated:
            await self.accept()
            await self.act(self.connection.refuse())
            return
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
        raw = parse_qs(self.scope.get("query_string", b"").decode()).get("last_id")
        for decision in self.connection.open(user.pk, raw[-1] if raw else None):
            await self.act(decision)
        self._arm_session_check(_expiry(session))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """A client frame (``text_data`` None for a binary one)."""
        if self.connection is not None:
            await self.act(self.connection.receive(text_data))

    async def disconnect(self, code: int) -> None:
        """The socket closed: stop this socket's messages."""
        if self.connection is not None:
            self.connection.close()
        await self.leave_hub()

    async def leave_hub(self) -> None:
        """Stop this socket's messages; safe to call more than once."""
        hub, group = self.hub, self.group
        self.hub = None
        if hub is not None and group is not None:
            await hub.leave(group, self)

    # livebell's messages, and what the connection decides.

    async def on_message(self, message: Message) -> None:
        """A message from the channel layer, through the hub."""
        connection = self.connection
        if connection is None:
            return
        if isinstance(message, Push):
            if message.language is not None and message.language != self.language:
                # A typed notification, rendered in the site's language: in the reader's.
                message = replace(message, frame=localize_frame(message.frame, self.language))
            await self.act(connection.push(message))
        elif isinstance(message, InboxChange):
            await self.act(connection.inbox_change(message))
        elif isinstance(message, SessionEnded):
            await self.act(connection.session_ended(message))
        elif isinstance(message, RecheckSessions):
            await self.act(connection.recheck())

    async def act(self, decision: Decision) -> None:
        """Carry out one of the connection's decisions."""
        connection = self.connection
        if decision is None or connection is None:
            return
        if isinstance(decision, Send):
            await self.send(text_data=decision.frame)
        elif isinstance(decision, CatchUpFrom):
            result = await acatch_up(
                connection.user_id, decision.after, limit=int(livebell_settings.RESUME_MAX)
            )
            missed = [localize(payload, self.language) for payload in result.notifications]
            for frame in connection.caught_up(replace(result, notifications=missed)):
                await self.act(frame)
        elif isinstance(decision, ChangeInbox):
            await self.change_inbox(decision.change)
        elif isinstance(decision, CheckSession):
            await self.check_session()
        elif isinstance(decision, Close):
            connection.close()
            await self.close(code=decision.code)

    async def change_inbox(
        self, change: protocol.MarkRead | protocol.MarkUnread | protocol.MarkAllRead
    ) -> None:
        """Apply a client's read-state change; every socket of the user gets its event."""
        assert self.connection is not None
        user_id = self.connection.user_id
        if isinstance(change, protocol.MarkRead):
            await inbox.amark_read(user_id, change.ids)
        elif isinstance(change, protocol.MarkUnread):
            await inbox.amark_unread(user_id, change.ids)
        else:
            await inbox.amark_all_read(user_id, before_id=change.before_id)

    async def check_session(self) -> None:
        """Check that the session is still the user's; close with 4401 if not."""
        assert self.connection is not None
        user_id = self.connection.user_id
        check = await auth.acheck_session(self.session_key, user_id)
        if not check.valid:
            await asyncio.sleep(RECHECK_GRACE_SECONDS)
            check = await auth.acheck_session(self.session_key, user_id)
        await self.act(self.connection.session_checked(check.valid, check.exists))
        self._arm_session_check(check.expires_at)

    def _arm_session_check(self, expires_at: datetime | None) -> None:
        """Check the session again after ``SESSION_CHECK_SECONDS``, or at its expiry."""
        if self.connection is None or self.connection.closed or self.group is None:
            return
        delay = float(livebell_settings.SESSION_CHECK_SECONDS)
        if expires_at is not None:
            delay = max(0.0, min(delay, (expires_at - timezone.now()).total_seconds()))
        if self._check_timer is not None:
            self._check_timer.cancel()
        self._check_timer = asyncio.get_running_loop().call_later(
            delay, self.deliver, RecheckSessions(self.group)
        )


def _expiry(session: Any) -> datetime | None:
    """When the scope's session expires, as far as its data tells (no query)."""
    if session is None:
        return None
    try:
        expiry: datetime = session.get_expiry_date()
    except Exception:  # a session engine without expiry dates
        return None
    return expiry


def reader_language(scope: dict[str, Any]) -> str:
    """The language the socket's reader reads, chosen as Django's LocaleMiddleware would:
    the language cookie, else the browser's ``Accept-Language``, else ``LANGUAGE_CODE``."""
    cookie = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME)
    candidates = [cookie] if cookie else []
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            accepted = trans_real.parse_accept_lang_header(value.decode("latin-1")[:1000])
            candidates.extend(code for code, _ in accepted if code != "*")
    for code in candidates:
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return str(settings.LANGUAGE_CODE)
