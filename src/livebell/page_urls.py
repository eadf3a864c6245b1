"""The full notifications page, to include where the site wants it::

    path("notifications/", include("livebell.page_urls"))

Its name is ``livebell_pages:notifications``; the bell's "View all" links to it when
it is mounted. To show it inside the site's layout, mount the view yourself with
``NotificationsPage.as_view(base_template="site/base.html")`` under the same name.
"""

from __future__ import annotations

from django.urls import path

from livebell.views import NotificationsPage

__all__ = ["app_name", "urlpatterns"]

app_name = "livebell_pages"

urlpatterns = [path("", NotificationsPage.as_view(), name="notifications")]
