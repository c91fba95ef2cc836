"""Formulas as text: TeX kept as TeX, MathML linearised (a/b, x^2, x_i, sqrt(x)), a
graphic-only formula as a placeholder."""

from __future__ import annotations

import re

from lxml import etree

from builders.pmc_jats.markup import localname
from medc.text.normalize import collapse_spaces

RENDERED = "medc-rendered"  # marks a formula element whose text is already its rendering

_MATH_GROUPS = {"mrow", "mstyle", "mpadded", "mphantom", "menclose", "semantics", "math", "mtd"}


def linearize_mathml(el: etree._Element) -> str:
    """Readable one-line text of a MathML tree: a/b, x^2, x_i, sqrt(x)."""
    name = localname(el)
    kids = [k for k in el if isinstance(k.tag, str) and localname(k) not in ("annotation", "annotation-xml")]
    if name in ("mi", "mn", "mo", "mtext", "ms"):
        return collapse_spaces("".join(el.itertext()))
    if name == "mspace":
        return " "
    parts = [linearize_mathml(k) for k in kids]

    def group(s: str) -> str:
        return s if len(s) <= 1 or re.fullmatch(r"\w+", s) else f"({s})"

    if name == "mfrac" and len(parts) == 2:
        return f"{group(parts[0])}/{group(parts[1])}"
    if name == "msup" and len(parts) == 2:
        return f"{parts[0]}^{group(parts[1])}"
    if name == "msub" and len(parts) == 2:
        return f"{parts[0]}_{group(parts[1])}"
    if name == "msubsup" and len(parts) == 3:
        return f"{parts[0]}_{group(parts[1])}^{group(parts[2])}"
    if name in ("munder", "munderover", "mover"):
        return " ".join(parts)
    if name == "msqrt":
        return f"sqrt({''.join(parts)})"
    if name == "mroot" and len(parts) == 2:
        return f"root{group(parts[1])}({parts[0]})"
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
    tex = next((d for d in el.iter() if localname(d) == "tex-math"), None)
    if tex is not None:
        body = collapse_spaces("".join(tex.itertext()))
        body = re.sub(r"^\\documentclass.*?\\begin\{document\}|\\end\{document\}$", "", body, flags=re.S).strip()
        return body
    math = next((d for d in el.iter() if localname(d) == "math"), None)
    if math is not None:
        return collapse_spaces(linearize_mathml(math))
    return "[formula]"
