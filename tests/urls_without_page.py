"""The test URLs without livebell's full page (``go/`` then falls back to ``/``)."""

from django.urls import include, path

urlpatterns = [path("api/notifications/", include("livebell.urls"))]
