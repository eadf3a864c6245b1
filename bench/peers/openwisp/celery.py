"""The project's Celery app, eager: a task runs where ``.delay()`` is called.

openwisp-notifications queues Celery tasks from its signal handlers (notification
settings of new users and organisations, batched e-mails). The bench runs no
broker or worker, so tasks run in the calling process, as openwisp's own test
settings do (``CELERY_TASK_ALWAYS_EAGER``).
"""

from celery import Celery

__all__ = ["app"]

app = Celery("bench_openwisp")
app.conf.update(
    task_always_eager=True,
    task_eager_propagates=True,
    broker_url="memory://",
    result_backend=None,
)
app.autodiscover_tasks(["openwisp_notifications"])
