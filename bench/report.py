"""Collected results and their rendering as Markdown tables (pasteable into the docs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PhaseRecord", "Results", "Row", "markdown_table"]


@dataclass
class Row:
    """One metric of one workload, across targets."""

    section: str
    metric: str
    fmt: str
    values: dict[str, float | None] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    ratio: bool = True

    def cell(self, target: str) -> str:
        if target in self.texts:
            return self.texts[target]
        value = self.values.get(target)
        return "-" if value is None else self.fmt.format(value)

    def ratio_cell(self, a: str, b: str) -> str:
        x, y = self.values.get(a), self.values.get(b)
        if not self.ratio or x is None or y is None or y == 0:
            return ""
        return f"{x / y:.2f}x"


@dataclass
class PhaseRecord:
    """One measured phase, for the detail table: counts, timings and CPU use."""

    phase: str
    target: str
    sent: int | str
    received: int | str
    seconds: float
    rate: float | None
    latency: Mapping[str, float | None]
    cpu: Mapping[str, float]


class Results:
    """Everything a run measured, its notes, and what failed."""

    def __init__(
        self,
        targets: Sequence[str],
        titles: Mapping[str, str],
        own_table: Sequence[str] = (),
    ) -> None:
        self.targets = list(targets)
        self.titles = dict(titles)
        # Targets shown in a table of their own (bench.scaleout, bench.transports),
        # not as columns of the summary.
        self.own_table = [t for t in targets if t in own_table]
        self.rows: dict[tuple[str, str], Row] = {}
        self.phases: list[PhaseRecord] = []
        self.notes: list[str] = []
        self.failures: list[str] = []
        # CPU % of one idle Redis server (its own timers), read while nothing used it.
        self.redis_idle: float = 0.0

    def add(
        self,
        section: str,
        metric: str,
        target: str,
        value: float | None,
        *,
        fmt: str = "{:,.0f}",
        text: str | None = None,
        ratio: bool = True,
    ) -> None:
        row = self.rows.setdefault((section, metric), Row(section, metric, fmt, ratio=ratio))
        row.values[target] = value
        if text is not None:
            row.texts[target] = text

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def value(self, section: str, metric: str, target: str) -> float | None:
        """The value of the first row whose section and metric start with these."""
        row = self.row(section, metric)
        return None if row is None else row.values.get(target)

    def text(self, section: str, metric: str, target: str) -> str | None:
        """The text of that row's cell for ``target`` (None if it has none)."""
        row = self.row(section, metric)
        return None if row is None or target not in row.values else row.cell(target)

    def row(self, section: str, metric: str) -> Row | None:
        for row in self.rows.values():
            if row.section.startswith(section) and row.metric.startswith(metric):
                return row
        return None

    def phase(self, phase: str, target: str) -> PhaseRecord | None:
        """The first measured phase of that name on ``target``."""
        return next((p for p in self.phases if p.phase == phase and p.target == target), None)

    def render(self, *tables: str) -> str:
        """The summary table, then ``tables`` (each Markdown), the phases and the notes."""
        parts = [self._summary_table()]
        for table in tables:
            parts += ["", table]
        return "\n".join([*parts, "", self._phase_table(), *self._notes()])

    def _summary_table(self) -> str:
        compare = "livebell" in self.targets and "reference" in self.targets
        headers = ["workload", "metric"]
        columns: list[str] = []
        for target in self.targets:
            if target in self.own_table:
                continue
            headers.append(self.titles[target])
            columns.append(target)
            if compare and target == "reference":
                headers.append("livebell/reference")
                columns.append("ratio")
        lines = [_line(headers), _line(["---"] * len(headers))]

        # Workloads in order (W1…W5, then storage), metrics in the order they were
        # measured; rows no column has a value for (scale-out targets' only) left out.
        def order(row: Row) -> tuple[bool, str]:
            return (not row.section.startswith("W"), row.section.split()[0])

        for row in sorted(self.rows.values(), key=order):
            if not any(t in row.values or t in row.texts for t in columns):
                continue
            cells = [row.section, row.metric]
            for column in columns:
                cells.append(
                    row.ratio_cell("livebell", "reference")
                    if column == "ratio"
                    else row.cell(column)
                )
            lines.append(_line(cells))
        return "\n".join(lines)

    def _phase_table(self) -> str:
        headers = [
            "phase",
            "target",
            "sent",
            "received",
            "s",
            "rate/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "CPU% server",
            "sender",
            "client",
            "redis",
        ]
        lines = [_line(headers), _line(["---"] * len(headers))]
        for p in self.phases:
            lines.append(
                _line(
                    [
                        p.phase,
                        self.titles.get(p.target, p.target),
                        str(p.sent),
                        str(p.received),
                        f"{p.seconds:.2f}",
                        _num(p.rate, "{:,.0f}"),
                        _num(p.latency.get("p50_ms"), "{:.1f}"),
                        _num(p.latency.get("p99_ms"), "{:.1f}"),
                        _num(p.latency.get("max_ms"), "{:.1f}"),
                        *(
                            _num(p.cpu.get(k), "{:.0f}")
                            for k in ("server", "sender", "client", "redis")
                        ),
                    ]
                )
            )
        return "\n".join(lines)

    def _notes(self) -> list[str]:
        out = [""] if self.notes else []
        out += [f"- {note}" for note in self.notes]
        if self.failures:
            out += ["", "FAILED:"] + [f"- {failure}" for failure in self.failures]
        return out


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table of ``rows`` under ``headers``."""
    return "\n".join([_line(headers), _line(["---"] * len(headers)), *map(_line, rows)])
