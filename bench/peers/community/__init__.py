"""django-notifications-community as its README sets it up: rows, a signal, JSON views.

It has no push: the bench measures its storage side (``bench.storage``) beside
livebell's: notifying many users, the unread count and mark-all-read. Settings
``bench.peers.community.settings``.
"""
