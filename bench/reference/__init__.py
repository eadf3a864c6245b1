"""The reference: the Django Channels tutorial's notification design, as a minimal project.

One stock ``AsyncWebsocketConsumer`` at ``ws/notifications/`` that closes anonymous
users and puts everybody in ONE group, ``"notifications"``; a broadcast is one
``group_send("notifications", ...)``. For the targeted workload only, a second
route also joins a per-user group (the tutorial has none). Settings module:
``bench.reference.settings``; served as ``bench.reference.asgi:application``.
"""
