"""URL patterns for the notification socket, for the project's ASGI router.

Mount them behind origin and auth checks, as the tutorial did::

    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    import livebell.routing

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(livebell.routing.websocket_urlpatterns))
        ),
    })
"""

from __future__ import annotations

from django.urls import path

from livebell.consumers import NotificationConsumer

__all__ = ["websocket_urlpatterns"]

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi(), name="livebell-socket"),
]
