"""Where notifications are stored and read back, in SQL each database runs fast.

- :mod:`~livebell.storage.inserts`: the rows of new notifications, in one transaction
  with their recipients' state.
- :mod:`~livebell.storage.state`: each recipient's inbox state, the row that orders
  every write to their inbox.
- :mod:`~livebell.storage.marking`: marking a user's whole inbox read, by the user's
  rows only.
- :mod:`~livebell.storage.prune`: deleting old notifications in short batches.
- :mod:`~livebell.storage.catchup`: what a reconnecting reader missed.
- :mod:`~livebell.storage.querysets`: ``Notification.objects``.
- :mod:`~livebell.storage.actors`: who acted, as a notification stores them.

Nothing here pushes or talks to a socket; :mod:`livebell.sending` and
:mod:`livebell.inbox` call it and then push.
"""
