"""Optional py-spy profiles of the server and the sender during chosen phases.

``python -m bench --profile "W2 sync saturation"`` samples both processes (py-spy
``record --format raw``, non-blocking) during every phase whose
``"<phase> <target>"`` contains the text, and prints the functions holding the
most samples, by own time and by inclusive time. Needs ``py-spy`` (pip).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from bench.procs import Service, Services

__all__ = ["Profiler", "summarise_raw"]

RATE_HZ = 200
# Inclusive time is shown for these packages' frames only (the rest is plumbing on every stack).
INTERESTING = (
    "livebell/",
    "channels/",
    "channels_redis/",
    "asgiref/",
    "django/",
    "psycopg/",
    "redis/",
    "websockets/",
    "uvicorn/protocols/",
    "bench/reference/",
)
ATTACH_SECONDS = 0.5


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    return found


def summarise_raw(path: Path, top: int = 12) -> str:
    """The ``top`` functions of a py-spy raw (collapsed stacks) file, by own and inclusive %."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            if any(package in frame for package in INTERESTING):
                inclusive[frame] += samples
    if not total:
        return f"{path.name}: no samples"
    lines = [f"{path.name}: {total} samples at {RATE_HZ} Hz"]
    for title, counter in (("own", own), ("inclusive", inclusive)):
        lines.append(f"  top by {title} time:")
        lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in counter.most_common(top)]
    return "\n".join(lines)


class Profiler:
    """Starts py-spy around the phases that match; keeps their summaries."""

    def __init__(self, services: Services, match: str | None, *, gil_only: bool = False) -> None:
        self.services = services
        self.match = match
        # py-spy --gil: only the thread holding the interpreter lock, so a thread
        # waiting on the database or the network does not hide where the CPU goes.
        self.gil_only = gil_only
        self.binary = _py_spy() if match else ""
        self.summaries: list[str] = []

    @contextlib.contextmanager
    def around(self, label: str, pids: dict[str, int]) -> Iterator[None]:
        """Profile ``pids`` (role: pid) while the block runs, if ``label`` matches."""
        if not self.match or self.match not in label:
            yield
            return
        slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()
        spies: list[tuple[Service, Path]] = []
        for role, pid in pids.items():
            out = self.services.log_dir / f"profile-{slug}-{role}.txt"
            spy = self.services.start(
                f"py-spy-{slug}-{role}",
                [
                    *(self.binary, "record", f"--pid={pid}", "--format=raw", f"--output={out}"),
                    *(f"--rate={RATE_HZ}", "--nonblocking", "--function"),
                    *(["--gil"] if self.gil_only else []),
                ],
                env={},
                cwd=self.services.log_dir,
            )
            spies.append((spy, out))
        time.sleep(ATTACH_SECONDS)
        try:
            yield
        finally:
            for spy, out in spies:
                # py-spy writes its file when interrupted.
                self.services.stop(spy, first=signal.SIGINT)
                summary = summarise_raw(out) if out.exists() else f"py-spy:\n{spy.log_tail()}"
                self.summaries.append(f"{label}, {out.name}\n{summary}")
