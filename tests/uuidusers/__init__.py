"""A user model whose primary key is a UUID (tests/settings_user_pk.py installs it)."""
