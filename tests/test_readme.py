"""The package as a new user gets it: the built sdist and wheel, and the README's
"Install in your project" pasted into a fresh ``startproject`` site.

The README test reads the section's own code blocks, in order: each shell line is
run (in a new virtualenv, with the wheel standing for the checkout), each file block
is written where its first line says, and the site is served with the README's
command. Then Chromium signs in, opens the page with the bell and checks that its
assets load and its socket opens, and the README's ``notify()`` from
``manage.py shell`` rings the bell live through Redis. The README cannot drift from
what works: change it, and this test runs what it now says.

Run by ``make test-readme`` (marker ``readme``): it builds, installs from the package
index and serves, so the other runs leave it out.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django
import pytest

from tests.conftest import REDIS_URL, free_port, require_redis
from tests.processes import ROOT, wait_for_port

pytestmark = [pytest.mark.readme, pytest.mark.timeout(600)]

README = ROOT / "README.md"
SECTION = "## Install in your project"
USERNAME, PASSWORD = "admin", "a-long-test-password"
# The pinned versions of the environment this run is in, for the new project's too.
CONSTRAINTS = (
    ROOT
    / "requirements"
    / ("constraints.txt" if django.VERSION < (6,) else "constraints-django61.txt")
)


@dataclass
class Block:
    """A fenced code block of the README: its language and its lines."""

    language: str
    lines: list[str]


def install_section() -> list[Block]:
    """The code blocks of the README's "Install in your project", in order."""
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else None]
    return [
        Block(match["language"], match["body"].splitlines())
        for match in re.finditer(r"^```(?P<language>\w*)\n(?P<body>.*?)^```$", section, re.M | re.S)
    ]


