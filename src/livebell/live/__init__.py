"""A reader's live session and the transports that carry it.

- :mod:`~livebell.live.session`: the session, free of I/O: events in, effects out.
- :mod:`~livebell.live.transport`: what every transport does with those effects.
- :mod:`~livebell.live.websocket`: the WebSocket transport (``routing.py`` mounts it).
- :mod:`~livebell.live.stream`: the Server-Sent Events transport (``urls.py`` serves it).
- :mod:`~livebell.live.credentials` and :mod:`~livebell.live.tickets`: who a
  connection is for.
- :mod:`~livebell.live.ratelimit` and :mod:`~livebell.live.storm`: the limits on a
  reader, free of I/O.
"""
