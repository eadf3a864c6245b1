"""Django's tasks framework, wherever the site's Django has it.

``django.tasks`` on Django 6.0 and newer; on Django 5.2 the ``django-tasks``
backport of it (a dependency of livebell), with the same API. A site configures
its backend with the ``TASKS`` setting (database, RQ, Celery, …): livebell's tasks
run on the worker it already has. Without one, Django's default backend runs each
task at once, in the process that enqueued it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import router, transaction

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task  # type: ignore[no-redef]

__all__ = ["enqueue_on_commit", "task"]


def enqueue_on_commit(queued: Any, *args: Any, using: str | None = None, **kwargs: Any) -> None:
    """Enqueue the task ``queued`` with these arguments once the current transaction
    commits (at once outside one); nothing is enqueued if it rolls back."""
    from livebell.models import Notification

    alias = using or router.db_for_write(Notification)
    send: Callable[[], Any] = lambda: queued.enqueue(*args, **kwargs)  # noqa: E731
    transaction.on_commit(send, using=alias, robust=True)
