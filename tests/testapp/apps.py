from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from livebell import types

        types.register(
            "post.commented",
            label=_("Comments on your posts"),
            template=_("{actor} commented on your post “{target}”"),
        )
        types.register(
            "post.liked",
            label=_("Likes of your posts"),
            template=_("{actor} liked your post “{target}”"),
            grouped_template=ngettext_lazy(
                "{actor} and {others} other liked your post “{target}”",
                "{actor} and {others} others liked your post “{target}”",
                "others",
            ),
            group_window=timedelta(hours=1),
        )
        types.register(
            "security.alert",
            label=_("Security alerts"),
            template=_("New sign-in from {place}"),
            level="warning",
            optional=False,
            channels={"email": True},
        )
        types.register(
            "digest.weekly",
            label=_("Weekly digest"),
            template=_("Your week: {count} new answers"),
            channels={"in_app": False, "email": True},
        )
