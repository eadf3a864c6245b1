"""The WebSocket transport of a reader's session: one per browser tab.

:class:`NotificationConsumer` carries out what a :class:`livebell.session.Session`
decides, and tells it what happened. It owns only the I/O: the reader's
credentials (:func:`authenticate`), the process's hub (:mod:`livebell.fanout`),
the mailbox, the database calls (:mod:`livebell.catchup`, :mod:`livebell.inbox`,
:mod:`livebell.auth`), the timers, the ASGI send and its deadlines, and the logs
and metrics.

It is a plain ASGI application, not a Channels consumer. A Channels consumer reads
the client's frames as fast as they come, gives every socket a layer channel and
group memberships of its own, and offers no deadline on a send; this transport
needs the opposite of each (frames read a few at a time, one hub per process, a
deadline on every send), and a subclass that replaced Channels' ``__call__`` and
``dispatch`` would show its users hooks that do nothing. ``as_asgi()`` keeps the
name routing files already use.

What one socket may hold is bounded:

- **inbound**, the client's frames are read a few at a time (``READ_AHEAD``): the
  ASGI server stops reading the TCP socket until the session has handled them, so
  a client that sends faster than it is served is held back by TCP itself;
- **from the layer**, at most ``MAX_PENDING_MESSAGES`` messages wait in the
  mailbox; a socket that falls further behind is closed with 1013;
- **outbound**, a frame the server cannot take within ``SEND_TIMEOUT_SECONDS``
  (the client stopped reading and the server's write buffer is full) closes the
  socket with 1013. The close frame then waits, up to
  ``CLOSE_SEND_TIMEOUT_SECONDS``, for the client to read again: ASGI servers
  (uvicorn, daphne) take no frame while their buffer is full, and a close frame
  given up on is never seen, so the client would see the connection drop (1006)
  or the server's own keepalive timeout (1011) instead of 1013.

Sends after the socket closed — the client left during a catch-up, or the ASGI
server closed the socket for a protocol error — are dropped quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from django.conf import settings
from django.conf.locale import LANG_INFO
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from livebell import auth, fanout, inbox, metrics, protocol, tickets
from livebell._deadlines import deadline
from livebell.catchup import acatch_up
from livebell.conf import livebell_settings
from livebell.groups import site_key, user_group
from livebell.messages import Message
from livebell.payloads import localizer
from livebell.ratelimit import TokenBucket
from livebell.session import (
    CLOSE_UNAUTHENTICATED,
    ArmTimer,
    CatchUpLoaded,
    ChangeInbox,
    CheckSession,
    ClientFrame,
    Close,
    Effect,
    FellBehind,
    Ignore,
    LoadCatchUp,
    Opened,
    ReaderLanguage,
    Refused,
    Send,
    SendTimedOut,
    Session,
    SessionChecked,
    Timer,
    TimerFired,
    TransportClosed,
    choose_language,
)
from livebell.storm import BurstGate

__all__ = [
    "CLOSE_UNAUTHENTICATED",
    "READ_AHEAD",
    "NotificationConsumer",
    "Reader",
    "authenticate",
    "reader_language",
]

logger = logging.getLogger("livebell.socket")

AsgiApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

# A session check that fails is made once more after this pause: a password change
# saves the user (which asks every socket to check) a moment before Django's
# update_session_auth_hash() re-keys the changer's own session, which is then gone
# from under the old key (a reconnect, 4001) rather than invalid (4401).
RECHECK_GRACE_SECONDS = 0.3

#: Client frames read ahead of the one being handled. More would undo the ASGI
#: server's backpressure (it stops reading the TCP socket while its queue is full).
READ_AHEAD = 4

#: How long the close frame may wait for a client that stopped reading to read
#: again; then the socket is given up. Longer than a send's deadline, so that a
#: client that comes back (a tab woken from the background) reads why it was closed.
CLOSE_SEND_TIMEOUT_SECONDS = 30.0

# Languages whose own catalogue Django lacks, and the one to use instead (zh-cn → zh-hans).
_FALLBACKS = {code: info["fallback"][0] for code, info in LANG_INFO.items() if "fallback" in info}


@dataclass(frozen=True, slots=True)
class Reader:
    """Who a socket is for, as its credentials tell: ``user`` None when nobody is
    logged in (``refusal`` says why)."""

    user: Any
    session_key: str | None = None
    token_key: str | None = None
    expires_at: datetime | None = None
    refusal: str = "unauthenticated"


async def authenticate(scope: dict[str, Any]) -> Reader:
    """The reader of a socket: the ticket's user (its cookies are then ignored), or
    the scope's user, or the user of the scope's session (looked up in batches with
    the sockets that connect at the same moment)."""
    ticket = protocol.handshake_ticket(scope)
    if ticket is not None:
        redeemed = await tickets.aredeem(ticket)
        if redeemed is None:
            return Reader(None, refusal="bad_ticket")
        return Reader(redeemed.user, redeemed.session_key, redeemed.token_key)
    session = scope.get("session")
    session_key = getattr(session, "session_key", None)
    user = scope.get("user")
    if user is None:  # behind SessionMiddlewareStack
        user, expires_at = await auth.ascope_login(scope)
    else:  # behind AuthMiddlewareStack
        expires_at = _data_expiry(session)
    return Reader(user, session_key, expires_at=expires_at)


def reader_language(scope: dict[str, Any]) -> str:
    """The language the socket's reader reads, chosen as Django's LocaleMiddleware would:
    the language cookie, else the browser's ``Accept-Language``, else ``LANGUAGE_CODE``."""
    return choose_language(_reader_language_input(scope))


