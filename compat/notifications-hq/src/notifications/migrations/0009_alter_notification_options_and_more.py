from typing import Any

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

LEVELS = [("success", "success"), ("info", "info"), ("warning", "warning"), ("error", "error")]


def _alter(name: str, field: Any) -> migrations.AlterField:
    return migrations.AlterField(model_name="notification", name=name, field=field)


def _content_type(related_name: str, verbose_name: str, **options: Any) -> Any:
    return models.ForeignKey(
        on_delete=django.db.models.deletion.CASCADE,
        related_name=related_name,
        to="contenttypes.contenttype",
        verbose_name=verbose_name,
        **options,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("notifications", "0008_index_together_recipient_unread"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="notification",
            options={
                "ordering": ("-timestamp",),
                "verbose_name": "Notification",
                "verbose_name_plural": "Notifications",
            },
        ),
        _alter(
            "action_object_content_type",
            _content_type(
                "notify_action_object", "action object content type", blank=True, null=True
            ),
        ),
        _alter(
            "action_object_object_id",
            models.CharField(
                blank=True, max_length=255, null=True, verbose_name="action object object id"
            ),
        ),
        _alter("actor_content_type", _content_type("notify_actor", "actor content type")),
        _alter("actor_object_id", models.CharField(max_length=255, verbose_name="actor object id")),
        # hq: jsonfield.fields.JSONField (a text column), see 0003.
        _alter("data", models.TextField(blank=True, null=True, verbose_name="data")),
        _alter(
            "deleted", models.BooleanField(db_index=True, default=False, verbose_name="deleted")
        ),
        _alter("description", models.TextField(blank=True, null=True, verbose_name="description")),
        _alter(
            "emailed", models.BooleanField(db_index=True, default=False, verbose_name="emailed")
        ),
        _alter(
            "level",
            models.CharField(choices=LEVELS, default="info", max_length=20, verbose_name="level"),
        ),
        _alter("public", models.BooleanField(db_index=True, default=True, verbose_name="public")),
        _alter(
            "recipient",
            models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to=settings.AUTH_USER_MODEL,
                verbose_name="recipient",
            ),
        ),
        _alter(
            "target_content_type",
            _content_type("notify_target", "target content type", blank=True, null=True),
        ),
        _alter(
            "target_object_id",
            models.CharField(
                blank=True, max_length=255, null=True, verbose_name="target object id"
            ),
        ),
        _alter(
            "timestamp",
            models.DateTimeField(
                db_index=True, default=django.utils.timezone.now, verbose_name="timestamp"
            ),
        ),
        _alter("unread", models.BooleanField(db_index=True, default=True, verbose_name="unread")),
        _alter("verb", models.CharField(max_length=255, verbose_name="verb")),
    ]
