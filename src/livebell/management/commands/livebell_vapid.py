"""``manage.py livebell_vapid``: make a VAPID key pair for web push and print the settings."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Make a VAPID key pair for web push (docs/web-push.md) and print the LIVEBELL "
        "settings to paste. Keep the private key secret: whoever has it can push to "
        "every subscribed device."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--contact",
            default="mailto:webmaster@example.com",
            help="Who push services may contact about this site's pushes (mailto: or https:).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from cryptography.hazmat.primitives import serialization
        from py_vapid import Vapid
        from py_vapid.utils import b64urlencode

        vapid = Vapid()
        vapid.generate_keys()
        private = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
        public = vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.stdout.write(
            "# Web push keys: paste into LIVEBELL in your settings (the private key from\n"
            "# the environment or a secret store, not from version control).\n"
            f'"WEB_PUSH_VAPID_PRIVATE_KEY": "{b64urlencode(private)}",\n'
            f'"WEB_PUSH_VAPID_PUBLIC_KEY": "{b64urlencode(public)}",\n'
            f'"WEB_PUSH_CONTACT": "{options["contact"]}",\n'
        )
