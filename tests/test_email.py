"""Email for what stays unread (livebell.reach.email): who gets what, once, how it reads,
the unsubscribe link, the task, the cron command; through a real SMTP server; and two
sweepers at once on PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from livebell import inbox, mutes, notify, preferences
from livebell.models import EmailMark, Notification, PendingEmail
from livebell.reach import email
from tests.conftest import free_port
from tests.processes import ROOT, child_env
from tests.testapp.models import Post

SITE = "http://testserver"
DELAY = timedelta(minutes=15)
TYPES = {
    "post.answered": {
        "template": _("{actor} commented on your post “{target}”"),
        "label": "Answers",
        "email_after": DELAY,
    },
    "post.pinned": {"template": "{actor} pinned “{target}”", "label": "Pins"},
    "account.locked": {
        "template": "Your account was locked",
        "label": "Account",
        "email_after": timedelta(0),
        "optional": False,
    },
}


@pytest.fixture(autouse=True)
def emailing(settings: Any) -> None:
    settings.LIVEBELL = {**settings.LIVEBELL, "SITE_URL": SITE, "TYPES": TYPES}
    # Django's test environment sends to mail.outbox (locmem) already; Django 6.1 wants
    # that said in MAILERS, which replaces EMAIL_BACKEND.
    if hasattr(mail, "mailers"):
        settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.DEFAULT_FROM_EMAIL = "bell@testserver"


def later(delay: timedelta = DELAY + timedelta(minutes=1)) -> Any:
    return timezone.now() + delay


def emailed() -> list[list[int]]:
    """The notification ids of each email sent, in order."""
    return [[int(i) for i in m.extra_headers[email.HEADER].split(",")] for m in mail.outbox]


@pytest.fixture
def bob(make_user: Any) -> Any:
    return make_user("bob", email="bob@example.com")


@pytest.fixture
def alice(make_user: Any) -> Any:
    return make_user("alice", email="alice@example.com")


@pytest.mark.django_db
def test_unread_past_the_delay_is_emailed_once_as_a_normal_email(bob: Any, alice: Any) -> None:
    post = Post.objects.create(title="Tea")
    (row,) = notify(bob, type="post.answered", actor=alice, target=post)
    assert email.send_due(later(DELAY - timedelta(minutes=1))) == 0  # not due yet
    assert mail.outbox == []
    assert email.send_due(later()) == 1
    assert email.send_due(later()) == 0  # never twice
    (message,) = mail.outbox
    assert emailed() == [[row.pk]]
    assert message.to == ["bob@example.com"]
    assert message.from_email == "bell@testserver"
    assert message.subject == "alice commented on your post “Tea”"  # not "a digest of 1"
    go = f"{SITE}/api/notifications/{row.pk}/go/"
    assert go in message.body
    html, mimetype = message.alternatives[0]  # type: ignore[attr-defined]
    assert mimetype == "text/html"
    assert f'href="{go}"' in html and "alice commented on your post “Tea”" in html
    unsubscribe = message.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{SITE}/api/notifications/email/unsubscribe/")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert not PendingEmail.objects.exists()


@pytest.mark.django_db
def test_an_emailed_link_marks_read_and_opens_the_target(bob: Any, alice: Any) -> None:
    post = Post.objects.create(title="Tea")
    (row,) = notify(bob, type="post.answered", actor=alice, target=post)
    email.send_due(later())
    (link,) = [w for w in mail.outbox[0].body.split() if "/go/" in w]
    client = Client()
    # Signed out: the site's login first, then back to the link.
    assert client.get(link.removeprefix(SITE)).url.startswith("/accounts/login/")
    client.force_login(bob)
    # A link opened from a mail client is a navigation with no initiator.
    response = client.get(link.removeprefix(SITE), headers={"Sec-Fetch-Site": "none"})
    assert (response.status_code, response.url) == (302, post.get_absolute_url())
    assert Notification.objects.get(pk=row.pk).read_at is not None


@pytest.mark.django_db
def test_several_go_in_one_email_newest_first(bob: Any, alice: Any) -> None:
    posts = [Post.objects.create(title=f"Post {i}") for i in range(3)]
    ids = [notify(bob, type="post.answered", actor=alice, target=p)[0].pk for p in posts]
    (locked,) = notify(bob, type="account.locked")
    assert email.send_due(later()) == 1
    (message,) = mail.outbox
    assert emailed() == [sorted([*ids, locked.pk], reverse=True)]
    assert message.subject == "4 unread notifications on testserver"
    for pk in ids:
        assert f"{SITE}/api/notifications/{pk}/go/" in message.body
    assert "Your account was locked" in message.body


@pytest.mark.django_db
def test_past_the_cap_the_rest_are_counted(settings: Any, bob: Any, alice: Any) -> None:
    settings.LIVEBELL = {**settings.LIVEBELL, "EMAIL_MAX_ITEMS": 2}
    for i in range(5):
        notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title=f"P{i}"))
    email.send_due(later())
    (message,) = mail.outbox
    assert len(emailed()[0]) == 5
    assert message.body.count("/go/") == 2
    assert "…and 3 more." in message.body


@pytest.mark.django_db
def test_read_before_the_delay_is_not_emailed(bob: Any, alice: Any) -> None:
    rows = [notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title=t))[0]
            for t in ("a", "b")]  # fmt: skip
    inbox.mark_read(bob, [rows[0].pk])
    email.send_due(later())
    assert emailed() == [[rows[1].pk]]


@pytest.mark.django_db
def test_read_after_collecting_but_before_sending_is_not_emailed(bob: Any, alice: Any) -> None:
    notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    assert email.collect(later()) == 1
    inbox.mark_all_read(bob)
    assert email.send_due(later()) == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_preference_off_is_not_emailed(bob: Any, alice: Any) -> None:
    notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    preferences.set_choice(bob, "post.answered", "email", False)
    assert email.send_due(later()) == 0


@pytest.mark.django_db
def test_preference_turned_off_after_collecting_is_respected(bob: Any, alice: Any) -> None:
    notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    email.collect(later())
    preferences.set_choice(bob, "post.answered", "email", False)
    assert email.send_due(later()) == 0


@pytest.mark.django_db
def test_muted_and_deleted_are_not_emailed(bob: Any, alice: Any) -> None:
    muted_post, kept_post, gone_post = (Post.objects.create(title=t) for t in "mkg")
    notify(bob, type="post.answered", actor=alice, target=muted_post)
    (kept,) = notify(bob, type="post.answered", actor=alice, target=kept_post)
    (gone,) = notify(bob, type="post.answered", actor=alice, target=gone_post)
    email.collect(later())
    mutes.mute(bob, muted_post)
    inbox.delete(bob, [gone.pk])
    email.send_due(later())
    assert emailed() == [[kept.pk]]


@pytest.mark.django_db
def test_untyped_and_non_emailing_types_are_not_emailed(bob: Any, alice: Any) -> None:
    notify(bob, "waved at you", actor=alice)
    notify(bob, type="post.pinned", actor=alice, target=Post.objects.create(title="a"))
    assert email.send_due(later(timedelta(hours=2))) == 0
    assert not EmailMark.objects.filter(type="post.pinned").exists()


@pytest.mark.django_db
def test_the_mark_passes_every_due_row_so_no_sweep_reads_them_again(bob: Any) -> None:
    """A type sent rarely: its mark moves past the other rows due, of any type, so the
    next sweep does not read again from its last row of its own."""
    notify(bob, type="account.locked")
    email.send_due(later())
    rows = [notify(bob, "untyped").pop().pk for _ in range(3)]
    email.send_due(later())
    assert EmailMark.objects.get(type="account.locked").last_id == rows[-1]
    assert EmailMark.objects.get(type="post.answered").last_id == rows[-1]
    # Not yet due (sent less than its delay ago): the mark stays before it.
    (fresh,) = notify(bob, type="post.answered")
    email.send_due(later(timedelta(minutes=5)))
    assert EmailMark.objects.get(type="post.answered").last_id < fresh.pk
    email.send_due(later())
    assert emailed()[-1] == [fresh.pk]


@pytest.mark.django_db
def test_users_without_an_address_or_inactive_get_nothing(make_user: Any, alice: Any) -> None:
    make_user("ghost")  # no email
    make_user("gone", email="gone@example.com", is_active=False)
    notify(list(type(alice).objects.filter(username__in=["ghost", "gone"])), type="account.locked")
    assert email.send_due(later()) == 0


@pytest.mark.django_db
def test_one_email_per_user(bob: Any, alice: Any, make_user: Any) -> None:
    carol = make_user("carol", email="carol@example.com")
    notify([bob, carol], type="account.locked")
    notify([bob, carol], type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    assert email.send_due(later()) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.com", "carol@example.com"]
    assert all(len(ids) == 2 for ids in emailed())


@pytest.mark.django_db
def test_what_was_older_than_max_age_before_email_was_on_is_not_emailed(
    bob: Any, alice: Any
) -> None:
    (old,) = notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    (new,) = notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="b"))
    email.send_due(later())
    assert emailed() == [[new.pk]]


@pytest.mark.django_db
def test_in_the_readers_language(settings: Any, bob: Any, alice: Any) -> None:
    settings.LIVEBELL = {
        **settings.LIVEBELL,
        "EMAIL_LANGUAGE": lambda user: "zh-hans" if user.username == "bob" else None,
    }
    notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="茶"))
    email.send_due(later())
    (message,) = mail.outbox
    assert message.subject == "alice 评论了你的文章“茶”"
    assert '<html lang="zh-hans">' in message.alternatives[0][0]  # type: ignore[attr-defined]


def test_the_language_hook_falls_back_to_language_code(settings: Any) -> None:
    settings.LIVEBELL = {**settings.LIVEBELL, "EMAIL_LANGUAGE": lambda user: "xx"}
    assert email.email_language(AnonymousUser()) == "en"
    settings.LIVEBELL = {**settings.LIVEBELL, "EMAIL_LANGUAGE": "tests.test_email.chinese"}
    assert email.email_language(AnonymousUser()) == "zh-hans"


def chinese(user: Any) -> str:
    return "zh-Hans"


# --- Unsubscribing ---


def unsubscribe_path(message: Any) -> str:
    return str(message.extra_headers["List-Unsubscribe"]).strip("<>").removeprefix(SITE)


@pytest.fixture
def unsubscribe_url(bob: Any, alice: Any) -> str:
    notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    email.send_due(later())
    return unsubscribe_path(mail.outbox[0])


@pytest.mark.django_db
def test_unsubscribe_get_changes_nothing(bob: Any, unsubscribe_url: str) -> None:
    response = Client().get(unsubscribe_url)
    assert response.status_code == 200
    assert b'<form method="post">' in response.content and b"Answers" in response.content
    assert preferences.enabled(bob, "post.answered", "email")


@pytest.mark.django_db
def test_unsubscribe_form_post_is_csrf_checked(bob: Any, unsubscribe_url: str) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post(unsubscribe_url).status_code == 403
    assert preferences.enabled(bob, "post.answered", "email")
    client.get(unsubscribe_url)  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(unsubscribe_url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    assert not preferences.enabled(bob, "post.answered", "email")
    assert preferences.enabled(bob, "post.answered", "in_app")  # only email went off


@pytest.mark.django_db
def test_one_click_post_needs_no_csrf_token(bob: Any, unsubscribe_url: str) -> None:
    response = Client(enforce_csrf_checks=True).post(
        unsubscribe_url, "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert response.status_code == 200
    assert not preferences.enabled(bob, "post.answered", "email")
    # And the next notification of the type is not emailed.
    notify(bob, type="post.answered", target=Post.objects.create(title="b"))
    mail.outbox = []
    assert email.send_due(later()) == 0


@pytest.mark.django_db
def test_bad_tokens_are_404(bob: Any, unsubscribe_url: str) -> None:
    from django.core import signing

    client = Client(enforce_csrf_checks=True)
    forged = signing.dumps([str(bob.pk), ["post.answered"]])  # the default salt
    for url in (
        unsubscribe_url.replace("/unsubscribe/", "/unsubscribe/x"),
        f"/api/notifications/email/unsubscribe/{forged}/",
        "/api/notifications/email/unsubscribe/nonsense/",
        f"/api/notifications/email/unsubscribe/{email.unsubscribe_token('abc', [])}/",
    ):
        assert client.get(url).status_code == 404
        one_click = client.post(
            url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert one_click.status_code == 404
    assert client.put(unsubscribe_url).status_code == 405
    assert preferences.enabled(bob, "post.answered", "email")


@pytest.mark.django_db
def test_only_optional_types_can_be_unsubscribed(bob: Any) -> None:
    notify(bob, type="account.locked")
    email.send_due(later())
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers


# --- Settings, the task, the command ---


@pytest.mark.django_db
def test_site_url_is_required_once_a_type_emails(settings: Any, bob: Any) -> None:
    settings.LIVEBELL = {**settings.LIVEBELL, "SITE_URL": None}
    assert [m.id for m in run_checks() if m.id.startswith("livebell")] == ["livebell.E006"]
    notify(bob, type="account.locked")
    with pytest.raises(Exception, match="SITE_URL"):
        email.send_due(later())
    assert PendingEmail.objects.count() == 0  # nothing claimed, so nothing lost
    settings.LIVEBELL = {**settings.LIVEBELL, "TYPES": {}}
    assert [m.id for m in run_checks() if m.id.startswith("livebell")] == []


def _tasks_module() -> str:
    try:
        import django.tasks  # noqa: F401

        return "django.tasks"
    except ImportError:
        return "django_tasks"


@pytest.mark.django_db(transaction=True)
def test_a_sweep_is_enqueued_after_commit_for_when_it_is_due(settings: Any, bob: Any) -> None:
    module = _tasks_module()
    settings.TASKS = {"default": {"BACKEND": f"{module}.backends.dummy.DummyBackend"}}
    from importlib import import_module

    backend = import_module(module).task_backends["default"]
    before = timezone.now()
    notify([bob], type="account.locked")
    notify(bob, "untyped")
    notify(bob, type="post.pinned")
    (result,) = backend.results
    assert result.task.func is email.send_due_emails.func
    assert before <= result.task.run_after <= timezone.now()  # account.locked: at once
    notify(bob, type="post.answered")
    assert backend.results[-1].task.run_after >= before + DELAY


@pytest.mark.django_db(transaction=True)
def test_an_immediate_backend_gets_nothing(settings: Any, bob: Any) -> None:
    """It would run the sweep inside notify()'s request: the cron command is for it."""
    module = _tasks_module()
    settings.TASKS = {"default": {"BACKEND": f"{module}.backends.immediate.ImmediateBackend"}}
    notify(bob, type="account.locked")
    assert mail.outbox == [] and PendingEmail.objects.count() == 0


