"""``python -m bench [--quick]``: start everything, run the workloads, print the tables, clean up.

One command does it all, once per database (:mod:`bench.databases`: PostgreSQL,
then MySQL/MariaDB and SQLite): a private Redis on a free port, the bench's
database with its users and sessions, one server per target, the senders and the
client; then W3, the client ceiling, W1, W2 (sync, then async), W3 again with
deflate on fresh servers, W4, W5 on fresh servers, and the storage side alone
(``--workloads`` picks some; the databases after PostgreSQL run livebell and the
reference only, through fewer workloads). The peers (:mod:`bench.peers`) run in a
virtualenv of their own, made from PyPI on first use.
Every child is stopped at the end, also on Ctrl-C or failure. Exit status 1 if a
workload failed to deliver.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from bench import dbstats, fixtures, workloads
from bench.agent import Agent, AgentError
from bench.databases import DATABASES, Database, server_version
from bench.goals import databases_table, goals_table
from bench.harness import CpuMeter, Harness, Target
from bench.peers import venv as peers_venv
from bench.procs import LOOPBACK, Service, Services, free_port, raise_fd_limit, wait_for_port
from bench.profile import Profiler
from bench.report import Results
from bench.scaleout import scale_out_table
from bench.sizes import FULL, QUICK, WORKLOADS, Sizes
from bench.targets import BENCH, PEERS, PROJECTS, REPO, TARGETS, Project
from bench.transports import transports_table

__all__ = ["main"]

FIXTURE_SECONDS = 180.0
PACKAGES = ("django", "channels", "channels-redis", "uvicorn", "websockets", "picows", "redis")
PEER_PACKAGES = ("openwisp-notifications", "django-notifications-community", "djangorestframework")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (the CI smoke run)")
    parser.add_argument("--targets", help="comma-separated subset of: " + ", ".join(TARGETS))
    parser.add_argument("--users", type=int, help="sockets (one per user) for W1 and W2")
    parser.add_argument("--sockets", type=int, help="sockets for W3 (with and without deflate)")
    parser.add_argument(
        "--storm-sockets", type=int, help="W4: sockets dropped and reconnected (one per user)"
    )
    parser.add_argument(
        "--storm-concurrency",
        type=int,
        help="W4: reconnect handshakes in flight at once (default: all of them)",
    )
    parser.add_argument(
        "--workloads", help="comma-separated subset of: " + ", ".join(WORKLOADS) + " (default: all)"
    )
    parser.add_argument(
        "--databases",
        default=",".join(DATABASES),
        help="comma-separated subset of: " + ", ".join(DATABASES) + " (default: all, in order)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    parser.add_argument(
        "--profile",
        metavar="TEXT",
        help='py-spy the server and sender in phases matching TEXT, e.g. "W2 sync saturation"',
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL (py-spy --gil)",
    )
    return parser.parse_args(argv)


def choose_sizes(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else FULL
    targets = tuple(args.targets.split(",")) if args.targets else None
    for name in targets or ():
        if name not in TARGETS:
            raise SystemExit(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    chosen = tuple(args.workloads.split(",")) if args.workloads else None
    for name in chosen or ():
        if name not in WORKLOADS:
            raise SystemExit(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    return sizes.with_overrides(
        targets=targets,
        workloads=chosen,
        users=args.users,
        w3_sockets=args.sockets,
        w3_deflate_sockets=args.sockets,
        w4_sockets=args.storm_sockets,
        w4_concurrency=args.storm_concurrency or args.storm_sockets,
    )


def choose_databases(args: argparse.Namespace) -> list[Database]:
    names = [name for name in args.databases.split(",") if name]
    for name in names:
        if name not in DATABASES:
            raise SystemExit(f"unknown database {name!r}; choose from {', '.join(DATABASES)}")
    return [DATABASES[name] for name in names]


def child_env(redis_url: str, database_url: str) -> dict[str, str]:
    """The environment of every child: loopback services, no proxy, no DEBUG."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if dbstats.measurable(database_url):
        # Tagged, so that W4 can tell this run's database connections (bench.dbstats).
        database_url = dbstats.tagged(database_url, f"livebell-bench-{os.getpid()}")
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        # One secret for every process, so a session made by the fixtures logs in everywhere.
        DJANGO_SECRET_KEY="livebell-bench-not-secret",
        DJANGO_DEBUG="0",
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "demo"), str(REPO)]),
    )
    return env


