"""hq's public signal: ``notify.send(actor, recipient=…, verb=…, **options)``.

Its receiver, :func:`notifications.base.models.notify_handler`, is connected when
``notifications.base.models`` is imported (as hq does), which Django does when it
loads the app's models.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["notify"]

notify = Signal()
