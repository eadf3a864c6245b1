"""What every transport of a reader's session does, whatever carries its frames.

A :class:`~livebell.live.session.Session` decides; a transport carries out. Two
transports serve sessions — the WebSocket (:mod:`livebell.live.websocket`) and the
event stream (:mod:`livebell.live.stream`) — and they differ only in how a frame
reaches the client, how a close is said, and whether the client sends frames.
:class:`SessionTransport` is the rest, once for both: the session and its
settings, joining the process's hub (:mod:`livebell.layer.fanout`) before the
catch-up loads, the mailbox of layer messages and timers and its bound, the
database calls (:mod:`livebell.storage.catchup`, :mod:`livebell.inbox`,
:mod:`livebell.live.credentials`), the timers, and the logs and metrics of a close.

A user's sockets and streams join the same hub, so ``MAX_SOCKETS_PER_USER``
counts them together: a user has at most that many connections per process,
whatever carries them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.conf.locale import LANG_INFO
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from livebell import auth, inbox, metrics, protocol
from livebell.conf import livebell_settings
from livebell.layer import fanout
from livebell.layer.groups import site_key, user_group
from livebell.layer.messages import Message
from livebell.live import credentials
from livebell.live.credentials import Reader
from livebell.live.ratelimit import TokenBucket
from livebell.live.session import (
    ArmTimer,
    CatchUpLoaded,
    ChangeInbox,
    CheckSession,
    Close,
    Effect,
    FellBehind,
    Ignore,
    LoadCatchUp,
    Opened,
    ReaderLanguage,
    Refused,
    Send,
    Session,
    SessionChecked,
    Timer,
    TimerFired,
)
from livebell.live.storm import BurstGate
from livebell.payloads import localizer
from livebell.storage.catchup import acatch_up

__all__ = [
    "CLOSE_SEND_TIMEOUT_SECONDS",
    "RECHECK_GRACE_SECONDS",
    "SessionTransport",
    "new_session",
    "reader_language_input",
]

# A session check that fails is made once more after this pause: a password change
# saves the user (which asks every socket to check) a moment before Django's
# update_session_auth_hash() re-keys the changer's own session, which is then gone
# from under the old key (a reconnect, 4001) rather than invalid (4401).
RECHECK_GRACE_SECONDS = 0.3

#: How long a transport's last word (a socket's close frame, a stream's close event)
#: may wait for a client that stopped reading to read again; then the connection is
#: given up without it. Longer than a send's deadline, so that a client that comes
#: back (a tab woken from the background) reads why it was closed.
CLOSE_SEND_TIMEOUT_SECONDS = 30.0

# Languages whose own catalogue Django lacks, and the one to use instead (zh-cn → zh-hans).
_FALLBACKS = {code: info["fallback"][0] for code, info in LANG_INFO.items() if "fallback" in info}


def reader_language_input(cookie: str | None, accept_language: str) -> ReaderLanguage:
    """What the reader's browser said about its language (the language cookie's value
    and ``Accept-Language``), with the site's languages to choose from."""
    return ReaderLanguage(
        cookie=cookie,
        accept_language=accept_language,
        supported=[code for code, _ in settings.LANGUAGES],
        default=str(settings.LANGUAGE_CODE),
        fallbacks=_FALLBACKS,
    )


def new_session(reader: Reader) -> Session:
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


