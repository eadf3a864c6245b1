"""Measurement helpers shared by every target: the frame marker and latency summaries.

A sender stamps each message with a *marker*, ``{"p": phase, "t": ns}``: the
phase it belongs to and the time it was meant to be sent, read from
``time.monotonic_ns()``. On Linux that clock is system-wide (``CLOCK_MONOTONIC``),
so the client, another process, subtracts it from its own receipt time.

A target whose frames carry no data of the sender's own (openwisp-notifications
sends a rendered message) gets the marker as text, :func:`marker_text`, inside
a string of its frame; the client reads it back with :func:`parse_marker`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from typing import Any, TypedDict

__all__ = [
    "LatencySummary",
    "Marker",
    "dig",
    "make_marker",
    "marker_text",
    "now_ns",
    "parse_marker",
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


# Letters, digits and spaces only: nothing Markdown or HTML escaping would change.
_MARKER_TEXT = re.compile(r"bench marker (\d+) (\d+)")


def marker_text(marker: Marker) -> str:
    """The marker as text, for a target that sends the sender's text, not its data."""
    return f"bench marker {marker['p']} {marker['t']}"


def parse_marker(found: Any) -> Marker:
    """The marker found in a frame: the object itself, or read from :func:`marker_text`.

    Raises:
        KeyError: ``found`` is neither a marker nor a text containing one.
    """
    if isinstance(found, str):
        match = _MARKER_TEXT.search(found)
        if match is None:
            raise KeyError("no marker in the text")
        return {"p": int(match[1]), "t": int(match[2])}
    marker: Marker = found
    return marker


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
