"""No HTTP pages: the reference serves only its socket."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
