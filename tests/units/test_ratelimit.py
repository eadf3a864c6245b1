"""The rate limit: token buckets and the per-user table that forgets idle users."""

from __future__ import annotations

import pytest

from livebell.live.ratelimit import TokenBucket, UserLimits, UserLimitsTable
from tests.units.fakes import FakeClock


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
