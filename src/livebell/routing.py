"""URL patterns for the notification socket, for the project's ASGI router.

Mount them behind the origin check::

    from channels.routing import ProtocolTypeRouter, URLRouter
    from livebell.origin import OriginValidator
    import livebell.routing

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": OriginValidator(URLRouter(livebell.routing.websocket_urlpatterns)),
    })

The socket's transport (:mod:`livebell.live.websocket`, a plain ASGI application)
reads the session that the cookie names and its user itself
(:func:`livebell.live.credentials.authenticate`), batching sockets that connect at
once; no session middleware is needed. ``SessionMiddlewareStack`` or
``AuthMiddlewareStack`` (as in the tutorial) around it work too, at a cost per frame:
Channels' session wrapper sits on every send.
"""

from __future__ import annotations

from django.urls import path

from livebell.live.websocket import NotificationConsumer

__all__ = ["websocket_urlpatterns"]

websocket_urlpatterns = [
    # Django's path() is typed for views; Channels' URLRouter takes an ASGI app.
    path("ws/notifications/", NotificationConsumer.as_asgi(), name="livebell-socket"),  # type: ignore[arg-type]
]
