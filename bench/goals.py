"""The targets table: each of issue 12's targets, its measured ratio or time, met or not.

Read from the run's results only (nothing is measured here), so ``make bench``
prints it after the tables. A target whose figures the run did not measure (a
``--targets`` or ``--workloads`` subset) says so. On the quick sizes the rows are
printed as a smoke test, but they judge nothing: the issue's targets are about
the full workloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.report import Results, markdown_table

__all__ = ["GOALS", "Goal", "Reading", "databases_table", "goals_table"]

LIVEBELL, REFERENCE, RAW = "livebell", "reference", "raw"
W1, W2, W3, W4, W5 = (
    "W1 broadcast",
    "W2 targeted, anotify(), ",
    "W3 connections (N=",
    "W4 reconnect storm",
    "W5 idle sockets",
)
STORAGE = "Storage"
# notify() on every other database, in the same run: at most this many times PostgreSQL's.
STORAGE_SLOWER_AT_MOST = 2.0


@dataclass(frozen=True)
class Reading:
    """What the run measured for one target: as shown, and whether it meets it."""

    measured: str
    met: bool | None  # None: not measured


NOT_MEASURED = Reading("not measured in this run", None)


@dataclass(frozen=True)
class Goal:
    workload: str
    goal: str
    read: Callable[[Results], Reading]


def _ratio(
    section: str, metric: str, of: str, to: str, at_least: float, *, unit: str = "/s"
) -> Callable[[Results], Reading]:
    def read(results: Results) -> Reading:
        a, b = results.value(section, metric, of), results.value(section, metric, to)
        if a is None or not b:
            return NOT_MEASURED
        return Reading(f"{a / b:.2f}x ({a:,.0f} vs {b:,.0f}{unit})", a / b >= at_least)

    return read


def _w1_p99(results: Results) -> Reading:
    p99 = results.value(W1, "p99 ms at", LIVEBELL)
    if p99 is None:
        return NOT_MEASURED
    reference = results.value(W1, "p99 ms at", REFERENCE)
    also = "" if reference is None else f" (reference {reference:.0f} ms)"
    return Reading(f"{p99:.1f} ms{also}", p99 <= 100)


def _w4(results: Results) -> Reading:
    seconds = results.value(W4, "all caught up, s", LIVEBELL)
    exact = results.text(W4, "missed notifications received", LIVEBELL) or ""
    within = results.text(W4, "caught up within", LIVEBELL) or ""
    if seconds is None:
        # Not everybody caught up within the run's limit, or W4 did not run.
        if not within:
            return NOT_MEASURED
        return Reading(f"not all caught up ({within} within 10 s); {exact}", False)
    is_exact = exact.startswith("all") and "exact" in exact
    return Reading(
        f"{seconds:.2f} s ({within} within 10 s), {'exact' if is_exact else exact}",
        seconds <= 10 and is_exact,
    )


def _w5(results: Results) -> Reading:
    held: list[tuple[int, float]] = []
    for row in results.rows.values():
        if row.section.startswith(W5) and "p99 ms" in row.metric:
            value = row.values.get(LIVEBELL)
            if value is not None:
                n = int(row.metric.split(":")[0].removeprefix("N=").replace(",", ""))
                held.append((n, value))
    if not held:
        return NOT_MEASURED
    held.sort()
    shown = "; ".join(f"{n:,}: p99 {p99:,.0f} ms" for n, p99 in held)
    biggest, p99 = held[-1]
    if p99 > 1000:
        return Reading(shown, False)
    if biggest < 20_000:
        # Fine as far as it went, but short of the goal's count (the open-file limit).
        return Reading(f"{shown} (fewer than 20,000 held: the notes say why)", None)
    return Reading(shown, True)


GOALS = (
    Goal(
        "W1 broadcast saturation vs reference",
        ">= 4x",
        _ratio(W1, "saturation, deliveries/s", LIVEBELL, REFERENCE, 4),
    ),
    Goal(
        "W1 broadcast saturation vs raw (stretch)",
        ">= 0.5x",
        _ratio(W1, "saturation, deliveries/s", LIVEBELL, RAW, 0.5),
    ),
    Goal("W1 p99 at 1 broadcast/s (1,000 deliveries/s)", "<= 100 ms", _w1_p99),
    Goal(
        "W2 stored+delivered, 64 in flight, vs reference push-only",
        ">= 1x",
        _ratio(W2, "saturation, delivered/s", LIVEBELL, REFERENCE, 1),
    ),
    Goal(
        "W3 connects/s vs reference",
        ">= 4x",
        _ratio(W3, "connects/s", LIVEBELL, REFERENCE, 4),
    ),
    Goal("W3 connects/s vs raw", ">= 0.5x", _ratio(W3, "connects/s", LIVEBELL, RAW, 0.5)),
    Goal("W4 5,000 sockets x 10 missed: all caught up", "<= 10 s, exact", _w4),
    Goal(
        "sockets held by one process, idle, with W1 latency p99 <= 1 s",
        "20,000",
        _w5,
    ),
)


def goals_table(results: Results, *, quick: bool) -> str:
    """The targets table; on quick sizes, with a line saying it judges nothing."""
    rows = []
    for goal in GOALS:
        reading = goal.read(results)
        met = {True: "met", False: "not met", None: "-"}[reading.met]
        rows.append([goal.workload, reading.measured, goal.goal, met])
    table = markdown_table(["target (issue 12)", "this run", "goal", "met?"], rows)
    if quick:
        return (
            "Quick sizes: the rows below check that every figure is produced; the "
            "targets are about the full sizes (make bench).\n\n" + table
        )
    return table


# The goals every database is held to (the others need PostgreSQL's targets: the
# raw server, the peers, W5).
ON_EVERY_DATABASE = tuple(
    goal
    for goal in GOALS
    if goal.workload.startswith(
        ("W1 broadcast saturation vs reference", "W1 p99", "W2", "W3 connects/s vs reference", "W4")
    )
)


def _storage_goals(first: Results) -> list[tuple[str, str]]:
    """The storage figures held to PostgreSQL's: (metric, how the table names it)."""
    row_metrics = [
        row.metric
        for row in first.rows.values()
        if row.section.startswith(STORAGE) and row.metric.startswith("notify ")
    ]
    return [
        (metric, f"{metric.replace('notify', 'notify() to', 1)}, vs {{first}}")
        for metric in row_metrics
    ]


