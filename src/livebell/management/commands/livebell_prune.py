"""``manage.py livebell_prune --older-than 90d``: delete old notifications in short batches."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from livebell import retention


class Command(BaseCommand):
    help = (
        "Delete notifications older than an age (90d, 12h, 30m), in batches of their own "
        "short transactions; each user's unread count stays exact and clients resuming "
        "from a deleted id are told to refetch. Safe while the site runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            required=True,
            metavar="AGE",
            help="Delete notifications created longer ago than this: 90d, 12h or 30m.",
        )
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="Delete only notifications that were read; unread ones stay, however old.",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=retention.DEFAULT_BATCH,
            metavar="ROWS",
            help=f"Rows deleted per transaction (default {retention.DEFAULT_BATCH}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            age = retention.parse_age(options["older_than"])
        except ValueError:
            raise CommandError(
                _(
                    "--older-than %(value)s is not an age: use a whole number followed by "
                    "d (days), h (hours) or m (minutes), such as 90d, 12h or 30m."
                )
                % {"value": options["older_than"]}
            ) from None
        if options["batch"] < 1:
            raise CommandError(_("--batch must be at least 1."))
        done = retention.prune(age, read_only=options["read_only"], batch=options["batch"])
        if options["verbosity"]:
            self.stdout.write(
                self.style.SUCCESS(
                    _(
                        "Deleted %(deleted)d notification(s) (%(unread)d unread) "
                        "in %(batches)d batch(es)."
                    )
                    % {"deleted": done.deleted, "unread": done.unread, "batches": done.batches}
                )
            )