def shell_lines(block: Block) -> list[str]:
    """A shell block's commands: comments dropped, continuation lines joined."""
    commands, pending = [], ""
    for raw in block.lines:
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        command = line.split(" # ", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if command:
            commands.append(command)
    return commands


FILE_HEADER = re.compile(r"^(?:#|\{#)\s*(?P<path>[\w./-]+)\s*(?:—|-)\s*(?P<how>.+?)\s*(?:#\})?$")


def file_target(block: Block) -> tuple[str, str]:
    """Where a file block goes, from its first line: ``# mysite/asgi.py — the whole file``."""
    match = FILE_HEADER.match(block.lines[0])
    assert match, f"a {block.language} block must name its file first: {block.lines[0]!r}"
    how = match["how"].lower()
    assert "add at the end" in how or "the whole file" in how, f"unclear: {block.lines[0]!r}"
    return match["path"], "append" if "add at the end" in how else "replace"


# --- the package -------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from this checkout as ``make dist`` builds them."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_the_sdist_and_the_wheel_hold_everything_a_site_serves(dist: Path) -> None:
    wheel = next(dist.glob("livebell-*.whl"))
    sdist = next(dist.glob("livebell-*.tar.gz"))
    from importlib.metadata import version

    assert wheel.name.startswith(f"livebell-{version('livebell')}-")
    source = ROOT / "src" / "livebell"
    shipped = [
        path.relative_to(source.parent).as_posix()
        for folder in ("static", "templates", "locale", "migrations")
        for path in (source / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert any(name.endswith("zh_Hans/LC_MESSAGES/django.mo") for name in shipped)
    assert any(name.endswith("zh_Hans/LC_MESSAGES/djangojs.mo") for name in shipped)
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    missing = [name for name in shipped if name not in in_wheel]
    assert not missing, f"not in the wheel: {missing}"
    assert "livebell/py.typed" in in_wheel
    assert not [name for name in in_wheel if name.startswith(("tests/", "demo/", "bench/"))]
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml"} <= in_sdist
    missing = [name for name in shipped if f"src/{name}" not in in_sdist]
    assert not missing, f"not in the sdist: {missing}"
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- the README, pasted -------------------------------------------------------------


class NewProject:
    """A directory where the README's commands run, as in a shell with a venv active."""

    def __init__(self, root: Path, wheel: Path) -> None:
        self.cwd = root
        self.wheel = wheel
        self.venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True, timeout=120)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "LIVEBELL_", "DATABASE_URL", "VIRTUAL_ENV"))
        }
        self.env = {
            **env,
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{env['PATH']}",
            "VIRTUAL_ENV": str(self.venv),
            "PYTHONPATH": "",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        }
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""

    def run(self, command: str) -> str:
        """One README command, with what only a person could do made explicit."""
        argv = shlex.split(command)
        if argv[:2] == ["git", "clone"]:
            return ""  # the built wheel stands for the checkout
        if argv[0] == "cd":
            self.cwd = self.cwd / argv[1]
            return ""
        if argv[:4] == ["python", "-m", "pip", "install"]:
            checkout = [arg for arg in argv if arg.startswith("./livebell")]
            assert checkout, f"the README installs livebell from its checkout: {command}"
            argv = [
                str(self.wheel) + arg.removeprefix("./livebell") if arg in checkout else arg
                for arg in argv
            ] + ["-q", "-c", str(CONSTRAINTS)]
        if argv[-1] == "createsuperuser":
            # createsuperuser asks; a person would answer.
            argv += ["--noinput", "--username", USERNAME, "--email", "admin@example.com"]
        if argv[0] == "uvicorn":
            return self.serve(argv)
        done = subprocess.run(
            argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def serve(self, argv: list[str]) -> str:
        """Start the README's server in the background, on a free port."""
        port = free_port()
        self.log = (self.cwd / "server.log").open("wb")
        self.server = subprocess.Popen(
            [*argv, "--port", str(port)],
            cwd=self.cwd,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(port, self.server)
        self.url = f"http://127.0.0.1:{port}"
        return ""

    def write(self, block: Block) -> None:
        path, how = file_target(block)
        target = self.cwd / path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(block.lines) + "\n"
        if REDIS_URL != "redis://127.0.0.1:6379/0":  # the suite's Redis is elsewhere
            text = text.replace("redis://127.0.0.1:6379", REDIS_URL)
        if how == "append":
            assert target.exists(), f"{path}: startproject made no such file to add to"
            text = target.read_text() + "\n" + text
        else:
            assert target.exists() or path.startswith("templates/"), f"{path} is not a file"
        target.write_text(text)

    def stop(self) -> None:
        if self.server and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
            self.log.close()


@pytest.fixture
def new_project(tmp_path: Path, dist: Path) -> Iterator[NewProject]:
    project = NewProject(tmp_path, next(dist.glob("livebell-*.whl")))
    yield project
    project.stop()


async def test_the_readme_pasted_into_a_new_project_gives_a_live_bell(
    new_project: NewProject, browser: Any
) -> None:
    require_redis()
    blocks = install_section()
    notify_at = next(i for i, b in enumerate(blocks) if "notify(" in "\n".join(b.lines))
    for block in blocks[:notify_at]:
        if block.language == "sh":
            for command in shell_lines(block):
                new_project.run(command)
        else:
            new_project.write(block)
    assert new_project.url, "the README serves the site before sending a notification"

    page = await browser.new_page()
    failed: list[str] = []
    # A new project has no favicon; everything else must load.
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and not r.url.endswith("/favicon.ico")
            and failed.append(f"{r.status} {r.url}")
        ),
    )
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and "favicon.ico" not in (m.location or {}).get("url", "")
            and failed.append(f"console: {m.text}")
        ),
    )
    loaded: list[str] = []
    page.on("response", lambda r: r.ok and loaded.append(r.url))
    # Signed in as the README says: the page's link to the admin's login.
    await page.goto(f"{new_project.url}/")
    await page.get_by_role("link", name="Sign in").click()
    await page.fill("#id_username", USERNAME)
    await page.fill("#id_password", PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_url(f"{new_project.url}/")
    bell = page.locator("[data-livebell=bell]")
    await bell.wait_for(state="attached", timeout=10_000)
    try:
        await page.wait_for_function(
            "document.querySelector('[data-livebell=bell]').dataset.state === 'open'",
            timeout=15_000,
        )
    except Exception as error:
        raise AssertionError(f"the bell's socket did not open; failed: {failed}") from error
    assert any(url.endswith("livebell/bell.css") for url in loaded), loaded
    assert any(url.endswith("livebell/bell.module.js") for url in loaded), loaded

    for block in blocks[notify_at:]:
        assert block.language == "sh", "the README's last steps are shell commands"
        for command in shell_lines(block):
            new_project.run(command)
    toast = page.locator(".lb-toast")
    await toast.first.wait_for(timeout=15_000)
    assert "says hello" in await toast.first.inner_text()
    assert await page.locator(".lb-badge").inner_text() == "1"

    # The OpenAPI schema and the full page, from the README's URLs alone.
    schema = await page.request.get(f"{new_project.url}/api/schema/")
    assert schema.ok and "openapi:" in await schema.text()
    await page.goto(f"{new_project.url}/notifications/")
    await page.get_by_text("says hello").first.wait_for(timeout=10_000)
    assert not failed, failed
