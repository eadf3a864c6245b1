"""The notification socket: one per browser tab, fed its own user's messages only.

:class:`NotificationConsumer` is the I/O around :class:`livebell.connection.Connection`,
which decides everything: it reads the user (from the session, or from a socket
ticket) and the channel layer, joins the process's hub (:mod:`livebell.fanout`),
runs catch-ups (:mod:`livebell.catchup`), read-state changes (:mod:`livebell.inbox`)
and session checks (:mod:`livebell.auth`), and sends what the connection says to
send. What one socket may hold is bounded:

- **inbound**, the client's frames are read a few at a time (``READ_AHEAD``): the
  ASGI server stops reading the TCP socket until the consumer has handled them,
  so a client that sends faster than it is served is held back by TCP itself;
- **from the layer**, at most ``MAX_PENDING_MESSAGES`` messages wait; a socket that
  falls further behind is closed with 1013 and catches up when it reconnects;
- **outbound**, a frame that cannot be sent within ``SEND_TIMEOUT_SECONDS`` (the
  client stopped reading and the server's write buffer is full) closes the
  socket with 1013.

Sends after the socket closed — the client left during a catch-up, or the ASGI
server closed the socket for a protocol error — are dropped quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone, translation
from django.utils.translation import trans_real

from livebell import auth, fanout, inbox, metrics, protocol, tickets
from livebell._deadlines import deadline
from livebell.catchup import acatch_up
from livebell.conf import livebell_settings
from livebell.connection import (
    CLOSE_UNAUTHENTICATED,
    BurstDue,
    CatchUpFrom,
    ChangeInbox,
    CheckSession,
    Close,
    Connection,
    Decision,
    Ignore,
    ScheduleBurst,
    Send,
)
from livebell.groups import site_key, user_group
from livebell.messages import InboxChange, Message, Push, RecheckSessions, SessionEnded
from livebell.payloads import localize, localize_frame
from livebell.ratelimit import TokenBucket
from livebell.storm import BurstGate

__all__ = ["CLOSE_UNAUTHENTICATED", "READ_AHEAD", "NotificationConsumer", "reader_language"]

logger = logging.getLogger("livebell.socket")

# A session check that fails is made once more after this pause: a password change
# saves the user (which asks every socket to check) a moment before Django's
# update_session_auth_hash() re-keys the changer's own session, which is then gone
# from under the old key (a reconnect, 4001) rather than invalid (4401).
RECHECK_GRACE_SECONDS = 0.3

#: Client frames read ahead of the one being handled. More would undo the ASGI
#: server's backpressure (it stops reading the TCP socket while its queue is full).
READ_AHEAD = 4

# Sending the close frame itself may wait no longer than this for a stuck client.
CLOSE_SEND_TIMEOUT_SECONDS = 1.0


class SendTimedOut(Exception):
    """A frame could not be sent within ``SEND_TIMEOUT_SECONDS``."""


class _FellBehind:
    """The mailbox item that says more layer messages waited than the socket may hold."""


_FELL_BEHIND = _FellBehind()


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
        memberships, read by a loop of its own, and would read the client's
        frames as fast as they come. Instead the process's hub
        (:mod:`livebell.fanout`) receives from the layer once per process and
        hands this socket its user's messages through :meth:`deliver`; they join
        the client's frames — read ``READ_AHEAD`` at a time — in one mailbox,
        handled one at a time, which is what keeps catch-ups and live pushes from
        overlapping and what bounds the socket's memory.
        """
        self.scope = scope
        self.channel_layer = None
        self._asgi_send = _past_session_wrapper(send)
        self.base_send = self._send_to_client
        self.mailbox: asyncio.Queue[Any] = asyncio.Queue()
        self._read_credit = asyncio.Semaphore(READ_AHEAD)
        self._pending = 0  # layer (and timer) messages in the mailbox
        self._fell_behind = False
        self._accepted = False
        self._close_sent = False
        self._client_gone = False
        self._closed_by_server: Close | None = None
        self._counted_open = False
        self._arrived: float | None = None  # when the layer message being handled came
        self._opened_at = time.monotonic()
        self._check_timer: asyncio.TimerHandle | None = None
        self._tally = metrics.tally()
        self.session_key: str | None = None
        self.token_key: str | None = None
        pump = asyncio.create_task(self._pump(receive))
        try:
            while True:
                item = await self.mailbox.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, dict):
                    try:
                        await self._handle(item)
                    finally:
                        self._read_credit.release()
                elif item is _FELL_BEHIND:
                    if self.connection is not None:
                        await self._handle_decision(self.connection.fell_behind())
                else:
                    self._pending -= 1
                    arrived, message = item
                    if not self._fell_behind:
                        self._arrived = arrived
                        await self._handle(message)
                # One message per turn of the event loop: a socket with a full mailbox
                # (a flooder) must not starve the process's other sockets. With an
                # empty mailbox, get() above gives the turn away by itself.
                if not self.mailbox.empty():
                    await asyncio.sleep(0)
        except StopConsumer:
            pass
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            if self._check_timer is not None:
                self._check_timer.cancel()
            if self._counted_open:
                metrics.SOCKETS_OPEN.dec()
            await self.leave_hub()
            # Break the consumer's reference cycles (a bound method of its own kept
            # on it, the connection's): freed now by reference counting, a closed
            # socket leaves nothing for a full garbage collection, which scans every
            # object in the process and stalls the event loop while it does.
            del self.base_send, self._asgi_send
            self.connection = None

    async def _pump(self, receive: Any) -> None:
        """Move the client's messages into the mailbox, ``READ_AHEAD`` at most at a time."""
        try:
            while True:
                await self._read_credit.acquire()
                message = await receive()
                self.mailbox.put_nowait(message)
                if message["type"] == "websocket.disconnect":
                    return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # re-raised by __call__, not lost in this task
            self.mailbox.put_nowait(exc)

    def deliver(self, message: Message | BurstDue) -> None:
        """Queue a message from the hub (see :class:`livebell.fanout.Subscriber`)."""
        if self._fell_behind:
            return
        connection = self.connection
        if connection is not None and not connection.backlog_allows(self._pending + 1):
            # Whatever waits is dropped: the client reconnects and catches up.
            self._fell_behind = True
            self.mailbox.put_nowait(_FELL_BEHIND)
            return
        self._pending += 1
        self.mailbox.put_nowait((time.monotonic(), message))

    async def _handle(self, message: dict[str, Any] | Message) -> None:
        """Handle one mailbox item; a send that timed out closes the socket (1013)."""
        try:
            await self.dispatch(message)
        except SendTimedOut:
            if self.connection is not None:
                await self._handle_decision(self.connection.send_timed_out())
            # The client does not read: it would never see the close either.
            raise StopConsumer from None

    async def _handle_decision(self, decision: Decision) -> None:
        """Carry out a closing decision; a client that cannot even take the close
        frame is given up (the consumer ends, and the server drops the connection)."""
        try:
            await self.act(decision)
        except SendTimedOut:
            raise StopConsumer from None

    async def dispatch(self, message: dict[str, Any] | Message | BurstDue) -> None:
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

    async def _send_to_client(self, message: dict[str, Any]) -> None:
        """Send an ASGI message to the client, unless the socket is closed.

        After the consumer sent ``websocket.close``, or once the client is gone
        (the server raises ``ClientDisconnected``, an ``OSError``, or refuses a send
        after closing the socket itself for a protocol error), sends are dropped.

        Raises:
            SendTimedOut: the client did not read for ``SEND_TIMEOUT_SECONDS``.
        """
        kind = message["type"]
        if self._close_sent or self._client_gone:
            return
        if kind == "websocket.close":
            self._close_sent = True
            timeout = CLOSE_SEND_TIMEOUT_SECONDS
        else:
            timeout = float(livebell_settings.SEND_TIMEOUT_SECONDS)
        try:
            with deadline(timeout):
                await self._asgi_send(message)
        except TimeoutError:
            raise SendTimedOut from None
        except OSError:
            self._client_gone = True
            return
        except RuntimeError:
            # uvicorn: "Unexpected ASGI message 'websocket.send', after sending
            # 'websocket.close'" — it closed the socket itself (a bad frame, a
            # keepalive timeout). Before the handshake, a RuntimeError is a bug.
            if not self._accepted:
                raise
            self._client_gone = True
            return
        if kind == "websocket.accept":
            self._accepted = True
        elif kind == "websocket.send":
            text = message.get("text")
            self._tally.sent(len(text) if text is not None else len(message["bytes"]))

    # Channels' hooks.

    async def connect(self) -> None:
        """Accept the socket: refuse (4401) nobody, or join the hub and catch up."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        ticket = protocol.handshake_ticket(self.scope)
        refusal = "unauthenticated"
        expires_at: datetime | None = None
        if ticket is not None:
            # A ticket socket ignores cookies: its user is the ticket's.
            redeemed = await tickets.aredeem(ticket)
            user: Any = redeemed.user if redeemed is not None else None
            if redeemed is not None:
                self.session_key, self.token_key = redeemed.session_key, redeemed.token_key
            refusal = "bad_ticket"
            self.scope["user"] = user
        else:
            user = self.scope.get("user")
            if user is None:  # behind SessionMiddlewareStack: resolve it here, batched
                user, expires_at = await auth.ascope_login(self.scope)
                self.scope["user"] = user
            else:
                expires_at = _expiry(self.scope.get("session"))
            self.session_key = getattr(self.scope.get("session"), "session_key", None)
        self.language = reader_language(self.scope)
        self.connection = Connection(
            max_frame_bytes=int(livebell_settings.MAX_FRAME_BYTES),
            rate_limit=TokenBucket(
                livebell_settings.RATE_LIMIT_PER_SECOND, livebell_settings.RATE_LIMIT_BURST
            ),
            session_hash=auth.session_hash(self.session_key),
            site=site_key(),
            flood=TokenBucket(1.0, int(livebell_settings.FLOOD_CLOSE_AFTER)),
            max_sockets=int(livebell_settings.MAX_SOCKETS_PER_USER),
            max_pending=int(livebell_settings.MAX_PENDING_MESSAGES),
            resume_max=int(livebell_settings.RESUME_MAX),
            burst=_burst_gate(),
        )
        if user is None or not user.is_authenticated:
            await self.accept(protocol.accepted_subprotocol(self.scope))
            await self.act(Close(self.connection.refuse().code, refusal))
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
        sockets = await self.hub.join(self.group, self)
        await self.accept(protocol.accepted_subprotocol(self.scope))
        raw = query.get("last_id")
        decisions = self.connection.open(
            user.pk,
            raw[-1] if raw else None,
            group=self.group,
            user_limits=self.hub.limits.get(self.group),
            sockets=sockets,
        )
        if not self.connection.closed:
            metrics.CONNECTS.inc()
            metrics.SOCKETS_OPEN.inc()
            self._counted_open = True
        for step in decisions:
            await self.act(step)
        self._arm_session_check(expires_at)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """A client frame (``text_data`` None for a binary one)."""
        connection = self.connection
        if connection is not None:
            decision = connection.receive(text_data)
            metrics.FRAMES_RECEIVED.labels(connection.last_error or "ok").inc()
            await self.act(decision)

    async def disconnect(self, code: int) -> None:
        """The socket closed: stop this socket's messages."""
        connection = self.connection
        if connection is not None:
            if self._closed_by_server is None:
                # Closed by the client, or by the server for it (1012 on restart,
                # 1006 when the connection dropped).
                metrics.CLOSES.labels(metrics.close_code_label(code), "client").inc()
                logger.debug(
                    "livebell: socket ended code=%s user=%s",
                    code,
                    connection.user_id,
                    extra={"event": "socket.ended", "close_code": code, "side": "client"},
                )
            connection.close()
        await self.leave_hub()

    async def leave_hub(self) -> None:
        """Stop this socket's messages; safe to call more than once."""
        hub, group = self.hub, self.group
        self.hub = None
        if hub is not None and group is not None:
            await hub.leave(group, self)

    # livebell's messages, and what the connection decides.

    async def on_message(self, message: Message | BurstDue) -> None:
        """A message from the channel layer, through the hub (or a burst reminder)."""
        connection = self.connection
        if connection is None:
            return
        if isinstance(message, BurstDue):
            await self.act(connection.burst_due())
        elif isinstance(message, Push):
            if message.language is not None and message.language != self.language:
                # A typed notification, rendered in the site's language: in the reader's.
                message = message._replace(frame=localize_frame(message.frame, self.language))
            await self.act(connection.push(message))
        elif isinstance(message, InboxChange):
            await self.act(connection.inbox_change(message))
        elif isinstance(message, SessionEnded):
            await self.act(connection.session_ended(message))
        elif isinstance(message, RecheckSessions):
            await self.act(connection.recheck(message))

    async def act(self, decision: Decision) -> None:
        """Carry out one of the connection's decisions."""
        connection = self.connection
        if decision is None or connection is None:
            return
        if isinstance(decision, Send):
            # Straight to the ASGI send: Channels' send() and its base class's add two
            # coroutines per frame, 3 µs of a push's 12 (timed with 1,000 consumers in
            # one process; docs/benchmarks.md, "Where the time went").
            await self._send_to_client({"type": "websocket.send", "text": decision.frame})
            if decision.frame.startswith('{"type":"notification"'):
                arrived = self._arrived
                self._tally.delivered(None if arrived is None else time.monotonic() - arrived)
        elif isinstance(decision, CatchUpFrom):
            limit = connection.catch_up_limit()
            result = await acatch_up(connection.user_id, decision.after, limit=limit)
            metrics.CATCH_UPS.inc()
            metrics.CATCH_UP_ROWS.inc(len(result.notifications))
            self._arrived = None
            missed = [localize(payload, self.language) for payload in result.notifications]
            for frame in connection.caught_up(replace(result, notifications=missed)):
                await self.act(frame)
        elif isinstance(decision, ChangeInbox):
            await self.change_inbox(decision.change)
        elif isinstance(decision, CheckSession):
            await self.check_session()
        elif isinstance(decision, Close):
            connection.close()
            self._log_close(decision)
            await self.close(code=decision.code)
        elif isinstance(decision, ScheduleBurst):
            asyncio.get_running_loop().call_later(decision.delay, self.deliver, BurstDue())
        elif isinstance(decision, Ignore):
            _count_ignored(decision.reason)

    def _log_close(self, decision: Close) -> None:
        """One line per socket the server closes or refuses, with its reason."""
        self._closed_by_server = decision
        user_id = self.connection.user_id if self.connection is not None else None
        refused = decision.reason in ("unauthenticated", "bad_ticket", "too_many_sockets")
        if refused:
            metrics.REFUSALS.labels(decision.reason).inc()
        metrics.CLOSES.labels(metrics.close_code_label(decision.code), "server").inc()
        level = logging.INFO if refused or decision.code in (4401, 4001) else logging.WARNING
        logger.log(
            level,
            "livebell: socket %s code=%s reason=%s user=%s seconds=%.1f",
            "refused" if refused else "closed",
            decision.code,
            decision.reason or "-",
            user_id if user_id is not None else "-",
            time.monotonic() - self._opened_at,
            extra={
                "event": "socket.refused" if refused else "socket.closed",
                "close_code": decision.code,
                "reason": decision.reason,
                "user_id": user_id,
                "side": "server",
            },
        )

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
        """Check that the session (or token) is still the user's; close with 4401 if not."""
        assert self.connection is not None
        user_id = self.connection.user_id
        if self.token_key is not None:
            check = await auth.acheck_token(self.token_key, user_id)
        else:
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
            delay, self.deliver, RecheckSessions(self.group, self.connection.site)
        )


