"""The running bench: its servers, agents and users, and the steps every workload shares."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.agent import Agent, Reply
from bench.procs import LOOPBACK, Service, Services, cpu_seconds, free_port, wait_for_port
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
        return [self.server.pid, *(server.pid for server, _ in self.more)]

    def url(self, path: str) -> str:
        """The socket URL; ``{p}``, each socket's server port, when there are several."""
        port = "{p}" if self.more else str(self.port)
        return f"ws://{LOOPBACK}:{port}{path}"


class CpuMeter:
    """CPU used by each named process since the meter started, in % of one core."""

    def __init__(self, pids: Mapping[str, int | Sequence[int]]) -> None:
        # A name may stand for several processes (a target's servers): their sum.
        self.pids = {name: [p] if isinstance(p, int) else list(p) for name, p in pids.items()}
        self.start = time.monotonic()
        self.used = {name: self._seconds(name) for name in self.pids}

    def _seconds(self, name: str) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids[name])

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
        services: Services,
        env: Mapping[str, str],
        users: list[tuple[Any, str]],
        client: Agent,
        redis: Service,
        results: Results,
        profiler: Profiler,
        started: float,
    ) -> None:
        self.sizes = sizes
        self.services = services
        self.env = dict(env)
        self.users = users
        self.client = client
        self.redis = redis
        self.results = results
        self.profiler = profiler
        self.started = started
        self._phase = 0

    # Servers.

    def start_servers(self, specs: list[TargetSpec]) -> list[tuple[Service, int]]:
        """Start one server per spec, all at once; return each with its port once it listens."""
        started = []
        for spec in specs:
            port = free_port()
            server = self.services.start(
                f"{spec.name}-server-{port}",
                spec.server_argv(port),
                env={**self.env, **spec.env},
                cwd=spec.cwd,
            )
            started.append((server, port))
        for server, port in started:
            wait_for_port(port, server, SERVER_START_SECONDS)
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
        return CpuMeter(
            {
                "server": target.server_pids,
                "sender": target.sender.pid,
                "client": self.client.pid,
                "redis": self.redis.pid,
            }
        )

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
    ) -> Reply:
        """Open ``count`` sockets (users 0…count-1) on ``target``; record a failure if any fail.

        With ``synced``, also wait until each has received the target's ``synced_type``
        frame (so that it knows its newest notification id).
        """
        if count > len(self.users):
            raise ValueError(f"{count} sockets but only {len(self.users)} users")
        ports = target.ports
        sockets = [
            {"u": user_id, "s": session, "p": ports[i % len(ports)]}
            for i, (user_id, session) in enumerate(self.users[:count])
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
        text = f"{target.spec.title}: {message}"
        if target.spec.strict:
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
        pids = {"server": target.server.pid, "sender": target.sender.pid}
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
