"""The workloads. Each runs on one target through the shared client, sender and harness.

- W1 broadcast: one message to all N connected users, back to back (saturation),
  then at a fixed rate (latency).
- W2 targeted: messages to one random user each, back to back, then at a fixed rate;
  from synchronous code (``notify()``) or from an event loop (``anotify()``).
- W3 connections: N sockets held at once on a fresh server: connects per second and
  the server's RSS per socket, with and without per-message deflate offered.
- W4 reconnect storm: not yet implemented (needs resume).
- Client ceiling: how many frames per second the client can take (raw server burst).
"""

from __future__ import annotations

import time

from bench.harness import Delivery, Harness, Target
from bench.procs import rss_kib
from bench.report import PhaseRecord

__all__ = ["client_ceiling", "w1_broadcast", "w2_targeted", "w3_connections", "w4_reconnect_storm"]

W1 = "W1 broadcast"
W2 = "W2 targeted"
W3 = "W3 connections"
MS = "{:.1f}"
WARM_UP_SOCKETS = 10


def _record_latency(h: Harness, section: str, label: str, target: Target, d: Delivery) -> None:
    for key in ("p50", "p99"):
        h.results.add(section, f"{key} ms at {label}", target.name, d.latency[f"{key}_ms"], fmt=MS)


def _record_completeness(
    h: Harness, section: str, metric: str, target: Target, d: Delivery
) -> None:
    text = "all" if d.complete else f"{100 * d.received / max(d.expected, 1):.1f}%"
    h.results.add(section, metric, target.name, None, text=f"{text} of {d.expected:,}")


def w1_broadcast(h: Harness, target: Target) -> None:
    """One notification to every connected user, repeated.

    livebell: ``notify(User.objects.filter(pk__in=…))`` stores N rows and makes N
    per-user pushes. Reference: one ``group_send`` to the one group. Raw: one PUBLISH.
    """
    s, n = h.sizes, h.sizes.users
    h.connect(target, "w1", target.spec.broadcast_path, n)
    try:
        saturation = h.deliver(
            target,
            phase_name="W1 saturation",
            command="broadcast",
            per_message=n,
            count=s.w1_saturation_broadcasts,
            rate=None,
            seconds=s.drain_seconds,
            fixed_load=False,
        )
        latency = h.deliver(
            target,
            phase_name="W1 latency",
            command="broadcast",
            per_message=n,
            count=s.w1_latency_broadcasts,
            rate=s.w1_latency_rate,
            seconds=s.w1_latency_broadcasts / s.w1_latency_rate + s.drain_seconds,
            fixed_load=True,
        )
    finally:
        h.close("w1")
    section = f"{W1} (N={n})"
    h.results.add(section, "saturation, deliveries/s", target.name, saturation.rate)
    _record_completeness(h, section, "delivered at saturation", target, saturation)
    rate = s.w1_latency_rate
    offered = f"{rate:g} broadcast{'' if rate == 1 else 's'}/s ({rate * n:,.0f} deliveries/s)"
    _record_latency(h, section, offered, target, latency)


def w2_targeted(h: Harness, target: Target) -> None:
    """Notifications to one random connected user each, from sync code then from async code.

    livebell: ``notify(user, …)`` (sync) or ``await anotify(user, …)`` (async), each
    storing one row and pushing it. Reference: push only, one ``group_send`` to the
    user's group (a per-user group the tutorial does not have) through
    ``async_to_sync`` (sync) or awaited (async). Raw: one PUBLISH.
    """
    n = h.sizes.users
    h.connect(target, "w2", target.spec.targeted_path, n)
    try:
        for mode in ("sync", "async"):
            _w2_mode(h, target, mode)
    finally:
        h.close("w2")


def _w2_mode(h: Harness, target: Target, mode: str) -> None:
    s = h.sizes
    saturation = h.deliver(
        target,
        phase_name=f"W2 {mode} saturation",
        command="targeted",
        per_message=1,
        count=s.w2_saturation_count,
        rate=None,
        seconds=s.w2_saturation_seconds,
        fixed_load=False,
        mode=mode,
    )
    latency = h.deliver(
        target,
        phase_name=f"W2 {mode} latency",
        command="targeted",
        per_message=1,
        count=s.w2_latency_count,
        rate=s.w2_latency_rate,
        seconds=s.w2_latency_count / s.w2_latency_rate + s.drain_seconds,
        fixed_load=True,
        mode=mode,
    )
    caller = "notify()" if mode == "sync" else "anotify()"
    section = f"{W2}, {caller} (N={s.users})"
    h.results.add(section, "saturation, delivered/s", target.name, saturation.rate)
    _record_completeness(h, section, "delivered at saturation", target, saturation)
    _record_latency(h, section, f"{s.w2_latency_rate:g} notifications/s", target, latency)


