"""The workloads. Each runs on one target through the shared client, sender and harness.

- W1 broadcast: one message to all N connected users, back to back (saturation),
  then at a fixed rate (latency), after a warm-up broadcast that is not counted.
- W2 targeted: messages to one random user each, back to back, then at a fixed rate;
  from synchronous code (``notify()``) or from an event loop (``anotify()``).
- W3 connections: N sockets held at once on a fresh server: connects per second and
  the server's RSS per socket, with and without per-message deflate offered.
- W4 reconnect storm: N sockets dropped at once, K notifications made for each user
  meanwhile, all N back at once resuming from their newest id: time until every
  client has caught up, per-client catch-up, exactness, database cost per reconnect.
- W5 idle sockets: N sockets held by one server process (10,000, then 20,000),
  all but 1,000 idle, while W1's latency phase runs on those 1,000.
- storage: the database side alone, in process (:mod:`bench.storage`): notifying
  1,000 and 10,000 users, mark-all-read and the unread count on 100,000 rows.
- Client ceiling: how many frames per second the client can take (raw server burst).
"""

from __future__ import annotations

import resource
import subprocess
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from itertools import pairwise
from typing import Any

import orjson

from bench import dbstats
from bench.harness import Delivery, Harness, Target
from bench.procs import listen_overflows, rss_kib, socket_count
from bench.report import PhaseRecord
from bench.stats import summarise
from bench.storage import metric_names
from bench.targets import PROJECTS, REPO, TargetSpec

__all__ = [
    "check_replay",
    "client_ceiling",
    "storage",
    "w1_broadcast",
    "w2_targeted",
    "w3_connections",
    "w4_reconnect_storm",
    "w5_idle_sockets",
]

W1 = "W1 broadcast"
W2 = "W2 targeted"
W3 = "W3 connections"
W4 = "W4 reconnect storm"
W5 = "W5 idle sockets"
STORAGE = "Storage"
# W5: open files a server or client process needs besides its sockets.
FD_RESERVE = 100
# How long one storage measurement may take (10,000-recipient calls, 100,000 rows).
STORAGE_SECONDS = 900.0
MS = "{:.1f}"
WARM_UP_SOCKETS = 10
# W4: how long the server may take to close the sockets the client dropped; the
# summary row of the time until everybody caught up (the goal: 10 s); the
# table whose scans a resume costs; server log lines worth reporting after a storm.
SERVER_CLOSE_SECONDS = 10.0
GOAL_SECONDS = 10.0
CAUGHT_UP = f"all caught up, s (goal: {GOAL_SECONDS:g})"
# W4 notes: how many sockets were back within each of these times.
MILESTONES = (1.0, 5.0, 10.0, 30.0)
NOTIFICATION_TABLE = "livebell_notification"
LOG_ALARMS = ("Traceback", "ERROR", "Error", "Exception")


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

    livebell: ``notify(User.objects.filter(pk__in=…))`` stores N rows and sends their N
    frames in one fan-out message. Reference: one ``group_send`` to the one group.
    Raw: one PUBLISH.
    """
    s, n = h.sizes, h.sizes.users
    h.connect(target, "w1", target.spec.broadcast_path, n)
    try:
        # The first broadcast after the sockets open pays first-time costs, which
        # would weigh on a phase of about a second (docs/benchmarks.md, "Workloads").
        _warm_up(h, target, n)
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
    _record_latency(h, section, _broadcasts(s.w1_latency_rate, n), target, latency)


def _broadcasts(rate: float, users: int) -> str:
    """The offered load of W1's latency phase, e.g. "1 broadcast/s (1,000 deliveries/s)"."""
    return f"{rate:g} broadcast{'' if rate == 1 else 's'}/s ({rate * users:,.0f} deliveries/s)"


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
        for mode in ("sync", "async", "concurrent"):
            _w2_mode(h, target, mode)
    finally:
        h.close("w2")


