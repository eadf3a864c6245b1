"""``manage.py livebell_notify``: send a notification from a shell or a script."""

from __future__ import annotations

import json
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from livebell.conf import livebell_settings
from livebell.models import Level
from livebell.sending import notify


class Command(BaseCommand):
    help = "Store a notification for users and push it to their open sockets."

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--to", help="Comma-separated usernames of the recipients.")
        who.add_argument("--all", action="store_true", help="Every active user.")
        parser.add_argument("--verb", required=True, help='What happened, e.g. "liked your post".')
        parser.add_argument("--actor", help="Username of the user who acted.")
        parser.add_argument("--data", help="A JSON object of extra values for the client.")
        parser.add_argument("--level", default=Level.INFO, choices=Level.values)

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        by_username = User.USERNAME_FIELD
        if options["all"]:
            recipients: Any = User._default_manager.filter(is_active=True)
        else:
            names = [n.strip() for n in options["to"].split(",") if n.strip()]
            if not names:
                raise CommandError("--to needs at least one username.")
            found = User._default_manager.filter(**{f"{by_username}__in": names})
            recipients = list(found)
            missing = sorted(set(names) - {u.get_username() for u in recipients})
            if missing:
                raise CommandError(f"Unknown user(s): {', '.join(missing)}. Nothing was sent.")
        actor = None
        if options["actor"]:
            try:
                actor = User._default_manager.get(**{by_username: options["actor"]})
            except User.DoesNotExist:
                raise CommandError(f"Unknown actor: {options['actor']}.") from None
        data = None
        if options["data"] is not None:
            try:
                data = json.loads(options["data"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--data is not valid JSON: {exc}.") from None
        try:
            stored = notify(
                recipients, options["verb"], actor=actor, data=data, level=options["level"]
            )
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Sent {len(stored)} notification(s)."))
        if isinstance(get_channel_layer(livebell_settings.CHANNEL_LAYER), InMemoryChannelLayer):
            # This process's memory is not the server's: the push reaches no open socket.
            self.stderr.write(
                self.style.WARNING(
                    _(
                        "The channel layer is in memory: running servers will not see this "
                        "push. Their users see the notification when they next load their "
                        "list. Use a shared layer (Redis) to push live from the command line."
                    )
                )
            )
