"""MEDLINE / PubMed conformance: real files from biopython's and metapub's test data, NLM's own
sample file of 2006 (88 citations of every status, in the licensee layout) and the bundled
samples (tests/fixtures/medline/SOURCES.md): XML (journal articles, a GeneReviews book chapter,
vernacular titles, several languages, other abstracts, MedlineDate, gzipped files) and MEDLINE
tagged text.

The expected facts come from a reader written here (lxml XPath for XML, the tag/continuation
rules of the MEDLINE display format for text), sharing no code with `builders/medline.py`.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from lxml import etree

from builders.medline import MedlineBuilder
from medc.ingest.builder import FileReport
from tests.conftest import FIXTURES, SAMPLES
from tests.jats_facts import WordIndex, words

FILES = sorted(p for p in (FIXTURES / "medline").iterdir() if p.name != "SOURCES.md") + sorted((SAMPLES / "medline").iterdir())


CUT = "\ue000"


def without_formulas(el: etree._Element) -> list[str]:
    """An element's text pieces, each MathML formula replaced by CUT."""
    out = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str) and etree.QName(child).localname == "math":
            out.append(CUT)
        else:
            out += without_formulas(child)
        out.append(child.tail or "")
    return out


def xml_facts(data: bytes) -> list[dict]:
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    # PubMed's sets, and the licensee files of the 2006 DTD (`MedlineCitationSet` of bare citations)
    for rec in root.xpath("/PubmedArticleSet/PubmedArticle | /PubmedArticleSet/PubmedBookArticle | /MedlineCitationSet/MedlineCitation"):
        doc = {"PubmedArticle": rec.find("MedlineCitation"), "MedlineCitation": rec}.get(rec.tag, rec.find("BookDocument"))
        title = doc.find("Article/ArticleTitle") if rec.tag != "PubmedBookArticle" else doc.find("ArticleTitle")
        if title is None or not "".join(title.itertext()).strip():
            title = doc.find("Book/BookTitle")
        # the abstract, and the English other abstracts (publisher, PIP, plain-language summaries)
        english_other = [o for o in doc.iterfind("OtherAbstract") if (o.get("Language") or "eng") == "eng"]
        texts = [*doc.iterfind(".//Abstract/AbstractText"), *(a for o in english_other for a in o.iterfind("AbstractText"))]
        # a formula (MathML, in abstracts of today) is rendered by the builder: the words around it must arrive
        abstract = [words(segment) for a in texts for segment in "".join(without_formulas(a)).split(CUT)]
        # the record's own ids (a ReferenceList carries the cited papers' DOIs and PMC ids)
        dois = rec.xpath("PubmedData/ArticleIdList/ArticleId[@IdType='doi']/text() | BookDocument/ArticleIdList/ArticleId[@IdType='doi']/text()") or \
            doc.xpath(".//ELocationID[@EIdType='doi']/text()")
        pmcids = rec.xpath("PubmedData/ArticleIdList/ArticleId[@IdType='pmc']/text()")
        # the year of publication: the (or book's) PubDate, its Year or a MedlineDate's first year
        dates = doc.xpath("Article/Journal/JournalIssue/PubDate | Book/PubDate")
        date = " ".join(dates[0].itertext()) if dates else ""
        year = re.search(r"\b(1[89]|20)\d\d\b", date)
        out.append({"pmid": doc.findtext("PMID"), "version": int(doc.find("PMID").get("Version", "1")), "title": words("".join(title.itertext())) if title is not None else [],
                    "year": int(year.group()) if year else None,
                    "abstract": [a for a in abstract if a], "doi": dois[0].strip() if dois else None,
                    "pmcid": pmcids[0].strip() if pmcids else None,
                    "languages": [lang.text for lang in doc.iter("Language")]})
    return out