def _w2_mode(h: Harness, target: Target, mode: str) -> None:
    s = h.sizes
    concurrent = mode == "concurrent"
    concurrency = s.w2_concurrency if concurrent else 1
    latency_count = s.w2_concurrent_latency_count if concurrent else s.w2_latency_count
    latency_rate = s.w2_concurrent_latency_rate if concurrent else s.w2_latency_rate
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
        concurrency=concurrency,
    )
    latency = h.deliver(
        target,
        phase_name=f"W2 {mode} latency",
        command="targeted",
        per_message=1,
        count=latency_count,
        rate=latency_rate,
        seconds=latency_count / latency_rate + s.drain_seconds,
        fixed_load=True,
        mode=mode,
        concurrency=concurrency,
    )
    caller = {
        "sync": "notify()",
        "async": "anotify()",
        "concurrent": f"anotify(), {concurrency} in flight",
    }[mode]
    section = f"{W2}, {caller} (N={s.users})"
    h.results.add(section, "saturation, delivered/s", target.name, saturation.rate)
    _record_completeness(h, section, "delivered at saturation", target, saturation)
    _record_latency(h, section, f"{latency_rate:g} notifications/s", target, latency)


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
    pid = target.server.serving_pid
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
    """N sockets drop at once and come back at once, each having missed K notifications.

    Open N sockets (one per user) and wait until each has its ``synced`` frame (so
    it knows its newest id); close them all at once from the client; have the
    sender create K notifications for each user meanwhile (``notify()`` to all N
    users, K times: batched INSERTs, pushes to nobody); then reopen all N at once,
    each with ``?last_id=<its newest id>``. Measured from the start of the reconnect:
    when every client has its K missed notifications and then ``synced``,
    per-client catch-up times and reconnects per second. Each client must get
    exactly its K ids, in increasing order, once. On PostgreSQL, the database's
    statements and scans per reconnect are read from its statistics (:mod:`bench.dbstats`).

    The reference has no catch-up: its clients reconnect to the same URL (the sender
    broadcast K messages to nobody meanwhile) and are back, with nothing to catch up.
    """
    s = h.sizes
    n, k, pool = s.w4_sockets, s.w4_missed, "w4"
    server = target.server.serving_pid
    h.connect(target, pool, target.spec.broadcast_path, n, synced=True)
    try:
        with_pool = socket_count(server)
        dropped = h.drop(pool)
        # Make the notifications once the server has closed its side (nobody to push to).
        _wait_for_sockets(server, with_pool - dropped["closed"])
        phase = h.next_phase()
        user_ids = [user for user, _ in target.users[:n]]
        missed = target.sender.call("missed", wait=600, phase=phase, count=k, user_ids=user_ids)
        log_from = target.server.log_size()
        url = h.env["DATABASE_URL"]
        reader = dbstats.reading(url) if dbstats.measurable(url) else nullcontext(None)
        with reader as db:
            before = db.read() if db else None
            with h.profiler.around(f"{W4} {target.name}", {"server": server}):
                meter = h.meter(target)
                overflows = listen_overflows()
                storm = h.resume(target, pool, concurrency=s.w4_concurrency, within=s.w4_seconds)
                overflows = listen_overflows() - overflows
                cpu = meter.read()
            cost = db.read().minus(before) if db and before else None
            others = db.others if db else 0
        marked = h.take(phase)
    finally:
        h.close(pool)
    if dropped["still_open"]:
        h.problem(target, f"W4: {dropped['still_open']} sockets still open after the drop")
    h.log(
        f"W4 {target.name}: dropped {dropped['closed']:,} in {dropped['seconds']:.2f} s; "
        f"{k}x{n:,} missed made in {missed['seconds']:.1f} s"
    )
    back = Storm(storm["sockets"], synced=target.spec.synced_type is not None)
    at_once = "" if s.w4_concurrency >= n else f", {s.w4_concurrency:,} handshakes at a time"
    section = f"{W4} (N={n:,}, {k} missed each{at_once})"
    _record_storm(h, target, section, back)
    _note_storm(h, target, back, overflows)
    _record_replay(h, target, section, back, missed["ids"], marked["received"])
    if cost is not None:
        _record_db_cost(h, target, section, cost, back.reconnected, others)
    _note_server_errors(h, target, target.server.log_since(log_from))
    if storm["failed"]:
        h.problem(target, f"W4: {storm['failed']} of {n} reconnects failed ({storm['errors']})")
    h.results.phases.append(
        PhaseRecord(
            phase=W4,
            target=target.name,
            sent=f"{n}x{k}",
            received=marked["received"],
            seconds=back.times[-1] if back.times else 0.0,
            rate=marked["received"] / back.all_back if back.all_back else None,
            latency=_percentiles_ms(back.times),
            cpu=cpu,
        )
    )


