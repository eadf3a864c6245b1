"""livebell's metrics, in the Prometheus text format (``prometheus-client``), per process.

The metrics are registered on ``prometheus_client``'s default registry, so a site
that already exposes it (``django-prometheus``, say) shows them too. Otherwise
mount :func:`metrics_view`, which answers only staff users and scrapers that send
``Authorization: Bearer <LIVEBELL["METRICS_TOKEN"]>``::

    path("livebell/metrics/", livebell.metrics.metrics_view)

Each server process counts its own sockets. Behind one port with several
workers, a scrape reaches one of them: scrape each process on a port of its own,
or set ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode), and
the view adds up every process's files.

=========================================  ==================================================
metric                                     what
=========================================  ==================================================
``livebell_sockets_open``                  sockets open now (gauge)
``livebell_socket_connects_total``         sockets accepted for a user
``livebell_socket_refusals_total``         sockets refused, by ``reason``: ``origin``,
                                           ``unauthenticated``, ``bad_ticket``,
                                           ``too_many_sockets``
``livebell_socket_closes_total``           sockets ended, by close ``code`` and by ``side``
                                           (``server`` or ``client``); a code neither
                                           RFC 6455 nor livebell defines is ``other``
``livebell_frames_received_total``         client frames, by ``result``: ``ok``, or the code
                                           of the error frame it got (``rate_limited``…)
``livebell_frames_sent_total``             frames sent to clients
``livebell_bytes_sent_total``              bytes of those frames (before framing)
``livebell_deliveries_total``              ``notification`` frames sent, live or caught up
``livebell_push_send_lag_seconds``         from a layer message reaching the process to its
                                           frame being sent (histogram)
``livebell_catch_ups_total``               catch-ups run
``livebell_catch_up_rows_total``           notifications they sent
``livebell_layer_sends_total``             ``group_send`` calls made by this process
                                           (``livebell.layer.delivery.stats``)
``livebell_layer_failures_total``          layer sends given up, and failed layer receives,
                                           by ``operation``
``livebell_layer_messages_ignored_total``  layer messages a socket ignored, by ``reason``:
                                           ``other_site`` (another site that shares the
                                           Redis and the group prefix), ``other_user``
``livebell_web_pushes_total``              pushes sent to push services, by ``outcome``:
                                           ``delivered``, ``gone`` (404/410: the device is
                                           forgotten), ``failed`` (docs/web-push.md)
=========================================  ==================================================

The four per-frame metrics (frames, bytes, deliveries, send lag) are tallied on
each event loop and added to the metrics at most ``TALLY_SECONDS`` later, and
whenever this process serves a scrape: through prometheus-client each frame would
take a lock per counter, a large share of the transport's own time in a push.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import REGISTRY, Collector

from livebell.conf import livebell_settings
from livebell.live.session import CLOSE_CODES

__all__ = [
    "BYTES_SENT",
    "CATCH_UPS",
    "CATCH_UP_ROWS",
    "CLOSES",
    "CONNECTS",
    "DELIVERIES",
    "FRAMES_RECEIVED",
    "FRAMES_SENT",
    "KNOWN_CLOSE_CODES",
    "LAYER_MESSAGES_IGNORED",
    "LAYER_RECEIVE_FAILURES",
    "PUSH_SEND_LAG",
    "REFUSALS",
    "SOCKETS_OPEN",
    "TALLY_SECONDS",
    "WEB_PUSHES",
    "FrameTally",
    "close_code_label",
    "flush_tallies",
    "metrics_view",
    "tally",
]

#: How long, at most, the per-frame metrics of an event loop lag behind its sends.
TALLY_SECONDS = 1.0
# A scrape waits this long, at most, for a busy event loop to add its tally.
SCRAPE_FLUSH_TIMEOUT_SECONDS = 1.0

SOCKETS_OPEN = Gauge(
    "livebell_sockets_open", "Notification sockets open now.", multiprocess_mode="livesum"
)
CONNECTS = Counter("livebell_socket_connects", "Notification sockets accepted for a user.")
REFUSALS = Counter(
    "livebell_socket_refusals", "Notification sockets refused, by reason.", ["reason"]
)
CLOSES = Counter(
    "livebell_socket_closes",
    "Notification sockets ended, by close code and by the side that closed.",
    ["code", "side"],
)
FRAMES_RECEIVED = Counter(
    "livebell_frames_received", "Client frames received, by result.", ["result"]
)
FRAMES_SENT = Counter("livebell_frames_sent", "Frames sent to clients.")
BYTES_SENT = Counter("livebell_bytes_sent", "Bytes of the frames sent to clients.")
DELIVERIES = Counter(
    "livebell_deliveries", "Notification frames sent to clients, live or in a catch-up."
)
PUSH_SEND_LAG = Histogram(
    "livebell_push_send_lag_seconds",
    "From a layer message reaching this process to its frame being sent.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CATCH_UPS = Counter("livebell_catch_ups", "Catch-ups run.")
CATCH_UP_ROWS = Counter("livebell_catch_up_rows", "Notifications sent by catch-ups.")
LAYER_RECEIVE_FAILURES = Counter(
    "livebell_layer_receive_failures", "Failed receives from the channel layer."
)
LAYER_MESSAGES_IGNORED = Counter(
    "livebell_layer_messages_ignored",
    "Layer messages a socket ignored as not its own, by reason.",
    ["reason"],
)


#: The close codes that label ``livebell_socket_closes_total``: RFC 6455's (1000-1015)
#: and livebell's own. A client picks the code it closes with, from thousands: each
#: would be a series of its own.
# Labelled by livebell.reach.webpush.PushOutcome only: never by a push service's host
# or status, which the client's endpoint chose.
WEB_PUSHES = Counter(
    "livebell_web_pushes", "Pushes sent to push services, by outcome.", ["outcome"]
)

KNOWN_CLOSE_CODES = frozenset(
    [
        *range(1000, 1016),
        *CLOSE_CODES.values(),
    ]
)


def close_code_label(code: int) -> str:
    """The ``code`` label of a close: the code if it is in :data:`KNOWN_CLOSE_CODES`,
    else ``"other"``."""
    return str(code) if code in KNOWN_CLOSE_CODES else "other"


class FrameTally:
    """The frames one event loop sent since it last added them to the metrics.

    Plain attributes, touched only by the loop's own thread; :meth:`flush` adds
    them to the prometheus-client metrics, at most :data:`TALLY_SECONDS` after the
    first frame counted (a timer on the loop), or sooner when a scrape asks.
    """

    __slots__ = ("_lag_counts", "_lag_sum", "_loop", "_timer", "bytes", "deliveries", "frames")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the table of tallies must not keep a finished loop alive.
        self._loop = weakref.ref(loop)
        self.frames = 0
        self.bytes = 0
        self.deliveries = 0
        # Send lags counted by histogram bucket (the last one is +Inf), and their sum.
        self._lag_counts = [0] * len(_LAG_BOUNDS)
        self._lag_sum = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def sent(self, size: int) -> None:
        """A frame of ``size`` bytes went to a client."""
        self.frames += 1
        self.bytes += size
        if self._timer is None:
            loop = self._loop()
            if loop is not None:
                self._timer = loop.call_later(TALLY_SECONDS, self.flush)

    def delivered(self, lag: float | None) -> None:
        """The frame was a notification; ``lag``: seconds since its layer message came."""
        self.deliveries += 1
        if lag is not None:
            self._lag_counts[bisect_left(_LAG_BOUNDS, lag)] += 1
            self._lag_sum += lag

    def flush(self) -> None:
        """Add the tally to the metrics and start again from zero (on the loop's thread)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        frames, size, deliveries = self.frames, self.bytes, self.deliveries
        counts, total = self._lag_counts, self._lag_sum
        self.frames = self.bytes = self.deliveries = 0
        self._lag_counts, self._lag_sum = [0] * len(_LAG_BOUNDS), 0.0
        if frames:
            FRAMES_SENT.inc(frames)
            BYTES_SENT.inc(size)
        if deliveries:
            DELIVERIES.inc(deliveries)
        if any(counts):
            _observe_counted(PUSH_SEND_LAG, counts, total)


# The histogram's upper bounds, +Inf last, as prometheus-client keeps them.
_LAG_BOUNDS: tuple[float, ...] = tuple(PUSH_SEND_LAG._upper_bounds)


def _observe_counted(histogram: Histogram, counts: list[int], total: float) -> None:
    """What ``histogram.observe()`` of each observation does, in one step per bucket.

    prometheus-client has no call for many observations at once; this is its
    ``observe()`` (the sum, then the one bucket each value falls in) with counts.
    Its private ``_sum`` and ``_buckets`` are the same objects in multiprocess
    mode (memory-mapped files); tests/test_units.py compares the exposition with
    ``observe()``'s.
    """
    histogram._sum.inc(total)
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


_tallies: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FrameTally] = (
    weakref.WeakKeyDictionary()
)


