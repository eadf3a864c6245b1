from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERS = ("alice", "bob", "carol")
PASSWORD = "livebell"


class Command(BaseCommand):
    help = "Create the demo users alice, bob and carol (password 'livebell'); safe to re-run."

    def handle(self, *args, **options):
        User = get_user_model()
        for username in USERS:
            user, created = User.objects.get_or_create(username=username)
            if created or not user.check_password(PASSWORD):
                user.set_password(PASSWORD)
                user.save()
            self.stdout.write(f"{username}: {'created' if created else 'ready'}")
        self.stdout.write(self.style.SUCCESS(f"Log in as any of them with password {PASSWORD!r}."))
