"""Text normalisation shared by every builder: Unicode, ligatures, control characters, white
space, and words hyphenated across line breaks."""

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


# Characters replaced by nothing or by white space (then white space must be tidied again).
_VANISHING = tuple(c for c, v in _LIGATURE_MAP.items() if not v or not v.strip())
_PRINTED_LIGATURES = tuple(c for c, v in _LIGATURE_MAP.items() if v and v.strip())  # "ﬁ" → "fi"


def _untouched_by_whitespace_pass(text: str) -> bool:
    """Whether `text` holds no carriage return, control character or character that vanishes
    or becomes white space. Every such character is one `str.isprintable` refuses (controls,
    format characters such as the soft hyphen, spaces other than " ", line and paragraph
    separators), and that test is one C loop: several times faster than a regex scan. Text
    it refuses (a MathML function-application mark, say) is checked character by character."""
    if text.replace("\n", " ").isprintable():
        return True
    return ("\r" not in text and "\t" not in text and not any(c in text for c in _VANISHING)
            and not _CONTROL.search(text))


def normalize_text(text: str, collapsed: bool = False) -> str:
    """NFC-normalise, expand ligatures, drop control characters, tidy white space.

    Paragraphs (blank-line separated) are kept; runs of spaces collapse to one and lines
    are stripped. NFC rather than NFKC: NFKC would turn "m²" into "m2" and "µ" into "μ".
    `collapsed=True` says that every line is already stripped with single spaces and there
    are no runs of blank lines (text assembled from `collapse_spaces` pieces): the white space
    pass is then skipped unless a removed character could have changed it. Same result.
    """
    if not text:
        return ""
    if collapsed and _untouched_by_whitespace_pass(text):
        if any(c in text for c in _PRINTED_LIGATURES):
            text = _LIGATURE_RE.sub(lambda m: _LIGATURE_SUB[m.group()], text)
        return unicodedata.normalize("NFC", text) if not text.isascii() else text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if any(c in text for c in _LIGATURE_SUB):  # a few C-level finds: much cheaper than a regex scan
        text = _LIGATURE_RE.sub(lambda m: _LIGATURE_SUB[m.group()], text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    # str.split() knows every Unicode space and runs in C: much faster than a regex here.
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def collapse_spaces(text: str) -> str:
    """All white space (newlines included) to single spaces; for titles and inline runs.

    A text that `str.isprintable` accepts holds no white space but " " (every other space, tab,
    newline or separator is refused); without a double or an outer space it is already
    collapsed, and that check costs a third of splitting it into words."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


# ---------------------------------------------------------------------------- line-broken text
_HYPHEN_BREAK = re.compile(r"(\w+)-\n(\w+)")


def dehyphenate(text: str) -> str:
    """Join words hyphenated across line breaks ("treat-\\nment" → "treatment").

    The hyphen stays when the text itself says it belongs there: the compound is written with
    its hyphen elsewhere ("long-term"), the part after the break starts upper-case or with a
    digit ("anti-\\nTNF"), or both parts are words the text uses on their own while the joined
    form is not ("half-\\nlife" in a text that says "half" and "life" but never "halflife").
    """
    if "-\n" not in text:
        return text
    vocabulary = set(re.findall(r"\w+", _HYPHEN_BREAK.sub(" ", text).lower()))  # words written whole

    def join(m: re.Match[str]) -> str:
        a, b = m.group(1), m.group(2)
        if b[:1].isupper() or b[:1].isdigit() or f"{a}-{b}" in text:
            return f"{a}-{b}"
        joined = f"{a}{b}".lower()
        if joined not in vocabulary and a.lower() in vocabulary and b.lower() in vocabulary:
            return f"{a}-{b}"
        return f"{a}{b}"

    return _HYPHEN_BREAK.sub(join, text)


_WIKI_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")


def strip_wiki_templates(text: str) -> str:
    """MediaWiki templates (`{{#ev:youtube|ID}}`, `{{cite ...}}`, nested ones too) removed: they
    are page machinery, not prose (WikiDoc-derived answers in MedAlpaca hold them)."""
    while "{{" in text:
        stripped = _WIKI_TEMPLATE.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    return text
