"""A user model whose primary key is a string (tests/settings_user_pk.py installs it)."""