class Storm:
    """The sockets of one reconnect storm, as the client reported them.

    Times are seconds from the start of the reconnect. A socket is *back* once it
    is open and, on a target that replays (``synced``), once its ``synced`` frame,
    which ends the catch-up, has arrived.
    """

    def __init__(self, sockets: list[dict[str, Any]], *, synced: bool) -> None:
        self.sockets = sockets
        self.synced = synced
        key = "done" if synced else "opened"
        self.times = sorted(sock[key] for sock in sockets if sock[key] is not None)
        self.opened = sorted(sock["opened"] for sock in sockets if sock["opened"] is not None)
        self.reconnected = len(self.opened)
        self.last_open = self.opened[-1] if self.opened else None
        # When the last socket was back: None unless every one came back.
        self.all_back = self.times[-1] if len(self.times) == len(sockets) else None

    def within(self, seconds: float) -> int:
        """How many sockets were back within ``seconds``."""
        return bisect_right(self.times, seconds)


def _note_storm(h: Harness, target: Target, back: Storm, overflows: int) -> None:
    """Note how the sockets came back over time, and the listen-queue overflows meanwhile."""
    what = "caught up" if back.synced else "reconnected"
    counts = ", ".join(f"{t:g} s: {back.within(t):,}" for t in MILESTONES)
    h.results.notes.append(
        f"{target.spec.title}: W4: {what} within {counts} (of {len(back.sockets):,}); "
        f"reconnected within {GOAL_SECONDS:g} s: "
        f"{bisect_right(back.opened, GOAL_SECONDS):,}; TCP listen-queue overflows "
        f"during the reconnect (whole machine, /proc/net/netstat): {overflows:,}."
    )


