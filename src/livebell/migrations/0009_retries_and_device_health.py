# An email whose send failed is put back, due again later (PendingEmail.due_at,
# attempts); a web push device remembers its last accepted and refused push (the admin).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('livebell', '0008_prune'),
    ]

    operations = [
        migrations.AddField(
            model_name='pendingemail',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='pendingemail',
            name='due_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='webpushsubscription',
            name='last_failure_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='webpushsubscription',
            name='last_success_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
