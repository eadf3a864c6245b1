from django.urls import include, path

urlpatterns = [
    path("notifications/", include("notifications.urls", namespace="notifications")),
    path("api/notifications/", include("livebell.urls")),
]
