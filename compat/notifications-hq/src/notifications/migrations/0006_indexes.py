from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notifications", "0005_auto_20160504_1520")]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name=name,
            field=models.BooleanField(db_index=True, default=default),
        )
        for name, default in (
            ("deleted", False),
            ("emailed", False),
            ("public", True),
            ("unread", True),
        )
    ]
