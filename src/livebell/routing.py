"""URL patterns for the notification socket, for the project's ASGI router.

Mount them behind the origin check and the session::

    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.sessions import SessionMiddlewareStack
    from livebell.origin import OriginValidator
    import livebell.routing

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": OriginValidator(
            SessionMiddlewareStack(URLRouter(livebell.routing.websocket_urlpatterns))
        ),
    })

The socket's transport (:mod:`livebell.consumers`, a plain ASGI application)
reads the user from the session itself (:mod:`livebell.auth`),
batching sockets that connect at once. ``AuthMiddlewareStack``, as in the
tutorial, works too: the user is then already in the scope.
"""

from __future__ import annotations

from django.urls import path

from livebell.consumers import NotificationConsumer

__all__ = ["websocket_urlpatterns"]

websocket_urlpatterns = [
    # Django's path() is typed for views; Channels' URLRouter takes an ASGI app.
    path("ws/notifications/", NotificationConsumer.as_asgi(), name="livebell-socket"),  # type: ignore[arg-type]
]