def w3_connections(h: Harness, target: Target, *, deflate: bool) -> None:
    """Hold many authenticated sockets on a fresh server: connects/s and RSS per socket.

    Run it first on a freshly started server: the RSS delta of a process that
    already freed memory would be understated. Without deflate the client is
    picows (which never offers it); with deflate it is ``websockets``, offering
    permessage-deflate as browsers do.
    """
    s = h.sizes
    n = s.w3_deflate_sockets if deflate else s.w3_sockets
    path = target.spec.broadcast_path
    pool = "w3-deflate" if deflate else "w3"
    # Warm up: first connections import and initialise code paths, which is not per socket.
    h.connect(target, f"{pool}-warm", path, WARM_UP_SOCKETS, deflate=deflate)
    h.close(f"{pool}-warm")
    time.sleep(0.3)
    pid = target.server.pid
    before = rss_kib(pid)
    label = f"W3 connect{' (deflate)' if deflate else ''}"
    with h.profiler.around(f"{label} {target.name}", {"server": pid}):
        meter = h.meter(target)
        reply = h.connect(target, pool, path, n, deflate=deflate)
        cpu = meter.read()
    after = rss_kib(pid)
    h.close(pool)

    client = "websockets, deflate offered" if deflate else "picows, no deflate"
    section = f"{W3} (N={n:,}, {client})"
    opened = reply["open"]
    rate = opened / reply["seconds"] if reply["seconds"] > 0 else None
    per_socket = (after - before) / opened if opened else None
    h.results.add(section, "connects/s", target.name, rate)
    h.results.add(section, "server RSS per socket, KiB", target.name, per_socket, fmt=MS)
    h.results.add(section, "server RSS with N open, MiB", target.name, after / 1024, fmt=MS)
    if deflate:
        h.results.add(
            section,
            "deflate negotiated",
            target.name,
            None,
            text=f"{reply['deflate']:,}/{opened:,}",
        )
    h.results.phases.append(
        PhaseRecord(
            phase=label,
            target=target.name,
            sent=n,
            received=opened,
            seconds=reply["seconds"],
            rate=rate,
            latency={},
            cpu=cpu,
        )
    )


def client_ceiling(h: Harness, raw: Target) -> float | None:
    """Frames per second the client takes when the raw server sends as fast as it can."""
    n = h.sizes.users
    h.connect(raw, "ceiling", raw.spec.broadcast_path, n)
    try:
        burst = h.deliver(
            raw,
            phase_name="client ceiling",
            command="burst",
            per_message=n * h.sizes.burst_frames,
            seconds=h.sizes.drain_seconds,
            fixed_load=True,
            frames=h.sizes.burst_frames,
        )
    finally:
        h.close("ceiling")
    cpu = ", ".join(f"{k} CPU {v:.0f}%" for k, v in burst.cpu.items() if k in ("client", "server"))
    h.results.notes.append(
        f"Client ceiling: {burst.receipt_rate or 0:,.0f} frames/s received and parsed by one "
        f"client process, first to last frame ({burst.received:,} frames written at once to "
        f"{n:,} picows sockets by the raw server; {cpu or 'too short to meter CPU'})."
    )
    return burst.receipt_rate


def w4_reconnect_storm(h: Harness, target: Target) -> None:
    """TODO(issue 4): reconnect storm, once livebell resumes after a reconnect.

    Plan: open N sockets (pool ``w4``); close them; notify each user K times while
    they are away; reconnect all N at once with ``?last_id=<conn.last_id>`` (each
    client ``Conn`` already keeps the newest id it saw, via the target's
    ``id_path``; format it into the pool URL like ``{u}``); measure reconnects/s,
    time until every socket has its ``{"type": "synced"}`` frame, and replayed
    frames per second, against the reference (which cannot replay).
    """
    print("W4: not yet implemented (needs resume, see issue 4)")
