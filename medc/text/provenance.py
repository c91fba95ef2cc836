"""Provenance and evidence metadata with one shape for every paper and abstract row, whichever
format it came from (JATS, OA bulk packages, MEDLINE XML or tagged text, S2ORC): the same
`meta` keys, absent values as null or an empty list, languages as ISO 639-1 codes.

| key | what |
|---|---|
| `pmid`, `pmcid`, `doi` | identifiers as published (`PMC` prefix on PMCIDs) |
| `journal` | journal title |
| `journal_iso` | ISO abbreviation (`N Engl J Med` style with periods as given) |
| `journal_nlm_ta` | NLM title abbreviation (MEDLINE's `MedlineTA`, JATS `nlm-ta`) |
| `journal_nlm_id` | NLM unique journal id (`NlmUniqueID`, tagged `JID`) |
| `year` | publication year |
| `language`, `languages` | the first language, and all of them (ISO 639-1 where one exists) |
| `publication_types` | PubMed publication types (`Randomized Controlled Trial`, `Review`, ...) |
| `mesh` | MeSH descriptor names |
| `mesh_headings` | `{name, ui, major, qualifiers: [{name, ui, major}]}` per heading (`ui` null from tagged text, which has none) |
| `keywords` | author keywords (JATS `kwd`, MEDLINE `Keyword`, tagged `OT`) |
| `article_type` | JATS `article-type`; `abstract` for a PubMed abstract; S2ORC `full-text` / `abstract` |
"""

from __future__ import annotations

from typing import Any

PROVENANCE_DEFAULTS: dict[str, Any] = {
    "pmid": None, "pmcid": None, "doi": None, "journal": None, "journal_iso": None, "journal_nlm_ta": None,
    "journal_nlm_id": None, "year": None, "language": None, "languages": [], "publication_types": [], "mesh": [],
    "mesh_headings": [], "keywords": [], "article_type": None,
}
PROVENANCE_KEYS = tuple(PROVENANCE_DEFAULTS)

# ISO 639-2 (bibliographic and terminology codes, as MEDLINE gives them) → ISO 639-1.
_ISO_639_2 = {
    "eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de", "spa": "es", "por": "pt", "ita": "it",
    "dut": "nl", "nld": "nl", "rus": "ru", "chi": "zh", "zho": "zh", "jpn": "ja", "kor": "ko", "pol": "pl",
    "cze": "cs", "ces": "cs", "slo": "sk", "slk": "sk", "hun": "hu", "rum": "ro", "ron": "ro", "bul": "bg",
    "scr": "hr", "hrv": "hr", "srp": "sr", "slv": "sl", "ukr": "uk", "gre": "el", "ell": "el", "tur": "tr",
    "ara": "ar", "heb": "he", "per": "fa", "fas": "fa", "hin": "hi", "tha": "th", "vie": "vi", "ind": "id",
    "may": "ms", "msa": "ms", "swe": "sv", "dan": "da", "nor": "no", "fin": "fi", "ice": "is", "isl": "is",
    "est": "et", "lav": "lv", "lit": "lt", "cat": "ca", "baq": "eu", "eus": "eu", "glg": "gl", "wel": "cy",
    "cym": "cy", "gle": "ga", "afr": "af", "alb": "sq", "sqi": "sq", "arm": "hy", "hye": "hy", "geo": "ka",
    "kat": "ka", "mac": "mk", "mkd": "mk", "bos": "bs", "urd": "ur", "ben": "bn", "tam": "ta", "epo": "eo",
    "lat": "la",
}


def language_code(code: str | None) -> str | None:
    """ISO 639-1 for a code as a format gives it (`eng`, `en`, `en-US`, `pt-BR`); a code
    with no two-letter form (`und`, `mul`, a rare language) as given, lower-cased."""
    text = (code or "").strip().lower().replace("_", "-")
    if not text:
        return None
    base = text.split("-", 1)[0]
    return _ISO_639_2.get(base, base)


def with_provenance(meta: dict[str, Any], languages: list[str] | None = None) -> dict[str, Any]:
    """`meta` with every provenance key present (the builder's values first, then the defaults)
    and its languages normalised; other keys kept after them."""
    codes = [c for c in (language_code(x) for x in (languages if languages is not None else
                                                     meta.get("languages") or [meta.get("language")])) if c]
    codes = list(dict.fromkeys(codes))
    out = {k: meta.get(k, default) if meta.get(k) is not None else default for k, default in PROVENANCE_DEFAULTS.items()}
    out.update(language=codes[0] if codes else None, languages=codes)
    out.update({k: v for k, v in meta.items() if k not in PROVENANCE_DEFAULTS})
    return out
