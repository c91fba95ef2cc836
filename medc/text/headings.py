"""Section headings written the same way whatever the source's capitalisation."""

from __future__ import annotations

import re

_ENUMERATOR = re.compile(r"^((?:[IVXLC]+[.)]|\d+(?:\.\d+)*[.)]?|[A-Za-z][.)])\s+)")


def consistent_heading(title: str) -> str:
    """"INTRODUCTION" and "introduction" both become "Introduction"; mixed case is kept; a
    leading enumerator ("II. ", "2.1 ", "A) ") keeps its case ("II. PRELIMINARIES" → "II. Preliminaries")."""
    m = _ENUMERATOR.match(title)
    prefix, rest = (m.group(1), title[m.end():]) if m else ("", title)
    if (rest.isupper() or rest.islower()) and sum(map(str.isalpha, rest)) > 3:
        return prefix + rest[:1].upper() + rest[1:].lower()
    return title
