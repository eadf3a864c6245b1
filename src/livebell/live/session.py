"""One reader's session, free of I/O: events in, effects out.

:class:`Session` is the whole behaviour of a notification socket, in the way
the ``websockets`` library's ``Protocol`` is the whole behaviour of a WebSocket:
a transport (:mod:`livebell.live.websocket` for the WebSocket) feeds it what happened
through :meth:`Session.handle` and carries out the effects it returns, in order.
It imports no asyncio, no Django ORM and no Channels; it has no clock of its own
(the rate limit's and the storm control's are injected) and renders no text
itself (a :class:`Localizer` is injected), so every rule below is a plain unit
test (``tests/test_session.py``).

Events: :class:`Opened` or :class:`Refused` (the transport authenticated the
reader), :class:`ClientFrame`, a layer message (:data:`livebell.layer.messages.Message`),
:class:`CatchUpLoaded`, :class:`SessionChecked`, :class:`TimerFired`,
:class:`FellBehind`, :class:`SendTimedOut` and :class:`TransportClosed`.

Effects: :class:`Send` a frame, :class:`LoadCatchUp`, :class:`ChangeInbox`,
:class:`CheckSession`, :class:`ArmTimer`, :class:`Close` with a code and a
reason, and :class:`Ignore` (a layer message of another user or site, for the
transport's metrics).

States (:class:`SessionState`)::

    CONNECTING ──Opened──▶ SYNCING ──CatchUpLoaded──▶ LIVE ──(gap, resume)──▶ SYNCING
        │                                               │
        └──Refused──▶ CLOSED ◀──Close, TransportClosed──┘

The rules:

- **Only this reader's messages.** A layer message for another user's group,
  or from another site (its site key differs: two sites that share a Redis and
  a group prefix), is ignored before it is looked at: it changes neither
  ``last_id`` nor the count nor the storm control.
- **Each notification once, in id order.** ``last_id`` is the newest id the
  client has. A push at or below it is a duplicate (a catch-up sent it) and is
  dropped. A push whose ``previous_id`` is above it reveals a push that never
  arrived: the session loads a catch-up from the database instead. At most one
  catch-up is loading at a time; what arrives meanwhile (pushes, inbox changes,
  client frames) waits in the session and is handled, in order, once it loaded.
- **Counts never go back.** Every message carries the inbox revision of its
  unread count; a message older than one already seen gets the newer count.
- **No flood.** Past a burst's threshold (:mod:`livebell.live.storm`), notifications
  are held and summed up in one ``burst`` frame.
- **In the reader's language.** The language is chosen once, on
  :class:`Opened`, from what the reader's browser said (:class:`ReaderLanguage`);
  a notification rendered in another language is rendered again in it.
- **Sessions end.** A logout of this socket's session, or a session that is no
  longer the user's, closes it with 4401; a session key that names no session
  any more (re-keyed) closes it with 4001, so the client reconnects with the
  browser's current cookie. The session is checked every
  ``session_check_seconds``, at its expiry if sooner, and when the user's
  sessions may have ended; a failed check is made once more after
  ``recheck_grace_seconds`` (a password change saves the user a moment before
  Django re-keys the changer's own session).
- **Every resource is bounded.** Client frames are taken from the socket's
  bucket and from its user's; a frame over either gets a ``rate_limited`` error,
  and a socket that keeps sending over the limit is closed with 4429. A user has
  at most ``max_sockets`` sockets in the process (more are closed with 4409).
  Catch-ups draw the notifications they send from the user's budget. A reader
  that falls behind — too many messages waiting, or a send that does not
  complete — is closed with 1013; the client reconnects and catches up.

Every close code is one of :data:`CLOSE_CODES`; nothing is sent after a
:class:`Close`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from livebell import protocol
from livebell.layer.messages import InboxChange, Message, Push, RecheckSessions, SessionEnded
from livebell.live.ratelimit import TokenBucket, UserLimits
from livebell.live.storm import BurstGate

if TYPE_CHECKING:
    from livebell.payloads import NotificationPayload
    from livebell.storage.catchup import CatchUp

__all__ = [
    "CLOSE_CODES",
    "CLOSE_FLOODING",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_SESSION_CHANGED",
    "CLOSE_TOO_MANY_SOCKETS",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNAUTHENTICATED",
    "ArmTimer",
    "CatchUpLoaded",
    "ChangeInbox",
    "CheckSession",
    "ClientFrame",
    "Close",
    "Effect",
    "Event",
    "FellBehind",
    "Ignore",
    "LoadCatchUp",
    "Localizer",
    "Opened",
    "ReaderLanguage",
    "Refused",
    "Send",
    "SendTimedOut",
    "Session",
    "SessionChecked",
    "SessionState",
    "Timer",
    "TimerFired",
    "TransportClosed",
    "WrongState",
    "choose_language",
]

#: Application close code (4000-4999) telling the client to log in rather than retry.
CLOSE_UNAUTHENTICATED = 4401
#: The socket's session key names no session any more (re-keyed or flushed): the
#: client should reconnect, with the browser's current cookie.
CLOSE_SESSION_CHANGED = 4001
#: Closed for sustained abuse: the client kept sending past the rate limit. It should
#: reconnect only after its longest backoff.
CLOSE_FLOODING = 4429
#: The user already has ``MAX_SOCKETS_PER_USER`` sockets in this process.
CLOSE_TOO_MANY_SOCKETS = 4409
#: Try again later (RFC 6455): the client read too slowly, so the socket fell behind.
CLOSE_TRY_AGAIN_LATER = 1013
#: Service restart (RFC 6455): what uvicorn sends to every socket on SIGTERM; the
#: client reconnects at once, to another process, with its ``last_id``. Sent by the
#: server, never by a session.
CLOSE_SERVICE_RESTART = 1012

#: Every close a session makes, by reason (docs/protocol.md, "Close codes").
CLOSE_CODES: Mapping[str, int] = {
    "unauthenticated": CLOSE_UNAUTHENTICATED,
    "bad_ticket": CLOSE_UNAUTHENTICATED,
    "logged_out": CLOSE_UNAUTHENTICATED,
    "session_ended": CLOSE_UNAUTHENTICATED,
    "session_changed": CLOSE_SESSION_CHANGED,
    "flooding": CLOSE_FLOODING,
    "too_many_sockets": CLOSE_TOO_MANY_SOCKETS,
    "fell_behind": CLOSE_TRY_AGAIN_LATER,
    "send_timeout": CLOSE_TRY_AGAIN_LATER,
}


class SessionState(enum.Enum):
    """Where a session is in its life."""

    #: The handshake arrived; the reader is not known yet.
    CONNECTING = "connecting"
    #: Accepted; a catch-up is loading, and what arrives waits.
    SYNCING = "syncing"
    #: Caught up: pushes go to the client as they come.
    LIVE = "live"
    #: Closed, by either side; nothing more is sent.
    CLOSED = "closed"


class WrongState(RuntimeError):
    """An event the session cannot take in its current state (a transport bug)."""

    def __init__(self, event: str, expected: SessionState, actual: SessionState) -> None:
        super().__init__(f"{event}: expected state {expected.name}, got {actual.name}")
        self.expected = expected
        self.actual = actual


class Timer(enum.Enum):
    """The timers a session arms; arming one again replaces it."""

    #: A burst is being held: sum it up when it is due.
    BURST = "burst"
    #: The periodic session check (or the session's expiry).
    SESSION_CHECK = "session_check"
    #: A failed session check, made once more.
    SESSION_RECHECK = "session_recheck"


# --- What the reader's browser said about its language ---------------------------------


@dataclass(frozen=True, slots=True)
class ReaderLanguage:
    """The input :func:`choose_language` picks from, as the transport found it.

    ``cookie`` is the language cookie's value (None: none); ``accept_language``
    the ``Accept-Language`` header; ``supported`` the site's languages
    (``LANGUAGES``), ``default`` its ``LANGUAGE_CODE``; ``fallbacks`` maps a
    language to the one to use when it is not supported itself (Django's
    ``LANG_INFO``, e.g. ``zh-cn`` → ``zh-hans``).
    """

    cookie: str | None = None
    accept_language: str = ""
    supported: Sequence[str] = ()
    default: str = "en"
    fallbacks: Mapping[str, str] = field(default_factory=dict)


# Longer headers are cut at a comma before this, as Django does (a cache-busting header
# must not cost more than a short one).
_ACCEPT_LANGUAGE_MAX = 500
_CODE_MAX = 15


def choose_language(reader: ReaderLanguage) -> str:
    """The language a reader reads, chosen as Django's ``LocaleMiddleware`` would:
    the language cookie, else the browser's ``Accept-Language`` (by quality), else
    the default. A code is matched exactly, then through its fallback, then by its
    generic language (``en-gb`` → ``en``), then as any supported variant of it."""
    supported = {code.lower(): code for code in reader.supported}
    candidates = [reader.cookie] if reader.cookie else []
    candidates.extend(_accepted(reader.accept_language))
    for candidate in candidates:
        code = _supported_variant(candidate.lower(), supported, reader.fallbacks)
        if code is not None:
            return code
    return reader.default


def _accepted(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, best first (``*`` left out)."""
    if len(header) > _ACCEPT_LANGUAGE_MAX:
        header = header[: max(0, header.rfind(",", 0, _ACCEPT_LANGUAGE_MAX))]
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        code, _, params = part.strip().partition(";")
        code = code.strip()
        if not code or code == "*" or len(code) > _CODE_MAX:
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((quality, code))
    ranked.sort(key=lambda item: -item[0])  # stable: equal qualities keep their order
    return [code for _, code in ranked]