def tally() -> FrameTally:
    """The running event loop's :class:`FrameTally`, made on first use."""
    loop = asyncio.get_running_loop()
    found = _tallies.get(loop)
    if found is None:
        found = _tallies[loop] = FrameTally(loop)
    return found


def flush_tallies() -> None:
    """Add every event loop's tally to the metrics now (from any thread).

    A loop running in another thread flushes on its own thread; this waits up to
    ``SCRAPE_FLUSH_TIMEOUT_SECONDS`` for it, so a busy loop delays a scrape no more.
    """
    try:
        here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    for loop, found in list(_tallies.items()):
        if loop is here or not loop.is_running():
            found.flush()
        elif not loop.is_closed():
            done = threading.Event()

            def flush_there(found: FrameTally = found, done: threading.Event = done) -> None:
                try:
                    found.flush()
                finally:
                    done.set()

            try:
                loop.call_soon_threadsafe(flush_there)
            except RuntimeError:  # closed meanwhile
                continue
            done.wait(SCRAPE_FLUSH_TIMEOUT_SECONDS)


class _DeliveryCollector(Collector):
    """The process's layer sends, read from ``livebell.layer.delivery.stats`` at each scrape."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        from livebell.layer.delivery import stats  # imports models: only once apps are ready

        sends = CounterMetricFamily("livebell_layer_sends", "group_send calls made.")
        sends.add_metric([], stats.pushed)
        yield sends
        failures = CounterMetricFamily(
            "livebell_layer_failures", "Layer operations that failed.", labels=["operation"]
        )
        failures.add_metric(["send"], stats.failed)
        failures.add_metric(["receive"], LAYER_RECEIVE_FAILURES._value.get())
        yield failures


REGISTRY.register(_DeliveryCollector())


def _may_read(request: HttpRequest) -> bool:
    token = livebell_settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return constant_time_compare(header.removeprefix("Bearer "), str(token))
    user: Any = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics in the Prometheus text format.

    Answers a staff user, or a request with ``Authorization: Bearer <METRICS_TOKEN>``;
    anyone else gets 403.
    """
    if not _may_read(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    flush_tallies()
    registry: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
