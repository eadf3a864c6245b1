from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from demo import views
from livebell.health import health_view
from livebell.metrics import metrics_view
from livebell.views import NotificationsPage

urlpatterns = [
    path("", views.home, name="home"),
    path("questions/<int:pk>/", views.question, name="question"),
    path("questions/<int:pk>/follow/", views.follow_question, name="follow-question"),
    path("questions/<int:pk>/mute/", views.mute_question, name="mute-question"),
    path("settings/notifications/", views.notification_settings, name="notification-settings"),
    path("answers/<int:pk>/upvote/", views.upvote, name="upvote"),
    path("answers/<int:pk>/comment/", views.comment, name="comment"),
    path("people/<str:username>/", views.person, name="person"),
    path("announcements/", views.announcements, name="announcements"),
    path("emails/", views.emails, name="emails"),
    path("language/", views.set_language, name="set-language"),
    # livebell: the full notifications page (in the demo's layout), the REST API with
    # the widget's go/ and jsi18n/ URLs, and the API's schema and docs.
    path(
        "notifications/",
        include(
            (
                [
                    path(
                        "",
                        NotificationsPage.as_view(base_template="demo/base.html"),
                        name="notifications",
                    )
                ],
                "livebell_pages",
            )
        ),
    ),
    path("api/notifications/", include("livebell.urls")),
    # Operations, as docs/deployment.md shows: health for a load balancer, metrics for
    # staff (or a scraper with LIVEBELL["METRICS_TOKEN"]).
    path("livebell/health/", health_view, name="livebell-health"),
    path("livebell/metrics/", metrics_view, name="livebell-metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
