from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("", login_required(TemplateView.as_view(template_name="hq_page.html"))),
    path("inbox/notifications/", include("notifications.urls", namespace="notifications")),
    path("api/notifications/", include("livebell.urls")),
]
