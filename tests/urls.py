"""The test suite's URLs: livebell's REST API, Django's login views, the admin, and a
page that loads the JS client (for the browser tests), livebell's health and metrics."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView

from livebell.health import health_view
from livebell.metrics import metrics_view

urlpatterns = [
    path("api/notifications/", include("livebell.urls")),
    path("notifications/", include("livebell.page_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(success_url="/accounts/login/"),
        name="password_change",
    ),
    path("client/", TemplateView.as_view(template_name="testapp/client.html"), name="client"),
    path("bell/", TemplateView.as_view(template_name="testapp/bell.html"), name="bell"),
    path("admin/", admin.site.urls),
    path("livebell/health/", health_view, name="livebell-health"),
    path("livebell/metrics/", metrics_view, name="livebell-metrics"),
]
