"""django-notifications-hq 1.8.3's own test suite, run against livebell-notifications-hq.

The sdist is downloaded with pip (pinned version and sha256), only its
``notifications/tests/`` is extracted, the few adaptations below are applied, and
Django's test runner runs it in a subprocess. The compat package stays the
``notifications`` package: the extracted tests are added to its ``__path__`` as the
``notifications.tests`` subpackage, and nothing else of hq's code is importable.

Each adaptation is for something that no longer exists in Django or Python; they are
listed in docs/migrating-from-django-notifications.md, "hq's own tests".
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

HQ_VERSION = "1.8.3"
HQ_SDIST = f"django-notifications-hq-{HQ_VERSION}.tar.gz"
HQ_SHA256 = "0f4b216bb382b7c7c4eef273eb211e59c1c6a0ea38cba6077415ac031d330725"

# (file under notifications/tests/, text in hq, replacement, why)
ADAPTATIONS: list[tuple[str, str, str, str]] = [
    (
        "tests.py",
        "from django.utils.timezone import localtime, utc\n",
        "from django.utils.timezone import localtime\n"
        "from datetime import timezone as _datetime_timezone\n"
        "utc = _datetime_timezone.utc\n",
        "django.utils.timezone.utc was removed in Django 5.0; "
        "datetime.timezone.utc is the same object.",
    ),
    (
        "urls.py",
        "from distutils.version import StrictVersion"
        "  # pylint: disable=no-name-in-module,import-error\n",
        "def StrictVersion(version):  # distutils is gone from Python 3.12\n"
        "    import re\n"
        "    return tuple(int(part) for part in re.findall(r'\\d+', version)[:2])\n",
        "distutils was removed in Python 3.12; the urls only compare Django's major.minor.",
    ),
]

# hq's test settings plus what the migration guide adds to a site's settings: livebell
# (the app that stores and pushes; the compat package's system check requires it) and
# the channel layer livebell pushes through (livebell's check requires one).
SETTINGS = """\
import notifications

notifications.__path__.append({overlay!r})

from notifications.tests.settings import *  # noqa: E402,F403

INSTALLED_APPS = [*INSTALLED_APPS, "livebell"]  # noqa: F405
CHANNEL_LAYERS = {{"default": {{"BACKEND": "channels.layers.InMemoryChannelLayer"}}}}
"""


#: hq's main suite: 29 tests.
MAIN_TESTS = ("notifications.tests.tests",)
#: The sample app's own 10 tests (with SAMPLE_APP=1, hq's swapped-model configuration).
#: Named by class: the module also imports two of hq's main test classes, which
#: discovery would run a second time.
SAMPLE_APP_TESTS = tuple(
    f"notifications.tests.sample_notifications.tests.{name}"
    for name in ("AdminTest", "NotificationTest", "TestExtraDataCustomAccessor")
)


@dataclass
class Result:
    ran: int
    ok: bool
    output: str


def download(directory: Path) -> Path:
    """hq's sdist from the package registry, checked against its pinned sha256."""
    sdist = directory / HQ_SDIST
    if not sdist.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"django-notifications-hq=={HQ_VERSION}",
                "--dest",
                str(directory),
            ],
            check=True,
        )
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != HQ_SHA256:
        raise RuntimeError(f"{HQ_SDIST} has sha256 {digest}, expected {HQ_SHA256}.")
    return sdist


def prepare(sdist: Path, workdir: Path) -> Path:
    """Extract hq's tests under ``workdir/overlay``, adapted; write the settings module."""
    overlay = workdir / "overlay"
    prefix = f"django-notifications-hq-{HQ_VERSION}/notifications/"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix + "tests/")]
        for member in members:
            member.name = member.name[len(prefix) :]
        archive.extractall(overlay, members=members, filter="data")
    for name, old, new, _why in ADAPTATIONS:
        path = overlay / "tests" / name
        text = path.read_text()
        if text.count(old) != 1:
            raise RuntimeError(f"adaptation of {name} does not apply: {old!r}")
        path.write_text(text.replace(old, new))
    (workdir / "hq_settings.py").write_text(SETTINGS.format(overlay=str(overlay)))
    return workdir


def run(workdir: Path, *labels: str, sample_app: bool, python: str = sys.executable) -> Result:
    """Run hq's tests ``labels`` with Django's runner; how many ran and whether all passed."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SAMPLE_APP")}
    env["PYTHONPATH"] = str(workdir)
    if sample_app:
        env["SAMPLE_APP"] = "1"
    done = subprocess.run(
        [python, "-m", "django", "test", *labels, "--settings=hq_settings", "--noinput", "-v", "2"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    ran = re.search(r"^Ran (\d+) tests? in", output, re.MULTILINE)
    return Result(
        ran=int(ran.group(1)) if ran else 0,
        ok=done.returncode == 0 and re.search(r"^OK\b", output, re.MULTILINE) is not None,
        output=output,
    )