def _supported_variant(
    code: str, supported: Mapping[str, str], fallbacks: Mapping[str, str]
) -> str | None:
    generic = code.split("-")[0]
    for option in (code, fallbacks.get(code, ""), generic):
        if option and option.lower() in supported:
            return supported[option.lower()]
    for known, original in supported.items():
        if known.startswith(generic + "-"):
            return original
    return None


class Localizer(Protocol):
    """Renders a notification's text in a language (:mod:`livebell.payloads`)."""

    def frame(self, frame: str, language: str) -> str:
        """A ``notification`` frame, its text rendered in ``language``."""

    def payload(self, payload: NotificationPayload, language: str) -> NotificationPayload:
        """A notification payload, its text rendered in ``language``."""


# --- Events: what happened -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    """The reader is a user and the socket is accepted.

    ``last_id`` is the query string's value, if any. ``sockets`` is how many
    sockets the user has in this process, this one included. ``expires_in``: the
    seconds until the reader's session expires (None: unknown).
    """

    user_id: Any
    group: str
    last_id: str | None = None
    language: ReaderLanguage = field(default_factory=ReaderLanguage)
    sockets: int = 1
    user_limits: UserLimits | None = None
    expires_in: float | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """Nobody is logged in (``"unauthenticated"``), or the ticket was not valid
    (``"bad_ticket"``): the socket is accepted only to be closed with 4401."""

    reason: str = "unauthenticated"


@dataclass(frozen=True, slots=True)
class ClientFrame:
    """A frame from the client (``text`` None: a binary frame)."""

    text: str | None


@dataclass(frozen=True, slots=True)
class CatchUpLoaded:
    """The catch-up a :class:`LoadCatchUp` asked for."""

    result: CatchUp


@dataclass(frozen=True, slots=True)
class SessionChecked:
    """The result of a :class:`CheckSession`: whether the session is still the user's,
    whether its key still names a session at all, and the seconds until it expires."""

    valid: bool
    exists: bool = True
    expires_in: float | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """An :class:`ArmTimer` delay passed."""

    timer: Timer


@dataclass(frozen=True, slots=True)
class FellBehind:
    """More messages wait for this reader than the transport may hold."""


@dataclass(frozen=True, slots=True)
class SendTimedOut:
    """A frame could not be sent in time: the client stopped reading."""


@dataclass(frozen=True, slots=True)
class TransportClosed:
    """The socket closed (the client left, or the server closed it)."""

    code: int = 1006


Event = (
    Opened
    | Refused
    | ClientFrame
    | Message
    | CatchUpLoaded
    | SessionChecked
    | TimerFired
    | FellBehind
    | SendTimedOut
    | TransportClosed
)


# --- Effects: what the transport must do, in order -----------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``frame`` to the client."""

    frame: str


