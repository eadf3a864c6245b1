"""manage.py livebell_notify: success and every error path."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from livebell.models import Notification
from tests.conftest import test_database_url

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("livebell_notify", *args, stdout=out)
    return out.getvalue()


def test_sends_to_named_users_with_actor_data_and_level(make_user: Any) -> None:
    bob, carol, alice = make_user("bob"), make_user("carol"), make_user("alice")
    output = run(
        "--to", "bob, carol", "--verb", "deployed", "--actor", "alice",
        "--data", '{"release": "1.2"}', "--level", "success",
    )  # fmt: skip
    assert "Sent 2 notification(s)." in output
    rows = Notification.objects.order_by("recipient__username")
    assert [n.recipient for n in rows] == [bob, carol]
    assert all(
        (n.actor, n.verb, n.data, n.level) == (alice, "deployed", {"release": "1.2"}, "success")
        for n in rows
    )


def test_all_sends_to_every_active_user(make_user: Any) -> None:
    make_user("bob"), make_user("carol"), make_user("gone", is_active=False)
    assert "Sent 2" in run("--all", "--verb", "maintenance tonight")
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {
        "bob",
        "carol",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "bob,nobody,ghost", "--verb", "x"], "Unknown user(s): ghost, nobody"),
        (["--to", "bob", "--verb", "x", "--actor", "nobody"], "Unknown actor: nobody"),
        (["--to", "bob", "--verb", "x", "--data", "{bad"], "--data is not valid JSON"),
        (["--to", "bob", "--verb", "x", "--data", "[1]"], "data must be a dict"),
        (["--to", "bob", "--verb", "   "], "verb must not be empty"),
        (["--to", " , ", "--verb", "x"], "--to needs at least one username"),
    ],
)
def test_errors_exit_nonzero_with_a_clear_message_and_send_nothing(
    make_user: Any, args: list[str], message: str
) -> None:
    make_user("bob")
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(*args)
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--verb", "x"],  # neither --to nor --all
        ["--to", "bob", "--all", "--verb", "x"],
        ["--to", "bob", "--verb", "x", "--level", "loud"],
    ],
)
def test_usage_errors(make_user: Any, args: list[str]) -> None:
    with pytest.raises(CommandError):
        run(*args)


@pytest.mark.django_db(transaction=True)
def test_real_process_exit_code(make_user: Any) -> None:
    """Run the command as operators do: a separate process, its exit status and stderr."""
    make_user("bob")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo.settings"}
    env["DATABASE_URL"] = test_database_url()
    ok = subprocess.run(
        [sys.executable, "demo/manage.py", "livebell_notify", "--to", "bob", "--verb", "hi"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "demo/manage.py", "livebell_notify", "--to", "zed", "--verb", "hi"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "Unknown user(s): zed" in bad.stderr
    assert Notification.objects.filter(recipient__username="bob").count() == 1