def _reader_language_input(scope: dict[str, Any]) -> ReaderLanguage:
    accept = b",".join(
        value for name, value in scope.get("headers", ()) if name == b"accept-language"
    )
    return ReaderLanguage(
        cookie=scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME),
        accept_language=accept.decode("latin-1"),
        supported=[code for code, _ in settings.LANGUAGES],
        default=str(settings.LANGUAGE_CODE),
        fallbacks=_FALLBACKS,
    )


class NotificationConsumer:
    """Serves one socket: a :class:`~livebell.session.Session` and its effects.

    Anonymous sockets are accepted and closed at once with code 4401, so browsers
    see a reason instead of a failed handshake. The socket joins its process's hub
    for the user's messages *before* the session loads its catch-up, and handles
    one mailbox item at a time, so pushes that arrive during a catch-up wait and
    are then dropped if the catch-up already sent them.
    """

    @classmethod
    def as_asgi(cls) -> AsgiApp:
        """The ASGI application serving one socket per call (mount it in a URLRouter)."""

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await cls(scope, send).run(receive)

        return app

    def __init__(self, scope: dict[str, Any], send: Any) -> None:
        self.scope = scope
        self._asgi_send = _past_session_wrapper(send)
        self.session: Session | None = None
        self.hub: fanout.Hub | None = None
        self.reader: Reader | None = None
        self.mailbox: asyncio.Queue[Any] = asyncio.Queue()
        self._read_credit = asyncio.Semaphore(READ_AHEAD)
        self._pending = 0  # layer messages and timers in the mailbox
        self._max_pending = int(livebell_settings.MAX_PENDING_MESSAGES)
        self._fell_behind = False
        self._counted_open = False
        self._accepted = False
        self._close_sent = False
        self._client_gone = False
        self._arrived: float | None = None  # when the layer message being handled came
        self._opened_at = time.monotonic()
        self._timers: dict[Timer, asyncio.TimerHandle] = {}
        self._tally = metrics.tally()

    async def run(self, receive: Any) -> None:
        """Serve the socket from its handshake until it closes."""
        if (await receive())["type"] != "websocket.connect":
            return
        pump = asyncio.create_task(self._pump(receive))
        try:
            await self._open()
            while not self._client_gone:
                item = await self.mailbox.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, dict):
                    try:
                        await self._on_client(item)
                    finally:
                        self._read_credit.release()
                else:
                    self._pending -= 1
                    arrived, event = item
                    if not self._fell_behind or isinstance(event, FellBehind):
                        self._arrived = arrived
                        await self._carry_out(self.session.handle(event))  # type: ignore[union-attr]
                # One item per turn of the event loop: a socket with a full mailbox
                # (a flooder) must not starve the process's other sockets.
                if not self.mailbox.empty():
                    await asyncio.sleep(0)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            for timer in self._timers.values():
                timer.cancel()
            await self._leave_hub()
            # Break the socket's reference cycles (timers and the hub hold bound
            # methods): a closed socket leaves nothing for a full garbage collection,
            # which scans every object in the process and stalls the event loop.
            self._timers.clear()
            self.session = None

    async def _open(self) -> None:
        """Authenticate, accept, and open the session (or refuse it)."""
        self.reader = reader = await authenticate(self.scope)
        self.session = session = _new_session(reader)
        user = reader.user
        if user is None or not user.is_authenticated:
            await self._send({"type": "websocket.accept", "subprotocol": _subprotocol(self.scope)})
            await self._carry_out(session.handle(Refused(reader.refusal)))
            return
        # Read per connection, so the LIVEBELL setting is honoured lazily.
        layer = get_channel_layer(livebell_settings.CHANNEL_LAYER)
        if layer is None:
            raise ImproperlyConfigured(
                f"CHANNEL_LAYERS has no {livebell_settings.CHANNEL_LAYER!r} layer "
                "(see LIVEBELL['CHANNEL_LAYER'])."
            )
        group = user_group(user.pk)
        self.hub = fanout.hub_for(layer)
        # Join first: nothing created from now on can be missed by the catch-up.
        sockets = await self.hub.join(group, self)
        await self._send({"type": "websocket.accept", "subprotocol": _subprotocol(self.scope)})
        raw = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("last_id")
        opened = Opened(
            user.pk,
            group,
            raw[-1] if raw else None,
            language=_reader_language_input(self.scope),
            sockets=sockets,
            user_limits=self.hub.limits.get(group),
            expires_in=_seconds_until(reader.expires_at),
        )
        effects = session.handle(opened)
        if not session.closed:
            metrics.CONNECTS.inc()
            metrics.SOCKETS_OPEN.inc()
            self._counted_open = True
        await self._carry_out(effects)

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
        except BaseException as exc:  # re-raised by run(), not lost in this task
            self.mailbox.put_nowait(exc)

    def deliver(self, event: Message | TimerFired) -> None:
        """Queue a message from the hub (see :class:`livebell.fanout.Subscriber`) or a timer."""
        if self._fell_behind:
            return
        if self._pending >= self._max_pending:
            # Whatever waits is dropped: the client reconnects and catches up.
            self._fell_behind = True
            event = FellBehind()  # type: ignore[assignment]
        self._pending += 1
        self.mailbox.put_nowait((time.monotonic(), event))

    async def _on_client(self, message: dict[str, Any]) -> None:
        """A frame from the client, or the socket's end."""
        session = self.session
        assert session is not None
        if message["type"] == "websocket.receive":
            effects = session.handle(ClientFrame(message.get("text")))
            metrics.FRAMES_RECEIVED.labels(session.last_error or "ok").inc()
            await self._carry_out(effects)
        elif message["type"] == "websocket.disconnect":
            code = message.get("code", 1000)
            if session.close_effect is None:
                # Closed by the client, or by the server for it (1012 on restart,
                # 1006 when the connection dropped).
                metrics.CLOSES.labels(metrics.close_code_label(code), "client").inc()
                logger.debug(
                    "livebell: socket ended code=%s user=%s",
                    code,
                    session.user_id,
                    extra={"event": "socket.ended", "close_code": code, "side": "client"},
                )
            session.handle(TransportClosed(code))
            self._client_gone = True

    # The session's effects.

    async def _carry_out(self, effects: list[Effect]) -> None:
        """Carry out the session's effects, in order; what they lead to, as well."""
        session = self.session
        assert session is not None
        for effect in effects:
            if isinstance(effect, Send):
                await self._send_frame(effect.frame)
            elif isinstance(effect, LoadCatchUp):
                result = await acatch_up(session.user_id, effect.after, limit=effect.limit)
                metrics.CATCH_UPS.inc()
                metrics.CATCH_UP_ROWS.inc(len(result.notifications))
                self._arrived = None
                await self._carry_out(session.handle(CatchUpLoaded(result)))
            elif isinstance(effect, ChangeInbox):
                await _change_inbox(session.user_id, effect.change)
            elif isinstance(effect, CheckSession):
                await self._carry_out(session.handle(await self._check_session()))
            elif isinstance(effect, ArmTimer):
                self._arm(effect)
            elif isinstance(effect, Close):
                await self._close(effect)
            elif isinstance(effect, Ignore):
                _count_ignored(effect.reason)

    async def _send_frame(self, frame: str) -> None:
        """Send one frame; one that the server cannot take in time closes the socket."""
        try:
            await self._send(
                {"type": "websocket.send", "text": frame},
                float(livebell_settings.SEND_TIMEOUT_SECONDS),
            )
        except TimeoutError:
            await self._carry_out(self.session.handle(SendTimedOut()))  # type: ignore[union-attr]
            return
        if frame.startswith('{"type":"notification"'):
            arrived = self._arrived
            self._tally.delivered(None if arrived is None else time.monotonic() - arrived)

    async def _close(self, close: Close) -> None:
        """Close the socket; nothing of this user's reaches it any more."""
        self._log_close(close)
        await self._leave_hub()
        with contextlib.suppress(TimeoutError):
            await self._send(
                {"type": "websocket.close", "code": close.code}, CLOSE_SEND_TIMEOUT_SECONDS
            )
        if not self._close_sent:
            self._client_gone = True  # could not even take the close frame: given up

    async def _send(self, message: dict[str, Any], within: float | None = None) -> None:
        """Send an ASGI message, unless the socket is closed.

        After the close was sent, or once the client is gone (the server raises
        ``ClientDisconnected``, an ``OSError``, or refuses a send after closing the
        socket itself for a protocol error), sends are dropped.

        Raises:
            TimeoutError: the server did not take it ``within`` seconds.
        """
        kind = message["type"]
        if self._close_sent or self._client_gone:
            return
        try:
            if within is None:
                await self._asgi_send(message)
            else:
                with deadline(within):
                    await self._asgi_send(message)
        except TimeoutError:
            raise  # an OSError too, but not a client that left
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
        elif kind == "websocket.close":
            self._close_sent = True
        elif kind == "websocket.send":
            self._tally.sent(len(message["text"]))

    def _arm(self, effect: ArmTimer) -> None:
        old = self._timers.pop(effect.timer, None)
        if old is not None:
            old.cancel()
        self._timers[effect.timer] = asyncio.get_running_loop().call_later(
            effect.delay, self.deliver, TimerFired(effect.timer)
        )

    async def _check_session(self) -> SessionChecked:
        """Whether the socket's session (or token) is still its user's."""
        reader, session = self.reader, self.session
        assert reader is not None and session is not None
        if reader.token_key is not None:
            check = await auth.acheck_token(reader.token_key, session.user_id)
        else:
            check = await auth.acheck_session(reader.session_key, session.user_id)
        return SessionChecked(check.valid, check.exists, _seconds_until(check.expires_at))

    async def _leave_hub(self) -> None:
        """Stop this socket's messages; safe to call more than once."""
        hub, session = self.hub, self.session
        self.hub = None
        if hub is not None and session is not None and session.group is not None:
            await hub.leave(session.group, self)
        if self._counted_open:
            self._counted_open = False
            metrics.SOCKETS_OPEN.dec()

    def _log_close(self, close: Close) -> None:
        """One line per socket the server closes or refuses, with its reason."""
        user_id = self.session.user_id if self.session is not None else None
        refused = close.reason in ("unauthenticated", "bad_ticket", "too_many_sockets")
        if refused:
            metrics.REFUSALS.labels(close.reason).inc()
        metrics.CLOSES.labels(metrics.close_code_label(close.code), "server").inc()
        level = logging.INFO if refused or close.code in (4401, 4001) else logging.WARNING
        logger.log(
            level,
            "livebell: socket %s code=%s reason=%s user=%s seconds=%.1f",
            "refused" if refused else "closed",
            close.code,
            close.reason or "-",
            user_id if user_id is not None else "-",
            time.monotonic() - self._opened_at,
            extra={
                "event": "socket.refused" if refused else "socket.closed",
                "close_code": close.code,
                "reason": close.reason,
                "user_id": user_id,
                "side": "server",
            },
        )


