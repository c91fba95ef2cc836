"""Article identifiers as match keys: `pmid:<digits>`, `pmcid:PMC<digits>`, `doi:<lower case>`.
Rows keep identifiers as published; these keys are what matching across sources compares
(a DOI is case-insensitive; `https://doi.org/` and `doi:` prefixes are not part of it)."""

from __future__ import annotations

import re
from typing import Any

_DOI = re.compile(r"10\.\d{4,9}/\S+")
_ABSENT = {"", "0", "unavailable", "none", "null", "nan", "n/a", "na"}


def doi_key(value: str | None) -> str | None:
    m = _DOI.search((value or "").strip())
    return f"doi:{m.group().rstrip('.;,').lower()}" if m else None


def pmid_key(value: str | int | None) -> str | None:
    text = str(value or "").strip()
    return f"pmid:{int(text)}" if text.isdigit() and text.lower() not in _ABSENT and int(text) > 0 else None


def pmcid_key(value: str | None) -> str | None:
    text = (value or "").strip().upper()
    text = text[3:] if text.startswith("PMC") else text
    return f"pmcid:PMC{int(text)}" if text.isdigit() and int(text) > 0 else None


def article_keys(meta: dict[str, Any]) -> list[str]:
    """The match keys of a row's `meta` ids."""
    keys = [pmid_key(meta.get("pmid")), pmcid_key(meta.get("pmcid")), doi_key(meta.get("doi"))]
    return [k for k in keys if k]


def link_key(kind: str, value: str) -> str | None:
    """The key of a link to another article (a JATS `related-article`, a PubMed
    `CommentsCorrections`): `kind` is doi / pmid / pmc / pmcid / uri."""
    kind = kind.lower()
    if kind in ("pmid", "pubmed", "medline"):
        return pmid_key(value)
    if kind in ("pmc", "pmcid"):
        return pmcid_key(value)
    return doi_key(value)
