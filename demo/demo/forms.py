from django import forms
from django.contrib.auth import get_user_model

from livebell.models import VERB_MAX_LENGTH, Level


class SendForm(forms.Form):
    """Send a notification to another user."""

    recipient = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    verb = forms.CharField(max_length=VERB_MAX_LENGTH, initial="waved at you")
    level = forms.ChoiceField(choices=Level.choices, initial=Level.INFO)

    def __init__(self, *args, sender, **kwargs):
        super().__init__(*args, **kwargs)
        others = get_user_model().objects.exclude(pk=sender.pk).order_by("username")
        self.fields["recipient"].queryset = others