def _new_session(reader: Reader) -> Session:
    """A session with the settings' limits, for ``reader``."""
    threshold = livebell_settings.STORM_THRESHOLD
    burst = (
        None
        if threshold is None
        else BurstGate(int(threshold), float(livebell_settings.STORM_WINDOW_SECONDS))
    )
    return Session(
        max_frame_bytes=int(livebell_settings.MAX_FRAME_BYTES),
        rate_limit=TokenBucket(
            livebell_settings.RATE_LIMIT_PER_SECOND, livebell_settings.RATE_LIMIT_BURST
        ),
        session_hash=auth.session_hash(reader.session_key),
        site=site_key(),
        flood=TokenBucket(1.0, int(livebell_settings.FLOOD_CLOSE_AFTER)),
        max_sockets=int(livebell_settings.MAX_SOCKETS_PER_USER),
        max_waiting=int(livebell_settings.MAX_PENDING_MESSAGES),
        resume_max=int(livebell_settings.RESUME_MAX),
        burst=burst,
        session_check_seconds=float(livebell_settings.SESSION_CHECK_SECONDS),
        # A token is checked once: no password change re-keys it.
        recheck_grace_seconds=0.0 if reader.token_key is not None else RECHECK_GRACE_SECONDS,
        localizer=localizer,
    )