def tagged_facts(text: str) -> list[dict]:
    """MEDLINE display format: `TAG - value`, continuation lines indented six spaces, records
    separated by blank lines."""
    out = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        fields: list[tuple[str, str]] = []
        for line in block.split("\n"):
            if line.startswith("      ") and fields:
                fields[-1] = (fields[-1][0], fields[-1][1] + " " + line.strip())
            elif m := re.match(r"([A-Z]{2,4})\s*- (.*)", line):
                fields.append((m.group(1), m.group(2)))
        get = lambda tag: [v for t, v in fields if t == tag]  # noqa: E731
        dois = [v.split()[0] for v in get("LID") + get("AID") if v.endswith("[doi]")]
        year = re.match(r"\d{4}", (get("DP") or [""])[0])
        out.append({"pmid": get("PMID")[0], "version": 1, "pmcid": (get("PMC") or [None])[0], "title": words(" ".join(get("TI"))), "year": int(year.group()) if year else None,
                    "abstract": [words(" ".join(get("AB")))] if get("AB") else [],
                    "doi": dois[0] if dois else None, "languages": get("LA")})
    return out


def raw(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()


def facts(path: Path) -> list[dict]:
    return tagged_facts(raw(path).decode()) if path.suffix == ".txt" else xml_facts(raw(path))


def deleted_pmids(path: Path) -> list[str]:
    """An update file's `DeleteCitation` PMIDs (none in tagged text)."""
    if path.suffix == ".txt":
        return []
    return etree.fromstring(raw(path), etree.XMLParser(no_network=True)).xpath("/PubmedArticleSet/DeleteCitation/PMID/text()")


def latest_versions(records: list[dict]) -> tuple[list[dict], int]:
    """Per PMID its latest record (the highest `Version`, of equal ones the last), and how many
    older versions with an abstract were left."""
    latest: dict[str, dict] = {}
    for rec in records:
        if rec["pmid"] not in latest or rec["version"] >= latest[rec["pmid"]]["version"]:
            latest[rec["pmid"]] = rec
    older = [rec for rec in records if latest[rec["pmid"]] is not rec and rec["abstract"]]
    return list(latest.values()), len(older)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_real_citation_arrives(path: Path) -> None:
    """Each citation with an abstract is one row, in its latest version: its PMID, DOI (as
    published), title, year (a MedlineDate's first), languages and every abstract paragraph; a
    citation without one is counted as 'no abstract', an update file's deletions as deleted."""
    expected, older = latest_versions(facts(path))
    assert expected, path.name
    report = FileReport(path.name)
    produced = list(MedlineBuilder("medline", {}, path.parent).parse(path, report))
    rows = {r["meta"]["pmid"]: r for r in produced}
    assert not report.errors and len(rows) == len(produced)
    # every record is a row or counted: no abstract, withdrawn by PubMed, an older version
    without = sum(not f["abstract"] for f in facts(path))
    counted = {"no abstract": without, "deleted citation (DeleteCitation)": len(deleted_pmids(path)),
               "older version of a citation in the same file": older}
    assert report.skipped == {reason: n for reason, n in counted.items() if n}
    assert sorted(rows) == sorted(f["pmid"] for f in expected if f["abstract"])
    for fact in expected:
        if not fact["abstract"]:
            continue
        row = rows[fact["pmid"]]
        assert row["id"] == f"pmid:{fact['pmid']}" and row["meta"].get("doi") == fact["doi"], (fact["pmid"], row["meta"].get("doi"))
        assert row["meta"].get("pmcid") == fact["pmcid"], (fact["pmid"], row["meta"].get("pmcid"), fact["pmcid"])
        assert words(row["title"] or "") == fact["title"]
        assert row["meta"].get("year") == fact["year"], (fact["pmid"], row["meta"].get("year"), fact["year"])
        # MEDLINE gives ISO 639-2 codes; rows carry ISO 639-1 (one form for every format).
        assert row["meta"]["languages"] == [ISO_639_1[code] for code in fact["languages"]]
        assert row["meta"]["language"] == (ISO_639_1[fact["languages"][0]] if fact["languages"] else None)
        index = WordIndex(words(row["text"]))
        lost = [" ".join(a)[:80] for a in fact["abstract"] if not index.arrives(a)]
        assert not lost, f"{path.name} {fact['pmid']}: abstract text missing: {lost}"


# The codes of the corpus, from the ISO 639-2 table (written here, not taken from medc).
ISO_639_1 = {"eng": "en", "ger": "de", "nor": "no", "fre": "fr", "pol": "pl", "rus": "ru", "spa": "es", "ita": "it", "kor": "ko"}


# NLM's FTP layout: the baseline, then the update files, in release order (their names sort so).
# tipplerow/pubmed's sample (versions 1 and 2 of one citation, deletions) stands as a later update.
RELEASES = {"baseline/pubmed20n0001.xml.gz": "tipplerow_pubmed20n0001.xml.gz",
            "baseline/pubmed20n0002.xml.gz": "tipplerow_pubmed20n0002.xml.gz",
            "updatefiles/pubmed20n1203.xml.gz": "tipplerow_pubmed20n1203.xml.gz",
            "updatefiles/pubmed20n1204.xml": "tipplerow_pubmed_sample.xml"}


def test_real_baseline_and_update_files_give_each_citation_once(tmp_path: Path) -> None:
    """Real baseline and update files (a real `DeleteCitation`, a citation in two versions) built
    as one source: each citation once, in its latest version, the deleted ones gone and counted."""
    import json

    import polars as pl

    from medc.build import main as build

    state: dict[str, dict] = {}  # what PubMed holds after each release, worked out here
    for target, name in sorted(RELEASES.items()):
        (tmp_path / "src" / "medline" / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / "medline" / target).write_bytes((FIXTURES / "medline" / name).read_bytes())
        latest, _ = latest_versions(facts(FIXTURES / "medline" / name))
        state.update({rec["pmid"]: rec for rec in latest})
        for pmid in deleted_pmids(FIXTURES / "medline" / name):
            state.pop(pmid, None)
    expected = {f"pmid:{pmid}": rec for pmid, rec in state.items() if rec["abstract"]}
    recipe = tmp_path / "r.toml"
    recipe.write_text('[dataset]\nname = "medc-k"\nkind = "knowledge"\n'
                      '[[sources]]\nname = "pubmed"\nbuilder = "medline"\ndir = "medline"\n')
    assert build(["medc-k", "--sources", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--recipe", str(recipe), "--quiet"]) == 0
    repo = tmp_path / "out" / "medc-k"
    rows = {r["id"]: r for r in pl.read_parquet(sorted((repo / "data" / "pubmed").glob("*.parquet"))).to_dicts()}
    assert sorted(rows) == sorted(expected)
    for row_id, rec in expected.items():
        assert words(rows[row_id]["title"]) == rec["title"]
        assert all(WordIndex(words(rows[row_id]["text"])).arrives(a) for a in rec["abstract"]), row_id
    source = json.loads((repo / "build_manifest.json").read_text())["sources"]["pubmed"]
    deleted = sum(len(deleted_pmids(FIXTURES / "medline" / name)) for name in RELEASES.values())
    assert deleted == 26 and source["skipped"]["deleted citation (DeleteCitation)"] == deleted
    assert source["skipped"]["older version of a citation in the same file"] == 1
    assert source["record_errors"] == 0 and source["rows"] == len(expected)


def test_corpus_covers_the_record_kinds() -> None:
    kinds = {"gz": any(p.name.endswith(".gz") for p in FILES), "tagged": any(p.suffix == ".txt" for p in FILES)}
    raw = b"".join(gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes() for p in FILES)
    for marker in (b"<PubmedBookArticle>", b"<VernacularTitle>", b'Label="BACKGROUND"', b"<Language>nor</Language>",
                   b"<MedlineCitationSet>", b"<OtherAbstract", b"<MedlineDate>", b'Status="OLDMEDLINE"', b'Status="In-Process"',
                   b"<DeleteCitation>", b'<PMID Version="2">', b'Status="PubMed-not-MEDLINE"', b'Status="In-Data-Review"'):
        kinds[marker.decode()] = marker in raw
    assert len(FILES) >= 10 and all(kinds.values()), kinds
