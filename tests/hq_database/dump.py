"""Print every notification as hq's API reads it, as JSON (run in either environment)."""

import datetime
import json

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from swapper import load_model  # noqa: E402

Notification = load_model("notifications", "Notification")
now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def text(value):
    return None if value is None else str(value)


rows = []
for n in Notification.objects.order_by("id"):
    rows.append(
        {
            "id": n.id,
            "slug": n.slug,
            "recipient": n.recipient.username,
            "actor": text(n.actor),
            "actor_type": n.actor_content_type.model,
            "verb": n.verb,
            "target": text(n.target),
            "action_object": text(n.action_object),
            "description": n.description,
            "data": n.data,
            "unread": n.unread,
            "deleted": n.deleted,
            "emailed": n.emailed,
            "public": n.public,
            "level": n.level,
            "timestamp": n.timestamp.isoformat(),
            "timesince": n.timesince(now),
        }
    )
users = {}
for user in User.objects.order_by("username"):
    mine = user.notifications
    users[user.username] = {
        "all": [n.id for n in mine.all()],
        "unread": [n.id for n in mine.unread()],
        "read": [n.id for n in mine.read()],
        "active": [n.id for n in mine.active()],
        "deleted": [n.id for n in mine.deleted()],
        "sent": [n.id for n in mine.sent()],
        "unread_including_deleted": mine.unread(include_deleted=True).count(),
    }
print(json.dumps({"rows": rows, "users": users}, sort_keys=True, indent=1))
