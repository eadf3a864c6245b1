"""Write livebell.js, the classic-script build of livebell.module.js (the ES module).

Run ``python scripts/build_classic_js.py`` (or ``make js``) after changing the module;
``tests/test_widget.py`` fails while the two differ. The build is textual: the
module's ``export`` keywords are dropped, its body is wrapped in a function, and its
exports become ``window.livebell`` (and ``window.LiveBell``, the class).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["CLASSIC", "MODULE", "build"]

STATIC = Path(__file__).resolve().parent.parent / "src" / "livebell" / "static" / "livebell"
MODULE = STATIC / "livebell.module.js"
CLASSIC = STATIC / "livebell.js"

_EXPORT = re.compile(r"^export (class|function|const) (\w+)", re.MULTILINE)


def build(module_source: str) -> str:
    """The classic script for ``module_source``.

    Raises:
        ValueError: the module has an import, or an export this build cannot rewrite.
    """
    if re.search(r"^\s*import\b", module_source, re.MULTILINE):
        raise ValueError("livebell.module.js must not import: the classic build has no loader.")
    names = [match.group(2) for match in _EXPORT.finditer(module_source)]
    body = _EXPORT.sub(r"\1 \2", module_source)
    if re.search(r"^\s*export\b", body, re.MULTILINE):
        raise ValueError("Only `export class|function|const NAME` can be built.")
    indented = "\n".join(("  " + line) if line else "" for line in body.rstrip("\n").split("\n"))
    exports = ", ".join(names)
    return (
        "/* livebell.js — GENERATED from livebell.module.js by scripts/build_classic_js.py;\n"
        " * do not edit. The same client as a classic script: window.livebell holds\n"
        f" * {{ {exports} }}, and window.LiveBell is the class. */\n"
        "(function () {\n"
        '  "use strict";\n'
        f"{indented}\n\n"
        f"  window.livebell = Object.freeze({{ {exports} }});\n"
        "  window.LiveBell = LiveBell;\n"
        "})();\n"
    )


if __name__ == "__main__":
    CLASSIC.write_text(build(MODULE.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote {CLASSIC}\n")