@pytest.mark.django_db
def test_the_task_runs_the_sweep(bob: Any) -> None:
    notify(bob, type="account.locked")
    assert email.send_due_emails.call() == 1


@pytest.mark.django_db
def test_the_command(settings: Any, bob: Any) -> None:
    notify(bob, type="account.locked")
    out = StringIO()
    call_command("livebell_send_digests", stdout=out)
    assert out.getvalue() == "1 email(s) sent.\n" and len(mail.outbox) == 1
    settings.LIVEBELL = {**settings.LIVEBELL, "SITE_URL": "example.com"}
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="SITE_URL"):
        call_command("livebell_send_digests", stdout=out)


# --- Through a real SMTP server ---


def _send_through_smtp(settings: Any, port: int) -> None:
    """Django's SMTP backend, to 127.0.0.1:``port``."""
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    if hasattr(mail, "mailers"):  # Django 6.1: MAILERS, EMAIL_* deprecated
        settings.MAILERS = {
            "default": {"BACKEND": smtp, "OPTIONS": {"host": "127.0.0.1", "port": port}}
        }
    else:
        settings.EMAIL_BACKEND = smtp
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False


@pytest.mark.django_db
def test_through_a_real_smtp_server(settings: Any, bob: Any, alice: Any) -> None:
    from aiosmtpd.controller import Controller

    received: list[tuple[str, list[str], bytes]] = []
    done = threading.Event()

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            done.set()
            return "250 OK"

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _send_through_smtp(settings, port)
        posts = [Post.objects.create(title=t) for t in ("Tea", "Coffee")]
        rows = [notify(bob, type="post.answered", actor=alice, target=p)[0] for p in posts]
        assert email.send_due(later()) == 1
        assert done.wait(10)
    finally:
        controller.stop()
    ((sender, recipients, raw),) = received
    assert (sender, recipients) == ("bell@testserver", ["bob@example.com"])
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "2 unread notifications on testserver"
    assert parsed[email.HEADER] == f"{rows[1].pk},{rows[0].pk}"
    # Long: folded onto a line of its own, which unfolding leaves a space before.
    unsubscribe = str(parsed["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith(f"<{SITE}/api/notifications/email/unsubscribe/")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    for row in rows:
        go = f"{SITE}/api/notifications/{row.pk}/go/"
        assert go in text.get_content() and f'href="{go}"' in html.get_content()
    assert "alice commented on your post “Coffee”" in html.get_content()
    # The link in the header unsubscribes, in one POST without a CSRF token.
    path = unsubscribe.strip("<>").removeprefix(SITE)
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert not preferences.enabled(bob, "post.answered", "email")


@pytest.mark.django_db
def test_an_email_the_smtp_server_refused_is_sent_by_a_later_sweep_once(
    settings: Any, bob: Any, alice: Any
) -> None:
    """The server answers its first message 451 (try again later), then accepts: the
    claimed notifications are put back, due after SEND_RETRY_SECONDS[0], and the sweep
    after that sends them, once."""
    from aiosmtpd.controller import Controller

    answers = ["451 4.3.0 Try again later"]
    accepted: list[bytes] = []
    tried: list[bytes] = []

    class FailOnce:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            tried.append(envelope.content)
            if answers:
                return answers.pop(0)
            accepted.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(FailOnce(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _send_through_smtp(settings, port)
        post = Post.objects.create(title="Tea")
        [row] = notify(bob, type="post.answered", actor=alice, target=post)
        first = later()
        assert email.send_due(first) == 0  # refused
        [back] = PendingEmail.objects.all()
        assert (back.notification_id, back.user_id, back.attempts) == (row.pk, bob.pk, 1)
        retry = timedelta(seconds=email.SEND_RETRY_SECONDS[0])
        assert back.due_at == first + retry
        assert email.send_due(first + retry - timedelta(seconds=1)) == 0  # not due yet
        assert len(tried) == 1
        assert email.send_due(first + retry) == 1
        assert email.send_due(first + retry * 10) == 0  # and never again
    finally:
        controller.stop()
    assert len(tried) == 2
    [raw] = accepted
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed[email.HEADER] == str(row.pk)
    assert PendingEmail.objects.count() == 0


@pytest.mark.django_db
def test_an_email_that_keeps_failing_is_given_up_after_the_last_retry(
    monkeypatch: pytest.MonkeyPatch, bob: Any, alice: Any
) -> None:
    sends: list[Any] = []

    def refuse(message: Any) -> None:
        sends.append(message)
        raise OSError("connection refused")

    monkeypatch.setattr(email, "send_message", refuse)
    notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="Tea"))
    now = later()
    for wait in (0, *email.SEND_RETRY_SECONDS):
        now += timedelta(seconds=wait)
        assert email.send_due(now) == 0
    assert len(sends) == 1 + len(email.SEND_RETRY_SECONDS)
    assert PendingEmail.objects.count() == 0  # given up (logged)
    assert email.send_due(now + timedelta(days=1)) == 0 and len(sends) == 4


# --- Two sweepers at once ---


def _isolation_levels() -> list[str | None]:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("mysql"):
        return ["read committed", "repeatable read"]
    return [None]


def _locking_variants() -> list[str]:
    """The claim with its locking (``on``) and, where a lock could be taken out,
    without it (``off``): SQLite has one writer, so its claims take turns without one."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    return ["on"] if engine.endswith("sqlite3") else ["on", "off"]


@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("isolation", _isolation_levels())
@pytest.mark.parametrize("locking", _locking_variants())
def test_two_sweepers_at_once_send_each_notification_once(
    make_user: Any, isolation: str | None, locking: str, tmp_path: Any
) -> None:
    """Two processes sweep the same due notifications of 60 users at once, on the real
    database: each notification is emailed exactly once, each user once. With the
    claim's locking taken out (``off``), the same run sends mail twice on PostgreSQL
    and MariaDB: the test sees it."""
    import django.contrib.auth

    users = [make_user(f"user{i}", email=f"user{i}@example.com") for i in range(60)]
    rows = notify(django.contrib.auth.get_user_model().objects.filter(pk__in=[u.pk for u in users]),
                  type="post.answered", target=Post.objects.create(title="a"))  # fmt: skip
    # Collected here, so that both sweepers find the whole queue (one of them would
    # leave the collecting to the other, and might find nothing yet).
    assert email.collect(later()) == 60
    env = child_env({"BACKEND": "channels.layers.InMemoryChannelLayer"}, {"SITE_URL": SITE})
    env["LIVEBELL_TEST_LIVEBELL"] = json.dumps({"SITE_URL": SITE, "EMAIL_BATCH_USERS": 5})
    env["LIVEBELL_TEST_BARRIER"] = str(tmp_path)
    if isolation is not None:
        env["LIVEBELL_TEST_MYSQL_ISOLATION"] = isolation
    sweepers = [
        subprocess.Popen([sys.executable, "-m", "tests.digester", locking], env=env, cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    try:
        for sweeper in sweepers:
            assert sweeper.stdout is not None
            assert json.loads(sweeper.stdout.readline()) == {"ready": True}
        for sweeper in sweepers:
            assert sweeper.stdin is not None
            sweeper.stdin.write("go\n")
            sweeper.stdin.flush()
        reports = []
        for sweeper in sweepers:
            assert sweeper.stdout is not None
            line = sweeper.stdout.readline()
            assert line, f"sweeper exited with {sweeper.wait()}"
            reports.append(json.loads(line))
    finally:
        for sweeper in sweepers:
            if sweeper.poll() is None:
                sweeper.kill()
            sweeper.wait()
            for stream in (sweeper.stdin, sweeper.stdout):
                if stream is not None:
                    stream.close()
    ids = [int(i) for report in reports for header in report["emailed"] for i in header.split(",")]
    if locking == "off":
        assert len(ids) > len(set(ids)), reports  # without the locking, mail went twice
        return
    assert sorted(ids) == sorted(row.pk for row in rows), reports
    assert len(reports[0]["emailed"]) + len(reports[1]["emailed"]) == 60  # one per user
    assert all(report["sent"] > 0 for report in reports), reports  # they shared the work


def _deadlock(driver: str) -> Exception:
    """The error Django raises when the database broke a deadlock by rolling back."""
    from django.db import OperationalError

    if driver == "mysql":
        import MySQLdb

        cause: Exception = MySQLdb.OperationalError(1213, "Deadlock found when trying to get lock")
    else:
        import psycopg.errors

        cause = psycopg.errors.DeadlockDetected("deadlock detected")
    error = OperationalError(*cause.args)
    error.__cause__ = cause
    return error


# Outside a transaction, as the sweep's task and command run it (pytest-django's
# default wraps each test in one, where a deadlock is not retried: the last test).
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("driver", ["mysql", "postgresql"])
def test_a_claim_rolled_back_for_a_deadlock_is_claimed_again(
    bob: Any, alice: Any, driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sweepers' claims can deadlock on InnoDB (seen in the two-sweeper test); the
    database rolls the victim back whole, and its sweep claims again instead of failing."""
    (row,) = notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    real_claim, calls = email._claim, []

    def deadlocking_once(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise _deadlock(driver)
        return real_claim(*args)

    monkeypatch.setattr(email, "_claim", deadlocking_once)
    assert email.send_due(later()) == 1
    assert emailed() == [[row.pk]]
    assert len(calls) == 3  # the rolled-back claim, the claim again, the empty one


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_keeps_deadlocking_or_fails_otherwise_is_raised(
    bob: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    calls: list[Any] = []

    def always(error: Exception) -> Any:
        def claim(*args: Any) -> Any:
            calls.append(args)
            raise error

        return claim

    monkeypatch.setattr(email, "_claim", always(_deadlock("mysql")))
    with pytest.raises(OperationalError):
        email.send_due(later())
    assert len(calls) == email.CLAIM_ATTEMPTS
    calls.clear()
    monkeypatch.setattr(email, "_claim", always(OperationalError("server has gone away")))
    with pytest.raises(OperationalError):
        email.send_due(later())
    assert len(calls) == 1  # not a deadlock: not tried again
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_claim_that_deadlocks_inside_a_callers_transaction_is_raised_at_once(
    bob: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the caller's ``atomic()`` (this test's own transaction) the claim is a
    savepoint: InnoDB rolled back the caller's whole transaction, which only the caller
    can start again, so the deadlock is raised, not claimed again within it."""
    from django.db import OperationalError, transaction

    notify(bob, type="post.answered", actor=alice, target=Post.objects.create(title="a"))
    calls: list[Any] = []

    def deadlocking(*args: Any) -> Any:
        calls.append(args)
        raise _deadlock("mysql")

    monkeypatch.setattr(email, "_claim", deadlocking)
    assert transaction.get_connection().in_atomic_block
    with pytest.raises(OperationalError):
        email.send_due(later())
    assert len(calls) == 1
    assert mail.outbox == []


def _lock_both(first: Any, second: Any, turn: threading.Barrier, errors: list[Exception]) -> None:
    """In a thread of its own (its own connection): lock ``first``'s row, wait for the
    other thread to lock its row, then lock ``second``'s — which that thread holds."""
    from django.contrib.auth import get_user_model
    from django.db import OperationalError, connection, transaction

    users = get_user_model().objects
    try:
        if connection.vendor == "sqlite":
            connection.ensure_connection()
            # SQLite has no row locks: the second writer waits for the first's database
            # lock, here 0.2 s instead of the default 5, then gives up.
            connection.connection.execute("PRAGMA busy_timeout = 200")
        with transaction.atomic():
            users.filter(pk=first).update(first_name="locked")
            turn.wait(timeout=10)
            users.filter(pk=second).update(first_name="locked")
    except OperationalError as exc:
        errors.append(exc)
        turn.abort()  # on SQLite, before the other thread's wait: it need not time out
    except threading.BrokenBarrierError:
        pass  # the other thread failed before its first lock: its error says why
    finally:
        connection.close()


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_the_databases_own_deadlock_error_is_the_one_claimed_again(make_user: Any) -> None:
    """Two real transactions that each lock a row the other wants next: PostgreSQL and
    MariaDB break the deadlock by rolling one back, with the error the claim's retry
    recognises (the tests above build it by hand). SQLite has no row locks and cannot
    deadlock: its second writer waits for the first and gives up with "database is
    locked", which is not a deadlock and is not claimed again."""
    from django.db import connection

    one, two = make_user("one"), make_user("two")
    turn, errors = threading.Barrier(2), []
    threads = [
        threading.Thread(target=_lock_both, args=(a.pk, b.pk, turn, errors))
        for a, b in ((one, two), (two, one))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(errors) == 1, errors  # one victim; the other transaction went on
    if connection.vendor == "sqlite":
        assert "database is locked" in str(errors[0])
        assert not email._deadlocked(errors[0])
    else:
        assert email._deadlocked(errors[0]), repr(errors[0].__cause__)
