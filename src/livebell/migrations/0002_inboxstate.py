import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('livebell', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='InboxState',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='livebell_inbox_state', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('last_id', models.BigIntegerField(default=0)),
                ('unread_count', models.PositiveIntegerField(default=0)),
                ('revision', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'inbox state',
            },
        ),
    ]
