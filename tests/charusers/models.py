import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models


def new_key() -> str:
    # Characters a channel-layer group name may not hold ('@', ':'), so that the
    # socket's group of such a user is named from a hash of the key.
    return f"user@{secrets.token_hex(4)}:key"


class User(AbstractUser):
    """A user whose primary key is a string (not its username, which may change)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_key, editable=False)
