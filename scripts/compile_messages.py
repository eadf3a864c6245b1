"""Compile every ``.po`` of livebell, the demo and the compat package into its ``.mo`` (no GNU gettext needed).

``make messages`` runs it after ``makemessages``; the ``.mo`` files are committed so
that the demo and installs work on machines without gettext.
``tests/test_widget.py`` fails when a ``.mo`` is out of date with its ``.po``.
"""

from __future__ import annotations

from pathlib import Path

import polib

__all__ = ["CATALOGS", "compile_all"]

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = [
    ROOT / "src" / "livebell" / "locale",
    ROOT / "demo" / "demo" / "locale",
    ROOT / "compat" / "notifications-hq" / "src" / "notifications" / "locale",
]


def compile_all() -> list[Path]:
    """Write each catalog's ``.mo`` next to its ``.po``; return the ``.po`` files."""
    done = []
    for locale in CATALOGS:
        for po_path in sorted(locale.glob("*/LC_MESSAGES/*.po")):
            polib.pofile(str(po_path)).save_as_mofile(str(po_path.with_suffix(".mo")))
            done.append(po_path)
    return done


if __name__ == "__main__":
    for path in compile_all():
        print(f"compiled {path.relative_to(ROOT)}")
