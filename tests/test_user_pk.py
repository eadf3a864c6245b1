"""livebell with a user model keyed by a UUID, and by a string: tests/user_pk_suite.py,
run in a pytest of its own for each (``AUTH_USER_MODEL`` is fixed once a process has
its tables), with tests/settings_user_pk.py and this run's database server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.processes import ROOT


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["uuid", "char"])
def test_user_model_with_a_key_that_is_not_an_integer(kind: str) -> None:
    env = {
        **os.environ,
        "LIVEBELL_TEST_USER_PK": kind,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--ds=tests.settings_user_pk", "-p", "no:cacheprovider",
         "-q", "tests/user_pk_suite.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]
