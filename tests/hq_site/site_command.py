"""The site's other process: ``python -m tests.hq_site.site_command setup`` makes the
users and prints bob's session key; ``… send VERB`` runs hq's ``notify.send()``."""

import sys

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402

from notifications.signals import notify  # noqa: E402

if sys.argv[1] == "setup":
    User.objects.create_user("alice", password="x")
    bob = User.objects.create_user("bob", password="x")
    session = SessionStore()
    session["_auth_user_id"] = str(bob.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = bob.get_session_auth_hash()
    session.create()
    print(session.session_key)
elif sys.argv[1] == "send":
    notify.send(
        User.objects.get(username="alice"),
        recipient=User.objects.get(username="bob"),
        verb=sys.argv[2],
    )
