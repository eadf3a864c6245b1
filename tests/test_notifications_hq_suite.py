"""django-notifications-hq 1.8.3's own test suite passes against livebell-notifications-hq.

hq's tests are not in this repository: :mod:`tests.hq_suite` downloads the pinned
sdist with pip, checks its sha256, extracts its tests, applies the adaptations it
lists (docs/migrating-from-django-notifications.md) and runs them in a subprocess
with this interpreter, so on each Django version the suite runs on. Missing pieces
(the compat package, the test extras, the registry) skip locally and fail in CI.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from tests import hq_suite
from tests.conftest import service_missing

pytestmark = pytest.mark.any_database


@pytest.fixture(scope="module")
def hq_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for module, what in (
        (
            "notifications.mirror",
            "livebell-notifications-hq (pip install -e compat/notifications-hq)",
        ),
        ("swapper", "swapper"),
        ("pytz", "pytz (compat/notifications-hq's test extra)"),
        ("jsonfield", "jsonfield (compat/notifications-hq's test extra)"),
    ):
        if importlib.util.find_spec(module.split(".")[0]) is None or (
            "." in module and importlib.util.find_spec(module) is None
        ):
            service_missing(what)
    workdir = tmp_path_factory.mktemp("hq")
    try:
        sdist = hq_suite.download(workdir)
    except Exception as exc:  # no registry: skip locally, fail in CI
        service_missing(f"django-notifications-hq {hq_suite.HQ_VERSION} from the registry ({exc})")
    return hq_suite.prepare(sdist, workdir)


def test_hq_main_suite_passes(hq_workdir: Path) -> None:
    """hq's 29 tests: models, managers, notify, pages, JSON API, tags, admin."""
    result = hq_suite.run(hq_workdir, *hq_suite.MAIN_TESTS, sample_app=False)
    assert result.ok, result.output[-8000:]
    assert result.ran == 29, result.output[-8000:]


def test_hq_sample_app_suite_passes(hq_workdir: Path) -> None:
    """hq's sample app: a swapped NOTIFICATIONS_NOTIFICATION_MODEL with a column of its own."""
    result = hq_suite.run(hq_workdir, *hq_suite.SAMPLE_APP_TESTS, sample_app=True)
    assert result.ok, result.output[-8000:]
    assert result.ran == 10, result.output[-8000:]


def test_adaptations_are_few_and_explained() -> None:
    """Every change made to hq's tests says why, and is listed in the migration guide."""
    guide = (
        Path(__file__).resolve().parent.parent / "docs" / "migrating-from-django-notifications.md"
    ).read_text()
    for name, _old, _new, why in hq_suite.ADAPTATIONS:
        assert why
        assert f"`notifications/tests/{name}`" in guide


def test_every_public_name_of_hq_is_in_the_compat_package(hq_workdir: Path) -> None:
    """hq 1.8.3's module layout: each of its modules (tests and migrations aside) is in
    the compat package, and defines or imports each name hq's defines at top level."""
    import tarfile

    compat = Path(__file__).resolve().parent.parent / "compat" / "notifications-hq" / "src"
    prefix = f"django-notifications-hq-{hq_suite.HQ_VERSION}/"
    missing: list[str] = []
    with tarfile.open(hq_workdir / hq_suite.HQ_SDIST) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix(prefix)
            if not name.startswith("notifications/") or not name.endswith(".py"):
                continue
            if "/tests/" in name or "/migrations/" in name:
                continue
            hq_tree = ast.parse(archive.extractfile(member).read())  # type: ignore[union-attr]
            ours = compat / name
            if not ours.exists():
                missing.append(name)
                continue
            our_names = _top_level_names(ast.parse(ours.read_text()), imports=True)
            missing += [
                f"{name}: {public}"
                for public in _top_level_names(hq_tree, imports=False)
                if not public.startswith("_") and public not in our_names
            ]
    assert missing == [], missing


def _top_level_names(tree: ast.Module, *, imports: bool) -> set[str]:

    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif imports and isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    if imports:
        # Names a module provides lazily (its __getattr__) are in its __all__.
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                names.update(ast.literal_eval(node.value))
    return names
