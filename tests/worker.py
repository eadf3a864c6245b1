"""A task worker for tests/test_task_worker.py: ``python -m tests.worker``.

The database backend's own worker (``manage.py db_worker``, of ``django_tasks_db``),
run in this process with the test database, the test's ``TASKS`` and ``CACHES``
(``child_env`` and the ``LIVEBELL_TEST_*`` variables of tests/settings.py). Before it
starts, it does what the test process did in its settings fixture and a child cannot
get as JSON:

- registers the emailing type ``LIVEBELL_TEST_EMAIL_TYPE`` (``key:seconds``), whose
  ``email_after`` is a timedelta;
- sends mail by SMTP to ``127.0.0.1:LIVEBELL_TEST_SMTP_PORT`` (a server of the test).
"""

from __future__ import annotations

import os
import sys


def main(*argv: str) -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.core import mail
    from django.core.management import call_command

    from livebell import types

    if os.environ.get("LIVEBELL_TEST_EMAIL_TYPE"):
        key, seconds = os.environ["LIVEBELL_TEST_EMAIL_TYPE"].split(":")
        types.register(
            key, template="{actor} answered “{target}”", email_after=timedelta(seconds=int(seconds))
        )
    if os.environ.get("LIVEBELL_TEST_SMTP_PORT"):
        smtp = "django.core.mail.backends.smtp.EmailBackend"
        port = int(os.environ["LIVEBELL_TEST_SMTP_PORT"])
        if hasattr(mail, "mailers"):  # Django 6.1: MAILERS replaces EMAIL_BACKEND
            settings.MAILERS = {
                "default": {"BACKEND": smtp, "OPTIONS": {"host": "127.0.0.1", "port": port}}
            }
        else:
            settings.EMAIL_BACKEND = smtp
            settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.DEFAULT_FROM_EMAIL = "bell@testserver"
    call_command("db_worker", *argv)


if __name__ == "__main__":
    main(*sys.argv[1:])
