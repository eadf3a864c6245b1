"""The demo's email: printed on the console, and the last ones kept for the Emails page.

Demo only. A real site sends through its own ``EMAIL_BACKEND``. livebell's sweep runs
as a task, enqueued by ``notify()`` for when the notifications are due; the demo's task
worker is a thread of its server (demo/worker.py), so the emails it sends are kept in
the process that serves the Emails page.
"""

import threading
from collections import deque
from datetime import datetime

from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.utils import timezone

# The last emails this process sent, newest first: (when, message).
KEPT = 20
_kept: deque = deque(maxlen=KEPT)
_lock = threading.Lock()


class DemoEmailBackend(ConsoleBackend):
    """Django's console backend that also keeps the last :data:`KEPT` messages in memory."""

    def send_messages(self, email_messages):
        sent = super().send_messages(email_messages)
        with _lock:
            for message in email_messages or []:
                _kept.appendleft((timezone.now(), message))
        return sent


def recent(address: str) -> list[tuple[datetime, object]]:
    """The kept emails to ``address``, newest first."""
    with _lock:
        return [(when, message) for when, message in _kept if address in message.to]


def email_language(user) -> str | None:
    """The language the demo writes the user's notifications in (LIVEBELL["EMAIL_LANGUAGE"])."""
    from demo.models import Profile

    return Profile.objects.filter(user=user).values_list("language", flat=True).first()
