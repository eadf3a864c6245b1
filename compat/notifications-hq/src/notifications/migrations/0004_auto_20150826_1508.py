from django.db import migrations, models
from django.utils import timezone


class Migration(migrations.Migration):
    dependencies = [("notifications", "0003_notification_data")]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="timestamp",
            field=models.DateTimeField(default=timezone.now),
        ),
    ]
