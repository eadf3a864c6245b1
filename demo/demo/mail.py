"""The demo's email: printed on the console, and the last ones kept for the Emails page.

Demo only. A real site sends through its own ``EMAIL_BACKEND`` and runs livebell's
sweep on its task worker or from cron (docs/email.md); the demo has neither, so its
ASGI process runs the sweep in a thread of its own (:func:`start_sweeper`), never in a
request nor on the server's event loop.
"""

import logging
import threading
import time
from collections import deque
from datetime import datetime

from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

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


def start_sweeper(every: float = 10.0) -> None:
    """Run livebell's email sweep every ``every`` seconds in a daemon thread."""
    from livebell.reach.email import send_due

    def sweep() -> None:
        while True:
            time.sleep(every)
            try:
                send_due()
            except Exception:
                logger.exception("demo: the email sweep failed")
            finally:
                close_old_connections()

    threading.Thread(target=sweep, name="demo-email-sweep", daemon=True).start()
