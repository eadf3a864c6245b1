"""How big each workload is: ``FULL`` for ``make bench``, ``QUICK`` for ``make bench-quick``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["FULL", "QUICK", "WORKLOADS", "Sizes"]

# What a run can include (``--workloads``); "ceiling" is the client ceiling (raw
# target); "storage" the database side alone (bench.storage), in process.
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "ceiling", "storage")
# What livebell and the reference are compared on, on the databases after the first.
OTHER_DATABASES = ("W1", "W2", "W3", "W4", "storage")
OTHER_DATABASES_QUICK = ("W1", "storage")
QUICK_NAME = "quick"


@dataclass(frozen=True)
class Sizes:
    """Counts, rates and time limits of one run. Every loop is bounded by both."""

    name: str
    targets: tuple[str, ...]
    # W1 and W2: one socket per user, this many users.
    users: int
    # W1: broadcasts sent back to back (saturation), then at a fixed rate (latency).
    w1_saturation_broadcasts: int
    w1_latency_broadcasts: int
    w1_latency_rate: float  # broadcasts per second
    # W2: single-user notifications back to back (saturation), then at a fixed rate.
    w2_saturation_count: int
    w2_saturation_seconds: float
    w2_latency_count: int
    w2_latency_rate: float  # notifications per second
    # W2 from many async callers at once (as an ASGI site's requests would): calls
    # in flight at most, and the fixed-rate phase (the "p99 at 1,000/s").
    w2_concurrency: int
    w2_concurrent_latency_count: int
    w2_concurrent_latency_rate: float
    # W3: sockets held open at once, without and with per-message deflate offered.
    w3_sockets: int
    w3_deflate_sockets: int
    connect_concurrency: int
    # W4: sockets (one per user) dropped at once, notifications each user misses while
    # away, handshakes in flight at once when they all come back, and the longest wait
    # for every one to be back and caught up.
    w4_sockets: int
    w4_missed: int
    w4_concurrency: int
    w4_seconds: float
    # W5: sockets held by one server process, mostly idle, while W1's latency phase
    # runs on ``users`` of them; each total in turn (the pool grows to the next).
    w5_sockets: tuple[int, ...]
    # storage: the sizes of the notify() calls, the rows of the large inbox, runs.
    storage_recipients: tuple[int, ...]
    storage_rows: int
    storage_runs: int
    # Client ceiling: frames the raw server sends to each socket in one burst.
    burst_frames: int
    # Longest wait for the last frames of a phase; give up sooner after this long
    # without any frame; longest wait for a pool to connect.
    drain_seconds: float
    idle_seconds: float
    connect_seconds: float
    workloads: tuple[str, ...] = WORKLOADS

    @property
    def fixture_users(self) -> int:
        """Users (with a session each) that the chosen workloads need."""
        return self.users_needed(frozenset(self.workloads))

    def users_needed(self, workloads: frozenset[str]) -> int:
        """Users (with a session each) that those of ``workloads`` chosen need (0: none)."""
        needs = {
            "W1": self.users,
            "W2": self.users,
            "W3": max(self.w3_sockets, self.w3_deflate_sockets),
            "W4": self.w4_sockets,
            "W5": max(self.w5_sockets, default=0),
            "ceiling": self.users,
            "storage": 0,  # bench.storage makes its own users, without sessions
        }
        return max((needs[w] for w in self.workloads if w in workloads), default=0)

    def on_database(self, all_targets: bool) -> Sizes:
        """The sizes on one database of the run (:mod:`bench.databases`).

        A database that does not measure every target runs livebell and the
        reference through the workloads they are compared on: W1 to W4 and storage
        on the full sizes, W1 and storage on the quick ones.
        """
        if all_targets:
            return self
        measured = OTHER_DATABASES_QUICK if self.name == QUICK_NAME else OTHER_DATABASES
        return replace(
            self,
            targets=tuple(t for t in self.targets if t in ("livebell", "reference")),
            workloads=tuple(w for w in self.workloads if w in measured),
        )

    def with_overrides(self, **changes: Any) -> Sizes:
        """A copy with the changes that are not None."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


FULL = Sizes(
    name="full",
    targets=(
        "livebell",
        "livebell-sse",
        "reference",
        "reference-core",
        "raw",
        "livebell-granian",
        "openwisp",
        "community",
        "livebell-2",
        "livebell-4",
        "livebell-2-shards",
    ),
    users=1000,
    w1_saturation_broadcasts=20,
    w1_latency_broadcasts=5,
    w1_latency_rate=1.0,
    w2_saturation_count=5000,
    w2_saturation_seconds=4.0,
    w2_latency_count=150,
    w2_latency_rate=50.0,
    w2_concurrency=64,
    w2_concurrent_latency_count=2000,
    w2_concurrent_latency_rate=1000.0,
    w3_sockets=10_000,
    w3_deflate_sockets=2_000,
    connect_concurrency=100,
    w4_sockets=5_000,
    w4_missed=10,
    w4_concurrency=5_000,
    w4_seconds=60.0,
    w5_sockets=(10_000, 20_000),
    storage_recipients=(1_000, 10_000),
    storage_rows=100_000,
    storage_runs=5,
    burst_frames=200,
    drain_seconds=20.0,
    idle_seconds=3.0,
    connect_seconds=120.0,
)

# The peers (openwisp, community) only when asked for (--targets): installing them
# takes a minute the first time, and CI runs this.
QUICK = Sizes(
    name=QUICK_NAME,
    targets=(
        "livebell",
        "livebell-sse",
        "reference",
        "raw",
        "livebell-granian",
        "livebell-2-shards",
    ),
    users=50,
    w1_saturation_broadcasts=5,
    w1_latency_broadcasts=4,
    w1_latency_rate=4.0,
    w2_saturation_count=200,
    w2_saturation_seconds=1.0,
    w2_latency_count=30,
    w2_latency_rate=50.0,
    w2_concurrency=16,
    w2_concurrent_latency_count=100,
    w2_concurrent_latency_rate=500.0,
    w3_sockets=100,
    w3_deflate_sockets=100,
    connect_concurrency=50,
    w4_sockets=50,
    w4_missed=10,
    w4_concurrency=50,
    w4_seconds=15.0,
    w5_sockets=(200,),
    storage_recipients=(100, 1_000),
    storage_rows=2_000,
    storage_runs=1,
    burst_frames=100,
    drain_seconds=5.0,
    idle_seconds=2.0,
    connect_seconds=15.0,
)
