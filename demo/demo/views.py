from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from demo.forms import SendForm
from livebell import notify
from livebell.models import Notification

LATEST = 20


@login_required
def home(request):
    mine = Notification.objects.for_user(request.user)
    return render(
        request,
        "demo/home.html",
        {
            "notifications": mine.with_related()[:LATEST],
            "unread_count": mine.unread_count(),
            "form": SendForm(sender=request.user),
        },
    )


@login_required
@require_POST
def send(request):
    form = SendForm(request.POST, sender=request.user)
    if form.is_valid():
        recipient = form.cleaned_data["recipient"]
        notify(
            recipient,
            form.cleaned_data["verb"],
            actor=request.user,
            level=form.cleaned_data["level"],
        )
        messages.success(request, f"Sent to {recipient.get_username()}.")
    else:
        messages.error(
            request,
            "Not sent: "
            + "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()),
        )
    return redirect("home")
