"""Run with the real django-notifications-hq 1.8.3: migrate, then store notifications of
every kind through hq's API (python make_data.py, HQ_DB and DJANGO_SETTINGS_MODULE set)."""

import datetime

import django

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from swapper import load_model  # noqa: E402

from notifications.signals import notify  # noqa: E402

call_command("migrate", verbosity=0)
Notification = load_model("notifications", "Notification")

alice = User.objects.create_user("alice")
bob = User.objects.create_user("bob")
carol = User.objects.create_user("carol")
team = Group.objects.create(name="team")
team.user_set.add(bob, carol)
then = datetime.datetime(2024, 3, 1, 12, 30, tzinfo=datetime.UTC)

notify.send(
    alice, recipient=bob, verb="commented", action_object=carol, target=team, timestamp=then
)
notify.send(
    alice,
    recipient=team,
    verb="mentioned you in",
    target=team,
    level="warning",
    description="Line one\nline two — “quoted”",
    url="/posts/7/",
    nested={"list": [1, 2.5, None, True], "text": "naïve 北京"},
    timestamp=then + datetime.timedelta(hours=1),
)
notify.send(team, recipient=[alice, bob], verb="was created", public=False, level="success")
notify.send(carol, recipient=User.objects.filter(username="alice"), verb="liked", level="error")
for _ in range(3):
    notify.send(bob, recipient=alice, verb="pinged")

Notification.objects.filter(recipient=bob).order_by("id").first().mark_as_read()
Notification.objects.filter(recipient=alice, verb="pinged").order_by("id")[:2][1].mark_as_read()
Notification.objects.filter(recipient=carol).mark_as_sent()
deleted = Notification.objects.filter(recipient=alice, verb="liked").get()
deleted.deleted = True
deleted.save()
