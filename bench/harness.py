"""The running bench: its servers, agents and users, and the steps every workload shares."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.agent import Agent, Reply
from bench.databases import Database
from bench.procs import (
    LOOPBACK,
    Service,
    Services,
    cpu_seconds,
    free_port,
    scheduled_seconds,
    wait_for_port,
)
from bench.profile import Profiler
from bench.report import PhaseRecord, Results
from bench.sizes import Sizes
from bench.targets import TargetSpec

__all__ = ["CpuMeter", "Delivery", "Harness", "Target"]

SERVER_START_SECONDS = 30.0
MIN_METERED_SECONDS = 0.3


@dataclass
class Target:
    """A started target: its spec, its server process and port, its sender agent."""

    spec: TargetSpec
    server: Service
    port: int
    sender: Agent
    # The users its sockets log in as (its project's: ``[(user id, session key), ...]``).
    users: list[tuple[Any, str]]
    # The Redis servers its channel layer uses (one, or its shards).
    redis: list[Service]
    # The target's other server processes (TargetSpec.processes > 1) and their ports.
    more: list[tuple[Service, int]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def origin(self) -> str:
        """The page origin a browser would send; ``{p}`` (each socket's server port) when
        there are several, since livebell checks the origin's port too."""
        port = "{p}" if self.more else str(self.port)
        return f"http://{LOOPBACK}:{port}"

    @property
    def ports(self) -> list[int]:
        return [self.port, *(port for _, port in self.more)]

    @property
    def server_pids(self) -> list[int]:
        return [self.server.serving_pid, *(server.serving_pid for server, _ in self.more)]

    def url(self, path: str) -> str:
        """The URL a client opens: ``ws://`` for a socket, ``http://`` for the event
        stream; ``{p}``, each client's server port, when there are several."""
        port = "{p}" if self.more else str(self.port)
        scheme = "http" if self.spec.transport == "sse" else "ws"
        return f"{scheme}://{LOOPBACK}:{port}{path}"


class CpuMeter:
    """CPU used by each named process since the meter started, in % of one core.

    A name may stand for several processes (a target's servers, its Redis shards):
    their sum. Processes named in ``precise`` are read from the scheduler's
    nanosecond counters (their threads must outlive the meter, as Redis's do)
    rather than /proc's 10 ms ticks, for figures small enough to need it.
    """

    def __init__(
        self, pids: Mapping[str, int | Sequence[int]], precise: frozenset[str] = frozenset()
    ) -> None:
        self.pids = {name: [p] if isinstance(p, int) else list(p) for name, p in pids.items()}
        self.precise = precise
        self.start = time.monotonic()
        self.used = {name: self._seconds(name) for name in self.pids}

    def _seconds(self, name: str) -> float:
        read = scheduled_seconds if name in self.precise else cpu_seconds
        return sum(read(pid) for pid in self.pids[name])

    def read(self) -> dict[str, float]:
        """Per-process CPU %, or nothing for a span too short for /proc's 10 ms ticks."""
        wall = time.monotonic() - self.start
        if wall < MIN_METERED_SECONDS:
            return {}
        return {name: 100 * (self._seconds(name) - self.used[name]) / wall for name in self.pids}


@dataclass
class Delivery:
    """What one delivery phase measured."""

    sent: int
    expected: int
    received: int
    seconds: float
    rate: float | None
    # Frames per second between the first and the last receipt (the client's view).
    receipt_rate: float | None
    latency: dict[str, float | None]
    cpu: dict[str, float]

    @property
    def complete(self) -> bool:
        return self.received >= self.expected


class Harness:
    """Shared state and steps: start servers, open pools, run a delivery phase."""

    def __init__(
        self,
        *,
        sizes: Sizes,
        database: Database,
        services: Services,
        env: Mapping[str, str],
        pythons: Mapping[str, str],
        users: Mapping[str, list[tuple[Any, str]]],
        client: Agent,
        redis: list[tuple[Service, str]],
        results: Results,
        profiler: Profiler,
        started: float,
    ) -> None:
        self.sizes = sizes
        # The database this part of the run measures (its URL is env's DATABASE_URL).
        self.database = database
        self.services = services
        self.env = dict(env)
        # Interpreter name (bench.targets.BENCH, PEERS) -> its python.
        self.pythons = dict(pythons)
        # Project name (bench.targets.PROJECTS) -> its users and their sessions.
        self.users = dict(users)
        self.client = client
        # Every Redis of the run and its URL; targets use the first, or the first
        # ``redis_servers`` of them as shards.
        self.redis = list(redis)
        self.results = results
        self.profiler = profiler
        self.started = started
        self._phase = 0

    # Servers.

    def redis_for(self, spec: TargetSpec) -> list[Service]:
        return [service for service, _ in self.redis[: spec.redis_servers]]

    def env_for(self, spec: TargetSpec) -> dict[str, str]:
        """The environment of a target's processes: the run's, its own, its Redis shards."""
        urls = [url for _, url in self.redis[: spec.redis_servers]]
        if len(urls) < spec.redis_servers:
            raise RuntimeError(f"{spec.title} needs {spec.redis_servers} Redis servers")
        return {**self.env, **spec.env, "BENCH_REDIS_URLS": ",".join(urls)}

    def start_servers(self, specs: list[TargetSpec]) -> list[tuple[Service, int]]:
        """Start one server per spec, all at once; return each with its port once it listens."""
        started = []
        for spec in specs:
            port = free_port()
            server = self.services.start(
                f"{spec.name}-server-{port}",
                spec.server_argv(self.pythons[spec.interpreter], port),
                env=self.env_for(spec),
                cwd=spec.cwd,
            )
            started.append((server, port))
        for (server, port), spec in zip(started, specs, strict=True):
            wait_for_port(port, server, SERVER_START_SECONDS)
            if spec.server == "granian":
                server.adopt_worker()
        return started

    def restart_servers(self, targets: list[Target]) -> None:
        """Replace each target's server with a fresh process (for memory measurements)."""
        for target in targets:
            self.services.stop(target.server)
        fresh = self.start_servers([target.spec for target in targets])
        for target, (server, port) in zip(targets, fresh, strict=True):
            target.server, target.port = server, port

    def log(self, message: str) -> None:
        """A progress line, with the seconds since the run started."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    # Measurement.

    def next_phase(self) -> int:
        self._phase += 1
        return self._phase

    def meter(self, target: Target) -> CpuMeter:
        """CPU of the target's processes: its servers (added up), sender, the client, and
        its Redis servers (added up as ``redis``; each shard also as ``redis-<i>``)."""
        pids: dict[str, int | list[int]] = {
            "server": target.server_pids,
            "sender": target.sender.pid,
            "client": self.client.pid,
            "redis": [redis.pid for redis in target.redis],
        }
        if len(target.redis) > 1:
            pids.update({f"redis-{i}": redis.pid for i, redis in enumerate(target.redis)})
        return CpuMeter(pids, precise=frozenset(n for n in pids if n.startswith("redis")))

    # Pools of client sockets.

    def connect(
        self,
        target: Target,
        pool: str,
        path: str,
        count: int,
        *,
        deflate: bool = False,
        synced: bool = False,
        first: int = 0,
    ) -> Reply:
        """Open ``count`` sockets (the target's users ``first``…``first+count-1``) on
        ``target``; record a failure if any fail.

        With ``synced``, also wait until each has received the target's ``synced_type``
        frame (so that it knows its newest notification id).
        """
        users = target.users[first : first + count]
        if len(users) < count:
            raise ValueError(f"{first + count} sockets but only {len(target.users)} users")
        ports = target.ports
        sockets = [
            {"u": user_id, "s": session, "p": ports[i % len(ports)]}
            for i, (user_id, session) in enumerate(users, start=first)
        ]
        timeout = self.sizes.connect_seconds
        reply = self.client.call(
            "connect",
            wait=timeout + 30,
            pool=pool,
            url=target.url(path),
            sockets=sockets,
            origin=target.origin,
            marker=list(target.spec.marker),
            id_paths=[list(path) for path in target.spec.id_paths],
            done_type=target.spec.synced_type if synced else None,
            deflate=deflate,
            concurrency=self.sizes.connect_concurrency,
            within=timeout,
        )
        if reply["open"] < count:
            self.problem(
                target,
                f"{pool}: {reply['open']} of {count} sockets open "
                f"(errors {reply['errors']}, close codes {reply['close_codes']})",
            )
        if reply["unfinished"]:
            self.problem(
                target,
                f"{pool}: {reply['unfinished']} of {reply['open']} open sockets got no "
                f"{target.spec.synced_type!r} frame",
            )
        return reply

    def problem(self, target: Target, message: str) -> None:
        """A failure on a strict target; a note on the others."""
        self.problem_spec(target.spec, message)

    def problem_spec(self, spec: TargetSpec, message: str) -> None:
        """:meth:`problem`, for a target measured without a server (storage)."""
        text = f"{spec.title}: {message}"
        if spec.strict:
            self.results.fail(text)
        else:
            self.results.notes.append(text)

    def close(self, pool: str) -> None:
        self.client.call("close", wait=60, pool=pool)

    def take(self, phase: int) -> Reply:
        """The frames of ``phase`` received so far (count, times, latencies), forgotten."""
        return self.client.call("collect", wait=30, phase=phase, expect=0, within=0, idle=0)

    def drop(self, pool: str) -> Reply:
        """Close every socket of ``pool`` at once; the client keeps what each had."""
        return self.client.call("drop", wait=60, pool=pool)

    def resume(self, target: Target, pool: str, *, concurrency: int, within: float) -> Reply:
        """Reopen every socket of a dropped pool at once on the target's reconnect path."""
        return self.client.call(
            "resume",
            wait=within + 30,
            pool=pool,
            url=target.url(target.spec.reconnect_path),
            origin=target.origin,
            concurrency=concurrency,
            within=within,
        )

    def deliver(
        self,
        target: Target,
        *,
        phase_name: str,
        command: str,
        per_message: int,
        seconds: float,
        fixed_load: bool,
        **args: Any,
    ) -> Delivery:
        """Have the sender run ``command``, then wait for every frame it implies.

        Throughput is frames received over the time from the sender's start to the
        last receipt. A phase that delivers nothing fails the run, and so does a
        fixed-load phase that loses frames on a target that must deliver them all.
        """
        phase = self.next_phase()
        drain = self.sizes.drain_seconds
        pids = {"server": target.server.serving_pid, "sender": target.sender.pid}
        with self.profiler.around(f"{phase_name} {target.name}", pids):
            meter = self.meter(target)
            sent = target.sender.call(
                command, wait=seconds + 60, phase=phase, seconds=seconds, **args
            )
            expected = sent["sent"] * per_message
            got = self.client.call(
                "collect",
                wait=drain + 30,
                phase=phase,
                expect=expected,
                within=drain,
                idle=self.sizes.idle_seconds,
            )
            cpu = meter.read()
        received = got["received"]
        span = (got["last_ns"] - sent["first_ns"]) / 1e9 if received else sent["seconds"]
        receiving = (got["last_ns"] - got["first_ns"]) / 1e9
        latency = {k: got[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}
        result = Delivery(
            sent=sent["sent"],
            expected=expected,
            received=received,
            seconds=span,
            rate=received / span if received and span > 0 else None,
            receipt_rate=(received - 1) / receiving if received > 1 and receiving > 0 else None,
            latency=latency,
            cpu=cpu,
        )
        self.results.phases.append(
            PhaseRecord(
                phase=phase_name,
                target=target.name,
                sent=f"{sent['sent']}x{per_message}" if per_message > 1 else sent["sent"],
                received=received,
                seconds=span,
                rate=result.rate,
                latency=latency,
                cpu=cpu,
            )
        )
        if received == 0:
            self.results.fail(f"{target.spec.title} {phase_name}: no frame received of {expected}")
        elif not result.complete:
            lost = f"{phase_name}: {received} of {expected} frames received"
            if fixed_load:
                self.problem(target, lost)
            else:  # saturation may overrun a layer's capacity: worth knowing, not a failure
                self.results.notes.append(f"{target.spec.title}: {lost}")
        return result
