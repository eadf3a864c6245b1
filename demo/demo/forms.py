from django import forms
from django.utils.translation import gettext_lazy as _

from livebell.models import Level


class QuestionForm(forms.Form):
    title = forms.CharField(label=_("Your question"), max_length=200)
    body = forms.CharField(
        label=_("Details (optional)"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class AnswerForm(forms.Form):
    body = forms.CharField(label=_("Your answer"), widget=forms.Textarea(attrs={"rows": 4}))


class CommentForm(forms.Form):
    body = forms.CharField(label=_("Add a comment"), max_length=500)


class AnnouncementForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    body = forms.CharField(
        label=_("Text"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    level = forms.ChoiceField(
        label=_("Level"),
        choices=[
            (Level.INFO, _("Info")),
            (Level.SUCCESS, _("Success")),
            (Level.WARNING, _("Warning")),
            (Level.ERROR, _("Error")),
        ],
        initial=Level.INFO,
    )
