"""Normalise licence statements (URLs or free text) to short SPDX-like ids.

Ids: `cc0-1.0`, `public-domain`, `cc-by-4.0`, `cc-by-nc-3.0`, `cc-by-nc-sa-4.0`, … (a Creative
Commons licence without a stated version is `cc-by`, `cc-by-nc`, …), `mit`, `odc-by`,
`pmc-covid-19` (PMC's temporary COVID-19 permission) and `unknown` when nothing can be read. `allows_commercial_use` and `may_redistribute` judge an id
by an allow-list of exact ids: an id that is not on it is neither.
"""

from __future__ import annotations

import re

_CC_URL = re.compile(
    r"creativecommons\.org/licen[cs]es/(?P<kind>by(?:-nc)?(?:-nd|-sa)?)(?:/(?P<ver>\d(?:\.\d)?))?",
    re.IGNORECASE,
)
_CC_ZERO = re.compile(r"creativecommons\.org/publicdomain/zero/(?P<ver>\d\.\d)|\bCC0\b", re.IGNORECASE)
_PD = re.compile(
    r"creativecommons\.org/publicdomain/mark|\bpublic[ -]domain\b|without copyright", re.IGNORECASE
)
# PMC's COVID-19 collection: publishers made articles free to re-use only while WHO's pandemic
# declaration lasted (Elsevier, Springer Nature and others; the text names no open licence).
_PMC_COVID = re.compile(r"for the duration of the World Health Organi[sz]ation \(WHO\) declaration of COVID-19", re.IGNORECASE)
_CC_ID = re.compile(r"\bcc[- ](?P<kind>by(?:[- ]nc)?(?:[- ]nd|[- ]sa)?)(?:[- ](?P<ver>\d\.\d))?\b", re.IGNORECASE)

# Free-text names of Creative Commons licences, most specific first.
_CC_TEXT = [
    (re.compile(r"attribution[- ]non[- ]?commercial[- ]no[- ]?deriv", re.I), "by-nc-nd"),
    (re.compile(r"attribution[- ]non[- ]?commercial[- ]share[- ]?alike", re.I), "by-nc-sa"),
    (re.compile(r"attribution[- ]non[- ]?commercial", re.I), "by-nc"),
    (re.compile(r"attribution[- ]no[- ]?deriv", re.I), "by-nd"),
    (re.compile(r"attribution[- ]share[- ]?alike", re.I), "by-sa"),
    (re.compile(r"creative commons attribution", re.I), "by"),
]
_VERSION_NEAR = re.compile(r"\b(\d\.\d)\b")

_NAMED = {
    "mit": "mit",
    "apache-2.0": "apache-2.0",
    "odc-by": "odc-by",
    "odc-by-1.0": "odc-by",
    "odbl": "odbl",
    "cc0": "cc0-1.0",
    "cc0-1.0": "cc0-1.0",
    "public-domain": "public-domain",
    "pd": "public-domain",
}

# Exact ids: an id is judged by what it is, never by how it starts ("mit-no-commercial-use" is not MIT).
_CC_LICENCE = re.compile(r"^cc-by(?P<nc>-nc)?(?:-sa|-nd)?(?:-\d\.\d)?$")
COMMERCIAL_OK = frozenset({"cc0-1.0", "public-domain", "mit", "apache-2.0", "odc-by"})
# Licences known to allow redistribution (every Creative Commons BY licence, NC ones included:
# sharing a dataset is not commercial use). Anything else is refused by `publish`.
REDISTRIBUTABLE = COMMERCIAL_OK | {
    "odbl", "pddl", "gpl-2.0", "gpl-3.0", "lgpl-2.1", "lgpl-3.0", "agpl-3.0", "bsd-2-clause", "bsd-3-clause", "unlicense",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "cdla-sharing-1.0",
}

# Licences under which rows may be used for local training but not redistributed: the
# publish gate refuses them unless `--allow-license NAME` is given.
RESTRICTED = {
    "physionet-restricted": "credentialed clinical data (MIMIC / PhysioNet): never redistribute",
    "umls": "UMLS Metathesaurus content: redistribution limited by the UMLS licence",
    "research-only": "the source allows research use only",
    "unknown": "no licence could be read from the source",
    "pubmed-abstract": "PubMed abstracts may be copyrighted by their publishers: check before redistributing",
    "pmc-covid-19": "PMC's COVID-19 collection: re-use granted only for the duration of WHO's pandemic declaration, no open licence",
}


def normalize_license(*statements: str | None) -> str:
    """Return the normalised id of the first statement that names a licence."""
    for raw in statements:
        if not raw:
            continue
        text = " ".join(raw.split())
        lowered = text.lower().strip()
        if lowered in _NAMED:
            return _NAMED[lowered]
        if _PMC_COVID.search(text):
            return "pmc-covid-19"
        if m := _CC_ZERO.search(text):
            return "cc0-1.0"
        if m := _CC_URL.search(text):
            return _cc_id(m.group("kind"), m.group("ver"))
        if _PD.search(text):
            return "public-domain"
        if m := _CC_ID.search(text):
            return _cc_id(m.group("kind"), m.group("ver"))
        for pattern, kind in _CC_TEXT:
            if m := pattern.search(text):
                tail = text[m.end() : m.end() + 60]
                ver = _VERSION_NEAR.search(tail)
                return _cc_id(kind, ver.group(1) if ver else None)
    return "unknown"


def _cc_id(kind: str, version: str | None) -> str:
    kind = re.sub(r"[ -]+", "-", kind.lower())
    if version and "." not in version:
        version = f"{version}.0"
    return f"cc-{kind}-{version}" if version else f"cc-{kind}"


def may_redistribute(license_id: str) -> bool:
    """True for the licences on the allow-list: Creative Commons BY (any), CC0, public domain,
    MIT, Apache-2.0, BSD, GPL / LGPL / AGPL, ODC-By, ODbL, PDDL, CDLA."""
    return license_id in REDISTRIBUTABLE or bool(_CC_LICENCE.match(license_id))


def redistribution_problem(license_id: str) -> str | None:
    """Why rows under this licence may not be published, or None when they may."""
    if may_redistribute(license_id):
        return None
    return RESTRICTED.get(license_id, "not a licence known to allow redistribution")


def allows_commercial_use(license_id: str) -> bool:
    """True for licences that allow commercial reuse (CC0, CC BY, CC BY-SA/ND, public domain, MIT,
    Apache-2.0, ODC-By), by exact id."""
    m = _CC_LICENCE.match(license_id)
    return license_id in COMMERCIAL_OK or (m is not None and not m.group("nc"))
