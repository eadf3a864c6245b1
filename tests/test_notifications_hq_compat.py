"""livebell-notifications-hq's own tests (compat/notifications-hq/tests/): the twins
and read state kept in step both ways, hq's links refusing other sites, the tags.

They have settings of their own (hq's app installed beside livebell), so they run in a
subprocess, on the database this run uses (``DATABASE_URL``), in a test database of
their own; on each Django version the suite runs on.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

from tests.conftest import service_missing
from tests.processes import ROOT

COMPAT = ROOT / "compat" / "notifications-hq"


def test_compat_package_tests_pass() -> None:
    if importlib.util.find_spec("notifications") is None:
        service_missing("livebell-notifications-hq (pip install -e compat/notifications-hq)")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(COMPAT / "pyproject.toml"),
         "--rootdir", str(COMPAT), "-p", "no:cacheprovider", "-q", str(COMPAT / "tests")],
        cwd=COMPAT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-8000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 11, output[-8000:]
    assert not re.search(r"\d+ (skipped|failed|error)", output), output[-8000:]