def start_redis(services: Services, name: str = "redis") -> tuple[Service, str]:
    """A private, memory-only Redis on a free loopback port, owned by this run."""
    port = free_port()
    redis = services.start(
        name,
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(services.log_dir),
        ],
        env=os.environ,
        cwd=services.log_dir,
    )
    wait_for_port(port, redis, 10)
    return redis, f"redis://{LOOPBACK}:{port}/0"


def make_fixtures(
    services: Services, env: dict[str, str], python: str, project: Project, count: int
) -> list[tuple[Any, str]]:
    """Run :mod:`bench.fixtures` for ``project``; return ``[(user id, session key), ...]``."""
    job = services.start(
        f"fixtures-{project.name}",
        [python, "-m", "bench.fixtures", f"--users={count}", f"--empty={','.join(project.empty)}"],
        env={**env, "DJANGO_SETTINGS_MODULE": project.settings},
        cwd=REPO,
        pipes=True,
    )
    try:
        out, _ = job.proc.communicate(timeout=FIXTURE_SECONDS)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{project.title} fixtures took over {FIXTURE_SECONDS:.0f} s") from None
    finally:
        services.stop(job)
    if job.proc.returncode != 0:
        raise RuntimeError(f"{project.title} fixtures failed:\n{job.log_tail()}")
    return [tuple(pair) for pair in orjson.loads(out)["users"]]


def start_agent(
    services: Services, name: str, argv: list[str], env: dict[str, str], python: str
) -> Agent:
    return Agent(services.start(name, [python, "-m", *argv], env=env, cwd=REPO, pipes=True))


def header(sizes: Sizes) -> str:
    versions = ", ".join(f"{p} {version(p)}" for p in PACKAGES)
    load = Path("/proc/loadavg").read_text().split()[:3]
    return (
        f"livebell bench ({sizes.name}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, load {' '.join(load)}, Python {platform.python_version()}\n"
        f"{versions}"
    )


def prepare_peers(
    sizes: Sizes, notes: list[str], log: Callable[[str], None]
) -> tuple[Sizes, dict[str, str]]:
    """Make the peers' virtualenv if a chosen target needs it; without it, drop those
    targets and say why in the notes.

    Returns the sizes with the targets that run, and the python of each interpreter.
    """
    pythons = {BENCH: sys.executable}
    wanted = [name for name in sizes.targets if TARGETS[name].interpreter == PEERS]
    if not wanted:
        if sizes.name == QUICK.name:
            notes.append(
                "The peers (openwisp-notifications, django-notifications-community) are not "
                "in the quick run: add them with --targets (their virtualenv is made once)."
            )
        return sizes, pythons
    peers = peers_venv.ensure(log)
    titles = ", ".join(TARGETS[name].title for name in wanted)
    if not peers.available:
        notes.append(f"{titles}: not measured: {peers.reason}")
        kept = tuple(n for n in sizes.targets if n not in wanted)
        return sizes.with_overrides(targets=kept), pythons
    versions = ", ".join(f"{p} {peer_version(peers.python, p)}" for p in PEER_PACKAGES)
    made = (
        f"made in {peers.installed_seconds:.0f} s"
        if peers.installed_seconds is not None
        else "reused"
    )
    notes.append(
        f"Peers from PyPI in {peers_venv.VENV.name}/ ({made}; pins in bench/peers/): {versions}."
    )
    pythons[PEERS] = str(peers.python)
    return sizes, pythons


