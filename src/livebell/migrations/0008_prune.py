# Retention: each inbox remembers the newest id that pruning deleted, so a client
# resuming from before it is told its catch-up is truncated.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('livebell', '0007_webpush'),
    ]

    operations = [
        migrations.AddField(
            model_name='inboxstate',
            name='pruned_through',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
    ]