async def _change_inbox(
    user_id: Any, change: protocol.MarkRead | protocol.MarkUnread | protocol.MarkAllRead
) -> None:
    """Apply a client's read-state change; every socket of the user gets its event."""
    if isinstance(change, protocol.MarkRead):
        await inbox.amark_read(user_id, change.ids)
    elif isinstance(change, protocol.MarkUnread):
        await inbox.amark_unread(user_id, change.ids)
    else:
        await inbox.amark_all_read(user_id, before_id=change.before_id)


def _past_session_wrapper(send: Any) -> Any:
    """The ASGI ``send`` under Channels' ``SessionMiddleware``, when that wraps it.

    The one place livebell reaches past a documented Channels API (the wrapper's
    ``real_send`` and ``save_message_types``), on purpose: the wrapper saves the
    session when an HTTP response starts; for a WebSocket it saves nothing, but
    reads the session's ``modified`` and ``is_empty()`` through a ``LazyObject`` on
    every frame, a large share of the server's time in a broadcast (profiled in
    docs/benchmarks.md). A WebSocket message goes straight to the server; when a
    Channels release saves on WebSocket messages, or renames these, the wrapper is
    used as it is.
    """
    wrapper = getattr(send, "__self__", None)
    if isinstance(wrapper, InstanceSessionWrapper) and not any(
        str(kind).startswith("websocket.")
        for kind in getattr(wrapper, "save_message_types", ["websocket."])
    ):
        return getattr(wrapper, "real_send", send)
    return send


def _subprotocol(scope: dict[str, Any]) -> str | None:
    return protocol.accepted_subprotocol(scope)


def _seconds_until(moment: datetime | None) -> float | None:
    return None if moment is None else (moment - timezone.now()).total_seconds()


def _data_expiry(session: Any) -> datetime | None:
    """When the scope's session expires, as far as its data tells (no query)."""
    if session is None:
        return None
    try:
        expiry: datetime = session.get_expiry_date()
    except Exception:  # a session engine without expiry dates
        return None
    return expiry


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
