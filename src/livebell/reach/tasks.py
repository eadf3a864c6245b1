"""Django's tasks framework, wherever the site's Django has it.

``django.tasks`` on Django 6.0 and newer; on Django 5.2 the ``django-tasks``
backport of it (a dependency of livebell), with the same API. A site configures
its backend with the ``TASKS`` setting (database, RQ, Celery, …): livebell's tasks
run on the worker it already has. Without one, Django's default backend runs each
task at once, in the process that enqueued it.
"""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task  # type: ignore[no-redef]

__all__ = ["task"]
