"""The per-frame metrics' tally: what reaches prometheus-client, and when."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from livebell import metrics
from livebell.metrics import FrameTally, flush_tallies


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
