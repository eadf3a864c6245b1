"""What users do on the demo site, and who is notified of it.

Every action that concerns someone else calls ``livebell.notify()`` with a target,
so the notification links to what happened. Each recipient's notification is
written in the language they read (their profile), so bob reads "alice answered
your question" and carol reads "alice 回答了你的问题".
"""

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override

from demo.models import Announcement, Answer, Comment, Profile, Question, UserFollow
from livebell import notify

User = get_user_model()

# The verbs, marked for translation and translated per recipient.
ANSWERED_YOUR_QUESTION = gettext_noop("answered your question")
ANSWERED_A_QUESTION_YOU_FOLLOW = gettext_noop("answered a question you follow")
COMMENTED_ON_YOUR_ANSWER = gettext_noop("commented on your answer")
UPVOTED_YOUR_ANSWER = gettext_noop("upvoted your answer")
FOLLOWED_YOU = gettext_noop("started following you")
FOLLOWED_YOUR_QUESTION = gettext_noop("followed your question")
ASKED_A_QUESTION = gettext_noop("asked a question")
POSTED_AN_ANNOUNCEMENT = gettext_noop("posted an announcement")


def language_of(user):
    profile = Profile.objects.filter(user=user).first()
    return profile.language if profile else "en"


def send(recipients, verb, *, actor, target=None, level="info"):
    """Notify ``recipients`` (not the actor), each in their own language."""
    by_language = defaultdict(list)
    for user in {user.pk: user for user in recipients if user.pk != actor.pk}.values():
        by_language[language_of(user)].append(user)
    for language, users in by_language.items():
        with override(language):
            notify(users, _(verb), actor=actor, target=target, level=level)


@transaction.atomic
def ask(author, title, body=""):
    question = Question.objects.create(author=author, title=title, body=body)
    question.followers.add(author)
    followers = [follow.follower for follow in UserFollow.objects.filter(followed=author)]
    send(followers, ASKED_A_QUESTION, actor=author, target=question)
    return question


@transaction.atomic
def answer(author, question, body):
    answer = Answer.objects.create(question=question, author=author, body=body)
    send([question.author], ANSWERED_YOUR_QUESTION, actor=author, target=answer)
    others = question.followers.exclude(pk=question.author_id)
    send(others, ANSWERED_A_QUESTION_YOU_FOLLOW, actor=author, target=answer)
    return answer


@transaction.atomic
def comment(author, answer, body):
    comment = Comment.objects.create(answer=answer, author=author, body=body)
    send([answer.author], COMMENTED_ON_YOUR_ANSWER, actor=author, target=comment)
    return comment


@transaction.atomic
def upvote(user, answer):
    """赞同 an answer, or take the vote back; returns whether the user now upvotes it."""
    if answer.voters.filter(pk=user.pk).exists():
        answer.voters.remove(user)
        return False
    answer.voters.add(user)
    send([answer.author], UPVOTED_YOUR_ANSWER, actor=user, target=answer)
    return True


@transaction.atomic
def follow_question(user, question):
    if question.followers.filter(pk=user.pk).exists():
        question.followers.remove(user)
        return False
    question.followers.add(user)
    send([question.author], FOLLOWED_YOUR_QUESTION, actor=user, target=question)
    return True


@transaction.atomic
def follow_user(user, other):
    follow = UserFollow.objects.filter(follower=user, followed=other)
    if follow.exists():
        follow.delete()
        return False
    UserFollow.objects.create(follower=user, followed=other)
    send([other], FOLLOWED_YOU, actor=user)
    return True


@transaction.atomic
def announce(author, title, body="", level="info"):
    announcement = Announcement.objects.create(author=author, title=title, body=body)
    everyone = User.objects.filter(is_active=True).exclude(pk=author.pk)
    send(list(everyone), POSTED_AN_ANNOUNCEMENT, actor=author, target=announcement, level=level)
    return announcement
