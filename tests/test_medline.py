"""The MEDLINE/PubMed builder on the bundled XML samples and on tagged MEDLINE text."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from builders.medline import MedlineBuilder
from medc.ingest.builder import FileReport
from tests.conftest import SAMPLES

MEDLINE = SAMPLES / "medline"


def parse(path: Path) -> tuple[list[dict], FileReport]:
    report = FileReport(path.name)
    return list(MedlineBuilder("pubmed_abstracts", {}, SAMPLES).parse(path, report)), report


def test_only_the_citation_pmid_is_the_id() -> None:
    raw = (MEDLINE / "biopython_pubmed4.xml").read_text()
    all_pmids = set(re.findall(r"<PMID[^>]*>(\d+)</PMID>", raw))
    assert len(all_pmids) > 40  # 49 cited PMIDs in CommentsCorrectionsList
    rows, report = parse(MEDLINE / "biopython_pubmed4.xml")
    assert [r["id"] for r in rows] == ["pmid:27797938"] and report.records == 1
    assert rows[0]["meta"]["pmid"] == "27797938"


def test_structured_abstract_and_inline_markup() -> None:
    (row,), _ = parse(MEDLINE / "pubmed-29768149.xml")
    assert row["title"] == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    text = row["text"]
    for label in ("### Background", "### Methods", "### Results", "### Conclusions"):
        assert label in text
    assert "<sub>" not in text and "2-agonist" in text
    assert row["meta"]["doi"] == "10.1056/nejmoa1715274" and row["meta"]["year"] == 2018
    assert row["meta"]["journal"] == "The New England journal of medicine" and "Asthma" in " ".join(row["meta"]["mesh"])
    (row4,), _ = parse(MEDLINE / "biopython_pubmed4.xml")
    assert "<i>" not in row4["text"] and "### Objective" in row4["text"]


def test_citation_without_abstract_is_counted(tmp_path: Path) -> None:
    rows, report = parse(MEDLINE / "biopython_pubmed1.xml")
    assert [r["id"] for r in rows] == ["pmid:9997"]
    assert report.records == 2 and report.skipped == {"no abstract": 1}
    gz = tmp_path / "pubmed24n0001.xml.gz"
    gz.write_bytes(gzip.compress((MEDLINE / "biopython_pubmed1.xml").read_bytes()))
    assert [r["id"] for r in parse(gz)[0]] == ["pmid:9997"]


def test_tagged_medline_format(tmp_path: Path) -> None:
    tagged = (
        "PMID- 29768149\r\nOWN - NLM\r\nTI  - Inhaled Combined Budesonide-Formoterol as Needed in Mild\r\n"
        "      Asthma.\r\nLID - 10.1056/NEJMoa1715274 [doi]\r\nAB  - BACKGROUND: In patients with mild asthma, as-needed use of an\r\n"
        "      inhaled glucocorticoid may be an alternative. METHODS: We conducted a 52-week,\r\n      double-blind trial.\r\n"
        "JT  - The New England journal of medicine\r\nDP  - 2018 May 17\r\nMH  - Asthma/drug therapy\r\n\r\n"
        "PMID- 9997\r\nTI  - A citation with no abstract.\r\n"
    )
    path = tmp_path / "citations.txt"
    path.write_bytes(tagged.encode())
    rows, report = parse(path)
    assert [r["id"] for r in rows] == ["pmid:29768149"] and report.skipped == {"no abstract": 1}
    row = rows[0]
    assert row["title"] == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert "BACKGROUND: In patients with mild asthma, as-needed use of an inhaled glucocorticoid" in row["text"]
    assert "\n\nMETHODS: We conducted a 52-week, double-blind trial." in row["text"]
    assert row["meta"]["doi"] == "10.1056/nejmoa1715274" and row["meta"]["year"] == 2018
