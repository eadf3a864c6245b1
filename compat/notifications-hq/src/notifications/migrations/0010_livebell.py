# The first migration of livebell-notifications-hq, after hq's 0009: hq's
# index_together becomes an index (Django 5.1 has no index_together), and `data`
# becomes Django's JSONField (the text hq's jsonfield wrote is JSON already).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notifications", "0009_alter_notification_options_and_more")]

    operations = [
        migrations.RenameIndex(
            model_name="notification",
            new_name="notification_rcpt_unread",
            old_fields=("recipient", "unread"),
        ),
        migrations.AlterField(
            model_name="notification",
            name="data",
            field=models.JSONField(blank=True, null=True, verbose_name="data"),
        ),
    ]
