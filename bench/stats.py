"""Measurement helpers shared by every target: the frame marker and latency summaries.

A sender stamps each message with a *marker*, ``{"p": phase, "t": ns}``: the
phase it belongs to and the time it was meant to be sent, read from
``time.monotonic_ns()``. On Linux that clock is system-wide (``CLOCK_MONOTONIC``),
so the client, another process, subtracts it from its own receipt time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, TypedDict

__all__ = [
    "LatencySummary",
    "Marker",
    "dig",
    "make_marker",
    "now_ns",
    "percentile",
    "summarise",
]

now_ns = time.monotonic_ns


class Marker(TypedDict):
    p: int
    t: int


class LatencySummary(TypedDict):
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def make_marker(phase: int, sent_ns: int) -> Marker:
    """The bench's stamp on one message."""
    return {"p": phase, "t": sent_ns}


def percentile(ordered: Sequence[int], q: float) -> int:
    """The nearest-rank ``q``-th percentile (0 to 100) of an ascending, non-empty sequence."""
    if not ordered:
        raise ValueError("percentile of no values")
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summarise(latencies_ns: Sequence[int]) -> LatencySummary:
    """p50, p90, p99 and max of latencies given in nanoseconds, as milliseconds."""
    if not latencies_ns:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(latencies_ns)

    def ms(q: float) -> float:
        return round(percentile(ordered, q) / 1e6, 2)

    return {"p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99), "max_ms": ms(100)}


def dig(obj: Any, path: Sequence[str]) -> Any:
    """``obj[path[0]][path[1]]…``: where a target's frame carries the marker."""
    for key in path:
        obj = obj[key]
    return obj
