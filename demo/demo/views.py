from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from demo import actions
from demo.forms import AnnouncementForm, AnswerForm, CommentForm, QuestionForm
from demo.models import Announcement, Profile, Question, UserFollow
from livebell import mutes, preferences, types
from livebell.models import Mute

User = get_user_model()


@login_required
def home(request):
    if request.method == "POST":
        form = QuestionForm(request.POST)
        if form.is_valid():
            question = actions.ask(request.user, **form.cleaned_data)
            return redirect(question)
    else:
        form = QuestionForm()
    questions = (
        Question.objects.select_related("author")
        .annotate(answer_count=Count("answers", distinct=True))
        .prefetch_related("answers__author")[:30]
    )
    return render(request, "demo/home.html", {"questions": questions, "form": form})


@login_required
def question(request, pk):
    question = get_object_or_404(Question.objects.select_related("author"), pk=pk)
    if request.method == "POST":
        form = AnswerForm(request.POST)
        if form.is_valid():
            answer = actions.answer(request.user, question, form.cleaned_data["body"])
            return redirect(answer)
    else:
        form = AnswerForm()
    answers = (
        question.answers.select_related("author")
        .annotate(votes=Count("voters", distinct=True))
        .prefetch_related("comments__author", "voters")
    )
    return render(
        request,
        "demo/question.html",
        {
            "question": question,
            "answers": answers,
            "form": form,
            "comment_form": CommentForm(),
            "following": question.followers.filter(pk=request.user.pk).exists(),
            "muted": mutes.is_muted(request.user, question),
        },
    )


@login_required
@require_POST
def mute_question(request, pk):
    """Mute the question (its answers and comments too), or unmute it."""
    question = get_object_or_404(Question, pk=pk)
    if mutes.is_muted(request.user, question):
        mutes.unmute(request.user, question)
        messages.success(request, _("You will be notified about this question again."))
    else:
        mutes.mute(request.user, question)
        messages.success(request, _("Muted: no more notifications about this question."))
    return redirect(question)


@login_required
def notification_settings(request):
    """Which kinds of notification reach the user, on which channel; and what is muted."""
    choices = preferences.choices(request.user)
    if request.method == "POST":
        changes = [
            (choice["type"], channel, f"{choice['type']}:{channel}" in request.POST)
            for choice in choices
            if choice["optional"]
            for channel in types.CHANNELS
        ]
        preferences.set_choices(request.user, changes)
        messages.success(request, _("Your notification settings are saved."))
        return redirect("notification-settings")
    now = timezone.now()
    question_type = ContentType.objects.get_for_model(Question)
    muted_ids = [
        int(mute.target_object_id)
        for mute in Mute.objects.filter(user=request.user, target_content_type=question_type)
        if mute.until is None or mute.until > now
    ]
    return render(
        request,
        "demo/notification_settings.html",
        {
            "choices": choices,
            "channels": [(channel, CHANNEL_NAMES[channel]) for channel in types.CHANNELS],
            "muted": Question.objects.filter(pk__in=muted_ids).order_by("title"),
        },
    )


CHANNEL_NAMES = {
    "in_app": _lazy("In the app"),
    "email": _lazy("Email"),
    "web_push": _lazy("Web push"),
}


@login_required
@require_POST
def comment(request, pk):
    from demo.models import Answer

    answer = get_object_or_404(Answer, pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        comment = actions.comment(request.user, answer, form.cleaned_data["body"])
        return redirect(comment)
    return redirect(answer)


@login_required
@require_POST
def upvote(request, pk):
    from demo.models import Answer

    answer = get_object_or_404(Answer, pk=pk)
    actions.upvote(request.user, answer)
    return redirect(answer)


@login_required
@require_POST
def follow_question(request, pk):
    question = get_object_or_404(Question, pk=pk)
    actions.follow_question(request.user, question)
    return redirect(question)


@login_required
def person(request, username):
    other = get_object_or_404(User, username=username)
    if request.method == "POST" and other != request.user:
        actions.follow_user(request.user, other)
        return redirect("person", username=username)
    return render(
        request,
        "demo/person.html",
        {
            "person": other,
            "questions": other.questions.annotate(answer_count=Count("answers")),
            "answers": other.answers.select_related("question")[:20],
            "following": UserFollow.objects.filter(follower=request.user, followed=other).exists(),
            "follower_count": other.followers.count(),
        },
    )


@login_required
def announcements(request):
    form = None
    if request.user.is_staff:
        form = AnnouncementForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            actions.announce(request.user, **form.cleaned_data)
            messages.success(request, _("Announcement sent to everyone."))
            return redirect("announcements")
    return render(
        request,
        "demo/announcements.html",
        {
            "announcements": Announcement.objects.select_related("author"),
            "form": form,
        },
    )


@login_required
def emails(request):
    """The last emails the demo sent to the user (demo/mail.py keeps them in memory)."""
    from demo.mail import recent

    kept = recent(request.user.email) if request.user.email else []
    shown = []
    for when, message in kept:
        html = next(
            (body for body, kind in getattr(message, "alternatives", []) if kind == "text/html"),
            "",
        )
        shown.append((when, message, html))
    return render(request, "demo/emails.html", {"emails": shown, "address": request.user.email})


@require_POST
def set_language(request):
    """Switch the site's language, and the language of the user's notifications."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    next_url = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = "/"
    if request.user.is_authenticated:
        Profile.objects.update_or_create(user=request.user, defaults={"language": language})
    response = HttpResponseRedirect(next_url)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax"
    )
    return response
