"""The demo app; its notification types are registered when Django starts."""

from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

# How long a notification of an emailing type may stay unread before it is emailed.
EMAIL_AFTER = timedelta(minutes=1)


class DemoConfig(AppConfig):
    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from livebell import types

        types.register(
            "answer.created",
            label=_("Answers to your questions"),
            template=_("{actor} answered your question “{target}”"),
            # Pushed to the devices where the asker turned on "Notify me on this device".
            channels={"web_push": True},
            # Emailed when still unread a minute later (docs/email.md): soon enough
            # for a visitor to see one arrive on the Emails page.
            email_after=EMAIL_AFTER,
        )
        types.register(
            "answer.created_followed",
            label=_("Answers to questions you follow"),
            template=_("{actor} answered a question you follow “{target}”"),
        )
        types.register(
            "comment.created",
            label=_("Comments on your answers"),
            template=_("{actor} commented on your answer to “{target}”"),
            email_after=EMAIL_AFTER,
        )
        types.register(
            "answer.upvoted",
            label=_("Upvotes of your answers"),
            template=_("{actor} upvoted your answer to “{target}”"),
            grouped_template=ngettext_lazy(
                "{actor} and {others} other upvoted your answer to “{target}”",
                "{actor} and {others} others upvoted your answer to “{target}”",
                "others",
            ),
            group_window=timedelta(hours=6),
        )
        types.register(
            "user.followed", label=_("New followers"), template=_("{actor} started following you")
        )
        types.register(
            "question.followed",
            label=_("Follows of your questions"),
            template=_("{actor} followed your question “{target}”"),
        )
        types.register(
            "question.created",
            label=_("Questions from people you follow"),
            template=_("{actor} asked “{target}”"),
        )
        types.register(
            "announcement.created",
            label=_("Announcements"),
            template=_("{actor} posted an announcement: “{target}”"),
            optional=False,
        )
