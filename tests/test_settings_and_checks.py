"""Lazy settings, the system checks, and the package's public surface."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.test import override_settings
from django.utils.crypto import salted_hmac

import livebell
from livebell.conf import DEFAULTS, livebell_settings
from livebell.layer.groups import (
    PREFIX_MAX_LENGTH,
    fanout_group,
    group_prefix,
    site_key,
    user_group,
)


def test_settings_are_read_lazily_and_follow_override_settings() -> None:
    assert DEFAULTS["DATA_MAX_BYTES"] == livebell_settings.DATA_MAX_BYTES
    default = user_group(7)
    with override_settings(LIVEBELL={"DATA_MAX_BYTES": 10, "GROUP_PREFIX": "site2"}):
        assert livebell_settings.DATA_MAX_BYTES == 10
        assert user_group(7) == "site2.7"
        assert fanout_group() == "site2-fanout"
    assert user_group(7) == default


def test_each_site_gets_its_own_group_prefix_from_its_secret_key() -> None:
    key = salted_hmac("livebell.groups", "livebell", algorithm="sha256").hexdigest()[:12]
    assert site_key() == key
    assert (group_prefix(), user_group(7), fanout_group()) == (
        f"livebell.{key}",
        f"livebell.{key}.7",
        f"livebell.{key}-fanout",
    )
    assert settings.SECRET_KEY not in user_group(7)
    with override_settings(SECRET_KEY="another site's secret"):
        other = site_key()
        assert other != key and user_group(7) == f"livebell.{other}.7"
        # An explicit prefix wins; the key still tells the sites apart.
        with override_settings(LIVEBELL={"GROUP_PREFIX": "shared"}):
            assert (user_group(7), site_key()) == ("shared.7", other)
    assert site_key() == key


def test_unusual_primary_keys_make_valid_group_names() -> None:
    longest = "k" * 64  # the longest key used as it is
    with override_settings(LIVEBELL={"GROUP_PREFIX": "p" * PREFIX_MAX_LENGTH}):
        names = [user_group(pk) for pk in ("ünïcode pk/with spaces", longest, -(2**63))]
    names += [user_group("ünïcode pk/with spaces"), user_group(longest), fanout_group()]
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,99}", name), name
    assert max(len(name) for name in names) == 99


def run_checks() -> list[str]:
    # No database: Django 6.1's model checks would otherwise ask each one about JSON.
    checks_run = checks.run_checks(databases=[])
    return [m.id or "" for m in checks_run if m.id and m.id.startswith("livebell.")]


def test_checks_pass_with_the_test_settings() -> None:
    assert run_checks() == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"LIVEBELL": {"NOT_A_SETTING": 1}}, "livebell.E001"),
        ({"LIVEBELL": ["not", "a", "dict"]}, "livebell.E001"),
        ({"CHANNEL_LAYERS": {}}, "livebell.E002"),
        ({"LIVEBELL": {"CHANNEL_LAYER": "push"}}, "livebell.E002"),
        ({"CHANNEL_LAYERS": {"default": {"BACKEND": "no.such.Layer"}}}, "livebell.E003"),
        (
            {
                "CHANNEL_LAYERS": {
                    "default": {
                        "BACKEND": "channels.layers.InMemoryChannelLayer",
                        "CONFIG": {"no_such_option": 1},
                    }
                }
            },
            "livebell.E003",
        ),
        ({"LIVEBELL": {"GROUP_PREFIX": "my site"}}, "livebell.E005"),
        ({"LIVEBELL": {"GROUP_PREFIX": "p" * 35}}, "livebell.E005"),
        ({"LIVEBELL": {"GROUP_PREFIX": ""}}, "livebell.E005"),
        ({"LIVEBELL": {"TASK_BACKEND": "nope"}}, "livebell.E024"),
        ({"LIVEBELL": {"TASK_BACKEND": None}}, "livebell.E024"),
        ({"LIVEBELL": {"WEB_PUSH_RETRY_DELAYS": (30, 0)}}, "livebell.E025"),
    ],
)
def test_misconfiguration_is_reported(overrides: dict[str, Any], expected: str) -> None:
    with override_settings(**overrides):
        assert run_checks() == [expected]


def core_layer(*hosts: Any) -> dict[str, Any]:
    return {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": list(hosts)}}


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        ("redis://127.0.0.1:6379/0", True),  # redis-py 8's default read timeout, 5 s
        ({"address": "redis://127.0.0.1:6379/0", "socket_timeout": 2}, True),
        ("redis://127.0.0.1:6379/0?socket_timeout=5", True),
        ({"address": "redis://127.0.0.1:6379/0", "socket_timeout": None}, False),
        ("redis://127.0.0.1:6379/0?socket_timeout=30", False),
        ({"host": "127.0.0.1", "port": 6379, "socket_timeout": None}, False),
    ],
)
def test_a_redis_read_timeout_shorter_than_the_layers_blocking_receive_is_a_warning(
    host: Any, warned: bool
) -> None:
    import redis

    assert int(redis.__version__.split(".")[0]) >= 8  # the pinned redis-py: 5 s by default
    with override_settings(CHANNEL_LAYERS={"default": core_layer(host)}):
        assert run_checks() == (["livebell.W001"] if warned else [])
    pubsub = {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}
    with override_settings(CHANNEL_LAYERS={"default": pubsub}):
        assert run_checks() == []  # its reads are not blocking pops


def test_unknown_setting_raises_a_clear_error() -> None:
    with (
        override_settings(LIVEBELL={"DATA_MAX_BYTE": 1}),
        pytest.raises(KeyError, match="Unknown LIVEBELL setting"),
    ):
        livebell_settings.DATA_MAX_BYTES  # noqa: B018


def test_public_surface() -> None:
    assert livebell.__all__ == ["__version__", "anotify", "notify", "notify_each"]
    from livebell.sending import anotify, notify, notify_each

    assert (livebell.notify, livebell.anotify, livebell.notify_each) == (
        notify,
        anotify,
        notify_each,
    )
    with pytest.raises(AttributeError):
        livebell.nothing_here  # noqa: B018


PACKAGE = Path(livebell.__file__).parent
SUBPACKAGES = ("storage", "layer", "live", "rest", "reach")
MODULES = sorted(
    ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    for folder in ("", *SUBPACKAGES)
    for path in (PACKAGE / folder).glob("*.py")
    if not path.stem.startswith("_")
)


def test_the_public_modules_sit_at_the_top_and_the_machinery_in_subpackages() -> None:
    """What a site imports is at the top; how it works lives in a named subpackage."""
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert {"conf", "inbox", "protocol", "routing", "sending", "signals", "types", "urls"} <= top
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert set(SUBPACKAGES) <= folders
    for name in SUBPACKAGES:
        assert importlib.import_module(f"livebell.{name}").__doc__, name


@pytest.mark.parametrize("name", MODULES)
def test_every_module_says_what_it_exports_and_has_it(name: str) -> None:
    module = importlib.import_module(f"livebell.{name}")
    if name in ("admin", "apps", "checks"):  # found by Django, not imported by users
        return
    assert module.__doc__, f"livebell.{name} has no docstring"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"livebell.{name} has no __all__"
    for attribute in exported:
        assert hasattr(module, attribute), f"livebell.{name}.__all__ names {attribute!r}"


@pytest.mark.parametrize(
    "name", ["protocol", "live.session", "ids", "live.ratelimit", "live.storm", "layer.messages"]
)
def test_the_socket_logic_needs_no_django_models(name: str) -> None:
    """The I/O-free parts import no models: they load with no app registry at all."""
    code = (
        f"import sys, livebell.{name}; "
        "loaded = [m for m in sys.modules if m.endswith('.models') or m == 'django.db']; "
        "assert not loaded, loaded"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr


def test_importing_the_package_does_not_touch_the_app_registry() -> None:
    """With no settings configured at all, as when a settings file imports it."""
    code = (
        "import sys, livebell; "
        "assert 'livebell.models' not in sys.modules, 'models imported'; "
        "print(livebell.__version__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == livebell.__version__


@pytest.mark.parametrize(
    "declared",
    [
        {"Bad Key": {"template": "x"}},
        {"ok.key": {"template": "x", "colour": "red"}},
        {"ok.key": {"template": "x", "level": "loud"}},
    ],
)
def test_a_bad_type_in_settings_is_a_check_error(declared: dict[str, Any]) -> None:
    with override_settings(LIVEBELL={"TYPES": declared}):
        errors = [e for e in checks.run_checks(databases=[]) if e.id == "livebell.E004"]
    assert len(errors) == 1 and 'LIVEBELL["TYPES"] is invalid' in errors[0].msg
