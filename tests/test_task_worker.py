"""livebell's tasks on a real worker: Django's tasks framework with the database backend
(``django_tasks_db``), the test enqueuing through ``notify()`` and a separate worker
process (``db_worker``, tests/worker.py) running what is due, on the test database.

The worker cannot share the test's ``mail.outbox`` or its memory: emails reach a real
SMTP server of the test, pushes the stand-in push service (tests/pushservice.py), and
the acknowledgements of live tabs the Redis cache that both processes use.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest
from django.core.checks import run_checks
from django.utils import timezone

from livebell import notify, preferences
from livebell.models import WebPushSubscription
from livebell.reach import email, webpush
from tests.conftest import REDIS_URL, RUN_PREFIX, free_port, require_redis
from tests.processes import ROOT, child_env
from tests.pushservice import PushService
from tests.test_webpush import CONTACT, _keys
from tests.testapp.models import Post

SITE = "http://testserver"
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
LAYER = {"BACKEND": "channels.layers.InMemoryChannelLayer"}
# How long the emailing type waits, and web push waits for a live tab.
EMAIL_AFTER_SECONDS = 4
PUSH_DELAY_SECONDS = 4
# The worker's first retry of a failed push (livebell's is 30 s, not a setting).
RETRY_SECONDS = 2


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.1)
    return value


class Worker:
    """``python -m tests.worker`` (the database backend's ``db_worker``) on the test
    database, polling every 0.2 s; stopped with SIGTERM (its graceful stop), killed
    if it does not stop."""

    def __init__(self, livebell: dict[str, Any], env: dict[str, str]) -> None:
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        env = {"LIVEBELL_TEST_TASKS": json.dumps(TASKS), **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.worker", "--interval", "0.2", "--no-startup-delay",
             "--no-reload", "--worker-id", "livebell-test-worker", "-v", "2"],
            env=child_env(LAYER, livebell, "INFO", env),
            cwd=ROOT,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log(self) -> str:
        self.output.seek(0)
        return self.output.read().decode(errors="replace")

    def alive(self) -> None:
        assert self.process.poll() is None, f"the worker exited:\n{self.log()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.output.close()


@contextlib.contextmanager
def worker(livebell: dict[str, Any], **env: str) -> Iterator[Worker]:
    running = Worker(livebell, env)
    try:
        yield running
    finally:
        running.stop()


def results(task: Any) -> list[Any]:
    """The database backend's rows of ``task``, oldest first."""
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.filter(task_path=task.module_path).order_by("enqueued_at"))


@pytest.fixture
def on_the_database_backend(settings: Any) -> None:
    settings.TASKS = TASKS


# --- Email ---------------------------------------------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.django_db(transaction=True)
def test_the_email_sweep_runs_on_the_worker_once_due(
    settings: Any, on_the_database_backend: None, make_user: Any
) -> None:
    """notify() enqueues the sweep with run_after (the type's delay); the worker leaves
    it until then, runs it, and the email reaches a real SMTP server."""
    from aiosmtpd.controller import Controller

    received: list[tuple[str, list[str], bytes]] = []
    arrived = threading.Event()

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            arrived.set()
            return "250 OK"

    kind = "post.answered"
    settings.LIVEBELL = {
        **settings.LIVEBELL,
        "SITE_URL": SITE,
        "TYPES": {
            kind: {
                "template": "{actor} answered “{target}”",
                "email_after": timedelta(seconds=EMAIL_AFTER_SECONDS),
            }
        },
    }
    bob = make_user("bob", email="bob@example.com")
    alice = make_user("alice", email="alice@example.com")
    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with worker(
            {"SITE_URL": SITE},
            LIVEBELL_TEST_EMAIL_TYPE=f"{kind}:{EMAIL_AFTER_SECONDS}",
            LIVEBELL_TEST_SMTP_PORT=str(port),
        ) as running:
            before = timezone.now()
            (row,) = notify(bob, type=kind, actor=alice, target=Post.objects.create(title="Tea"))
            (sweep,) = results(email.send_due_emails)  # enqueued after commit
            assert sweep.run_after >= before + timedelta(seconds=EMAIL_AFTER_SECONDS)
            # Not before it is due: the worker polls every 0.2 s and leaves it.
            time.sleep(EMAIL_AFTER_SECONDS / 2)
            running.alive()
            sweep.refresh_from_db()
            if timezone.now() < sweep.run_after:  # (a loaded machine may have slept longer)
                assert sweep.status == "READY" and not received
            assert arrived.wait(30), running.log()
            wait_until(lambda: sweep.refresh_from_db() or sweep.finished_at, 10, "finished")
    finally:
        controller.stop()
    assert sweep.status == "SUCCESSFUL", sweep.traceback
    assert sweep.return_value == 1  # emails sent
    assert sweep.worker_ids == ["livebell-test-worker"]
    assert sweep.started_at >= sweep.run_after
    ((sender, recipients, raw),) = received
    assert (sender, recipients) == ("bell@testserver", ["bob@example.com"])
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed[email.HEADER] == str(row.pk)
    assert parsed["Subject"] == "alice answered “Tea”"


