"""Django's tasks framework, wherever the site's Django has it, on the backend livebell uses.

``django.tasks`` on Django 6.0 and newer; on Django 5.2 the ``django-tasks``
backport of it (a dependency of livebell), with the same API. A site configures
its backends with the ``TASKS`` setting (database, RQ, Celery, …); livebell's tasks
go to the one named by ``LIVEBELL["TASK_BACKEND"]`` (``"default"``), read when a
task is enqueued, so they run on the worker the site already has.

livebell's sending (email, web push) never runs in a request: it is enqueued only on
a backend that can run a task later (``supports_defer``), whose worker runs it in
another process. Django's default backend, ``ImmediateBackend``, runs each task at
once in the process that enqueued it, which is the request: livebell does not
enqueue its sending there (system check ``livebell.E023`` says so for web push).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from livebell.conf import livebell_settings

try:
    from django.tasks import task, task_backends
except ImportError:  # Django 5.2: the backport
    from django_tasks import task, task_backends  # type: ignore[no-redef,assignment]

__all__ = ["backend_alias", "can_defer", "enqueue", "on_backend", "task", "task_backends"]


def backend_alias() -> str:
    """The alias in ``TASKS`` of the backend livebell enqueues on (``TASK_BACKEND``)."""
    return str(livebell_settings.TASK_BACKEND)


def on_backend(queued: Any) -> Any:
    """``queued`` (a task) bound to livebell's backend.

    Raises:
        InvalidTaskBackendError: ``TASKS`` has no such alias (``livebell.E024``).
    """
    return queued.using(backend=backend_alias())


def can_defer(queued: Any) -> bool:
    """Whether livebell's backend can run ``queued`` later: on a worker, not in the
    process (the request) that enqueues it."""
    return bool(getattr(on_backend(queued).get_backend(), "supports_defer", False))


def enqueue(queued: Any, *args: Any, delay: float | timedelta = 0) -> bool:
    """Enqueue ``queued(*args)`` on livebell's backend, ``delay`` (seconds, or a
    timedelta) from now; whether it was enqueued.

    Nothing is enqueued on a backend that cannot defer: it would run the task here,
    in the request. ``delay`` 0: as soon as the worker can.
    """
    bound = on_backend(queued)
    if not getattr(bound.get_backend(), "supports_defer", False):
        return False
    wait = delay if isinstance(delay, timedelta) else timedelta(seconds=delay)
    bound.using(run_after=timezone.now() + max(wait, timedelta(0))).enqueue(*args)
    return True
