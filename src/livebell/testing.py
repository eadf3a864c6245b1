"""Testing your code that notifies: capture what livebell stored, pushed, emailed and
web-pushed, and assert on it (docs/testing.md).

::

    from livebell.testing import fake

    def test_liking_notifies_the_author(client, bob, post):
        with fake() as sent:
            client.post(f"/posts/{post.pk}/like/")
        sent.assert_notified(post.author, type="post.liked", count=1)
        sent.assert_not_notified(bob)

Or the pytest fixture ``livebell_fake``, which this module provides as a pytest
plugin (registered through the ``pytest11`` entry point, as pytest-django does: it
is there as soon as livebell is installed).

While a fake is active it records:

- **stored**: the rows of every ``notify()`` that stored something (the signal
  :data:`livebell.signals.notification_created`);
- **pushed**: every message livebell hands to the channel layer after commit
  (:func:`livebell.layer.delivery.send` and ``asend``): notifications
  (:class:`~livebell.layer.messages.Push`), read/unread/deleted events, sessions
  ended;
- **emailed**: every email livebell sends (:func:`livebell.reach.email.send_message`;
  each carries the ``X-Livebell-Notifications`` header, which says what it is about);
- **web-pushed**: every ``livebell.reach.webpush.send_push(subscription, payload)``
  call, when that module exists (without it, nothing is patched and the list stays
  empty). A test has no task worker, and livebell never pushes in the request: while
  the fake is active, the push tasks livebell enqueues run at once, in the test's
  process, whatever the task backend.

By default (``deliver=False``) pushes, livebell's emails and web pushes are recorded
and go no further, so a test needs no running channel layer, mail server or push
service; other emails are untouched and go to the site's email backend (in tests,
Django's ``locmem``: ``mail.outbox``). ``fake(deliver=True)`` records and lets them through,
for tests that also hold a socket.

**Inside a test's transaction** (Django's ``TestCase``, pytest-django's
``django_db`` without ``transaction=True``) nothing commits, so the work livebell
does after commit — the signal, the pushes, enqueueing tasks — would never run.
The fake runs the on-commit callbacks registered while it is active, as Django's
``TestCase.captureOnCommitCallbacks(execute=True)`` does, before each assertion and
when it ends — but only when no transaction of the code under test is open, so what
a rollback would discard is never announced. With ``transaction=True`` (and in
production) they run on commit, and the fake just listens.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.core.mail import EmailMessage

    from livebell.layer.messages import Message, Push
    from livebell.models import Notification

__all__ = [
    "EMAIL_HEADER",
    "LivebellFake",
    "WebPush",
    "fake",
    "livebell_fake",
]

logger = logging.getLogger("livebell.testing")

#: The header every email livebell sends carries: the ids it is about, comma-separated.
EMAIL_HEADER = "X-Livebell-Notifications"

# The fakes active now, innermost last: the email backend records into each.
_active: list[LivebellFake] = []
_uids = itertools.count()


@dataclass(frozen=True)
class WebPush:
    """One captured ``send_push(subscription, payload)`` call."""

    subscription: Any
    payload: Any


@dataclass
class LivebellFake:
    """What livebell did while the fake was active (see the module's docstring)."""

    #: Let pushes, livebell's emails and web pushes through after recording them.
    deliver: bool = False
    #: Stored notifications, in the order their calls committed.
    stored: list[Notification] = field(default_factory=list)
    #: Every message handed to the channel layer (pushes, read/deleted events, …).
    pushed: list[Message] = field(default_factory=list)
    #: livebell's emails (the messages that carry :data:`EMAIL_HEADER`).
    emailed: list[EmailMessage] = field(default_factory=list)
    #: Web pushes (empty when ``livebell.reach.webpush`` does not exist).
    webpushed: list[WebPush] = field(default_factory=list)
    # The on-commit callbacks this fake may run: where they start, per database alias.
    _on_commit_from: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def pushes(self) -> list[Push]:
        """The notification pushes among :attr:`pushed`."""
        from livebell.layer.messages import Push

        self.run_on_commit()
        return [message for message in self.pushed if isinstance(message, Push)]

    def notifications_for(
        self, user: Any, *, type: str | None = None, verb: str | None = None
    ) -> list[Notification]:
        """The stored notifications for ``user`` (a user or a primary key), of that type
        key and verb when given, oldest first."""
        self.run_on_commit()
        user_id = getattr(user, "pk", user)
        return [
            n
            for n in self.stored
            if n.recipient_id == user_id
            and (type is None or n.type == type)
            and (verb is None or n.verb == verb)
        ]

    def emails_for(self, user: Any) -> list[EmailMessage]:
        """livebell's emails about ``user``'s stored notifications (by the header's ids)."""
        self.run_on_commit()
        ids = {n.pk for n in self.notifications_for(user)}
        return [message for message in self.emailed if ids & set(_header_ids(message) or ())]

    def assert_notified(
        self,
        user: Any,
        *,
        type: str | None = None,
        verb: str | None = None,
        count: int | None = None,
    ) -> list[Notification]:
        """Assert that notifications for ``user`` were stored (exactly ``count`` of them
        when given, else at least one), of that type and verb when given; return them.

        Raises:
            AssertionError: naming what was stored for the user instead.
        """
        found = self.notifications_for(user, type=type, verb=verb)
        if (count is None and not found) or (count is not None and len(found) != count):
            wanted = "some" if count is None else str(count)
            raise AssertionError(
                f"expected {wanted} notification(s) for {user!r}"
                f"{_described(type, verb)}, found {len(found)}; stored for them: "
                f"{_listed(self.notifications_for(user))}"
            )
        return found

    def assert_not_notified(
        self, user: Any, *, type: str | None = None, verb: str | None = None
    ) -> None:
        """Assert that nothing (of that type and verb, when given) was stored for ``user``.

        Raises:
            AssertionError: naming what was stored.
        """
        found = self.notifications_for(user, type=type, verb=verb)
        if found:
            raise AssertionError(
                f"expected no notification for {user!r}{_described(type, verb)}, "
                f"found {len(found)}: {_listed(found)}"
            )

    def assert_nothing_sent(self) -> None:
        """Assert that nothing was stored, pushed, emailed or web-pushed.

        Raises:
            AssertionError: saying what was.
        """
        self.run_on_commit()
        sent = {
            "stored": len(self.stored),
            "pushed": len(self.pushed),
            "emailed": len(self.emailed),
            "web-pushed": len(self.webpushed),
        }
        if any(sent.values()):
            done = ", ".join(f"{what} {n}" for what, n in sent.items() if n)
            raise AssertionError(f"expected nothing sent; {done} (stored: {_listed(self.stored)})")

    def run_on_commit(self) -> None:
        """Run the on-commit callbacks registered while the fake is active, if the
        only transaction open is the test's own (which never commits). Called by
        every assertion and when the fake ends; nothing to do otherwise."""
        from django.db import connections

        for alias, start in list(self._on_commit_from.items()):
            connection = connections[alias]
            if not connection.in_atomic_block or not all(
                getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
            ):
                continue
            # A callback may register others (a push that enqueues a task): run those too.
            # (savepoint ids, callback, robust) on Django 5.2+ (the stubs say two items)
            registered: list[Any] = connection.run_on_commit
            start = min(start, len(registered))  # a rolled-back savepoint dropped some
            while start < len(registered):
                pending = registered[start:]
                start = len(registered)
                for _, callback, robust in pending:
                    if robust:
                        try:
                            callback()
                        except Exception:  # logged and passed over, as a real commit does
                            logger.exception("livebell.testing: an on-commit callback raised")
                    else:
                        callback()
            self._on_commit_from[alias] = start

    def _stored(self, sender: Any, notifications: Sequence[Notification], **kwargs: Any) -> None:
        self.stored.extend(notifications)


@contextlib.contextmanager
def fake(*, deliver: bool = False) -> Iterator[LivebellFake]:
    """Capture what livebell stores, pushes, emails and web-pushes in the block.

    Args:
        deliver: also let pushes, livebell's emails and web pushes through (they are
            recorded either way). Off: no channel layer, mail server or push service
            is needed.
    """
    from django.db import connections

    from livebell import signals
    from livebell.layer import delivery

    faked = LivebellFake(deliver=deliver)
    faked._on_commit_from = {
        alias: len(connections[alias].run_on_commit)
        for alias in connections
        if connections[alias].in_atomic_block
    }
    uid = f"livebell.testing.{next(_uids)}"
    send, asend = delivery.send, delivery.asend

    # What fake_send is handing to the real send, which hands it to asend (the fake's,
    # at that moment): recorded once, by fake_send.
    delivering: list[Sequence[Message]] = []

    def fake_send(outgoing: Sequence[Message]) -> None:
        faked.pushed.extend(outgoing)
        if deliver:
            delivering.append(outgoing)
            try:
                send(outgoing)
            finally:
                delivering.remove(outgoing)

    async def fake_asend(outgoing: Sequence[Message]) -> None:
        if not any(outgoing is handed for handed in delivering):
            faked.pushed.extend(outgoing)
        if deliver:
            await asend(outgoing)

    with contextlib.ExitStack() as stack:
        signals.notification_created.connect(faked._stored, weak=False, dispatch_uid=uid)
        stack.callback(signals.notification_created.disconnect, dispatch_uid=uid)
        stack.enter_context(_patched(delivery, "send", fake_send))
        stack.enter_context(_patched(delivery, "asend", fake_asend))
        stack.enter_context(_email_patched(faked))
        stack.enter_context(_webpush_patched(faked))
        _active.append(faked)
        stack.callback(_active.remove, faked)
        yield faked
        # Before the patches go: what the block left to run on commit is recorded.
        faked.run_on_commit()


@contextlib.contextmanager
def _email_patched(faked: LivebellFake) -> Iterator[None]:
    """Patch ``livebell.reach.email.send_message``, where livebell's emails leave: each
    is recorded, and sent on (to an outer fake, or Django's email backend) only with
    ``deliver=True``, as pushes are. Other mail is untouched (in tests,
    ``mail.outbox``), whatever the Django version calls its email backend setting."""
    from livebell.reach import email

    original = email.send_message

    def recording(message: EmailMessage) -> None:
        faked.emailed.append(message)
        if faked.deliver:
            original(message)  # type: ignore[arg-type]

    with _patched(email, "send_message", recording):
        yield


def _header_ids(message: EmailMessage) -> list[int] | None:
    """The ids in a message's livebell header, or None when it has none."""
    for name, value in (message.extra_headers or {}).items():
        if name.lower() == EMAIL_HEADER.lower():
            return [int(part) for part in str(value).replace(" ", "").split(",") if part]
    return None


@contextlib.contextmanager
def _patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def _webpush_patched(faked: LivebellFake) -> Iterator[None]:
    """Patch ``livebell.reach.webpush.send_push`` when that module exists.

    livebell calls it through its module (``webpush.send_push(...)``), so replacing
    the module's attribute catches every call. Without the module there is nothing
    to send web pushes with, and nothing is patched.
    """
    if importlib.util.find_spec("livebell.reach.webpush") is None:
        yield
        return
    module = importlib.import_module("livebell.reach.webpush")
    original: Callable[..., Any] | None = getattr(module, "send_push", None)
    if original is None:
        yield
        return

    def send_push(subscription: Any, payload: Any, *args: Any, **kwargs: Any) -> Any:
        faked.webpushed.append(WebPush(subscription, payload))
        if faked.deliver:
            assert original is not None
            return original(subscription, payload, *args, **kwargs)
        return None

    def run_now(queued: Any, delay: float, *args: Any) -> bool:
        # The worker's part, here: livebell enqueues pushes only on a backend that runs
        # them later, elsewhere, and a test has no worker.
        queued.call(*args)
        return True

    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(module, "send_push", send_push))
        if hasattr(module, "_enqueue"):
            stack.enter_context(_patched(module, "_enqueue", run_now))
        yield


def _described(type: str | None, verb: str | None) -> str:
    parts = [f"type={type!r}" if type is not None else "", f"verb={verb!r}" if verb else ""]
    shown = ", ".join(part for part in parts if part)
    return f" ({shown})" if shown else ""


def _listed(notifications: Sequence[Notification]) -> str:
    if not notifications:
        return "none"
    return ", ".join(f"#{n.pk} type={n.type!r} verb={n.verb!r}" for n in notifications[:10]) + (
        ", …" if len(notifications) > 10 else ""
    )


try:
    import pytest
except ImportError:  # the context manager works without pytest
    pass
else:

    @pytest.fixture
    def livebell_fake() -> Iterator[LivebellFake]:
        """A :func:`fake` for the test, pushes and livebell's emails held back."""
        with fake() as faked:
            yield faked
