"""Between processes: what livebell sends over the Channels layer, and who receives it.

- :mod:`~livebell.layer.groups`: the names of the layer's groups, one site apart from another.
- :mod:`~livebell.layer.messages`: the messages, encoded and decoded.
- :mod:`~livebell.layer.delivery`: sending them after a write commits.
- :mod:`~livebell.layer.fanout`: each process's hub, which receives them once per
  process and hands each to the sessions of its user.
"""
