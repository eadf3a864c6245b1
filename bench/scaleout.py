"""The scale-out table: livebell on 1, 2 and 4 server processes, and on 2 Redis servers.

Built from the phases W1 and W2 measured on ``livebell``, ``livebell-2``,
``livebell-4`` and ``livebell-2-shards``: deliveries per second, the CPU of the
servers (added up) and of Redis (from the scheduler's nanosecond counters: a few
percent would round to nothing in /proc's ticks), less what an idle Redis spends
on its own timers, and what one Redis core would carry at that cost per delivery.
A sharded layer's figure is its busiest shard's. The sender's CPU is there too:
with Redis nearly idle, the table shows what the limit is instead.
"""

from __future__ import annotations

from bench.report import PhaseRecord, Results, markdown_table
from bench.targets import TARGETS

__all__ = ["MIN_REDIS_PERCENT", "PHASES", "SCALE_OUT", "scale_out_table"]

# Redis CPU (% of a core, over a phase) below which no cost per delivery is derived.
MIN_REDIS_PERCENT = 0.2

# The targets of the table, in order, and the phases it shows (name, its label).
SCALE_OUT = ("livebell", "livebell-2", "livebell-4", "livebell-2-shards")
PHASES = (
    ("W1 saturation", "W1 broadcast, back to back"),
    ("W1 latency", "W1 broadcast, 1/s"),
    ("W2 concurrent saturation", "W2 targeted, anotify() in flight"),
)


def _busiest_redis(cpu: dict[str, float]) -> float | None:
    shards = [v for k, v in cpu.items() if k.startswith("redis-")]
    if shards:
        return max(shards)
    return cpu.get("redis")


def _row(label: str, spec_name: str, p: PhaseRecord, idle: float) -> list[str]:
    spec = TARGETS[spec_name]
    redis = _busiest_redis(dict(p.cpu))
    if redis is not None:
        redis = max(0.0, redis - idle)
    rate = p.rate or 0.0
    # Below this, Redis's share is mostly noise: no cost per delivery is derived from it.
    readable = redis is not None and redis >= MIN_REDIS_PERCENT and rate > 0
    per_1000 = 1e4 * redis / rate if readable and redis is not None else None
    # Deliveries/s that would keep the busiest Redis at 100% of one core, at this cost.
    bound = rate * 100 / redis if readable and redis else None

    def cpu(name: str) -> str:
        value = p.cpu.get(name)
        return "-" if value is None else f"{value:.0f}"

    return [
        label,
        str(spec.processes),
        str(spec.redis_servers),
        f"{rate:,.0f}",
        "-" if p.latency.get("p99_ms") is None else f"{p.latency['p99_ms']:.1f}",
        cpu("server"),
        cpu("sender"),
        "-" if redis is None else f"{redis:.1f}",
        "-" if per_1000 is None else f"{per_1000:.2f}",
        "-" if bound is None else f"{bound:,.0f}",
    ]


def scale_out_table(results: Results) -> str | None:
    """The table, or None when fewer than two of its targets ran."""
    present = [name for name in SCALE_OUT if name in results.targets]
    if len(present) < 2:
        return None
    rows = []
    for phase, label in PHASES:
        for name in present:
            record = results.phase(phase, name)
            if record is not None:
                rows.append(_row(label, name, record, results.redis_idle))
    if not rows:
        return None
    caption = (
        f"Scale-out (Redis CPU less an idle Redis's {results.redis_idle:.2f}% of a core; "
        "servers' CPU added up):\n\n"
    )
    return caption + markdown_table(
        [
            "phase",
            "server processes",
            "Redis servers",
            "deliveries/s",
            "p99 ms",
            "CPU% servers",
            "CPU% sender",
            "CPU% Redis (busiest)",
            "Redis CPU ms per 1,000 deliveries",
            "deliveries/s one Redis core would carry",
        ],
        rows,
    )
