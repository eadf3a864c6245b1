from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from demo.forms import SendForm
from livebell import notify


@login_required
def home(request):
    # The list and the badge are loaded by home.js from the REST API (livebell.urls),
    # then kept current by the socket.
    return render(request, "demo/home.html", {"form": SendForm(sender=request.user)})


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
