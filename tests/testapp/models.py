from django.db import models


class Post(models.Model):
    title = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return f"/posts/{self.pk}/"


class Tag(models.Model):
    """A target without get_absolute_url."""

    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Reply(models.Model):
    """A target that belongs to a thread: muting its post mutes it too."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="replies")
    text = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.text

    def livebell_thread(self) -> Post:
        return self.post
