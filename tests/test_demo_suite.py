"""The demo's own tests (demo/demo/test_*.py) pass: run as their own pytest session,
on the demo's settings, since they cannot share this suite's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = [pytest.mark.any_database, pytest.mark.timeout(120)]


def test_the_demos_tests_pass() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "pytest.ini", "-q"],
        cwd=ROOT / "demo",
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout
