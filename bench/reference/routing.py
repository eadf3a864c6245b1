"""The tutorial's route, plus the per-user route the targeted workload uses."""

from django.urls import path

from bench.reference.consumers import NotificationConsumer, PerUserNotificationConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/notifications/user/", PerUserNotificationConsumer.as_asgi()),
]
