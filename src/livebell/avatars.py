"""A user's avatar as livebell draws it: up to two initials on a colour from the name.

The bell draws each actor's avatar in the browser (``initials`` and ``hue`` in
``static/livebell/bell.module.js``); ``{% livebell_avatar user %}`` draws the same
avatar in a site's own pages, so a user looks the same in the bell and on the site.
The rule is the one in bell.module.js, spelled again here for the server;
``tests/test_widget.py`` runs both on the same names so they cannot drift apart.
"""

from __future__ import annotations

import re

__all__ = ["hue", "initials"]

# A name that starts with a CJK ideograph shows that one character ("张"), not two.
_CJK = re.compile("[\u3400-\u9fff]")


def initials(name: str | None) -> str:
    """The avatar's text: the name's first two characters in capitals, or its first
    CJK ideograph, or ``?`` for no name."""
    letters = (name or "?").strip()
    if not letters:
        return "?"
    if _CJK.match(letters[0]):
        return letters[0]
    return letters[:2].upper()


def hue(name: str | None) -> int:
    """The avatar's hue, 0 to 359, from the name's code points (``hsl(hue 50% 31%)`` in
    bell.css): the same name always gets the same colour."""
    value = 0
    for character in name or "":
        value = (value * 31 + ord(character)) % 360
    return value
