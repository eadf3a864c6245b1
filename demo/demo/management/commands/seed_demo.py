"""``manage.py seed_demo``: the demo's users, and a little content that notified them."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db.models import F
from django.utils import timezone

from demo import actions
from demo.models import Answer, Comment, Profile, Question
from livebell.models import Notification

# username -> (is staff, the language they read)
USERS = {"alice": (True, "en"), "bob": (False, "en"), "carol": (False, "zh-hans")}
PASSWORD = "livebell"


class Command(BaseCommand):
    help = (
        "Create the demo users alice (staff), bob and carol (password 'livebell') and, "
        "on an empty site, questions, answers and the notifications they made; safe to re-run."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        users = {}
        for username, (staff, language) in USERS.items():
            user, created = User.objects.get_or_create(username=username)
            address = f"{username}@example.com"  # livebell emails what stays unread
            if (
                created
                or not user.check_password(PASSWORD)
                or user.is_staff != staff
                or user.email != address
            ):
                user.set_password(PASSWORD)
                user.is_staff = staff
                user.email = address
                user.save()
            Profile.objects.get_or_create(user=user, defaults={"language": language})
            users[username] = user
            self.stdout.write(f"{username}: {'created' if created else 'ready'}")
        if Question.objects.exists():
            self.stdout.write("Content: already there.")
        else:
            self.content(**users)
            self.stdout.write("Content: questions, answers and notifications created.")
        self.stdout.write(self.style.SUCCESS(f"Log in as any of them with password {PASSWORD!r}."))

    def content(self, alice, bob, carol):
        q_bob = actions.ask(
            bob,
            "How do I push a notification to a single user with Django Channels?",
            "I have a Django site and want a bell that updates without reloading.",
        )
        q_carol = actions.ask(
            carol, "如何让 Django 的通知实时推送到浏览器？", "轮询太慢了，有没有更好的办法？"
        )
        q_alice = actions.ask(alice, "Where should the unread count of a bell come from?")
        actions.follow_user(bob, carol)
        actions.follow_question(alice, q_bob)
        a1 = actions.answer(
            carol,
            q_bob,
            "Give each user a channel-layer group and send to it after the transaction "
            "commits. livebell does exactly that, and catches up from the database after "
            "a reconnect.",
        )
        a2 = actions.answer(
            bob,
            q_carol,
            "Use a WebSocket per browser and push after commit; polling is not needed.",
        )
        a3 = actions.answer(
            carol, q_alice, "存一行计数，每次写入时在同一个事务里更新它，读取只要一次主键查询。"
        )
        actions.upvote(alice, a1)
        actions.upvote(bob, a3)
        actions.upvote(carol, a2)
        actions.comment(alice, a1, "This is what we do in production too.")
        actions.comment(carol, a2, "谢谢！很清楚。")
        actions.announce(
            alice,
            "Welcome to Wenda, the livebell demo",
            "Ask, answer and upvote: everyone concerned is notified at once.",
        )
        # Spread the past over the last two days, oldest first, so times read naturally.
        now = timezone.now()
        for model in (Question, Answer, Comment):
            for index, pk in enumerate(model.objects.order_by("-pk").values_list("pk", flat=True)):
                model.objects.filter(pk=pk).update(
                    created_at=now - timedelta(hours=3 * index + 1, minutes=7 * index)
                )
        Notification.objects.update(created_at=F("created_at") - timedelta(hours=1))
        for index, pk in enumerate(
            Notification.objects.order_by("-pk").values_list("pk", flat=True)
        ):
            Notification.objects.filter(pk=pk).update(
                created_at=now - timedelta(minutes=2 + 41 * index)
            )
        # Bob has read the older half of his notifications.
        mine = list(Notification.objects.filter(recipient=bob).order_by("pk"))
        from livebell import inbox

        inbox.mark_read(bob, [n.pk for n in mine[: len(mine) // 2]])
