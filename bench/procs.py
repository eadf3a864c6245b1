"""The processes a bench run owns: starting them, stopping them, reading their counters.

Every child is started in its own session (so its whole process group can be
signalled) and asks the kernel to SIGTERM it if the bench itself dies, so
nothing outlives a run, even one killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "LOOPBACK",
    "Service",
    "Services",
    "cpu_seconds",
    "free_port",
    "listen_overflows",
    "raise_fd_limit",
    "rss_kib",
    "scheduled_seconds",
    "socket_count",
    "wait_for_port",
]

LOOPBACK = "127.0.0.1"

_PR_SET_PDEATHSIG = 1
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (children inherit it).

    Above the hard limit only a process allowed to (root) gets there: it raises
    the hard limit too. Returns the soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and wanted > hard:
        with contextlib.suppress(ValueError, OSError):  # not allowed: stay under it
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def socket_count(pid: int) -> int:
    """How many sockets ``pid`` has open (its ``/proc/<pid>/fd`` entries that are sockets)."""
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed while we looked
            count += os.readlink(fd).startswith("socket:")
    return count


def listen_overflows() -> int:
    """Connections dropped so far because a listen queue was full (``TcpExt
    ListenOverflows`` of ``/proc/net/netstat``; all of this network namespace)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"])
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by ``pid`` (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # After "pid (comm) ", fields start at "state" (field 3): utime and stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def scheduled_seconds(pid: int) -> float:
    """CPU time of ``pid``'s live threads, from the scheduler's nanosecond counters
    (``/proc/<pid>/task/*/schedstat``); threads that have exited are not in it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just exited
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask the kernel to SIGTERM this child when the bench process exits."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Service:
    """One child process (and its process group), with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_dir: Path,
        pipes: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # safe: the bench starts children from one thread
            )
        finally:
            log.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def serving_pid(self) -> int:
        """The process that does the work: this one, or the worker it spawned
        (:meth:`adopt_worker`), whose CPU and memory are the server's."""
        return self._worker_pid or self.proc.pid

    _worker_pid: int | None = None

    def adopt_worker(self) -> None:
        """Measure this process's one child instead of it: a supervisor (granian) that
        runs the app in a worker process of its own.

        Raises:
            RuntimeError: it has no child, or more than one.
        """
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        deadline = time.monotonic() + 10
        children: list[int] = []
        while time.monotonic() < deadline:
            children = [int(pid) for pid in path.read_text().split()]
            if children:
                break
            time.sleep(0.05)
        if len(children) != 1:
            raise RuntimeError(f"{self.name}: expected one worker process, found {children}")
        self._worker_pid = children[0]

    def check_running(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        code = self.proc.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with status {code}:\n{self.log_tail()}")

    def log_size(self) -> int:
        """The log's length in bytes now, to read what is logged after (:meth:`log_since`)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        """What the process logged after ``offset`` bytes."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5.0, first: signal.Signals = signal.SIGTERM) -> None:
        """Signal the process group (SIGTERM), then SIGKILL it if still there after ``timeout``."""
        if self.proc.poll() is None:
            self._signal_group(first)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout)
        # Stragglers in the group (a child of the child) go too.
        self._signal_group(signal.SIGKILL)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


class Services:
    """Every child of a run; a context manager that stops them all, newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._running: list[Service] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        pipes: bool = False,
    ) -> Service:
        service = Service(name, argv, env=env, cwd=cwd, log_dir=self.log_dir, pipes=pipes)
        self._running.append(service)
        return service

    def stop(self, service: Service, first: signal.Signals = signal.SIGTERM) -> None:
        service.stop(first=first)
        if service in self._running:
            self._running.remove(service)

    def __iter__(self) -> Iterator[Service]:
        return iter(list(self._running))

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for service in reversed(self._running):
            with contextlib.suppress(Exception):
                service.stop()
        self._running.clear()


def wait_for_port(port: int, service: Service, timeout: float) -> float:
    """Wait until ``service`` accepts TCP connections on ``port``; return the seconds it took."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        service.check_running()
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return time.monotonic() - start
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{service.name} did not listen on port {port} within {timeout:.0f} s:\n"
                    f"{service.log_tail()}"
                ) from None
            time.sleep(0.05)