def _percentiles_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max, in ms, of times given in seconds."""
    summary = summarise([round(t * 1e9) for t in seconds])
    return {"p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"], "max_ms": summary["max_ms"]}


def _wait_for_sockets(pid: int, at_most: int) -> None:
    """Wait until the server holds no more sockets than ``at_most`` (bounded)."""
    deadline = time.monotonic() + SERVER_CLOSE_SECONDS
    while socket_count(pid) > at_most and time.monotonic() < deadline:
        time.sleep(0.05)


def check_replay(
    sockets: list[dict[str, Any]], expected: Mapping[str, Sequence[Any]]
) -> Counter[str]:
    """Sockets with each kind of fault: not back, no ``synced``, ids missing,
    unexpected, duplicated or out of order. Empty when every socket received
    exactly its expected ids (``expected``: by user, as strings), in order, once."""
    faults: Counter[str] = Counter()
    for sock in sockets:
        if sock["opened"] is None:
            faults["not reconnected"] += 1
            continue
        got, want = sock["ids"], expected.get(str(sock["u"]), [])
        checks = {
            "no synced frame": sock["done"] is None,
            "missing": bool(set(want) - set(got)),
            "unexpected": bool(set(got) - set(want)),
            "duplicate": len(set(got)) < len(got),
            "out of order": any(b < a for a, b in pairwise(got)),
        }
        faults.update(fault for fault, found in checks.items() if found)
    return faults


def _record_storm(h: Harness, target: Target, section: str, back: Storm) -> None:
    """Record reconnects/s and, on a replaying target, catch-up times."""
    n = len(back.sockets)
    rate = back.reconnected / back.last_open if back.last_open else None
    h.results.add(section, "reconnects/s", target.name, rate)
    h.results.add(section, "all reconnected, s", target.name, back.last_open, fmt="{:.2f}")
    if not back.synced:
        for metric in (
            CAUGHT_UP,
            f"caught up within {GOAL_SECONDS:g} s",
            "p50 ms per-client catch-up",
            "p99 ms per-client catch-up",
        ):
            h.results.add(section, metric, target.name, None, text="no catch-up")
        return
    text = None if back.all_back else f"not all ({len(back.times):,} of {n:,})"
    h.results.add(section, CAUGHT_UP, target.name, back.all_back, fmt="{:.2f}", text=text)
    on_time = back.within(GOAL_SECONDS)
    h.results.add(
        section,
        f"caught up within {GOAL_SECONDS:g} s",
        target.name,
        None,
        text=f"{on_time:,} of {n:,}",
    )
    latency = _percentiles_ms(back.times)
    for key in ("p50", "p99"):
        h.results.add(
            section, f"{key} ms per-client catch-up", target.name, latency[f"{key}_ms"], fmt=MS
        )


def _record_replay(
    h: Harness,
    target: Target,
    section: str,
    back: Storm,
    expected: Mapping[str, Sequence[Any]],
    received: int,
) -> None:
    """Record how many missed notifications came back; on a replaying target, check
    each socket's ids against ``expected`` and fail the run on any fault."""
    metric = "missed notifications received"
    missed = len(back.sockets) * h.sizes.w4_missed
    if not back.synced:
        text = f"none of {missed:,}: no catch-up" if not received else f"{received:,} of {missed:,}"
        h.results.add(section, metric, target.name, None, text=text)
        return
    faults = check_replay(back.sockets, expected)
    exact = f"all {missed:,}, exact" if not faults else f"{received:,} of {missed:,}"
    h.results.add(section, metric, target.name, None, text=exact)
    if faults:
        wrong = next(
            sock
            for sock in back.sockets
            if sock["ids"] != expected.get(str(sock["u"])) or sock["done"] is None
        )
        h.problem(
            target,
            f"W4: sockets with faults {dict(faults)} ({received} of {missed} received); "
            f"e.g. user {wrong['u']} resumed from {wrong['from']}: got {wrong['ids'][:20]}, "
            f"expected {list(expected.get(str(wrong['u']), []))[:20]}",
        )


def _record_db_cost(
    h: Harness,
    target: Target,
    section: str,
    cost: dbstats.DbCounters,
    reconnects: int,
    others: int,
) -> None:
    """Record the database transactions and scans per reconnect; note them per table.

    ``others``: connections of other clients to the database seen meanwhile, whose
    queries the counters would include too.
    """
    if not reconnects:
        return
    h.results.add(
        section,
        "DB transactions (statements) per reconnect",
        target.name,
        cost.transactions / reconnects,
        fmt="{:.2f}",
    )
    scans = cost.scans.get(NOTIFICATION_TABLE, (0, 0))
    h.results.add(
        section,
        f"{NOTIFICATION_TABLE} scans per reconnect",
        target.name,
        sum(scans) / reconnects,
        fmt="{:.2f}",
    )
    per_table = ", ".join(
        f"{table} {seq / reconnects:.2f} seq + {idx / reconnects:.2f} index"
        for table, (seq, idx) in sorted(cost.scans.items())
        if seq or idx
    )
    h.results.notes.append(
        f"{target.spec.title}: W4 database cost per reconnect (pg_stat_database and "
        f"pg_stat_user_tables deltas over {reconnects:,} reconnects): "
        f"{cost.transactions / reconnects:.2f} transactions; scans: {per_table or 'none'}."
        + (
            f" NOT this run's alone: {others} other connection(s) to the database were open."
            if others
            else ""
        )
    )


def _note_server_errors(h: Harness, target: Target, log: str) -> None:
    """Note (not fail) the server's log lines that look like errors during the storm."""
    alarms = [line for line in log.splitlines() if any(a in line for a in LOG_ALARMS)]
    if alarms:
        h.results.notes.append(
            f"{target.spec.title}: W4: the server logged {len(alarms)} error lines, "
            f"first: {alarms[0][:200]}"
        )


