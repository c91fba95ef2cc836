"""Retractions across every source (issue "Evidence-aware curation and clinical privacy", part 3).

Rows come from real files of the conformance corpora, parsed by the builders: two real
correction notices (eLife 07586 and an ERS article from PMC's efetch, each with its
`related-article` link), real research articles, real MEDLINE XML and tagged records and
S2ORC records; and five real PLOS notices (three retractions, two corrections,
tests/fixtures/retractions/plos). The signals no public test file we found carries (PubMed's
`Retracted Publication` type and `RetractionIn` / `RIN` links; a JATS retraction notice
linking by PMID to a MEDLINE record of the corpus) are added to copies of real files here,
each said where it is made. The Retraction Watch list is
tests/fixtures/retractions/retraction_watch_sample.csv (the live export's layout; see its
SOURCES.md). Expected outcomes are written by hand from those files.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from medc.errors import UserError
from medc.ingest.builder import FileReport, builder_class
from medc.steps.base import GlobalContext, make_step
from medc.steps.rows import KeptRows
from medc.steps.curation import read_retraction_watch
from tests.conftest import FIXTURES, REPO

JATS, MEDLINE, S2ORC = FIXTURES / "jats", FIXTURES / "medline", FIXTURES / "s2orc"


def retraction_notice(folder: Path) -> Path:
    """The real eLife correction notice turned into a retraction notice of two other articles
    of the corpus: the bioRxiv preprint (by DOI) and a MEDLINE record (by PMID)."""
    xml = (JATS / "elife07586.nxml").read_text(encoding="utf-8")
    xml = xml.replace('article-type="correction"', 'article-type="retraction"', 1)
    xml = xml.replace('<related-article related-article-type="corrected-article" ext-link-type="doi" '
                      'xlink:href="10.7554/eLife.04525" id="ra1"/>',
                      '<related-article related-article-type="retracted-article" ext-link-type="doi" '
                      'xlink:href="10.1101/2022.05.28.493855" id="ra1"/><related-article related-article-type='
                      '"retracted-article" ext-link-type="pubmed" xlink:href="28775130" id="ra2"/>')
    xml = xml.replace("10.7554/eLife.07586", "10.7554/eLife.07586.retraction")
    assert "retracted-article" in xml
    path = folder / "retraction-notice.nxml"
    path.write_text(xml, encoding="utf-8")
    return path


def retracted_medline(folder: Path) -> tuple[Path, Path]:
    """Copies of real MEDLINE records marked the two ways PubMed marks a retracted article:
    the `Retracted Publication` type (XML) and a `RIN` link (tagged text)."""
    xml = (MEDLINE / "biopython_pubmed6.xml").read_text(encoding="utf-8")
    xml = re.sub(r"(<PublicationTypeList>)", r'\1<PublicationType UI="D016441">Retracted Publication</PublicationType>', xml, count=1)
    assert "Retracted Publication" in xml
    tagged = (MEDLINE / "biopython_pubmed_result2.txt").read_text(encoding="utf-8")
    first_pmid = re.search(r"^PMID- (\d+)", tagged, re.M).group(1)
    tagged = tagged.replace(f"PMID- {first_pmid}\n", f"PMID- {first_pmid}\nRIN - J Fixture. 2020;1:1. PMID: 99999991\n", 1)
    (folder / "retracted.xml").write_text(xml, encoding="utf-8")
    (folder / "retracted.txt").write_text(tagged, encoding="utf-8")
    return folder / "retracted.xml", folder / "retracted.txt"


def rows_of(builder: str, paths: list[Path], options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    b = builder_class(builder)(builder, options or {}, REPO)
    return [row for p in paths for row in b.parse(p, FileReport(p.name))]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    root = tmp_path_factory.mktemp("sources")
    made = tmp_path_factory.mktemp("derived")
    rows = rows_of("pmc_jats", [JATS / n for n in ("6605965a.nxml", "PMC5828200.nxml", "PMC7417471.nxml", "elife07586.nxml",
                                                  "biopython-efetch_pmc.nxml", "biorxiv-493855.nxml")]
                   + [retraction_notice(made)], {"skip_retractions": False})
    rows += rows_of("medline", [MEDLINE / "biopython_pubmed2.xml", MEDLINE / "biopython_pubmed5.xml", *retracted_medline(made)])
    rows += rows_of("s2orc", [S2ORC / "20190928" / "10045593.json", S2ORC / "20200705" / "18980463.json"])
    (root / "retractions").mkdir()
    shutil.copy(FIXTURES / "retractions" / "retraction_watch_sample.csv", root / "retractions")
    frame = pl.DataFrame({
        "_key": list(range(len(rows))), "id": [r["id"] for r in rows], "source": [r["source"] for r in rows],
        "meta": [json.dumps(r["meta"]) for r in rows],
    }, schema={"_key": pl.UInt64, "id": pl.String, "source": pl.String, "meta": pl.String})
    return root, frame


def decide(root: Path, frame: pl.DataFrame, **params: Any) -> tuple[dict[str, str], dict[str, Any]]:
    step = make_step("retractions", params, "knowledge", root=root)
    decision = step.decide(KeptRows.of(step.signature(frame)), GlobalContext(work_dir=root))
    ids = dict(zip(frame["_key"].to_list(), frame["id"].to_list()))
    return {ids[k]: reason for k, reason in zip(decision.drops["_key"].to_list(), decision.drops["reason"].to_list())}, decision.report


def test_builders_flag_notices_and_retracted_records(corpus: tuple[Path, pl.DataFrame]) -> None:
    _, frame = corpus
    meta = {i: json.loads(m) for i, m in zip(frame["id"].to_list(), frame["meta"].to_list())}
    assert meta["doi:10.7554/eLife.07586"]["retraction"] == "correction-notice"
    assert meta["doi:10.7554/eLife.07586"]["notice_for"] == ["doi:10.7554/elife.04525"]  # the real link
    assert meta["pmc:PMC8435807"]["notice_for"] == ["doi:10.1183/23120541.00193-2021"]  # ERS, the real link
    notice = meta["doi:10.7554/eLife.07586.retraction"]
    assert notice["retraction"] == "retraction-notice" and notice["notice_for"] == ["doi:10.1101/2022.05.28.493855", "pmid:28775130"]
    assert meta["pmid:30108519"] == {**meta["pmid:30108519"], "retraction": "retracted", "retraction_signal": "pubmed-publication-type"}
    tagged = [m for m in meta.values() if m.get("retraction_signal") == "pubmed-comments-corrections"]
    assert len(tagged) == 1 and tagged[0]["retraction"] == "retracted"
    assert sum(1 for m in meta.values() if m.get("retraction")) == 5  # nothing else is flagged


def test_retracted_articles_go_from_every_source_by_every_signal(corpus: tuple[Path, pl.DataFrame]) -> None:
    root, frame = corpus
    drops, report = decide(root, frame)
    tagged_id = next(i for i, m in zip(frame["id"].to_list(), frame["meta"].to_list()) if "pubmed-comments-corrections" in m)
    assert drops == {
        "doi:10.7554/eLife.07586": "correction notice",
        "pmc:PMC8435807": "correction notice",
        "doi:10.7554/eLife.07586.retraction": "retraction notice",
        "doi:10.1101/2022.05.28.493855": "retracted: retraction notice in pmc_jats",  # JATS notice → JATS preprint, by DOI
        "pmid:28775130": "retracted: retraction notice in pmc_jats",  # JATS notice → MEDLINE record, by PMID
        "pmc:PMC2994229": "retracted: retraction list",  # list DOI upper-cased, row's as published
        "pmid:11748933": "retracted: retraction list",  # list by PubMed ID, its DOI "unavailable"
        "s2orc:10045593": "retracted: retraction list",  # S2ORC row, by PubMed ID
        "pmid:30108519": "retracted: pubmed-publication-type",
        tagged_id: "retracted: pubmed-comments-corrections",
    }
    # Kept: an article under an expression of concern (default), a corrected article, the rest.
    assert "pmc:PMC5828200" not in drops and "pmc:PMC7417471" not in drops and "s2orc:18980463" not in drops
    assert report["lists"] == {"files": ["retractions/retraction_watch_sample.csv"], "rows": 7, "rows_without_ids": 1,
                               "papers": 6, "ids": 8, "natures_removed": ["Retraction"]}
    assert report["by_reason"]["retracted: retraction list"] == 3 and report["rows_removed"] == 10


def test_options_keep_corrections_and_drop_concerns(corpus: tuple[Path, pl.DataFrame]) -> None:
    root, frame = corpus
    drops, _ = decide(root, frame, corrections="keep", concerns="drop")
    assert "doi:10.7554/eLife.07586" not in drops and "pmc:PMC8435807" not in drops
    assert drops["pmc:PMC5828200"] == "expression of concern: retraction list"
    drops, _ = decide(root, frame, natures=["Retraction", "Expression of concern"])
    assert drops["pmc:PMC5828200"] == "expression of concern: retraction list"
    with pytest.raises(UserError, match="natures are RetractionNature values"):
        make_step("retractions", {"natures": ["Retracted"]}, "knowledge", where="recipe")


def test_retraction_watch_reader_on_the_live_layout() -> None:
    data = (FIXTURES / "retractions" / "retraction_watch_sample.csv").read_bytes()
    natures, rows, without = read_retraction_watch("rw.csv", data)
    assert rows == 7 and without == 1
    assert natures["doi:10.1155/2021/6907871"] == "Retraction"  # the real row (its PubMed IDs are 0)
    assert "pmid:0" not in natures and "doi:unavailable" not in natures
    # The same data without the trailing commas and with LF line ends (older exports) reads the same.
    older = "\n".join(line.removesuffix(",") for line in data.decode().split("\r\n")).encode()
    assert read_retraction_watch("rw.csv", older)[0] == natures
    with pytest.raises(UserError, match=r"retraction list x.csv: not a Retraction Watch CSV \(no OriginalPaperDOI"):
        read_retraction_watch("x.csv", b"doi,journal\n10.1/x,J\n")


PLOS = FIXTURES / "retractions" / "plos"
# By hand from each file: its own DOI, its article type and its `related-article` href
# (`info:doi/...`, ext-link-type "uri"), see tests/fixtures/retractions/SOURCES.md.
PLOS_NOTICES = {
    "10.1371/journal.pcbi.0030158": ("retraction-notice", ["doi:10.1371/journal.pcbi.0030051"]),
    "10.1371/journal.ppat.1005207": ("retraction-notice", ["doi:10.1371/journal.ppat.1003435"]),
    "10.1371/annotation/3155a3e9-5fbe-435c-a07a-e9a4846ec0b6": ("retraction-notice", ["doi:10.1371/journal.pone.0035142"]),
    "10.1371/journal.pone.0097541": ("correction-notice", ["doi:10.1371/journal.pone.0086816"]),
    "10.1371/journal.pone.0108198": ("correction-notice", ["doi:10.1371/journal.pone.0103411"]),
}


def test_real_plos_retraction_and_correction_notices(tmp_path: Path) -> None:
    """Three real retraction notices and two real corrections as PLOS publishes them (links as
    `info:doi/` URIs): each flagged with the article it is about, and in the step the notices
    go, and so do the articles they retract, by DOI, whatever the case of the DOI in the row."""
    rows = rows_of("pmc_jats", sorted(PLOS.glob("*.xml")), {"skip_retractions": False})
    assert {r["meta"]["doi"]: (r["meta"]["retraction"], r["meta"]["notice_for"]) for r in rows} == PLOS_NOTICES
    annotation = next(r for r in rows if "annotation" in r["meta"]["doi"])
    assert (annotation["meta"]["pmid"], annotation["meta"]["pmcid"]) == ("22792133", "PMC3388108")
    # The articles they retract / correct, as rows of another source (MEDLINE-like meta).
    others = [{"id": f"pmid:{900 + i}", "source": "pubmed_abstracts", "meta": {"pmid": str(900 + i), "doi": doi.upper()}}
              for i, doi in enumerate(["10.1371/journal.pcbi.0030051", "10.1371/journal.ppat.1003435",
                                       "10.1371/journal.pone.0035142", "10.1371/journal.pone.0086816"])]
    everything = rows + others
    frame = pl.DataFrame({"_key": list(range(len(everything))), "id": [r["id"] for r in everything],
                          "source": [r["source"] for r in everything], "meta": [json.dumps(r["meta"]) for r in everything]},
                         schema={"_key": pl.UInt64, "id": pl.String, "source": pl.String, "meta": pl.String})
    drops, report = decide(tmp_path, frame, lists=[])
    notices = {r["id"]: r["meta"]["retraction"].replace("-", " ") for r in rows}
    assert drops == {**notices, "pmid:900": "retracted: retraction notice in pmc_jats",
                     "pmid:901": "retracted: retraction notice in pmc_jats", "pmid:902": "retracted: retraction notice in pmc_jats"}
    assert report["rows_removed"] == 8  # the corrected article (pmid:903) stays
