"""The real peers livebell is compared with, as a Django team would deploy them.

- ``openwisp/``: a minimal project around **openwisp-notifications** (stores rows
  and pushes over Channels): its own settings, URLs, Celery app (eager) and ASGI
  app with its own socket route, served by uvicorn like livebell; sent to through
  its ``notify`` signal.
- ``community/``: a minimal project around **django-notifications-community**
  (stores rows, no push): the storage side only (:mod:`bench.peers.storage`).

Neither package is vendored: :mod:`bench.peers.venv` installs them from PyPI into
a virtualenv of their own at bench time. Each project keeps its tables in its own
PostgreSQL schema of the bench's database (``peer_openwisp``, ``peer_community``),
so its users, sessions and migrations never meet livebell's.
"""
