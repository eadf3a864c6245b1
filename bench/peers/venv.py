"""The peers' virtualenv: made on first use from PyPI, reused while its pins are the same.

openwisp-notifications and django-notifications-community are installed at bench
time, never vendored: ``pip install -r requirements.txt -c constraints.txt`` (both
beside this module) into ``.venv-bench-peers/`` at the repository's root, which git
ignores. It is a virtualenv of its own because the peers' pins cannot share
livebell's (openwisp-utils 1.3 needs djangorestframework ~=3.17.1; livebell's
environment has 3.18), and so that the project's ``.venv`` and its test suite never
see them. A stamp file holds a hash of both pin files: when they change, the
virtualenv is made again.

When it cannot be made (no network to PyPI, a pin that no longer resolves, ...),
:func:`ensure` returns the reason instead of a path, and the bench prints that
reason in its notes instead of the peers' columns.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONSTRAINTS", "REQUIREMENTS", "VENV", "Peers", "ensure"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV = REPO / ".venv-bench-peers"
REQUIREMENTS = HERE / "requirements.txt"
CONSTRAINTS = HERE / "constraints.txt"
STAMP = VENV / ".bench-pins"
INSTALL_SECONDS = 900.0
# What the peers' projects import, checked once the install is done.
IMPORTS = ("openwisp_notifications", "notifications", "uvicorn", "psycopg", "orjson")


@dataclass(frozen=True)
class Peers:
    """The peers' interpreter, or why there is none."""

    python: Path | None
    reason: str = ""
    # Whether this run made (or remade) the virtualenv, and how long that took.
    installed_seconds: float | None = None

    @property
    def available(self) -> bool:
        return self.python is not None


def _pins_hash() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, CONSTRAINTS):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _tail(text: str, lines: int = 6) -> str:
    """The last meaningful lines of pip's output, on one line."""
    kept = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and "is ignored: it is neither a file nor a directory" not in line
    ]
    return " / ".join(kept[-lines:]) or "(no output)"


def ensure(log: Callable[[str], None] = print) -> Peers:
    """The peers' virtualenv, made or remade if its pins changed; or the reason it failed.

    ``log`` is called with a progress line when the virtualenv has to be made.
    """
    python = VENV / "bin" / "python"
    wanted = _pins_hash()
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return Peers(python)
    started = time.monotonic()
    log(f"making the peers' virtualenv {VENV.name}/ from PyPI (once; reused while pinned)")
    shutil.rmtree(VENV, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [
            *(str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"),
            *("-r", str(REQUIREMENTS), "-c", str(CONSTRAINTS)),
        ],
        [str(python), "-c", "import " + ", ".join(IMPORTS)],
    ]
    for argv in steps:
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=INSTALL_SECONDS,
                cwd=REPO,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Peers(None, f"`{' '.join(argv[-4:])}` took over {INSTALL_SECONDS:.0f} s")
        if done.returncode != 0:
            # Keep nothing half-made: the next run tries again from scratch.
            shutil.rmtree(VENV, ignore_errors=True)
            return Peers(
                None,
                f"could not make the peers' virtualenv: `{' '.join(argv[2:5])} ...` "
                f"exited {done.returncode}: {_tail(done.stdout + done.stderr)}",
            )
    STAMP.write_text(wanted + "\n")
    return Peers(python, installed_seconds=time.monotonic() - started)