@dataclass(frozen=True, slots=True)
class LoadCatchUp:
    """Load what came after ``after`` (None: only the count), at most ``limit``
    notifications, and hand it back as :class:`CatchUpLoaded`."""

    after: int | None
    limit: int


@dataclass(frozen=True, slots=True)
class ChangeInbox:
    """Apply a client's read-state change (:mod:`livebell.inbox`); its event follows
    as a layer message."""

    change: protocol.MarkRead | protocol.MarkUnread | protocol.MarkAllRead


@dataclass(frozen=True, slots=True)
class CheckSession:
    """Check the session (or token) and hand the result back as :class:`SessionChecked`."""


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """Hand back ``TimerFired(timer)`` in ``delay`` seconds, replacing that timer if armed."""

    timer: Timer
    delay: float


@dataclass(frozen=True, slots=True)
class Close:
    """Close the socket with ``code``; ``reason`` (a key of :data:`CLOSE_CODES`) says
    why, for the logs and metrics."""

    code: int
    reason: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Ignore:
    """A layer message was not for this reader: ``"other_site"`` or ``"other_user"``."""

    reason: str


Effect = Send | LoadCatchUp | ChangeInbox | CheckSession | ArmTimer | Close | Ignore

# Layer messages and client frames that wait while a catch-up loads.
_Waiting = Push | InboxChange | ClientFrame


