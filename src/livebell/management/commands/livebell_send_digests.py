"""``manage.py livebell_send_digests``: email what stayed unread past its type's delay."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from livebell.reach import email


class Command(BaseCommand):
    help = (
        "Email each user the notifications that are still unread past their type's "
        "email_after, one message per user. Safe from cron on several machines at once: "
        "no notification is emailed twice."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sent = email.send_due()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{sent} email(s) sent.")
