"""Reaching people who are not looking at the bell.

What a recipient did not read in time goes out another way: by email
(:mod:`livebell.reach.email`) and by Web Push (:mod:`livebell.reach.webpush`). That
work never runs in a request or on a socket server's event loop: it runs as tasks of
Django's tasks framework (:mod:`livebell.reach.tasks`), on whatever worker the site
already runs.
"""