def peer_version(python: Path | None, package: str) -> str:
    """``package``'s version in the peers' virtualenv."""
    out = subprocess.run(
        [str(python), "-c", f"from importlib.metadata import version; print(version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


def run(
    sizes: Sizes,
    database: Database,
    database_url: str,
    services: Services,
    profiler: Profiler,
    started: float,
) -> Results:
    """Run the workloads of ``sizes`` on one database; return what they measured."""
    notes: list[str] = []
    # A target none of whose workloads was chosen is not started (it has no users).
    wanted = set(sizes.workloads)
    chosen = tuple(
        n
        for n in sizes.targets
        if TARGETS[n].workloads & wanted or (n == "raw" and "ceiling" in wanted)
    )
    sizes = sizes.with_overrides(targets=chosen)
    if database.all_targets:
        sizes, pythons = prepare_peers(sizes, notes, lambda line: print(line, flush=True))
    else:
        pythons = {BENCH: sys.executable}
    results = Results(
        sizes.targets,
        {name: TARGETS[name].title for name in sizes.targets},
        own_table=[name for name in sizes.targets if TARGETS[name].own_table],
    )
    results.notes += notes
    specs = [TARGETS[name] for name in sizes.targets]
    shards = max((spec.redis_servers for spec in specs), default=1)
    redis = [start_redis(services, f"redis-{i}" if i else "redis") for i in range(shards)]
    env = child_env(redis[0][1], database_url)
    # Nothing uses Redis while the fixtures are made: its own timers' cost meanwhile is
    # the baseline the scale-out table subtracts from a phase's Redis CPU.
    idle = CpuMeter({"redis": redis[0][0].pid}, precise=frozenset({"redis"}))
    # Users and sessions of each project that a served target of the run logs in with.
    needs: dict[str, int] = {}
    for spec in specs:
        needs[spec.project] = max(needs.get(spec.project, 0), sizes.users_needed(spec.workloads))
    users = {
        name: make_fixtures(services, env, pythons[PROJECTS[name].interpreter], PROJECTS[name], n)
        for name, n in needs.items()
        if n
    }
    results.redis_idle = idle.read().get("redis", 0.0)
    client = start_agent(services, "client", ["bench.client"], env, sys.executable)
    h = Harness(
        sizes=sizes,
        database=database,
        services=services,
        env=env,
        pythons=pythons,
        users=users,
        client=client,
        redis=redis,
        results=results,
        profiler=profiler,
        started=started,
    )
    counts = ", ".join(f"{PROJECTS[p].title} {len(u):,}" for p, u in users.items())
    h.log(f"users with sessions: {counts}; starting {', '.join(sizes.targets)}")
    # A target whose project has no users this run (only the storage side chosen)
    # needs no server: nothing would connect to it.
    served = [spec for spec in specs if spec.serves and spec.project in users]
    servers = h.start_servers(served)
    targets: list[Target] = []
    for spec, (server, port) in zip(served, servers, strict=True):
        sender = start_agent(
            services,
            f"{spec.name}-sender",
            ["bench.sender", f"--target={spec.sender}"],
            h.env_for(spec),
            pythons[spec.interpreter],
        )
        mine = users[spec.project]
        sender.call("init", wait=60, user_ids=[u for u, _ in mine[: sizes.users]])
        more = h.start_servers([spec] * (spec.processes - 1))
        targets.append(Target(spec, server, port, sender, mine, h.redis_for(spec), more))
    by_name = {t.name: t for t in targets}

    def running(workload: str) -> list[Target]:
        if workload not in sizes.workloads:
            return []
        return [t for t in targets if workload in t.spec.workloads]

    def settle(target: Target) -> None:
        """Vacuum the target's tables before it runs a workload (fixtures.settle_database)."""
        fixtures.settle_database(h.env["DATABASE_URL"], PROJECTS[target.spec.project].tables)

    # W3 first: its memory figures need servers that have not served anything yet.
    for target in running("W3"):
        h.log(f"W3 {target.name}: {sizes.w3_sockets:,} sockets")
        # The fixtures just replaced every session: settled, the first target to read
        # them does not pay for their hint bits or the autovacuum of the old ones.
        settle(target)
        workloads.w3_connections(h, target, deflate=False)
    ceiling = None
    if "raw" in by_name and "ceiling" in sizes.workloads:
        h.log("client ceiling (raw burst)")
        ceiling = workloads.client_ceiling(h, by_name["raw"])
    for target in running("W1"):
        h.log(f"W1 {target.name}: broadcast to {sizes.users:,}")
        settle(target)
        workloads.w1_broadcast(h, target)
    for target in running("W2"):
        h.log(f"W2 {target.name}: targeted, sync then async")
        settle(target)
        workloads.w2_targeted(h, target)
    if running("W3"):
        h.log("restarting the servers for W3 with deflate")
        h.restart_servers(running("W3"))
    for target in running("W3"):
        h.log(f"W3 {target.name}: {sizes.w3_deflate_sockets:,} sockets, deflate offered")
        settle(target)
        workloads.w3_connections(h, target, deflate=True)
    for target in running("W4"):
        h.log(
            f"W4 {target.name}: {sizes.w4_sockets:,} sockets drop, "
            f"{sizes.w4_missed} missed each, all back"
        )
        settle(target)
        workloads.w4_reconnect_storm(h, target)
    if running("W5"):
        h.log("restarting the servers for W5")
        h.restart_servers(running("W5"))
    for target in running("W5"):
        totals = ", ".join(f"{n:,}" for n in sizes.w5_sockets)
        h.log(f"W5 {target.name}: {totals} sockets held, W1 latency on {sizes.users:,}")
        settle(target)
        workloads.w5_idle_sockets(h, target)
    # Last: it empties the projects' notification tables and fills a 100,000-row inbox.
    if "storage" in sizes.workloads:
        for spec in specs:
            if "storage" in spec.workloads:
                h.log(f"storage {spec.name}: notify(), mark-all-read, unread count")
                workloads.storage(h, spec)
    if ceiling:
        note_headroom(results, ceiling)
    for target in targets:
        note_server_tracebacks(results, target)
    h.log("done; stopping everything")
    return results


def note_server_tracebacks(results: Results, target: Target) -> None:
    """Note how many tracebacks a target's servers logged over the whole run."""
    servers = [target.server, *(server for server, _ in target.more)]
    logs = [server.log_since(0) for server in servers]
    count = sum(log.count("Traceback (most recent call last)") for log in logs)
    if count:
        last = next(
            (line for log in logs for line in reversed(log.splitlines()) if "Error" in line), ""
        )
        results.notes.append(
            f"{target.spec.title}: its server logged {count} traceback(s)"
            + (f", e.g. {last.strip()[:160]}" if last else "")
            + "."
        )


def note_headroom(results: Results, ceiling: float) -> None:
    """Say how close the Django targets came to the client's ceiling."""
    best = max(
        ((p.rate, p.phase, p.target) for p in results.phases if p.target != "raw" and p.rate),
        default=None,
    )
    if best is None:
        return
    results.notes.append(
        f"Fastest Django-side phase: {best[0]:,.0f} frames/s ({best[2]}, {best[1]}), "
        f"{100 * best[0] / ceiling:.0f}% of the client ceiling."
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = choose_sizes(args)
    databases = choose_databases(args)
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C stops the run cleanly even when started with SIGINT ignored (``cmd &``).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    limit = raise_fd_limit(2 * sizes.fixture_users + 4096)
    log_dir = Path(tempfile.mkdtemp(prefix="livebell-bench-"))
    started = time.monotonic()
    print(header(sizes), flush=True)
    print(f"open-file limit {limit}; logs in {log_dir}", flush=True)
    measured: list[tuple[str, Results]] = []
    profiles: list[str] = []
    try:
        for database in databases:
            run_dir = log_dir / database.name
            run_dir.mkdir()
            url = database.url(run_dir)
            if database.name != "sqlite":
                fixtures.ensure_database(url)
            title = server_version(database, url)
            on_database = sizes.on_database(database.all_targets)
            print(f"\n{title}: {', '.join(on_database.workloads)}", flush=True)
            with Services(run_dir) as services:
                profiler = Profiler(services, args.profile, gil_only=args.profile_gil)
                results = run(on_database, database, url, services, profiler, started)
                profiles += profiler.summaries
            measured.append((title, results))
    except (AgentError, RuntimeError, TimeoutError, OSError) as exc:
        print(f"\nbench failed: {exc}\nlogs kept in {log_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; every process stopped; logs in {log_dir}", file=sys.stderr)
        return 130
    print(f"\nTotal {time.monotonic() - started:.1f} s.")
    quick = sizes.name == QUICK.name
    for (title, results), database in zip(measured, databases, strict=False):
        # The other databases' targets are in the table of every database, below.
        tables = [goals_table(results, quick=quick)] if database.all_targets else []
        tables[:0] = [t for t in (scale_out_table(results), transports_table(results)) if t]
        print(f"\n### {title}\n\n{results.render(*tables)}")
    if len(measured) > 1:
        print(f"\n### Every database\n\n{databases_table(measured, quick=quick)}")
    for summary in profiles:
        print(f"\n{summary}")
    if any(results.failures for _, results in measured):
        print(f"\nlogs kept in {log_dir}", file=sys.stderr)
        return 1
    if not args.keep_logs:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 0
