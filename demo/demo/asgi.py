"""ASGI entry point of the demo: HTTP through Django, the socket through livebell.

Serve it with ``uvicorn demo.asgi:application`` (or daphne).
"""

import gc
import os

from django.core.asgi import get_asgi_application

# A socket server holds many long-lived objects (about 130 per open socket across
# uvicorn, Channels and livebell), and CPython's default policy scans all of them
# in a full collection each time they grow by a quarter: while 10,000 sockets
# connect, 14 full collections of up to 0.8 s each, half the time of the connects.
# Fewer full collections (docs/deployment.md, "Python's garbage collector").
gc.set_threshold(700, 10, 1000)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
# Set up Django (the app registry) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

import livebell.routing  # noqa: E402
from livebell.origin import OriginValidator  # noqa: E402

# uvicorn serves no static files; in DEBUG let Django's handler do it, as runserver would.
http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.DEBUG else django_asgi_app

# Demo only: the task worker (web pushes, the email sweep) in a thread of this process
# (a site runs `manage.py db_worker`; docs/web-push.md, docs/email.md).
from demo.worker import start_worker  # noqa: E402

if settings.DEMO_TASK_WORKER:
    start_worker()

application = ProtocolTypeRouter(
    {
        "http": http_app,
        # No session middleware: livebell reads the session cookie itself, batching
        # concurrent connects (AuthMiddlewareStack works too, slower).
        "websocket": OriginValidator(URLRouter(livebell.routing.websocket_urlpatterns)),
    }
)
