"""Formulas as text: TeX kept as TeX, MathML linearised (a/b, x^2, x_i, sqrt(x)), a
graphic-only formula as a placeholder."""

from __future__ import annotations

import re

from lxml import etree

from medc.text.mathml import linearize_mathml
from medc.text.normalize import collapse_spaces

RENDERED = "medc-rendered"  # marks a formula element whose text is already its rendering


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