class SessionTransport:
    """One connection's session, its mailbox and its effects; a subclass carries frames.

    A subclass implements :meth:`_accept` (the connection is taken: a handshake
    answered, a response started), :meth:`_send_frame` and :meth:`_close`, and
    runs the mailbox: every ``(arrived, event)`` item goes to :meth:`_handle_item`.

    Args:
        logger: where closes are logged.
        kind: ``"socket"`` or ``"stream"``, in log lines and their ``event`` names.
    """

    def __init__(self, *, logger: logging.Logger, kind: str) -> None:
        self.session: Session | None = None
        self.hub: fanout.Hub | None = None
        self.reader: Reader | None = None
        self.mailbox: asyncio.Queue[Any] = asyncio.Queue()
        self.logger = logger
        self.kind = kind
        self._pending = 0  # layer messages and timers in the mailbox
        self._max_pending = int(livebell_settings.MAX_PENDING_MESSAGES)
        self._fell_behind = False
        self._counted_open = False
        self._client_gone = False
        self._arrived: float | None = None  # when the layer message being handled came
        self._opened_at = time.monotonic()
        self._timers: dict[Timer, asyncio.TimerHandle] = {}
        self._tally = metrics.tally()

    # What a transport carries out its own way.

    async def _accept(self) -> None:
        """Take the connection (before the session's first frame or close)."""
        raise NotImplementedError

    async def _send_frame(self, frame: str) -> None:
        """Send one frame; one the client cannot take within :attr:`send_timeout`
        ends the session (:class:`~livebell.live.session.SendTimedOut`)."""
        raise NotImplementedError

    @property
    def send_timeout(self) -> float:
        """How long a frame may wait for the connection: ``SEND_TIMEOUT_SECONDS``."""
        return float(livebell_settings.SEND_TIMEOUT_SECONDS)

    async def _close(self, close: Close) -> None:
        """End the connection, saying why; call :meth:`_closing` first."""
        raise NotImplementedError

    # The connection's life.

    async def _open_session(
        self, reader: Reader, last_id: str | None, language: ReaderLanguage
    ) -> None:
        """Take the connection, and open the session for ``reader`` (or refuse it)."""
        self.reader = reader
        self.session = session = new_session(reader)
        user = reader.user
        if not reader.authenticated:
            await self._accept()
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
        connections = await self.hub.join(group, self)
        await self._accept()
        opened = Opened(
            user.pk,
            group,
            last_id,
            language=language,
            sockets=connections,
            user_limits=self.hub.limits.get(group),
            expires_in=seconds_until(reader.expires_at),
        )
        effects = session.handle(opened)
        if not session.closed:
            metrics.CONNECTS.inc()
            metrics.SOCKETS_OPEN.inc()
            self._counted_open = True
        await self._carry_out(effects)

    def deliver(self, event: Message | TimerFired | FellBehind) -> None:
        """Queue a message from the hub (:class:`livebell.layer.fanout.Subscriber`) or a timer."""
        if self._fell_behind:
            return
        if self._pending >= self._max_pending:
            # Whatever waits is dropped: the client reconnects and catches up.
            self._fell_behind = True
            event = FellBehind()
        self._pending += 1
        self.mailbox.put_nowait((time.monotonic(), event))

    async def _handle_item(self, item: tuple[float, Any]) -> None:
        """One ``(arrived, event)`` of the mailbox, handed to the session."""
        self._pending -= 1
        arrived, event = item
        if not self._fell_behind or isinstance(event, FellBehind):
            self._arrived = arrived
            await self._carry_out(self.session.handle(event))  # type: ignore[union-attr]

    async def _finish(self) -> None:
        """Stop the timers and the hub's messages, and let go of the session; safe to
        call more than once."""
        for timer in self._timers.values():
            timer.cancel()
        await self._leave_hub()
        # Break the connection's reference cycles (timers and the hub hold bound
        # methods): a closed one leaves nothing for a full garbage collection, which
        # scans every object in the process and stalls the event loop.
        self._timers.clear()
        self.session = None

    # The session's effects.

    async def _carry_out(self, effects: Sequence[Effect]) -> None:
        """Carry out the session's effects, in order; what they lead to, as well."""
        session = self.session
        if session is None:
            return
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
                _count_ignored(effect.reason, self.logger)

    def _sent(self, frame: str) -> None:
        """Count a frame the client was sent (and a notification's delivery time)."""
        if frame.startswith('{"type":"notification"'):
            arrived = self._arrived
            self._tally.delivered(None if arrived is None else time.monotonic() - arrived)

    def _arm(self, effect: ArmTimer) -> None:
        old = self._timers.pop(effect.timer, None)
        if old is not None:
            old.cancel()
        self._timers[effect.timer] = asyncio.get_running_loop().call_later(
            effect.delay, self.deliver, TimerFired(effect.timer)
        )

    async def _check_session(self) -> SessionChecked:
        """Whether the connection's session (or token) is still its user's."""
        reader, session = self.reader, self.session
        assert reader is not None and session is not None
        if reader.token_key is not None:
            check = await credentials.acheck_token(reader.token_key, session.user_id)
        else:
            check = await credentials.acheck_session(reader.session_key, session.user_id)
        return SessionChecked(check.valid, check.exists, seconds_until(check.expires_at))

    async def _closing(self, close: Close) -> None:
        """Log the close, and stop this connection's messages."""
        self._log_close(close)
        await self._leave_hub()

    async def _leave_hub(self) -> None:
        """Stop this connection's messages; safe to call more than once."""
        hub, session = self.hub, self.session
        self.hub = None
        if hub is not None and session is not None and session.group is not None:
            await hub.leave(session.group, self)
        if self._counted_open:
            self._counted_open = False
            metrics.SOCKETS_OPEN.dec()

    def _log_close(self, close: Close) -> None:
        """One line per connection the server closes or refuses, with its reason."""
        user_id = self.session.user_id if self.session is not None else None
        refused = close.reason in ("unauthenticated", "bad_ticket", "too_many_sockets")
        if refused:
            metrics.REFUSALS.labels(close.reason).inc()
        metrics.CLOSES.labels(metrics.close_code_label(close.code), "server").inc()
        level = logging.INFO if refused or close.code in (4401, 4001) else logging.WARNING
        self.logger.log(
            level,
            "livebell: %s %s code=%s reason=%s user=%s seconds=%.1f",
            self.kind,
            "refused" if refused else "closed",
            close.code,
            close.reason or "-",
            user_id if user_id is not None else "-",
            time.monotonic() - self._opened_at,
            extra={
                "event": f"{self.kind}.refused" if refused else f"{self.kind}.closed",
                "close_code": close.code,
                "reason": close.reason,
                "user_id": user_id,
                "side": "server",
            },
        )


async def _change_inbox(
    user_id: Any, change: protocol.MarkRead | protocol.MarkUnread | protocol.MarkAllRead
) -> None:
    """Apply a client's read-state change; every connection of the user gets its event."""
    if isinstance(change, protocol.MarkRead):
        await inbox.amark_read(user_id, change.ids)
    elif isinstance(change, protocol.MarkUnread):
        await inbox.amark_unread(user_id, change.ids)
    else:
        await inbox.amark_all_read(user_id, before_id=change.before_id)


def seconds_until(moment: datetime | None) -> float | None:
    """Seconds from now until ``moment`` (None: unknown)."""
    return None if moment is None else (moment - timezone.now()).total_seconds()


# The reasons a layer message was ignored that this process has already logged.
_ignored_before: set[str] = set()
_OTHER_SITE_HINT = (
    ": another site on this Redis uses the same GROUP_PREFIX, or this site's"
    " processes run with different SECRET_KEYs"
)


def _count_ignored(reason: str, logger: logging.Logger) -> None:
    """Count a layer message that was not for its connection; log the first of each reason.

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
