"""Fast unit tests of the parts free of I/O: ids, the rate limit, the wire frames, the
layer messages, the hub's dispatch, the coalescer, send deadlines and the socket's state
machine."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livebell import messages, protocol
from livebell._coalescer import Coalescer
from livebell._deadlines import TICK_SECONDS, _watches, deadline
from livebell.fanout import Hub
from livebell.groups import site_key
from livebell.ids import MAX_ID, MAX_IDS, InvalidId, parse_id, parse_ids
from livebell.messages import InboxChange, Push, RecheckSessions, SessionEnded
from livebell.ratelimit import TokenBucket, UserLimits, UserLimitsTable
from livebell.storm import BurstGate

# --- ids ------------------------------------------------------------------------------


@given(st.integers(1, MAX_ID))
def test_every_id_in_range_is_read_back_as_itself(value: int) -> None:
    assert parse_id(value) == value
    assert parse_id(str(value), text=True) == value


@pytest.mark.parametrize(
    "value", [0, -1, MAX_ID + 1, True, False, 1.0, "1", None, [1], "0" * 5000 + "1"]
)
def test_what_is_not_an_id(value: Any) -> None:
    with pytest.raises(InvalidId, match="id must be a positive 64-bit integer"):
        parse_id(value)


@pytest.mark.parametrize("text", ["-1", "1e3", "", " 1", "١٢", "1.0", "9" * 19, "9" * 5000])
def test_what_is_not_an_id_in_a_url(text: str) -> None:
    with pytest.raises(InvalidId):
        parse_id(text, text=True)
    assert parse_id("0" * 5000 + "7", text=True) == 7  # leading zeros, however many


def test_a_resume_point_may_be_zero() -> None:
    assert parse_id(0, name="last_id", minimum=0) == 0
    with pytest.raises(InvalidId, match="last_id must be a non-negative"):
        parse_id(-1, name="last_id", minimum=0)


def test_id_lists_are_sorted_deduplicated_and_bounded() -> None:
    assert parse_ids([3, 1, 3]) == [1, 3]
    assert parse_ids((2, 1)) == [1, 2]
    assert parse_ids(list(range(1, MAX_IDS + 1)))[-1] == MAX_IDS
    with pytest.raises(InvalidId, match="At most 1000 ids"):
        parse_ids(list(range(1, MAX_IDS + 2)))
    for bad in ("1,2", None, 3, {"1": 1}, b"12"):
        with pytest.raises(InvalidId, match="ids must be a list of integers"):
            parse_ids(bad)
    with pytest.raises(InvalidId, match="ids must be positive 64-bit integers, got True"):
        parse_ids([1, True])


# --- the rate limit -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.4  # 0.8 of a token
    assert not bucket.allow()
    clock.now += 0.1  # one token
    assert bucket.allow() and not bucket.allow()
    clock.now += 60  # refills to the burst, not beyond
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (1, 0)])
def test_a_token_bucket_needs_a_rate_and_a_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be > 0 and burst >= 1"):
        TokenBucket(rate, burst)


# --- frames ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "frame"),
    [
        ('{"type": "ping"}', protocol.Ping()),
        ('{"type": "resume", "last_id": 0}', protocol.Resume(0)),
        ('{"type": "resume", "last_id": "12"}', protocol.Resume(12)),
        ('{"type": "mark_read", "ids": [3, 1]}', protocol.MarkRead([1, 3])),
        ('{"type": "mark_unread", "ids": []}', protocol.MarkUnread([])),
        ('{"type": "mark_all_read"}', protocol.MarkAllRead(None)),
        ('{"type": "mark_all_read", "before_id": 9}', protocol.MarkAllRead(9)),
    ],
)
def test_client_frames_are_parsed_into_their_types(text: str, frame: Any) -> None:
    assert protocol.parse_client_frame(text, max_bytes=4096) == frame


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, "binary_not_supported"),
        ("x" * 5000, "frame_too_large"),
        ('"é"' * 700, "frame_too_large"),  # 1,400 characters, 2,800 bytes: measured in bytes
        ("{oops", "bad_json"),
        ("[]", "bad_frame"),
        ('{"type": 1}', "bad_frame"),
        ('{"type": "fly"}', "unknown_type"),
        ('{"type": "resume"}', "bad_last_id"),
        ('{"type": "mark_read", "ids": "1"}', "bad_frame"),
        ('{"type": "mark_all_read", "before_id": 0}', "bad_frame"),
    ],
)
def test_bad_client_frames_name_what_is_wrong(text: str | None, code: str) -> None:
    with pytest.raises(protocol.ProtocolError) as error:
        protocol.parse_client_frame(text, max_bytes=2048 if text and "é" in text else 4096)
    assert error.value.code == code and error.value.message


def test_a_frame_can_be_given_a_fresher_count() -> None:
    frame = protocol.notification_frame({"id": 1}, 3)  # type: ignore[typeddict-item]
    assert orjson.loads(protocol.with_unread_count(frame, 7)) == {
        "type": "notification",
        "notification": {"id": 1},
        "unread_count": 7,
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(st.text().filter(lambda key: key != "id"), json_values, max_size=6),
    st.integers(1, MAX_ID),
    st.integers(0, 2**31),
)
def test_frames_made_from_one_payload_are_the_frames_encoded_whole(
    rest: dict[str, Any], notification_id: int, unread_count: int
) -> None:
    payload: Any = {"id": 0, **rest}
    frame = protocol.notification_frames(payload)
    expected = protocol.notification_frame({**payload, "id": notification_id}, unread_count)
    assert frame(notification_id, unread_count) == expected


def test_a_frame_is_made_of_ints_only() -> None:
    frame = protocol.notification_frames({"id": 0})  # type: ignore[typeddict-item]
    assert orjson.loads(frame(5, 2)) == {
        "type": "notification",
        "notification": {"id": 5},
        "unread_count": 2,
    }
    for bad in ((True, 1), (1, False), ("1", 1), (1, 1.0)):
        with pytest.raises(TypeError):
            frame(*bad)


# --- layer messages -------------------------------------------------------------------

pushes = st.builds(
    Push,
    group=st.text(min_size=1, max_size=20),
    id=st.integers(1, MAX_ID),
    previous_id=st.integers(0, MAX_ID),
    unread_count=st.integers(0, 10**6),
    revision=st.integers(0, 10**9),
    frame=st.text(max_size=50),
)
others = st.one_of(
    st.builds(InboxChange, st.text(min_size=1), st.integers(0), st.integers(0), st.text()),
    st.builds(SessionEnded, st.text(min_size=1), st.text(min_size=1)),
    st.builds(RecheckSessions, st.text(min_size=1)),
)


@given(st.lists(pushes, min_size=1, max_size=12), st.integers(1, 5))
def test_pushes_travel_in_batches_and_come_back_as_they_left_with_the_sites_key(
    sent: list[Push], batch_size: int
) -> None:
    sends = messages.encode(sent, batch_size=batch_size)
    if len(sent) > 1:
        assert len(sends) == -(-len(sent) // batch_size)  # ceil: batches of batch_size
    received = [m for _, body in sends for m in messages.decode(orjson.loads(orjson.dumps(body)))]
    assert received == [p._replace(site=site_key()) for p in sent]


@given(others)
def test_other_messages_go_to_their_group_and_come_back_as_they_left_with_the_sites_key(
    sent: Any,
) -> None:
    [(group, body)] = messages.encode([sent], batch_size=10)
    assert group == sent.group
    assert list(messages.decode(body)) == [dataclasses.replace(sent, site=site_key())]


def test_a_layer_message_without_a_site_key_is_refused() -> None:
    [(_, body)] = messages.encode([RecheckSessions("g")], batch_size=10)
    del body["site"]
    with pytest.raises(messages.MalformedMessage, match="'site'"):
        list(messages.decode(body))


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"type": "livebell.batch", "items": [["short"]]},
        {"type": "livebell.batch", "items": None},
        {"type": "livebell.push", "group": "g"},
        {"type": "livebell.push", "group": "g", "id": "1", "previous_id": 0,
         "unread_count": 0, "revision": 0, "frame": "{}"},
        {"type": "livebell.inbox", "group": 5, "unread_count": 0, "revision": 0, "frame": ""},
        {"type": "somebody.else"},
    ],
)  # fmt: skip
def test_what_livebell_did_not_write_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(messages.MalformedMessage):
        list(messages.decode(body))


# --- the hub's dispatch ---------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def deliver(self, message: Any) -> None:
        self.got.append(message)


def test_the_hub_hands_each_message_to_its_groups_local_sockets_only() -> None:
    hub = Hub(layer=None)  # type: ignore[arg-type]  # dispatch needs no layer
    bob1, bob2, carol = Inbox(), Inbox(), Inbox()
    hub.members = {"g.bob": {bob1, bob2}, "g.carol": {carol}}
    to_bob = Push("g.bob", 2, 0, 1, 1, "b")
    to_dave = Push("g.dave", 3, 0, 1, 1, "d")  # held by another process
    to_carol = Push("g.carol", 4, 0, 1, 1, "c")
    [(_, batch)] = messages.encode([to_bob, to_dave, to_carol], batch_size=10)
    hub.dispatch(batch)
    [(_, ended)] = messages.encode([SessionEnded("g.carol", "abc")], batch_size=10)
    hub.dispatch(ended)
    here = site_key()
    assert bob1.got == bob2.got == [to_bob._replace(site=here)]
    assert carol.got == [to_carol._replace(site=here), SessionEnded("g.carol", "abc", here)]
    with pytest.raises(messages.MalformedMessage):
        hub.dispatch({"type": "livebell.push"})


# --- the coalescer --------------------------------------------------------------------

# A coalescer runs its batches in Channels' database thread, which checks the thread's
# database connections before and after each call: the tests need the database allowed.
_database_thread = pytest.mark.django_db


@_database_thread
async def test_the_coalescer_batches_whoever_waits_and_a_lone_call_goes_at_once() -> None:
    batches: list[list[int]] = []

    def double(requests: Any) -> list[int]:
        batches.append(list(requests))
        return [2 * r for r in requests]

    coalescer: Coalescer[int, int] = Coalescer(double, max_batch=3)
    assert await coalescer(5) == 10
    assert batches == [[5]]
    results = await asyncio.gather(*(coalescer(i) for i in range(7)))
    assert results == [2 * i for i in range(7)]
    # Everyone waiting when the thread is free goes in one batch, at most 3 at a time.
    assert batches[1:] == [[0, 1, 2], [3, 4, 5], [6]]


@_database_thread
async def test_a_failed_batch_fails_its_callers_and_the_next_batch_runs() -> None:
    def fail_on_13(requests: Any) -> list[int]:
        if 13 in requests:
            raise RuntimeError("unlucky")
        return list(requests)

    coalescer: Coalescer[int, int] = Coalescer(fail_on_13, max_batch=10)
    outcomes = await asyncio.gather(coalescer(1), coalescer(13), return_exceptions=True)
    assert isinstance(outcomes[1], RuntimeError)
    assert await coalescer(2) == 2


@_database_thread
async def test_a_cancelled_caller_does_not_break_the_others() -> None:
    def identity(requests: Any) -> list[int]:
        return list(requests)

    coalescer: Coalescer[int, int] = Coalescer(identity, max_batch=10)
    first = asyncio.ensure_future(coalescer(1))
    second = asyncio.ensure_future(coalescer(2))
    await asyncio.sleep(0)
    second.cancel()
    assert await first == 1
    assert await coalescer(3) == 3


# --- send deadlines -------------------------------------------------------------------


async def test_an_await_past_its_deadline_raises_timeout_error_soon_after() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError), deadline(0.2):
        await asyncio.Event().wait()
    assert 0.2 <= loop.time() - started < 0.2 + TICK_SECONDS + 0.1
    # The task is not left cancelled: it goes on awaiting.
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_an_await_in_time_and_one_that_never_waits_are_left_alone() -> None:
    async def done_at_once() -> int:
        return 7

    with deadline(0.05):
        assert await done_at_once() == 7
    with deadline(0.3):
        await asyncio.sleep(0.15)  # past a tick, before its deadline
    await asyncio.sleep(0.3)  # no late cancel of a deadline that was left
    # With no await under a deadline, the loop's timer has stopped.
    assert _watches[asyncio.get_running_loop()].timer is None


async def test_a_cancel_from_outside_stays_a_cancel() -> None:
    async def waits() -> None:
        with deadline(5):
            await asyncio.Event().wait()

    task = asyncio.create_task(waits())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_deadlines_of_many_tasks_end_only_the_late_ones() -> None:
    async def waits(seconds: float, deadline_seconds: float) -> str:
        try:
            with deadline(deadline_seconds):
                await asyncio.sleep(seconds)
        except TimeoutError:
            return "late"
        return "in time"

    results = await asyncio.gather(
        waits(0.05, 1.0), waits(1.0, 0.1), waits(0.2, 0.5), waits(5.0, 0.3)
    )
    assert results == ["in time", "late", "in time", "late"]


async def test_an_inner_deadline_leaves_the_outer_one_in_force() -> None:
    with pytest.raises(TimeoutError), deadline(0.3):
        with deadline(5):
            await asyncio.sleep(0.01)
        await asyncio.Event().wait()


# --- PostgreSQL array parameters ------------------------------------------------------

from livebell._arrays import array_parameter  # noqa: E402


def test_int_arrays_go_as_text_and_anything_else_as_a_list() -> None:
    import uuid

    assert array_parameter([3, 1, 20]) == "{3,1,20}"
    assert array_parameter([]) == "{}"
    assert array_parameter([-5, 2**40]) == "{-5,1099511627776}"
    # psycopg quotes these itself; a bool's str() would be no PostgreSQL integer.
    key = uuid.uuid4()
    assert array_parameter([key]) == [key]
    assert array_parameter(['a"b', "c,d"]) == ['a"b', "c,d"]
    assert array_parameter([1, True]) == [1, True]
    assert array_parameter((1, None)) == [1, None]


# --- the per-frame metrics' tally -----------------------------------------------------

from prometheus_client import CollectorRegistry, Histogram, generate_latest  # noqa: E402

from livebell import metrics  # noqa: E402
from livebell.metrics import FrameTally, flush_tallies  # noqa: E402


@given(st.lists(st.floats(min_value=0, max_value=30, allow_nan=False), max_size=40))
def test_observations_added_by_bucket_read_as_observe_would(lags: list[float]) -> None:
    exposed = []
    for by_bucket in (False, True):
        registry = CollectorRegistry()
        histogram = Histogram(
            "lag_seconds", "lag", registry=registry, buckets=metrics.PUSH_SEND_LAG._upper_bounds
        )
        if by_bucket:
            counts = [0] * len(metrics._LAG_BOUNDS)
            for lag in lags:
                counts[metrics.bisect_left(metrics._LAG_BOUNDS, lag)] += 1
            # Added one by one, as the tally does (sum() compensates since Python 3.12).
            total = 0.0
            for lag in lags:
                total += lag
            metrics._observe_counted(histogram, counts, total)
        else:
            for lag in lags:
                histogram.observe(lag)
        text = generate_latest(registry).decode()
        exposed.append([line for line in text.splitlines() if "_created" not in line])
    assert exposed[0] == exposed[1]


def sample(name: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(name)
    return 0.0 if value is None else value


async def test_the_tally_reaches_the_metrics_within_its_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "TALLY_SECONDS", 0.1)
    tally = FrameTally(asyncio.get_running_loop())
    flush_tallies()  # other tests' loops' frames, not counted below
    frames, size = sample("livebell_frames_sent_total"), sample("livebell_bytes_sent_total")
    deliveries = sample("livebell_deliveries_total")
    lags, lag_sum = (
        sample("livebell_push_send_lag_seconds_count"),
        sample("livebell_push_send_lag_seconds_sum"),
    )
    for lag in (0.002, None, 3.0):
        tally.sent(10)
        tally.delivered(lag)
    tally.sent(5)  # a frame that is no notification
    assert sample("livebell_frames_sent_total") == frames  # not yet
    await asyncio.sleep(0.2)
    assert sample("livebell_frames_sent_total") == frames + 4
    assert sample("livebell_bytes_sent_total") == size + 35
    assert sample("livebell_deliveries_total") == deliveries + 3
    assert sample("livebell_push_send_lag_seconds_count") == lags + 2
    assert sample("livebell_push_send_lag_seconds_sum") == pytest.approx(lag_sum + 3.002)
    # Counted again from zero: nothing is added twice.
    tally.flush()
    assert sample("livebell_frames_sent_total") == frames + 4


async def test_a_scrape_from_another_thread_flushes_a_running_loop() -> None:
    tally = metrics.tally()
    flush_tallies()  # other tests' loops' frames, not counted below
    before = sample("livebell_frames_sent_total")
    tally.sent(1)
    # The view runs in a worker thread; the loop goes on meanwhile (it flushes itself).
    await asyncio.to_thread(flush_tallies)
    assert sample("livebell_frames_sent_total") == before + 1
    assert tally.frames == 0


def test_idle_user_limits_are_forgotten_and_busy_ones_kept() -> None:
    clock = FakeClock()
    table = UserLimitsTable(
        lambda: UserLimits(TokenBucket(1, 2, clock=clock), TokenBucket(1, 2, clock=clock)),
        prune_every=1000,
    )
    busy, idle = table.get("busy"), table.get("idle")
    busy.frames.allow()
    assert table.get("busy") is busy
    table.prune()
    assert set(table.entries) == {"busy"}
    clock.now += 5  # refilled: no different from a new one
    table.prune()
    assert table.entries == {} and idle.idle


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "trusted", "allowed"),
    [
        ("http://testserver", "testserver", "ws", [], True),
        ("http://testserver:8000", "testserver:8000", "ws", [], True),
        ("http://testserver:8001", "testserver:8000", "ws", [], False),
        ("https://testserver", "testserver", "ws", [], False),
        ("https://testserver", "testserver", "wss", [], True),
        ("http://evil.example", "testserver", "ws", [], False),
        ("http://testserver", "evil.example", "ws", [], False),  # host not allowed
        ("https://app.example.com", "testserver", "wss", ["https://*.example.com"], True),
        ("http://app.example.com", "testserver", "wss", ["https://*.example.com"], False),
        ("https://other.test", "testserver", "wss", ["https://other.test"], True),
        ("https://other.test:444", "testserver", "wss", ["https://other.test"], False),
        (None, "testserver", "ws", [], False),
    ],
)
def test_the_origin_check_is_djangos_csrf_check(
    settings: Any,
    origin: str | None,
    host: str,
    scheme: str,
    trusted: list[str],
    allowed: bool,
) -> None:
    from livebell.origin import origin_allowed

    settings.CSRF_TRUSTED_ORIGINS = trusted
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    assert origin_allowed({"type": "websocket", "scheme": scheme, "headers": headers}) is allowed


def test_nesting_is_measured_without_recursion() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert protocol.too_deep(deep) and not protocol.too_deep({"ids": [1, 2]})
    with pytest.raises(protocol.ProtocolError, match="nest"):
        protocol.parse_client_frame('{"type": "ping", "x": ' + "[" * 20 + "]" * 20 + "}",
                                    max_bytes=4096)  # fmt: skip


# --- storm control --------------------------------------------------------------------


def test_a_burst_past_the_threshold_is_held_and_summed_up() -> None:
    clock = FakeClock()
    gate = BurstGate(3, window=10, quiet=1, longest=5, clock=clock)
    assert [gate.admit() for _ in range(3)] == [True, True, True]
    assert gate.due_in() is None
    assert not gate.admit()  # the fourth within 10 s
    assert gate.due_in() == 1.0
    for _ in range(50):
        clock.now += 0.05
        assert not gate.admit()
    assert gate.due_in() == pytest.approx(1.0)  # quiet for 1 s after the last…
    clock.now += 3
    assert gate.due_in() == 0.0  # …but at most 5 s after the first held
    assert gate.release() == 51
    assert not gate.admit()  # a steady flood stays summed up
    assert gate.release() == 1
    clock.now += 11  # the window passed: one at a time again
    assert gate.admit()


def test_bad_storm_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold must be >= 1"):
        BurstGate(0, window=10)


def test_datetimes_in_utc_and_json_go_as_text_other_zones_as_a_list() -> None:
    import json
    from datetime import UTC, datetime, timedelta, timezone

    from psycopg.types.json import Jsonb

    moment = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
    assert array_parameter([moment, moment.replace(microsecond=0)]) == (
        "{2026-12-03T10:00:00.123456+00:00,2026-12-03T10:00:00+00:00}"
    )
    elsewhere = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert array_parameter([moment, elsewhere]) == [moment, elsewhere]
    values = [Jsonb({"q": 'a"b\\c'}, dumps=json.dumps), Jsonb([], dumps=json.dumps)]
    assert array_parameter(values) == r'{"{\"q\": \"a\\\"b\\\\c\"}","[]"}'
    assert array_parameter([Jsonb({})]) != "{}"  # psycopg's own dumps: left to psycopg
