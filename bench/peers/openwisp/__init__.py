"""openwisp-notifications as its documentation sets it up, reduced to what its socket needs.

Settings ``bench.peers.openwisp.settings``, ASGI app
``bench.peers.openwisp.asgi:application`` (``ws/notification/``, its own routing),
a Celery app in eager mode (:mod:`bench.peers.openwisp.celery`; openwisp's
handlers call ``.delay()``, and the bench runs no worker), and one notification
type, ``bench``, whose message is the bench's marker.
"""

from bench.peers.openwisp.celery import app as celery_app

__all__ = ["celery_app"]
