"""Text normalisation shared by every builder: Unicode, ligatures, control characters, whitespace."""

from __future__ import annotations

import re
import unicodedata

_LIGATURE_MAP = (
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
        "\u00ad": None,  # soft hyphen
        "\u200b": None,  # zero-width space
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,  # BOM / zero-width no-break space
        "\u00a0": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2028": "\n",
        "\u2029": "\n",
    }
)
LIGATURES = str.maketrans(_LIGATURE_MAP)
# str.translate looks every character up in a dict: slow on long texts. Replace only the
# characters that occur, found with one regex scan.
_LIGATURE_RE = re.compile("[" + "".join(re.escape(c) for c in _LIGATURE_MAP) + "]")
_LIGATURE_SUB = {c: (v or "") for c, v in _LIGATURE_MAP.items()}
# C0/C1 control characters except tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """NFC-normalise, expand ligatures, drop control characters, tidy white space.

    Paragraphs (blank-line separated) are kept; runs of spaces collapse to one and lines
    are stripped. NFC rather than NFKC: NFKC would turn "m²" into "m2" and "µ" into "μ".
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _LIGATURE_RE.sub(lambda m: _LIGATURE_SUB[m.group()], text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    # str.split() knows every Unicode space and runs in C: much faster than a regex here.
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def collapse_spaces(text: str) -> str:
    """All white space (newlines included) to single spaces; for titles and inline runs."""
    return " ".join(text.split())
