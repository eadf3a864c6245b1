"""livebell's template tags: ``{% load livebell %}`` (:mod:`livebell.templatetags.livebell`)."""

__all__: list[str] = []
