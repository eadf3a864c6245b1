"""``manage.py livebell_rebuild_state``: recount users' inbox state from their notifications."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from livebell.storage import state


class Command(BaseCommand):
    help = (
        "Recount each user's unread count and newest id from their notifications. "
        "Needed only after writing notifications outside livebell's API (bulk_create, "
        "QuerySet.update or delete); safe while the site runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--user",
            action="append",
            dest="usernames",
            metavar="USERNAME",
            help="Only this user (repeat for several). Default: every user with notifications.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_ids = None
        if options["usernames"]:
            user_model = get_user_model()
            names = options["usernames"]
            found = dict(
                user_model._default_manager.filter(
                    **{f"{user_model.USERNAME_FIELD}__in": names}
                ).values_list(user_model.USERNAME_FIELD, "pk")
            )
            missing = sorted(set(names) - set(found))
            if missing:
                raise CommandError(f"Unknown user(s): {', '.join(missing)}.")
            user_ids = list(found.values())
        rebuilt = state.rebuild(user_ids)
        if options["verbosity"]:
            self.stdout.write(self.style.SUCCESS(f"Rebuilt the inbox state of {rebuilt} user(s)."))
