"""Counts every existing inbox into its new state row (livebell.storage.state).

Users without notifications get their row on first use. Safe to run while the
old code still serves: a row it misses or miscounts is recounted by
``manage.py livebell_rebuild_state``.
"""

from typing import Any

from django.db import migrations, models

CHUNK = 1000


def fill(apps: Any, schema_editor: Any) -> None:
    Notification = apps.get_model("livebell", "Notification")
    InboxState = apps.get_model("livebell", "InboxState")
    using = schema_editor.connection.alias
    counted = (
        Notification.objects.using(using)
        .order_by()
        .values_list("recipient_id")
        .annotate(
            livebell_newest=models.Max("id"),
            livebell_unread=models.Count("id", filter=models.Q(read_at__isnull=True)),
        )
    )
    batch = []
    for user_id, newest, unread in counted.iterator(chunk_size=CHUNK):
        batch.append(InboxState(user_id=user_id, last_id=newest, unread_count=unread))
        if len(batch) == CHUNK:
            InboxState.objects.using(using).bulk_create(batch, ignore_conflicts=True)
            batch = []
    InboxState.objects.using(using).bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ('livebell', '0002_inboxstate'),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
