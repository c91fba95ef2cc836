"""Formulas as text: TeX kept as TeX, MathML linearised (a/b, x^2, x_i, sqrt(x)), a
graphic-only formula as a placeholder."""

from __future__ import annotations

import re

from lxml import etree

from builders.pmc_jats.markup import localname
from medc.text.normalize import collapse_spaces

RENDERED = "medc-rendered"  # marks a formula element whose text is already its rendering

_MATH_GROUPS = {"mrow", "mstyle", "mpadded", "mphantom", "menclose", "semantics", "math", "mtd"}


_TOKENS = frozenset({"mi", "mn", "mo", "mtext", "ms"})
_NOT_RENDERED = frozenset({"annotation", "annotation-xml"})
_WORD = re.compile(r"\w+")


def _group(s: str) -> str:
    return s if len(s) <= 1 or _WORD.fullmatch(s) else f"({s})"


def linearize_mathml(el: etree._Element) -> str:
    """Readable one-line text of a MathML tree: a/b, x^2, x_i, sqrt(x)."""
    return _linear(el, localname(el))


def _linear(el: etree._Element, name: str) -> str:
    if name in _TOKENS:  # the leaves, most of the tree: read without walking their children
        text = el.text if len(el) == 0 else "".join(el.itertext())
        return " ".join((text or "").split())
    if name == "mspace":
        return " "
    parts = [_linear(k, kid) for k in el if (kid := localname(k)) and kid not in _NOT_RENDERED]
    if name == "mfrac" and len(parts) == 2:
        return f"{_group(parts[0])}/{_group(parts[1])}"
    if name == "msup" and len(parts) == 2:
        return f"{parts[0]}^{_group(parts[1])}"
    if name == "msub" and len(parts) == 2:
        return f"{parts[0]}_{_group(parts[1])}"
    if name == "msubsup" and len(parts) == 3:
        return f"{parts[0]}_{_group(parts[1])}^{_group(parts[2])}"
    if name in ("munder", "munderover", "mover"):
        return " ".join(parts)
    if name == "msqrt":
        return f"sqrt({''.join(parts)})"
    if name == "mroot" and len(parts) == 2:
        return f"root{_group(parts[1])}({parts[0]})"
    if name == "mfenced":
        return f"{el.get('open', '(')}{', '.join(parts)}{el.get('close', ')')}"
    if name == "mtr":
        return " ".join(parts)
    if name == "mtable":
        return "; ".join(parts)
    return "".join(parts) if name in _MATH_GROUPS else " ".join(parts)


def render_formula(el: etree._Element) -> str:
    """TeX kept as TeX, MathML linearised, graphic-only formulas as a placeholder."""
    if el.get(RENDERED):
        return (el.text or "").strip()
    tex = next(el.iter("{*}tex-math"), None)  # tag-filtered iteration: in C
    if tex is not None:
        body = collapse_spaces("".join(tex.itertext()))
        body = re.sub(r"^\\documentclass.*?\\begin\{document\}|\\end\{document\}$", "", body, flags=re.S).strip()
        return body
    math = next(el.iter("{*}math"), None)
    if math is not None:
        return collapse_spaces(linearize_mathml(math))
    return "[formula]"