def w5_idle_sockets(h: Harness, target: Target) -> None:
    """How many sockets one process holds while still delivering on time.

    For each total N (10,000, then 20,000): the pool of idle sockets grows until N
    sockets are open on the one server process, ``users`` of them (the first users,
    the sender's recipients) in their own pool; then W1's latency phase (the same
    broadcasts at the same rate) runs on those. Run on a freshly started server.
    """
    s = h.sizes
    active, path = s.users, target.spec.broadcast_path
    # One socket is one open file of the server (and of the client), which holds a few
    # dozen more; beyond the limit (children have the bench's) a total is not reachable.
    most = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - FD_RESERVE
    totals = sorted({min(total, most) for total in s.w5_sockets})
    if max(s.w5_sockets) > most:
        h.results.notes.append(
            f"{target.spec.title}: W5: {max(s.w5_sockets):,} sockets need more open files "
            f"than the open-file limit of {most + FD_RESERVE:,} per process (a hard limit "
            f"the bench could not raise); measured at {most:,} instead."
        )
    pools = ["w5-active"]
    h.connect(target, "w5-active", path, active)
    held = active
    try:
        for total in totals:
            if total > held:
                pool = f"w5-idle-{total}"
                pools.append(pool)
                h.connect(target, pool, path, total - held, first=held)
                held = total
            _warm_up(h, target, active)
            latency = h.deliver(
                target,
                phase_name=f"W5 latency, {held:,} sockets",
                command="broadcast",
                per_message=active,
                count=s.w1_latency_broadcasts,
                rate=s.w1_latency_rate,
                seconds=s.w1_latency_broadcasts / s.w1_latency_rate + s.drain_seconds,
                fixed_load=True,
            )
            section = f"{W5} (N held, W1 latency on {active:,})"
            metric = f"N={held:,}: p99 ms at {_broadcasts(s.w1_latency_rate, active)}"
            h.results.add(section, metric, target.name, latency.latency["p99_ms"], fmt=MS)
            h.results.add(
                section,
                f"N={held:,}: server RSS, MiB",
                target.name,
                rss_kib(target.server.serving_pid) / 1024,
                fmt=MS,
            )
    finally:
        for pool in pools:
            h.close(pool)


def _warm_up(h: Harness, target: Target, recipients: int) -> None:
    """One broadcast whose frames are awaited and not recorded: the sockets just opened
    and a sender that has not broadcast yet pay their first-time costs here."""
    phase = h.next_phase()
    seconds = h.sizes.drain_seconds
    target.sender.call("broadcast", wait=seconds + 60, phase=phase, count=1, rate=None, seconds=5)
    h.client.call(
        "collect",
        wait=seconds + 30,
        phase=phase,
        expect=recipients,
        within=seconds,
        idle=h.sizes.idle_seconds,
    )


def storage(h: Harness, spec: TargetSpec) -> None:
    """The database side alone: :mod:`bench.storage` in the target's project and interpreter."""
    s = h.sizes
    project = PROJECTS[spec.project]
    argv = [
        h.pythons[project.interpreter],
        "-m",
        "bench.storage",
        f"--project={spec.project}",
        f"--recipients={','.join(str(n) for n in s.storage_recipients)}",
        f"--rows={s.storage_rows}",
        f"--runs={s.storage_runs}",
        "--json",
    ]
    job = h.services.start(
        f"storage-{spec.name}",
        argv,
        env={**h.env, "DJANGO_SETTINGS_MODULE": project.settings},
        cwd=REPO,
        pipes=True,
    )
    try:
        out, _ = job.proc.communicate(timeout=STORAGE_SECONDS)
    except subprocess.TimeoutExpired:
        h.problem_spec(spec, f"storage: over {STORAGE_SECONDS:.0f} s")
        return
    finally:
        h.services.stop(job)
    if job.proc.returncode != 0:
        h.problem_spec(spec, f"storage failed: {job.log_tail(5)}")
        return
    measured = orjson.loads(out)["results"]
    section = f"{STORAGE} ({h.database.title}, in process; median ms)"
    for name in metric_names(s.storage_recipients, s.storage_rows):
        h.results.add(section, name, spec.name, measured.get(name), fmt=MS)
