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

========================================  ==================================================
metric                                    what
========================================  ==================================================
``livebell_sockets_open``                 sockets open now (gauge)
``livebell_socket_connects_total``        sockets accepted for a user
``livebell_socket_refusals_total``        sockets refused, by ``reason``: ``origin``,
                                          ``unauthenticated``, ``bad_ticket``,
                                          ``too_many_sockets``
``livebell_socket_closes_total``          sockets ended, by close ``code`` and by ``side``
                                          (``server`` or ``client``)
``livebell_frames_received_total``        client frames, by ``result``: ``ok``, or the code
                                          of the error frame it got (``rate_limited``…)
``livebell_frames_sent_total``            frames sent to clients
``livebell_bytes_sent_total``             bytes of those frames (before framing)
``livebell_deliveries_total``             ``notification`` frames sent, live or caught up
``livebell_push_send_lag_seconds``        from a layer message reaching the process to its
                                          frame being sent (histogram)
``livebell_catch_ups_total``              catch-ups run
``livebell_catch_up_rows_total``          notifications they sent
``livebell_layer_sends_total``            ``group_send`` calls made by this process
                                          (``livebell.delivery.stats``)
``livebell_layer_failures_total``         layer sends given up, and failed layer receives,
                                          by ``operation``
========================================  ==================================================
"""

from __future__ import annotations

import os
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

__all__ = [
    "BYTES_SENT",
    "CATCH_UPS",
    "CATCH_UP_ROWS",
    "CLOSES",
    "CONNECTS",
    "DELIVERIES",
    "FRAMES_RECEIVED",
    "FRAMES_SENT",
    "LAYER_RECEIVE_FAILURES",
    "PUSH_SEND_LAG",
    "REFUSALS",
    "SOCKETS_OPEN",
    "metrics_view",
]

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


class _DeliveryCollector(Collector):
    """The process's layer sends, read from ``livebell.delivery.stats`` at each scrape."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        from livebell.delivery import stats  # imports models: only once apps are ready

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
    registry: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
