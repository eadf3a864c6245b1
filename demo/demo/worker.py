"""The demo's task worker: livebell's tasks (web pushes, the email sweep) run here,
in a daemon thread of the demo's server, never in a request.

Demo only. The demo's ``TASKS`` is the database backend (``django_tasks_db``): a task
is a row, and a worker runs each once its ``run_after`` has come. A real site runs
that worker as a process of its own, ``manage.py db_worker`` (docs/email.md,
docs/web-push.md); ``make demo`` serves one process, so this thread is its worker:
the same loop as ``db_worker``'s, without its signal handling (a thread has none).
"""

import logging
import os
import threading
import time

from django.db import close_old_connections
from django.utils.crypto import get_random_string

logger = logging.getLogger(__name__)


def start_worker(interval: float = 1.0) -> None:
    """Run the database backend's worker in a daemon thread, polling every ``interval``
    seconds for a task that is due."""
    from django_tasks_db.management.commands.db_worker import Worker

    # Unique across the demo's processes (several may serve one database).
    worker_id = f"demo-{os.getpid()}-{get_random_string(8)}"

    def work() -> None:
        while True:
            try:
                Worker(
                    queue_names=["default"],
                    interval=interval,
                    batch=False,
                    backend_name="default",
                    startup_delay=False,
                    max_tasks=None,
                    worker_id=worker_id,
                    excluded_queue_names=[],
                ).run()
            except Exception:  # a database error outside a task: start over
                logger.exception("demo: the task worker failed")
                time.sleep(interval)
            finally:
                close_old_connections()

    threading.Thread(target=work, name="demo-task-worker", daemon=True).start()
