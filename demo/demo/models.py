"""The demo's Q&A site: questions, answers, comments, 赞同 (upvotes) and follows."""

from django.conf import settings
from django.db import models
from django.urls import reverse

USER = settings.AUTH_USER_MODEL


class Profile(models.Model):
    """Which language a user reads: the demo writes their notifications in it."""

    user = models.OneToOneField(USER, on_delete=models.CASCADE, related_name="profile")
    language = models.CharField(max_length=10, default="en")
    bio = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.language}"


class Question(models.Model):
    author = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="questions")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    followers = models.ManyToManyField(USER, related_name="followed_questions", blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("question", args=[self.pk])


class Answer(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    author = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="answers")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    voters = models.ManyToManyField(USER, related_name="upvoted_answers", blank=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        # A notification about an answer names its question.
        return self.question.title

    def get_absolute_url(self) -> str:
        return f"{self.question.get_absolute_url()}#answer-{self.pk}"


class Comment(models.Model):
    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="comments")
    body = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.answer.question.title

    def get_absolute_url(self) -> str:
        return f"{self.answer.question.get_absolute_url()}#comment-{self.pk}"


class UserFollow(models.Model):
    follower = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="following")
    followed = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="followers")

    class Meta:
        constraints = (models.UniqueConstraint(fields=("follower", "followed"), name="one_follow"),)

    def __str__(self) -> str:
        return f"{self.follower} → {self.followed}"


class Announcement(models.Model):
    author = models.ForeignKey(USER, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return f"{reverse('announcements')}#announcement-{self.pk}"
