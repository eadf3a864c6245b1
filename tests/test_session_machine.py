"""The session's invariants, under every order of events hypothesis can find.

A model of the database and the channel layer drives one :class:`Session` the
way a transport does (each effect carried out, catch-ups answered from the
model), and checks, after every step: nothing is done after a close; at most one
catch-up is loading; the notifications sent after a catch-up come in id order;
and every close is one of the documented codes, with its documented reason.
"""

from __future__ import annotations

import orjson
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from livebell import protocol
from livebell.layer.messages import InboxChange, Push, RecheckSessions, SessionEnded
from livebell.live.ratelimit import TokenBucket
from livebell.live.session import (
    CLOSE_CODES,
    ArmTimer,
    CatchUpLoaded,
    ChangeInbox,
    CheckSession,
    ClientFrame,
    Close,
    Effect,
    Event,
    FellBehind,
    Ignore,
    LoadCatchUp,
    Opened,
    Send,
    SendTimedOut,
    Session,
    SessionChecked,
    Timer,
    TimerFired,
    TransportClosed,
)
from livebell.live.storm import BurstGate
from livebell.storage.catchup import CatchUp
from tests.units.fakes import FakeClock

SITE = "5173e0000000"
CLIENT_FRAMES = [
    '{"type": "ping"}',
    '{"type": "resume", "last_id": 0}',
    '{"type": "resume", "last_id": 3}',
    '{"type": "mark_read", "ids": [1]}',
    "{bad",
    None,
]


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.session = Session(
            max_frame_bytes=4096,
            rate_limit=TokenBucket(1, 5, clock=self.clock),
            session_hash="mine",
            site=SITE,
            flood=TokenBucket(1, 3, clock=self.clock),
            max_waiting=8,
            resume_max=4,
            burst=BurstGate(3, window=10, quiet=1, longest=5, clock=self.clock),
            session_check_seconds=300,
            recheck_grace_seconds=0.3,
        )
        self.stored: list[int] = []  # the user's notification ids, in the database
        self.layer: list[Push] = []  # pushes on their way, in order
        self.revision = 0
        self.opened = False
        self.closed = False  # a Close effect was returned, or the transport closed
        self.loading: int | bool | None = False  # the catch-up asked for (False: none)
        self.floor = -1  # the newest notification id sent since the last catch-up
        self.checking = False

    # The transport's side.

    def handle(self, event: Event) -> None:
        effects = self.session.handle(event)
        if self.closed:
            assert effects == [], f"after the close: {effects}"
        for effect in effects:
            self.carry_out(effect)

    def carry_out(self, effect: Effect) -> None:
        assert not self.closed, f"an effect after the close: {effect}"
        if isinstance(effect, Close):
            assert CLOSE_CODES.get(effect.reason) == effect.code, effect
            self.closed = True
        elif isinstance(effect, LoadCatchUp):
            assert self.loading is False, "a second catch-up while one is loading"
            self.loading = effect.after
            self.floor = -1
        elif isinstance(effect, Send):
            frame = orjson.loads(effect.frame)
            if frame["type"] == "notification":
                assert frame["notification"]["id"] > self.floor, (frame, self.floor)
                self.floor = frame["notification"]["id"]
            elif frame["type"] in ("synced", "burst"):
                assert frame["last_id"] >= self.floor, (frame, self.floor)
                self.floor = frame["last_id"]
        elif isinstance(effect, CheckSession):
            self.checking = True
        else:
            assert isinstance(effect, ArmTimer | ChangeInbox | Ignore), effect

    # Rules.

    @precondition(lambda self: not self.opened)
    @rule(last_id=st.sampled_from([None, "0", "2", "-1"]))
    def open(self, last_id: str | None) -> None:
        self.opened = True
        self.handle(Opened("bob", "g", last_id))

    @rule()
    def store(self) -> None:
        previous = self.stored[-1] if self.stored else 0
        self.stored.append(previous + 1)
        self.revision += 1
        frame = protocol.notification_frame({"id": previous + 1}, len(self.stored))  # type: ignore[typeddict-item]
        self.layer.append(
            Push("g", previous + 1, previous, len(self.stored), self.revision, frame, site=SITE)
        )

    @precondition(lambda self: self.opened and self.layer)
    @rule(lost=st.booleans())
    def deliver(self, lost: bool) -> None:
        push = self.layer.pop(0)
        if not lost:
            self.handle(push)

    @precondition(lambda self: self.opened)
    @rule(kind=st.sampled_from(["other_site", "other_user", "inbox", "ended", "recheck"]))
    def layer_message(self, kind: str) -> None:
        read = protocol.encode({"type": "read", "ids": "all", "unread_count": 0})
        self.revision += 1
        message: Event = {
            "other_site": Push("g", 99, 98, 1, 1, "{}", site="0ther5173e00"),
            "other_user": Push("g.other", 99, 98, 1, 1, "{}", site=SITE),
            "inbox": InboxChange("g", 0, self.revision, read, SITE),
            "ended": SessionEnded("g", "another", SITE),
            "recheck": RecheckSessions("g", SITE),
        }[kind]
        self.handle(message)

    @precondition(lambda self: self.loading is not False)
    @rule()
    def catch_up_loads(self) -> None:
        after, self.loading = self.loading, False
        missed = [] if after is None else [i for i in self.stored if i > after]  # type: ignore[operator]
        newest = self.stored[-1] if self.stored else 0
        result = CatchUp(
            [{"id": i} for i in missed[-4:]],  # type: ignore[misc]
            newest,
            len(self.stored),
            self.revision,
            truncated=len(missed) > 4,
        )
        self.handle(CatchUpLoaded(result))

    @precondition(lambda self: self.opened)
    @rule(text=st.sampled_from(CLIENT_FRAMES))
    def client_frame(self, text: str | None) -> None:
        self.handle(ClientFrame(text))

    @precondition(lambda self: self.opened)
    @rule(timer=st.sampled_from(list(Timer)), seconds=st.sampled_from([0, 0.5, 2]))
    def timer_fires(self, timer: Timer, seconds: float) -> None:
        self.clock.now += seconds
        self.handle(TimerFired(timer))

    @precondition(lambda self: self.checking)
    @rule(valid=st.booleans(), exists=st.booleans())
    def session_checked(self, valid: bool, exists: bool) -> None:
        self.checking = False
        self.handle(SessionChecked(valid, exists))

    @precondition(lambda self: self.opened)
    @rule(event=st.sampled_from([FellBehind(), SendTimedOut(), TransportClosed(1000)]))
    def transport_trouble(self, event: Event) -> None:
        self.handle(event)
        self.closed = True

    @invariant()
    def closed_means_closed(self) -> None:
        if self.closed:
            assert self.session.closed


SessionMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_the_session_keeps_its_invariants = SessionMachine.TestCase
