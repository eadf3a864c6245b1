"""``manage.py notifications_livebell_twins``: twins for the hq notifications stored
before livebell-notifications-hq was installed.

Each hq row without a livebell twin gets one, with the row's timestamp and read state,
written in batches with ``bulk_create`` (so nothing is pushed: these are not news),
then the users' inbox state is recounted (``livebell.storage.state.rebuild``), so
livebell's unread count and the live badge count them. Safe to run again: rows that
have a twin are passed over. With ``SOFT_DELETE``, deleted rows get none.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from swapper import load_model

from livebell.models import Notification as Twin
from livebell.storage import actors, state
from notifications import mirror
from notifications import settings as notifications_settings


class Command(BaseCommand):
    help = (
        "Store a livebell notification for each hq notification that has none (those "
        "stored before livebell-notifications-hq), without pushing it; then recount "
        "the users' unread counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500, help="Rows per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        model = load_model("notifications", "Notification")
        rows = model._base_manager.order_by("pk")
        if notifications_settings.get_config()["SOFT_DELETE"]:
            rows = rows.filter(deleted=False)
        batch = max(1, options["batch"])
        users: set[Any] = set()
        stored = 0
        last = 0
        while True:
            chunk = list(rows.filter(pk__gt=last)[:batch])
            if not chunk:
                break
            last = chunk[-1].pk
            found = mirror.twins(model, [r.pk for r in chunk], [r.recipient_id for r in chunk])
            linked = {hq_id for _, _, hq_id in found}
            missing = [row for row in chunk if row.pk not in linked]
            with transaction.atomic():
                Twin.objects.bulk_create([_twin(row) for row in missing])
            users.update(row.recipient_id for row in missing)
            stored += len(missing)
        if users:
            state.rebuild(sorted(users))
        if options["verbosity"]:
            self.stdout.write(
                self.style.SUCCESS(f"Stored {stored} twin(s) for {len(users)} user(s).")
            )


def _twin(row: Any) -> Twin:
    values = mirror.twin_values(row)
    target = values["target"]
    actor = values["actor"]
    fields: dict[str, Any] = {}
    if target is not None:
        url = target.get_absolute_url() if hasattr(target, "get_absolute_url") else ""
        fields = {
            "target_content_type": ContentType.objects.get_for_model(target),
            "target_object_id": str(target.pk),
            "target_text": str(target)[:255],
            "target_url": url if len(url) <= 1024 else "",
        }
    return Twin(
        recipient_id=row.recipient_id,
        actor=actor,
        actors=[actors.entry(actor)] if actor is not None else [],
        verb=values["verb"],
        level=values["level"],
        data=values["data"],
        created_at=row.timestamp,
        read_at=None if row.unread else row.timestamp,
        **fields,
    )
