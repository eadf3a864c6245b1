"""openwisp-notifications' own URLs (its REST API and views); the socket is in asgi.py."""

from django.urls import include, path

urlpatterns = [
    path("", include("openwisp_notifications.urls", namespace="notifications")),
]
