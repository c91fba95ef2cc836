"""S2ORC conformance: real records of every vintage from allenai/s2orc-doc2json's test data and
the bundled samples (tests/fixtures/s2orc/SOURCES.md): 2019-09-28 combined records, 2020-07-05
pdf_parses, 2021 `Paper.as_json()` records and doc2json's own PDF output (`pdf_parse`).

Expected facts are read here from the JSON alone (paragraph text with its `cite_spans` cut out,
abstracts, bibliography titles), sharing no code with `builders/s2orc.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.s2orc import S2ORCBuilder
from medc.ingest.builder import FileReport
from tests.conftest import FIXTURES, SAMPLES
from tests.jats_facts import CUT, WordIndex, words

RECORDS = sorted((FIXTURES / "s2orc").rglob("*.json")) + sorted((SAMPLES / "s2orc").glob("*/*.json")) + [
    SAMPLES / "s2orc" / "s2orc_example_paper.json"]


ORDINAL_SUFFIXES = {"st", "nd", "rd", "th"}


def pdf_words(text: str) -> list[str]:
    """`words`, with a number and the ordinal suffix GROBID sets apart from it ("3 rd") as one
    word ("3rd"), however the text spaces them."""
    out: list[str] = []
    for w in words(text):
        if w in ORDINAL_SUFFIXES and out and out[-1].isdigit():
            out[-1] += w
        else:
            out.append(w)
    return out


def segments(paragraph: dict) -> list[list[str]]:
    """A paragraph's words, cut where a citation span stood (an author-year citation may stay
    in the text, a numeric one goes): each segment must arrive."""
    text = paragraph["text"]
    for span in sorted(paragraph.get("cite_spans") or [], key=lambda s: -s["start"]):
        text = text[:span["start"]] + CUT + text[span["end"]:]
    return [w for part in text.split(CUT) if (w := pdf_words(part))]


def record_facts(rec: dict) -> dict:
    parse = rec.get("grobid_parse") or rec.get("latex_parse") or rec.get("pdf_parse") or rec
    meta = rec.get("metadata") or rec
    abstract = [segments(p) for p in parse.get("abstract") or [] if isinstance(p, dict)]
    if not any(abstract) and isinstance(meta.get("abstract"), str):
        abstract = [[pdf_words(meta["abstract"])]]
    bib = parse.get("bib_entries") or {}
    return {
        "paper_id": str(rec["paper_id"]),
        "abstract": [a for a in abstract if a],
        "body": [w for p in parse.get("body_text") or [] if (w := segments(p))],
        "bibliography": [w for b in bib.values() if len(w := pdf_words(b.get("title") or "")) >= 8],
    }


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_s2orc_record_arrives(path: Path) -> None:
    """One row per record (biomedical filter off: these test papers are mostly NLP), keyed by its
    paper_id, with every abstract and body paragraph, and no bibliography title in the text."""
    fact = record_facts(json.loads(path.read_text()))
    report = FileReport(path.name)
    (row,) = S2ORCBuilder("s2orc", {"biomedical": "off"}, path.parent).parse(path, report)
    assert not report.errors and row["id"] == f"s2orc:{fact['paper_id']}"
    index = WordIndex(pdf_words(row["text"]))
    lost = [" ".join(p[0])[:80] for p in fact["abstract"] + fact["body"] if not index.all_arrive(p)]
    assert not lost, f"{path.name}: paragraphs missing: {lost}"
    written = [" ".join(t)[:80] for t in fact["bibliography"] if index.contains(t)]
    assert not written, f"{path.name}: bibliography in the text: {written}"


def test_corpus_has_every_vintage() -> None:
    shapes = set()
    for path in RECORDS:
        rec = json.loads(path.read_text())
        shapes.add("2019 combined" if "grobid_parse" in rec else "doc2json pdf_parse" if "pdf_parse" in rec
                   else "2021 as_json" if "metadata" in rec else "2020 pdf_parses")
    assert shapes == {"2019 combined", "doc2json pdf_parse", "2021 as_json", "2020 pdf_parses"}
