"""The REST API of the inbox, on Django REST framework and drf-spectacular.

Mount it with ``path("api/notifications/", include("livebell.urls"))``. Every
endpoint acts on ``request.user``'s own notifications only; docs/api.md is the
reference. Modules, one concept each:

- :mod:`livebell.rest.views`: the endpoints.
- :mod:`livebell.rest.serializers`: response and request shapes; the request
  serializers validate bodies with :mod:`livebell.ids`, the socket's rules (the
  notification itself is built by :func:`livebell.payloads.notification_payload`).
- :mod:`livebell.rest.pagination`: cursor pagination, newest first.
- :mod:`livebell.rest.filters`: ``?unread=``, ``?verb=``, ``?level=``.
- :mod:`livebell.rest.auth`: which authentication the endpoints accept.
- :mod:`livebell.rest.errors`: the 400 error and the documented error responses.
"""