class Session:
    """The state of one reader's socket.

    Args:
        max_frame_bytes: the largest client frame accepted.
        rate_limit: the bucket this socket's client frames are taken from.
        session_hash: :func:`livebell.auth.session_hash` of the socket's session.
        site: this site's key (:func:`livebell.layer.groups.site_key`).
        flood: one token per frame refused by a rate limit; when it is empty the
            socket is closed with 4429. None: never closed for that.
        max_sockets: most sockets of one user in the process; None: no cap.
        max_waiting: most messages waiting while a catch-up loads; None: no cap.
        resume_max: most notifications sent by one catch-up.
        burst: the storm control of this socket's notifications (None: none).
        session_check_seconds: how often the session is checked (None: only when
            a layer message asks).
        recheck_grace_seconds: the pause before a failed check is made again
            (0: closed at the first failure).
        localizer: renders text in the reader's language (None: frames go as they are).
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int,
        rate_limit: TokenBucket,
        session_hash: str,
        site: str,
        flood: TokenBucket | None = None,
        max_sockets: int | None = None,
        max_waiting: int | None = None,
        resume_max: int = 500,
        burst: BurstGate | None = None,
        session_check_seconds: float | None = None,
        recheck_grace_seconds: float = 0.0,
        localizer: Localizer | None = None,
    ) -> None:
        self.state = SessionState.CONNECTING
        self.user_id: Any = None
        #: The user's group (from :class:`Opened`): layer messages for another are ignored.
        self.group: str | None = None
        #: The reader's language (from :class:`Opened`).
        self.language = ""
        self.site = site
        self.session_hash = session_hash
        self.max_frame_bytes = max_frame_bytes
        self.rate_limit = rate_limit
        self.flood = flood
        self.max_sockets = max_sockets
        self.max_waiting = max_waiting
        self.resume_max = resume_max
        self.burst = burst
        self.session_check_seconds = session_check_seconds
        self.recheck_grace_seconds = recheck_grace_seconds
        self.localizer = localizer
        #: The limits shared by the user's sockets in this process (from :class:`Opened`).
        self.user_limits: UserLimits | None = None
        #: The error code the last client frame got (``rate_limited``, ``bad_json``…),
        #: or None if it was acted on.
        self.last_error: str | None = None
        #: The close made, once closed by the session.
        self.close_effect: Close | None = None
        #: The newest notification id the client has.
        self.last_id = 0
        #: The newest unread count sent, and the inbox revision it is from.
        self.unread_count = 0
        self.revision = -1
        self._waiting: list[_Waiting] = []
        self._rechecking = False
        self._handlers: dict[type, Callable[[Any], list[Effect]]] = {
            Push: self._push,
            InboxChange: self._inbox_change,
            ClientFrame: self._client_frame,
            TimerFired: self._timer_fired,
            CatchUpLoaded: self._caught_up,
            SessionChecked: self._session_checked,
            SessionEnded: self._session_ended,
            RecheckSessions: self._recheck,
            Opened: self._opened,
            Refused: self._refused,
            FellBehind: self._fell_behind,
            SendTimedOut: self._send_timed_out,
            TransportClosed: self._transport_closed,
        }

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    def handle(self, event: Event) -> list[Effect]:
        """Take one event; the effects the transport must carry out, in order.

        Raises:
            WrongState: the event cannot happen in this state (a transport bug).
            TypeError: not an :data:`Event`.
        """
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"not a session event: {event!r}")
        return handler(event)

    # The session's life.

    def _opened(self, event: Opened) -> list[Effect]:
        self._expect("Opened", SessionState.CONNECTING)
        self.user_id, self.group = event.user_id, event.group
        self.language = choose_language(event.language)
        if self.max_sockets is not None and event.sockets > self.max_sockets:
            return self._close("too_many_sockets")
        self.user_limits = event.user_limits
        effects: list[Effect] = []
        after: int | None = None
        if event.last_id is not None:
            try:
                after = protocol.parse_last_id(event.last_id)
            except protocol.ProtocolError as error:
                effects.append(Send(protocol.error_frame(error)))
        effects.append(self._load_catch_up(after))
        effects.extend(self._arm_session_check(event.expires_in))
        return effects

    def _refused(self, event: Refused) -> list[Effect]:
        self._expect("Refused", SessionState.CONNECTING)
        return self._close(event.reason)

    def _transport_closed(self, event: TransportClosed) -> list[Effect]:
        self.state = SessionState.CLOSED
        self._waiting.clear()
        return []

    def _close(self, reason: str) -> list[Effect]:
        self.state = SessionState.CLOSED
        self._waiting.clear()
        self.close_effect = Close(CLOSE_CODES[reason], reason)
        return [self.close_effect]

    def _expect(self, event: str, expected: SessionState) -> None:
        if self.state is not expected:
            raise WrongState(event, expected, self.state)

    # Catch-ups.

    def catch_up_limit(self) -> int:
        """How many notifications the next catch-up may send: ``resume_max``, or
        less when the user's catch-up budget is lower."""
        if self.user_limits is None:
            return self.resume_max
        return min(self.resume_max, self.user_limits.catch_up.available())

    def _load_catch_up(self, after: int | None) -> LoadCatchUp:
        self.state = SessionState.SYNCING
        return LoadCatchUp(after, self.catch_up_limit())

    def _caught_up(self, event: CatchUpLoaded) -> list[Effect]:
        if self.closed:
            return []
        self._expect("CatchUpLoaded", SessionState.SYNCING)
        result = event.result
        self.state = SessionState.LIVE
        if self.user_limits is not None:
            self.user_limits.catch_up.spend(len(result.notifications))
        count = self._count(result.unread_count, result.revision)
        effects: list[Effect] = [
            Send(protocol.notification_frame(self._localized(payload), count))
            for payload in result.notifications
        ]
        self.last_id = result.last_id
        effects.append(
            Send(protocol.synced_frame(result.last_id, count, truncated=result.truncated))
        )
        waiting, self._waiting = self._waiting, []
        for message in waiting:
            effects.extend(self.handle(message))
        return effects

    def _wait(self, message: _Waiting) -> list[Effect]:
        """Keep ``message`` until the catch-up loading has loaded."""
        if self.max_waiting is not None and len(self._waiting) >= self.max_waiting:
            return self._close("fell_behind")
        self._waiting.append(message)
        return []

    # Client frames.

    def _client_frame(self, event: ClientFrame) -> list[Effect]:
        if self.closed:
            return []
        if self.state is SessionState.SYNCING:
            return self._wait(event)
        self._expect("ClientFrame", SessionState.LIVE)
        self.last_error = None
        try:
            if not self._allowed():
                if self.flood is not None and not self.flood.allow():
                    self.last_error = "rate_limited"
                    return self._close("flooding")
                raise protocol.ProtocolError(
                    "rate_limited", "Too many frames; slow down and retry later."
                )
            frame = protocol.parse_client_frame(event.text, max_bytes=self.max_frame_bytes)
        except protocol.ProtocolError as error:
            self.last_error = error.code
            return [Send(protocol.error_frame(error))]
        if isinstance(frame, protocol.Ping):
            return [Send(protocol.pong_frame())]
        if isinstance(frame, protocol.Resume):
            return [self._load_catch_up(frame.last_id)]
        return [ChangeInbox(frame)]

    def _allowed(self) -> bool:
        """Take a frame from the socket's bucket, then from the user's."""
        if not self.rate_limit.allow():
            return False
        return self.user_limits is None or self.user_limits.frames.allow()

    # The transport's backlog.

    def _fell_behind(self, event: FellBehind) -> list[Effect]:
        return [] if self.closed else self._close("fell_behind")

    def _send_timed_out(self, event: SendTimedOut) -> list[Effect]:
        return [] if self.closed else self._close("send_timeout")

    # Messages from the channel layer.

    def _foreign(self, message: Message) -> bool:
        """Whether ``message`` is another site's or another user's."""
        return message.site != self.site or message.group != self.group

    def _ignore(self, message: Message) -> list[Effect]:
        return [Ignore("other_site" if message.site != self.site else "other_user")]

    def _push(self, message: Push) -> list[Effect]:
        if self.closed:
            return []
        if message.site != self.site or message.group != self.group:
            return self._ignore(message)
        if self.state is SessionState.SYNCING:
            return self._wait(message)
        self._expect("Push", SessionState.LIVE)
        if message.id <= self.last_id:
            return []  # already sent by a catch-up
        if message.previous_id > self.last_id:
            # A push before this one never arrived: the database has it.
            return [self._load_catch_up(self.last_id)]
        self.last_id = message.id
        if self.burst is not None and not self.burst.admit():
            # Held: the burst frame will say it arrived, with the newest id and count.
            self._count(message.unread_count, message.revision)
            due = self.burst.due_in()
            if self.burst.held == 1 and due is not None:
                return [ArmTimer(Timer.BURST, due)]
            return []
        frame = message.frame
        if message.language is not None and message.language != self.language:
            # A typed notification, rendered in the site's language: in the reader's.
            frame = self._localized_frame(frame)
        return [self._with_fresh_count(frame, message.unread_count, message.revision)]

    def _inbox_change(self, message: InboxChange) -> list[Effect]:
        if self.closed:
            return []
        if self._foreign(message):
            return self._ignore(message)
        if self.state is SessionState.SYNCING:
            return self._wait(message)
        self._expect("InboxChange", SessionState.LIVE)
        return [self._with_fresh_count(message.frame, message.unread_count, message.revision)]

    def _session_ended(self, message: SessionEnded) -> list[Effect]:
        if self.closed:
            return []
        if self._foreign(message):
            return self._ignore(message)
        if message.session_hash != self.session_hash:
            return []
        return self._close("logged_out")

    def _recheck(self, message: RecheckSessions) -> list[Effect]:
        if self.closed:
            return []
        return self._ignore(message) if self._foreign(message) else [CheckSession()]

    # Timers and session checks.

    def _timer_fired(self, event: TimerFired) -> list[Effect]:
        if self.closed:
            return []
        if event.timer is Timer.BURST:
            return self._burst_due()
        if event.timer is Timer.SESSION_RECHECK:
            self._rechecking = True
        return [CheckSession()]

    def _burst_due(self) -> list[Effect]:
        if self.burst is None or not self.burst.held:
            return []
        due = self.burst.due_in()
        if due:
            return [ArmTimer(Timer.BURST, due)]
        held = self.burst.release()
        return [Send(protocol.burst_frame(held, self.last_id, self.unread_count))]

    def _session_checked(self, event: SessionChecked) -> list[Effect]:
        if self.closed:
            return []
        rechecking, self._rechecking = self._rechecking, False
        if not event.valid:
            if not rechecking and self.recheck_grace_seconds > 0:
                return [ArmTimer(Timer.SESSION_RECHECK, self.recheck_grace_seconds)]
            return self._close("session_ended" if event.exists else "session_changed")
        return self._arm_session_check(event.expires_in)

    def _arm_session_check(self, expires_in: float | None) -> list[Effect]:
        delays = [d for d in (self.session_check_seconds, expires_in) if d is not None]
        if not delays:
            return []
        return [ArmTimer(Timer.SESSION_CHECK, max(0.0, min(delays)))]

    # Counts and languages.

    def _count(self, unread_count: int, revision: int) -> int:
        """The count to show with a message of ``revision``: the newest one seen."""
        if revision >= self.revision:
            self.unread_count, self.revision = unread_count, revision
        return self.unread_count

    def _with_fresh_count(self, frame: str, unread_count: int, revision: int) -> Send:
        count = self._count(unread_count, revision)
        return Send(frame if count == unread_count else protocol.with_unread_count(frame, count))

    def _localized_frame(self, frame: str) -> str:
        return frame if self.localizer is None else self.localizer.frame(frame, self.language)

    def _localized(self, payload: NotificationPayload) -> NotificationPayload:
        if self.localizer is None:
            return payload
        return self.localizer.payload(payload, self.language)
