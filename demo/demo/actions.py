"""What users do on the demo site, and who is notified of it.

Every action that concerns someone else calls ``livebell.notify()`` with a target,
so the notification links to what happened. The types (demo.apps) have English and
Chinese sentences: bob reads "alice answered your question “…”" and carol, in a
Chinese browser, "alice 回答了你的问题“…”".
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from demo.models import Announcement, Answer, Comment, Question, UserFollow
from livebell import notify

User = get_user_model()


def send(recipients, type, *, actor, target=None, level=None):
    """Notify ``recipients`` (not the actor) with a type of ``demo.apps``.

    livebell renders each notification's sentence in its reader's language.
    """
    users = list({user.pk: user for user in recipients if user.pk != actor.pk}.values())
    if users:
        notify(users, type=type, actor=actor, target=target, level=level)


@transaction.atomic
def ask(author, title, body=""):
    question = Question.objects.create(author=author, title=title, body=body)
    question.followers.add(author)
    followers = [follow.follower for follow in UserFollow.objects.filter(followed=author)]
    send(followers, "question.created", actor=author, target=question)
    return question


@transaction.atomic
def answer(author, question, body):
    answer = Answer.objects.create(question=question, author=author, body=body)
    send([question.author], "answer.created", actor=author, target=answer)
    others = question.followers.exclude(pk=question.author_id)
    send(others, "answer.created_followed", actor=author, target=answer)
    return answer


@transaction.atomic
def comment(author, answer, body):
    comment = Comment.objects.create(answer=answer, author=author, body=body)
    send([answer.author], "comment.created", actor=author, target=comment)
    return comment


@transaction.atomic
def upvote(user, answer):
    """赞同 an answer, or take the vote back; returns whether the user now upvotes it."""
    if answer.voters.filter(pk=user.pk).exists():
        answer.voters.remove(user)
        return False
    answer.voters.add(user)
    send([answer.author], "answer.upvoted", actor=user, target=answer)
    return True


@transaction.atomic
def follow_question(user, question):
    if question.followers.filter(pk=user.pk).exists():
        question.followers.remove(user)
        return False
    question.followers.add(user)
    send([question.author], "question.followed", actor=user, target=question)
    return True


@transaction.atomic
def follow_user(user, other):
    follow = UserFollow.objects.filter(follower=user, followed=other)
    if follow.exists():
        follow.delete()
        return False
    UserFollow.objects.create(follower=user, followed=other)
    send([other], "user.followed", actor=user)
    return True


@transaction.atomic
def announce(author, title, body="", level="info"):
    announcement = Announcement.objects.create(author=author, title=title, body=body)
    everyone = User.objects.filter(is_active=True).exclude(pk=author.pk)
    send(list(everyone), "announcement.created", actor=author, target=announcement, level=level)
    return announcement