# --- Web push ------------------------------------------------------------------------


@pytest.fixture
def shared_cache(settings: Any) -> dict[str, Any]:
    """A Redis cache, the test's and the worker's (a key prefix of their own)."""
    require_redis()
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{RUN_PREFIX}-{uuid.uuid4().hex[:8]}",
        }
    }
    settings.CACHES = caches
    return caches


@pytest.mark.timeout(90)
@pytest.mark.django_db(transaction=True)
def test_web_push_waits_on_the_worker_for_a_live_tab_and_retries_a_failure(
    settings: Any, on_the_database_backend: None, shared_cache: dict[str, Any], make_user: Any
) -> None:
    """Two notifications for a user with a device: the tab acknowledges the first within
    WEB_PUSH_DELAY_SECONDS, so the worker pushes only the second, once the delay has
    passed; the push service answers it 500, and the worker tries it again (later) and
    delivers it."""
    private, public = _keys()
    with PushService(public, CONTACT) as service:
        push = {
            "WEB_PUSH_VAPID_PRIVATE_KEY": private,
            "WEB_PUSH_VAPID_PUBLIC_KEY": public,
            "WEB_PUSH_CONTACT": CONTACT,
            "WEB_PUSH_SERVICES": [service.origin],
            "WEB_PUSH_DELAY_SECONDS": PUSH_DELAY_SECONDS,
            "WEB_PUSH_RETRY_DELAYS": [RETRY_SECONDS],
        }
        settings.LIVEBELL = {**settings.LIVEBELL, **push}
        assert "livebell.E023" not in [m.id for m in run_checks()]  # this backend defers
        alice, bob = make_user("alice"), make_user("bob")
        device = service.device()
        keys = device.keys()
        webpush.subscribe(alice, device.endpoint, keys["p256dh"], keys["auth"], "en")
        preferences.set_choice(alice, "post.commented", "web_push", True)
        service.script(device, 500)  # the first push is refused, the next accepted
        with worker(push, LIVEBELL_TEST_CACHES=json.dumps(shared_cache)) as running:
            before = timezone.now()
            posts = [Post.objects.create(title=t) for t in ("Tea", "Coffee")]
            (seen,) = notify(alice, type="post.commented", actor=bob, target=posts[0])
            assert webpush.acknowledge(alice, [seen.pk]) == 1  # a tab received it live
            (unseen,) = notify(alice, type="post.commented", actor=bob, target=posts[1])
            deliveries = results(webpush.deliver)
            assert len(deliveries) == 2
            for delivery in deliveries:
                assert delivery.run_after >= before + timedelta(seconds=PUSH_DELAY_SECONDS)
            time.sleep(PUSH_DELAY_SECONDS / 2)
            running.alive()
            pushed = list(service.received)
            if timezone.now() < min(d.run_after for d in deliveries):
                assert pushed == []  # nothing within the delay
            wait_until(lambda: service.messages(device), 40, f"a push\n{running.log()}")
            wait_until(
                lambda: all(r.finished_at for r in results(webpush.deliver_again)),
                10,
                "the retry to finish",
            )
    # No cache.clear(): on Redis it is FLUSHDB, which would empty the database under
    # every other run using it; this test's keys have a prefix of their own and expire.
    assert [(r.status, r.message["id"]) for r in service.received] == [
        (500, unseen.pk),
        (201, unseen.pk),
    ]
    assert service.messages(device)[0]["body"] == "bob commented on your post “Coffee”"
    deliveries = results(webpush.deliver)
    assert [d.status for d in deliveries] == ["SUCCESSFUL", "SUCCESSFUL"]
    assert [d.return_value for d in deliveries] == [0, 1]  # the acknowledged one: no push
    for delivery in deliveries:
        assert delivery.started_at >= delivery.run_after
    (retry,) = results(webpush.deliver_again)
    assert retry.args_kwargs["args"] == [
        WebPushSubscription.objects.get().pk,
        unseen.pk,
        1,
    ]
    assert retry.run_after >= deliveries[1].started_at + timedelta(seconds=RETRY_SECONDS)
    assert retry.status == "SUCCESSFUL" and retry.return_value is True
    assert retry.started_at >= retry.run_after