# The reasons a layer message was ignored that this process has already logged.
_ignored_before: set[str] = set()
_OTHER_SITE_HINT = (
    ": another site on this Redis uses the same GROUP_PREFIX, or this site's"
    " processes run with different SECRET_KEYs"
)


def _count_ignored(reason: str) -> None:
    """Count a layer message that was not for its socket; log the first of each reason.

    A warning once per process, not per message: another site that shares the group
    prefix may send a message for every user.
    """
    metrics.LAYER_MESSAGES_IGNORED.labels(reason).inc()
    whose = "site" if reason == "other_site" else "user"
    first = reason not in _ignored_before
    _ignored_before.add(reason)
    logger.log(
        logging.WARNING if first else logging.DEBUG,
        "livebell: ignored a layer message of another %s%s",
        whose,
        _OTHER_SITE_HINT if reason == "other_site" else "",
        extra={"event": "layer.ignored", "reason": reason},
    )


def _burst_gate() -> BurstGate | None:
    """This socket's storm control, from the settings (None: ``STORM_THRESHOLD`` None)."""
    threshold = livebell_settings.STORM_THRESHOLD
    if threshold is None:
        return None
    return BurstGate(int(threshold), float(livebell_settings.STORM_WINDOW_SECONDS))


def _expiry(session: Any) -> datetime | None:
    """When the scope's session expires, as far as its data tells (no query)."""
    if session is None:
        return None
    try:
        expiry: datetime = session.get_expiry_date()
    except Exception:  # a session engine without expiry dates
        return None
    return expiry


def _past_session_wrapper(send: Any) -> Any:
    """The ASGI ``send`` under Channels' ``SessionMiddleware``, when that wraps it.

    The wrapper saves the session when an HTTP response starts; for a WebSocket it
    saves nothing, but reads the session's ``modified`` and ``is_empty()`` through a
    ``LazyObject`` on every frame — a tenth of the server's time in a broadcast
    (py-spy, docs/benchmarks.md). A WebSocket message goes straight to the server.
    """
    wrapper = getattr(send, "__self__", None)
    if isinstance(wrapper, InstanceSessionWrapper) and not any(
        kind.startswith("websocket.") for kind in wrapper.save_message_types
    ):
        return wrapper.real_send
    return send


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
