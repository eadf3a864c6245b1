from django.conf import settings
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("notifications", "0007_add_timestamp_index"),
    ]

    operations = [
        # Kept by Django for migrations written before 4.2; 0010 turns it into an index.
        migrations.AlterIndexTogether(
            name="notification",
            index_together={("recipient", "unread")},
        ),
    ]
