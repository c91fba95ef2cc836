"""Article metadata: ids, publication year, licence, and short inline texts (title, journal)."""

from __future__ import annotations

from lxml import etree

from builders.pmc_jats.citations import clean_inline
from builders.pmc_jats.inline import inline_text
from builders.pmc_jats.markup import XLINK_HREF, all_text, localname
from medc.text.licenses import normalize_license
from medc.text.normalize import collapse_spaces


def short_text(el: etree._Element | None) -> str:
    return clean_inline(inline_text(el)) if el is not None else ""


def article_ids(meta: etree._Element) -> dict[str, str]:
    ids: dict[str, str] = {}
    for aid in meta.findall("article-id"):
        kind = (aid.get("pub-id-type") or "").lower()
        value = collapse_spaces(all_text(aid))
        if not value:
            continue
        if kind in ("pmc", "pmcid"):
            ids["pmcid"] = value if value.upper().startswith("PMC") else f"PMC{value}"
        elif kind == "pmid":
            ids["pmid"] = value
        elif kind == "doi":
            ids["doi"] = value  # as published: matching across sources normalises case
    return ids


def journal_ids(journal_meta: etree._Element | None) -> dict[str, str | None]:
    """The journal's ISO and NLM abbreviations and NLM id from `journal-meta/journal-id`."""
    found = {}
    for jid in journal_meta.findall("journal-id") if journal_meta is not None else []:
        found.setdefault((jid.get("journal-id-type") or "").lower(), collapse_spaces(all_text(jid)))
    return {"journal_iso": found.get("iso-abbrev") or None, "journal_nlm_ta": found.get("nlm-ta") or None,
            "journal_nlm_id": found.get("nlm-journal-id") or found.get("nlm-id") or None}


def keywords(meta: etree._Element) -> list[str]:
    """Author keywords (`kwd-group/kwd`; compound keywords by their parts), in order, once each."""
    words = [short_text(k) for k in meta.iterfind("kwd-group/kwd")]
    words += [short_text(part) for k in meta.iterfind("kwd-group/compound-kwd") for part in k.iterfind("compound-kwd-part")]
    return list(dict.fromkeys(w for w in words if w))


def publication_year(meta: etree._Element) -> int | None:
    dates = {(d.get("pub-type") or d.get("date-type") or ""): d for d in meta.findall("pub-date")}
    for kind in ("epub", "ppub", "collection", "pmc-release", "epub-ppub", "pub", ""):
        date = dates.get(kind)
        if date is not None and (year := date.findtext("year")):
            if year.strip().isdigit():
                return int(year.strip())
    for date in meta.findall("pub-date"):
        if (year := date.findtext("year")) and year.strip().isdigit():
            return int(year.strip())
    return None


def article_license(meta: etree._Element) -> str:
    perms = meta.find("permissions")
    if perms is None:
        return "unknown"
    statements: list[str | None] = []
    for lic in perms.findall("license"):
        statements.extend([lic.get(XLINK_HREF), lic.get("license-type")])
        for ref in lic.iter():
            if localname(ref) in ("ali:license_ref", "license_ref"):
                statements.insert(0, "".join(ref.itertext()))
            if ref.get(XLINK_HREF):
                statements.append(ref.get(XLINK_HREF))
        statements.append(" ".join(lic.itertext()))
    statements.append(perms.findtext("copyright-statement"))
    # license-type="open-access" says nothing about the licence itself
    return normalize_license(*[s for s in statements if s and s.strip().lower() not in ("open-access", "open access")])
