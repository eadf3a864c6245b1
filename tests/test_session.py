"""The session's rules (:mod:`livebell.live.session`): events in, effects out, no I/O."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from livebell import protocol
from livebell.layer.messages import InboxChange, Push, RecheckSessions, SessionEnded
from livebell.live.ratelimit import TokenBucket, UserLimits
from livebell.live.session import (
    CLOSE_FLOODING,
    CLOSE_SESSION_CHANGED,
    CLOSE_TOO_MANY_SOCKETS,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHENTICATED,
    ArmTimer,
    CatchUpLoaded,
    ChangeInbox,
    CheckSession,
    ClientFrame,
    Close,
    Event,
    FellBehind,
    Ignore,
    LoadCatchUp,
    Opened,
    Refused,
    Send,
    SendTimedOut,
    Session,
    SessionChecked,
    SessionState,
    Timer,
    TimerFired,
    WrongState,
)
from livebell.live.storm import BurstGate
from livebell.storage.catchup import CatchUp
from tests.units.fakes import FakeClock


def step(session: Session, event: Event) -> Any:
    """The one effect of ``event`` (None: none)."""
    effects = session.handle(event)
    assert len(effects) <= 1, effects
    return effects[0] if effects else None


# --- the session's rules ------------------------------------------------------------

SITE = "5173e0000000"  # the site key of the connections below and of their messages


def connection(*, burst: int = 30) -> Session:
    return Session(
        max_frame_bytes=4096,
        rate_limit=TokenBucket(0.001, burst, clock=FakeClock()),
        session_hash="mine",
        site=SITE,
    )


def live(last_id: int = 10, unread: int = 2, revision: int = 5) -> Session:
    c = connection()
    assert c.handle(Opened("bob", "g", None)) == [LoadCatchUp(None, 500)]
    frames = c.handle(CatchUpLoaded(CatchUp([], last_id, unread, revision, truncated=False)))
    assert frames == [Send(protocol.synced_frame(last_id, unread))]
    assert c.state is SessionState.LIVE
    return c


def push(id: int, previous_id: int, unread: int, revision: int) -> Push:
    frame = protocol.encode({"type": "notification", "id": id, "unread_count": unread})
    return Push("g", id, previous_id, unread, revision, frame, site=SITE)


def sent(decision: Any) -> dict[str, Any]:
    assert isinstance(decision, Send), decision
    frame: dict[str, Any] = orjson.loads(decision.frame)
    return frame


def test_opening_catches_up_from_the_query_strings_last_id() -> None:
    c = connection()
    assert c.handle(Opened("bob", "g", "42")) == [LoadCatchUp(42, 500)]
    assert c.state is SessionState.SYNCING
    bad = connection()
    error, catch_up = bad.handle(Opened("bob", "g", "-3"))
    assert sent(error)["code"] == "bad_last_id" and catch_up == LoadCatchUp(None, 500)


def test_a_catch_up_sends_the_missed_then_synced_with_the_newest_id() -> None:
    c = connection()
    c.handle(Opened("bob", "g", "0"))
    notes: Any = [{"id": 3}, {"id": 4}]
    frames = c.handle(
        CatchUpLoaded(CatchUp(notes, last_id=4, unread_count=2, revision=9, truncated=True))
    )
    assert [sent(f)["type"] for f in frames] == ["notification", "notification", "synced"]
    assert sent(frames[-1]) == {
        "type": "synced",
        "last_id": 4,
        "unread_count": 2,
        "truncated": True,
    }
    assert c.last_id == 4


def test_pushes_once_each_in_order_and_a_gap_means_a_catch_up() -> None:
    c = live(last_id=10)
    assert step(c, push(10, 9, 2, 5)) is None  # already sent by the catch-up
    assert sent(step(c, push(11, 10, 3, 6)))["id"] == 11
    assert step(c, push(11, 10, 3, 6)) is None  # the same push twice
    assert step(c, push(13, 12, 5, 8)) == LoadCatchUp(11, 500)  # 12 never arrived
    assert c.state is SessionState.SYNCING
    # While the catch-up loads, what arrives waits, and follows its frames in order.
    assert step(c, push(14, 13, 6, 9)) is None
    frames = c.handle(CatchUpLoaded(CatchUp([], 13, 5, 8, truncated=False)))
    assert [sent(f)["type"] for f in frames] == ["synced", "notification"]
    assert sent(frames[1])["id"] == 14 and c.last_id == 14


def test_a_count_older_than_one_already_shown_is_replaced_by_the_newer() -> None:
    c = live(last_id=10, unread=2, revision=5)
    assert sent(step(c, push(11, 10, 3, 6)))["unread_count"] == 3
    # Mark-all-read (revision 8, count 0) arrives before a push stored before it (7).
    read = protocol.encode({"type": "read", "ids": "all", "unread_count": 0})
    assert sent(step(c, InboxChange("g", 0, 8, read, SITE)))["unread_count"] == 0
    assert sent(step(c, push(12, 11, 4, 7))) == {"type": "notification", "id": 12,
                                                "unread_count": 0}  # fmt: skip
    assert sent(step(c, push(13, 12, 1, 9)))["unread_count"] == 1


def test_client_frames_become_decisions() -> None:
    c = live()
    assert sent(step(c, ClientFrame('{"type": "ping"}'))) == {"type": "pong"}
    assert step(c, ClientFrame('{"type": "mark_read", "ids": [2, 1]}')) == ChangeInbox(
        protocol.MarkRead([1, 2])
    )
    assert sent(step(c, ClientFrame("{bad")))["code"] == "bad_json"
    assert step(c, ClientFrame('{"type": "resume", "last_id": 3}')) == LoadCatchUp(3, 500)
    assert c.state is SessionState.SYNCING


def test_the_rate_limit_answers_with_an_error() -> None:
    c = Session(
        max_frame_bytes=4096,
        rate_limit=TokenBucket(0.001, 2, clock=FakeClock()),
        session_hash="",
        site=SITE,
    )
    c.handle(Opened("bob", "g", None))
    c.handle(CatchUpLoaded(CatchUp([], 0, 0, 0, truncated=False)))
    replies = [step(c, ClientFrame('{"type": "ping"}')) for _ in range(3)]
    assert [sent(r)["type"] for r in replies] == ["pong", "pong", "error"]
    assert sent(replies[-1])["code"] == "rate_limited"


def test_nobody_is_refused_with_4401_and_then_nothing_happens() -> None:
    c = connection()
    assert step(c, Refused()) == Close(CLOSE_UNAUTHENTICATED)
    assert step(c, ClientFrame('{"type": "ping"}')) is None
    assert step(c, push(1, 0, 1, 1)) is None
    with pytest.raises(WrongState, match="Opened: expected state CONNECTING, got CLOSED"):
        c.handle(Opened("bob", "g", None))


def test_sessions_end_the_socket() -> None:
    c = live()
    assert step(c, SessionEnded("g", "another session", SITE)) is None
    assert step(c, RecheckSessions("g", SITE)) == CheckSession()
    assert step(c, SessionChecked(True, True)) is None
    assert step(c, SessionEnded("g", "mine", SITE)) == Close(CLOSE_UNAUTHENTICATED)
    assert (
        c.closed
        and step(c, push(11, 10, 3, 6)) is None
        and step(c, RecheckSessions("g", SITE)) is None
    )

    gone = live()
    assert step(gone, SessionChecked(False, True)) == Close(CLOSE_UNAUTHENTICATED)
    rekeyed = live()
    assert step(rekeyed, SessionChecked(False, False)) == Close(CLOSE_SESSION_CHANGED)


def test_a_message_for_another_user_or_site_is_ignored_and_a_lower_id_still_arrives() -> None:
    c = live(last_id=6, unread=2, revision=5)
    other_user = Push("g.other", 38, 37, 9, 40, '{"type":"notification"}', site=SITE)
    other_site = other_user._replace(group="g", site="0ther5173e00")
    assert step(c, other_user) == Ignore("other_user")
    assert step(c, other_site) == Ignore("other_site")
    read = protocol.encode({"type": "read", "ids": "all", "unread_count": 0})
    assert step(c, InboxChange("g", 0, 41, read, "0ther5173e00")) == Ignore("other_site")
    # A logout on the other site, of a session whose hash happens to be this one's.
    assert step(c, SessionEnded("g", "mine", "0ther5173e00")) == Ignore("other_site")
    assert step(c, RecheckSessions("g.other", SITE)) == Ignore("other_user")
    assert (c.last_id, c.unread_count, c.revision, c.state) == (6, 2, 5, SessionState.LIVE)
    # The site's own next notification, id 7, is not taken for a duplicate of 38.
    assert sent(step(c, push(7, 6, 3, 6))) == {"type": "notification", "id": 7, "unread_count": 3}
    assert c.last_id == 7


def live_with_storm_control(clock: FakeClock) -> Session:
    """A live connection (caught up to id 10) whose storm control admits 2 in 10 s."""
    c = Session(
        max_frame_bytes=4096,
        rate_limit=TokenBucket(1, 1, clock=clock),
        session_hash="",
        site=SITE,
        burst=BurstGate(2, window=10, quiet=1, longest=5, clock=clock),
    )
    c.handle(Opened("bob", "g", None))
    c.handle(CatchUpLoaded(CatchUp([], 10, 0, 0, truncated=False)))
    return c


def test_ignored_messages_do_not_count_toward_a_burst() -> None:
    clock = FakeClock()
    c = live_with_storm_control(clock)
    foreign = [push(100 + i, 99 + i, 1, 1)._replace(site="0ther5173e00") for i in range(5)]
    assert [step(c, p) for p in foreign] == [Ignore("other_site")] * 5
    # Two notifications fit under the threshold: both are sent, none is held.
    assert [type(step(c, push(11 + i, 10 + i, i + 1, i + 1))) for i in range(2)] == [Send, Send]


# --- the socket's limits (fake clock) -------------------------------------------------


def limited(
    clock: FakeClock, *, user: UserLimits | None = None, sockets: int = 1, flood: int = 3
) -> tuple[Session, list[Any]]:
    c = Session(
        max_frame_bytes=4096,
        rate_limit=TokenBucket(1, 2, clock=clock),
        session_hash="",
        site=SITE,
        flood=TokenBucket(1, flood, clock=clock),
        max_sockets=2,
        max_waiting=3,
        resume_max=500,
    )
    return c, c.handle(Opened("bob", "g", None, user_limits=user, sockets=sockets))


def test_a_socket_that_keeps_flooding_is_closed_with_4429() -> None:
    clock = FakeClock()
    c, _ = limited(clock)
    c.handle(CatchUpLoaded(CatchUp([], 0, 0, 0, truncated=False)))
    replies = [step(c, ClientFrame('{"type": "ping"}')) for _ in range(5)]
    assert [sent(r)["type"] for r in replies] == ["pong", "pong", "error", "error", "error"]
    assert step(c, ClientFrame('{"type": "ping"}')) == Close(CLOSE_FLOODING)
    assert c.closed and step(c, ClientFrame('{"type": "ping"}')) is None


def test_a_brief_burst_over_the_limit_is_forgiven() -> None:
    clock = FakeClock()
    c, _ = limited(clock)
    c.handle(CatchUpLoaded(CatchUp([], 0, 0, 0, truncated=False)))
    for _ in range(20):  # two frames a second: one over the rate, forgiven each second
        step(c, ClientFrame('{"type": "ping"}'))
        step(c, ClientFrame('{"type": "ping"}'))
        clock.now += 1
    assert not c.closed


def test_the_users_bucket_is_shared_by_their_sockets() -> None:
    clock = FakeClock()
    user = UserLimits(TokenBucket(1, 3, clock=clock), TokenBucket(1, 10, clock=clock))
    a, _ = limited(clock, user=user)
    b, _ = limited(clock, user=user, sockets=2)
    for c in (a, b):
        c.handle(CatchUpLoaded(CatchUp([], 0, 0, 0, truncated=False)))
    replies = [step(a, ClientFrame('{"type": "ping"}')), step(a, ClientFrame('{"type": "ping"}'))]
    replies.append(step(b, ClientFrame('{"type": "ping"}')))
    replies.append(
        step(b, ClientFrame('{"type": "ping"}'))
    )  # b's own bucket has room; the user's not
    assert [sent(r)["type"] for r in replies] == ["pong", "pong", "pong", "error"]


def test_a_socket_past_the_users_cap_is_closed_with_4409() -> None:
    c, decisions = limited(FakeClock(), sockets=3)
    assert decisions == [Close(CLOSE_TOO_MANY_SOCKETS)] and c.closed
    assert decisions[0].reason == "too_many_sockets"


def test_catch_ups_draw_from_the_users_budget() -> None:
    clock = FakeClock()
    user = UserLimits(TokenBucket(1, 3, clock=clock), TokenBucket(10, 700, clock=clock))
    c, _ = limited(clock, user=user)
    assert c.catch_up_limit() == 500
    notes: Any = [{"id": i} for i in range(500)]
    c.handle(CatchUpLoaded(CatchUp(notes, 500, 0, 0, truncated=False)))
    assert c.catch_up_limit() == 200  # 700 - 500
    clock.now += 10  # +100
    assert c.catch_up_limit() == 300
    assert step(c, ClientFrame('{"type": "resume", "last_id": 0}')) == LoadCatchUp(0, 300)
    c.handle(CatchUpLoaded(CatchUp(notes, 500, 0, 0, truncated=True)))
    assert c.catch_up_limit() == 0  # in debt: the next catch-up sends only synced


def test_a_socket_that_falls_behind_or_stops_reading_is_closed_with_1013() -> None:
    c, _ = limited(FakeClock())  # a catch-up is loading: 3 messages may wait, not 4
    assert [step(c, push(i, i - 1, 1, i)) for i in (1, 2, 3)] == [None] * 3
    assert step(c, push(4, 3, 1, 4)) == Close(CLOSE_TRY_AGAIN_LATER) and c.closed
    c, _ = limited(FakeClock())
    assert step(c, FellBehind()) == Close(CLOSE_TRY_AGAIN_LATER)
    assert step(c, FellBehind()) is None
    d, _ = limited(FakeClock())
    assert step(d, SendTimedOut()) == Close(CLOSE_TRY_AGAIN_LATER) and d.closed


def test_a_connection_sends_one_burst_frame_for_a_flood() -> None:
    clock = FakeClock()
    c = live_with_storm_control(clock)
    decisions = [step(c, push(11 + i, 10 + i, i + 1, i + 1)) for i in range(20)]
    assert [type(d).__name__ for d in decisions[:3]] == ["Send", "Send", "ArmTimer"]
    assert decisions[2] == ArmTimer(Timer.BURST, 1.0) and decisions[3:] == [None] * 17
    assert step(c, TimerFired(Timer.BURST)) == ArmTimer(
        Timer.BURST, 1.0
    )  # not quiet yet: the clock did not move
    clock.now += 1
    assert sent(step(c, TimerFired(Timer.BURST))) == {
        "type": "burst",
        "count": 18,
        "last_id": 30,
        "unread_count": 20,
    }
    assert step(c, TimerFired(Timer.BURST)) is None
    assert step(c, push(30, 29, 20, 20)) is None  # the ids held count as sent


# --- what the session owns now: language, session checks, what waits -----------------

from livebell.live.session import CLOSE_CODES, ReaderLanguage, choose_language  # noqa: E402

LANGUAGES = ("en", "zh-hans")
ZH_FALLBACK = {"zh-cn": "zh-hans"}


@pytest.mark.parametrize(
    ("cookie", "header", "language"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.5", "zh-hans"),  # through the fallback
        ("zh-hans", "en", "zh-hans"),  # the cookie first
        ("xx", "en-GB", "en"),  # an unknown cookie; the generic language
        (None, "de;q=1,*;q=0.5", "en"),  # nothing supported: the default
        (None, "en;q=0.1,zh-hans;q=0.9", "zh-hans"),  # by quality
        (None, "zh-tw", "zh-hans"),  # any variant of the generic language
    ],
)
def test_the_readers_language_is_chosen_as_djangos_locale_middleware_does(
    cookie: str | None, header: str, language: str
) -> None:
    reader = ReaderLanguage(cookie, header, LANGUAGES, "en", ZH_FALLBACK)
    assert choose_language(reader) == language


class Uppercase:
    def frame(self, frame: str, language: str) -> str:
        return frame.replace("hello", f"HELLO-{language}")

    def payload(self, payload: Any, language: str) -> Any:
        return {**payload, "text": f"HELLO-{language}"}


def test_notifications_of_another_language_are_rendered_in_the_readers() -> None:
    c = Session(
        max_frame_bytes=4096,
        rate_limit=TokenBucket(1, 30, clock=FakeClock()),
        session_hash="",
        site=SITE,
        localizer=Uppercase(),
    )
    chinese = ReaderLanguage(None, "zh-CN", LANGUAGES, "en", ZH_FALLBACK)
    c.handle(Opened("bob", "g", None, language=chinese))
    frames = c.handle(CatchUpLoaded(CatchUp([{"id": 1}], 1, 1, 1, truncated=False)))  # type: ignore[list-item]
    assert sent(frames[0])["notification"]["text"] == "HELLO-zh-hans"
    frame = protocol.encode({"type": "notification", "text": "hello", "unread_count": 2})
    typed = Push("g", 2, 1, 2, 2, frame, language="en", site=SITE)
    assert sent(step(c, typed))["text"] == "HELLO-zh-hans"
    plain = Push("g", 3, 2, 3, 3, frame, language=None, site=SITE)
    assert sent(step(c, plain))["text"] == "hello"


def checked_session(grace: float = 0.3) -> Session:
    return Session(
        max_frame_bytes=4096,
        rate_limit=TokenBucket(1, 30, clock=FakeClock()),
        session_hash="mine",
        site=SITE,
        session_check_seconds=300,
        recheck_grace_seconds=grace,
    )


def test_the_session_is_checked_periodically_at_its_expiry_and_once_more_on_failure() -> None:
    c = checked_session()
    effects = c.handle(Opened("bob", "g", None, expires_in=42.0))
    assert effects == [LoadCatchUp(None, 500), ArmTimer(Timer.SESSION_CHECK, 42.0)]
    c.handle(CatchUpLoaded(CatchUp([], 0, 0, 0, truncated=False)))
    assert step(c, TimerFired(Timer.SESSION_CHECK)) == CheckSession()
    assert step(c, SessionChecked(True)) == ArmTimer(Timer.SESSION_CHECK, 300)
    # A failed check is made once more after the grace; a second failure closes.
    assert step(c, SessionChecked(False)) == ArmTimer(Timer.SESSION_RECHECK, 0.3)
    assert step(c, TimerFired(Timer.SESSION_RECHECK)) == CheckSession()
    assert step(c, SessionChecked(False, exists=False)) == Close(CLOSE_SESSION_CHANGED)
    # Without a grace (a token), the first failure closes.
    token = checked_session(grace=0)
    token.handle(Opened("bob", "g", None))
    assert step(token, SessionChecked(False)) == Close(CLOSE_UNAUTHENTICATED)


def test_nothing_is_sent_after_a_close_even_what_waited() -> None:
    c = live()
    assert step(c, push(12, 11, 1, 9)) == LoadCatchUp(10, 500)
    assert step(c, ClientFrame('{"type": "ping"}')) is None  # waits for the catch-up
    assert step(c, SessionEnded("g", "mine", SITE)) == Close(CLOSE_UNAUTHENTICATED)
    assert c.handle(CatchUpLoaded(CatchUp([], 12, 1, 9, truncated=False))) == []
    assert c.close_effect == Close(CLOSE_UNAUTHENTICATED) and c.close_effect.reason in CLOSE_CODES


def test_the_session_module_imports_no_io() -> None:
    import ast
    from pathlib import Path

    import livebell.live.session

    tree = ast.parse(Path(livebell.live.session.__file__).read_text())
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
    }
    io = {name for name in imported if name.split(".")[0] in {"asyncio", "channels"}}
    orm = {name for name in imported if name.startswith("django.db")}
    assert not io | orm, imported