def databases_table(runs: list[tuple[str, Results]], *, quick: bool) -> str:
    """The targets on every database of the run, a column each, then the storage figures.

    ``runs`` is each database's title and results, PostgreSQL first: the storage
    figures of the others are held to within 2x of the first's, in the same run.
    """
    titles = [title for title, _ in runs]
    rows = []
    for goal in ON_EVERY_DATABASE:
        readings = [goal.read(results) for _, results in runs]
        rows.append([goal.workload, goal.goal, *(r.measured for r in readings), _all_met(readings)])
    first_title, first = runs[0]
    first_name = first_title.split()[0]
    for metric, name in _storage_goals(first):
        base = first.value(STORAGE, metric, "livebell")
        readings = []
        for _, results in runs:
            value = results.value(STORAGE, metric, "livebell")
            if value is None or not base:
                readings.append(NOT_MEASURED)
                continue
            ratio = value / base
            readings.append(
                Reading(f"{value:,.1f} ms ({ratio:.2f}x)", ratio <= STORAGE_SLOWER_AT_MOST)
            )
        rows.append(
            [
                name.format(first=first_name),
                f"<= {STORAGE_SLOWER_AT_MOST:g}x",
                *(r.measured for r in readings),
                _all_met(readings),
            ]
        )
    table = markdown_table(["target", "goal", *titles, "met on every database?"], rows)
    storage = _storage_side_by_side(runs)
    parts = [table, storage] if storage else [table]
    if quick:
        parts.insert(
            0, "Quick sizes: the rows check that every figure is produced; they judge nothing."
        )
    return "\n\n".join(parts)


def _all_met(readings: list[Reading]) -> str:
    if any(r.met is None for r in readings):
        return "-"
    return "yes" if all(r.met for r in readings) else "no"


def _storage_side_by_side(runs: list[tuple[str, Results]]) -> str:
    """Every storage figure of livebell, a column per database (median ms)."""
    metrics: list[str] = []
    for _, results in runs:
        for row in results.rows.values():
            if row.section.startswith(STORAGE) and row.metric not in metrics:
                metrics.append(row.metric)
    if not metrics:
        return ""
    rows = []
    for metric in metrics:
        cells = []
        for _, results in runs:
            value = results.value(STORAGE, metric, "livebell")
            cells.append("-" if value is None else f"{value:,.1f}")
        rows.append([metric, *cells])
    return markdown_table(["storage, livebell, median ms", *(t for t, _ in runs)], rows)
