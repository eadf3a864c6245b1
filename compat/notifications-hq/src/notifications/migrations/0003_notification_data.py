from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_auto_20150224_1134")]

    operations = [
        # hq: jsonfield.fields.JSONField, a TextField subclass: the same text column.
        migrations.AddField(
            model_name="notification",
            name="data",
            field=models.TextField(null=True, blank=True),
            preserve_default=True,
        ),
    ]
