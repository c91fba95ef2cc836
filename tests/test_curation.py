"""Provenance metadata, selection and weighting (issue "Evidence-aware curation and clinical
privacy", parts 1 and 2), on real files: the bundled JATS and MEDLINE samples, the MEDLINE
and S2ORC conformance files, and the tagged text of a real MEDLINE record. Expected values are
read from the files by hand (quoted next to each assertion)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from lxml import etree

from medc.errors import UserError
from medc.ingest.builder import FileReport, builder_class
from medc.release.manifest import SourceEntry
from medc.release.mixture import mixture_report
from medc.recipes.mixture import Mixture
from medc.schema import dump_meta
from medc.steps.base import GlobalContext, make_step
from medc.steps.rows import KeptRows
from medc.text.provenance import PROVENANCE_KEYS
from tests.conftest import FIXTURES, REPO, SAMPLES
from tests.test_medline import tagged_from_xml
from training.data import repeats, row_weight


def rows_of(builder: str, paths: list[Path]) -> list[dict[str, Any]]:
    b = builder_class(builder)(builder, {}, REPO)
    return [row for p in paths for row in b.parse(p, FileReport(p.name))]


def released_meta(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(dump_meta(row["meta"]))  # as the release stores it


def test_every_paper_and_abstract_row_has_the_same_provenance_keys(tmp_path: Path) -> None:
    tagged = tmp_path / "export.txt"
    tagged.write_text(tagged_from_xml(SAMPLES / "medline" / "pubmed-29768149.xml"))
    rows = {
        "jats": rows_of("pmc_jats", [SAMPLES / "pmc_jats" / "ehp-116-1694.nxml"])[0],
        "medline": rows_of("medline", [SAMPLES / "medline" / "pubmed-29768149.xml"])[0],
        "tagged": rows_of("medline", [tagged])[0],
        "book": rows_of("medline", [FIXTURES / "medline" / "metapub_book_20301577.xml"])[0],
        "s2orc": rows_of("s2orc", [FIXTURES / "s2orc" / "20190928" / "10045593.json"])[0],
    }
    for kind, row in rows.items():
        assert set(PROVENANCE_KEYS) <= set(released_meta(row)), kind

    ehp = rows["jats"]["meta"]  # journal-id nlm-ta "Environ Health Perspect", iso-abbrev "Environ. Health Perspect"
    assert (ehp["journal_nlm_ta"], ehp["journal_iso"]) == ("Environ Health Perspect", "Environ. Health Perspect")
    assert ehp["keywords"][:2] == ["basic transcription element-binding protein", "brain"] and ehp["languages"] == ["en"]

    med = rows["medline"]["meta"]  # ISOAbbreviation / MedlineTA "N Engl J Med", NlmUniqueID 0255562
    assert (med["journal_iso"], med["journal_nlm_ta"], med["journal_nlm_id"]) == ("N Engl J Med", "N Engl J Med", "0255562")
    asthma = next(h for h in med["mesh_headings"] if h["name"] == "Asthma")
    assert asthma == {"name": "Asthma", "ui": "D001249", "major": False,
                      "qualifiers": [{"name": "drug therapy", "ui": "Q000188", "major": True}]}
    assert med["languages"] == ["en"] and med["language"] == "en"

    tag = rows["tagged"]["meta"]  # the same record as tagged text: same names and flags, no unique ids there
    assert [(h["name"], h["major"], [(q["name"], q["major"]) for q in h["qualifiers"]]) for h in tag["mesh_headings"]] == \
           [(h["name"], h["major"], [(q["name"], q["major"]) for q in h["qualifiers"]]) for h in med["mesh_headings"]]
    assert all(h["ui"] is None for h in tag["mesh_headings"])
    for key in ("pmid", "doi", "journal", "year", "mesh", "publication_types", "language", "languages", "article_type"):
        assert tag[key] == med[key], key

    book = rows["book"]["meta"]  # GeneReviews chapter: its KeywordList repeats "Timothy Syndrome"
    assert book["keywords"][:2] == ["Timothy Syndrome", "CACNA1C-Related Neurodevelopmental Syndrome"]
    assert book["publication_types"] == ["Review"] and book["record_kind"] == "book"


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    rows = rows_of("pmc_jats", sorted((SAMPLES / "pmc_jats").glob("*.nxml")))
    rows += rows_of("medline", sorted((SAMPLES / "medline").glob("*.xml")) + sorted((FIXTURES / "medline").glob("*.xml")))
    return pl.DataFrame({
        "_key": list(range(len(rows))), "id": [r["id"] for r in rows], "source": [r["source"] for r in rows],
        "meta": [dump_meta(r["meta"]) for r in rows], "license": [r["license"] for r in rows],
        "_words": [len(r["text"].split()) for r in rows],
    }, schema={"_key": pl.UInt64, "id": pl.String, "source": pl.String, "meta": pl.String, "license": pl.String, "_words": pl.UInt32})


def nejm_citations() -> set[str]:
    """The MEDLINE samples' and fixtures' citations with an abstract in the NEJM (NLM id 0255562),
    read here from the XML."""
    out = set()
    for path in sorted((SAMPLES / "medline").glob("*.xml")) + sorted((FIXTURES / "medline").glob("*.xml")):
        for citation in etree.parse(str(path)).iter("MedlineCitation"):
            if citation.findtext("MedlineJournalInfo/NlmUniqueID") == "0255562" and citation.find("Article/Abstract") is not None:
                out.add(f"pmid:{citation.findtext('PMID')}")
    return out


def select(frame: pl.DataFrame, root: Path, rules: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, Any]]:
    step = make_step("select", {"rules": rules}, "knowledge", root=root)
    decision = step.decide(KeptRows.of(step.signature(frame)), GlobalContext(work_dir=root))
    ids = dict(zip(frame["_key"].to_list(), frame["id"].to_list()))
    return {ids[k]: r for k, r in zip(decision.drops["_key"].to_list(), decision.drops["reason"].to_list())}, decision.report


def test_select_rules_over_provenance(frame: pl.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "journals").mkdir()
    (tmp_path / "journals" / "core.txt").write_text("# core list\nN Engl J Med\n0255562  # by NLM id too\n")
    years = dict(zip(frame["id"].to_list(), [json.loads(m)["year"] for m in frame["meta"].to_list()]))
    drops, report = select(frame, tmp_path, [
        {"name": "no book chapters", "drop": {"publication_types": ["Review"]}, "sources": ["medline"]},
        {"name": "since 2000", "keep": {"year": [2000, 2100]}},
    ])
    assert drops["pmid:20301577"] == "select: no book chapters"  # GeneReviews chapter, PublicationType Review
    metas = [json.loads(m) for m in frame["meta"].to_list()]
    reviews = {i for i, s, m in zip(frame["id"], frame["source"], metas) if s == "medline" and "Review" in m["publication_types"]}
    assert {i for i, r in drops.items() if r == "select: no book chapters"} == reviews  # the first rule decides first
    old = {i for i, y in years.items() if y is not None and y < 2000} - reviews
    assert old and {i for i, r in drops.items() if r == "select: since 2000"} == old
    assert [r["rows_removed"] for r in report["rules"]] == [len(reviews), len(old)]
    drops, _ = select(frame, tmp_path, [{"name": "core", "keep": {"journals_file": "journals/core.txt"}, "sources": ["medline"]}])
    kept_medline = set(frame.filter(pl.col("source") == "medline")["id"]) - set(drops)
    assert kept_medline == nejm_citations() == {"pmid:29768149", "pmid:31978945"}  # the NEJM records
    drops, _ = select(frame, tmp_path, [{"name": "no asthma", "drop": {"mesh": ["D001249"]}}])  # by MeSH unique id
    assert set(drops) == {"pmid:29768149"}
    drops, _ = select(frame, tmp_path, [{"name": "cc-by only", "keep": {"licenses": ["cc-by"]}, "sources": ["pmc_jats"]}])
    licences = dict(zip(frame["id"].to_list(), frame["license"].to_list()))
    assert drops and all(licences[i] != "cc-by" for i in drops)
    with pytest.raises(UserError, match=r"rules\[0\]: unknown condition 'pubtypes'"):
        make_step("select", {"rules": [{"drop": {"pubtypes": ["Review"]}}]}, "knowledge", where="recipe")


def test_weight_rules_multiply_and_the_loader_draws_rows_by_weight(frame: pl.DataFrame) -> None:
    step = make_step("weight", {"rules": [
        {"name": "reviews", "factor": 2.0, "when": {"publication_types": ["Review"]}},
        {"name": "books", "factor": 1.5, "when": {"journals": ["GeneReviews®"]}},
        {"name": "nejm", "factor": 0.0, "when": {"journals": ["N Engl J Med"]}},
    ]}, "knowledge")
    out, dropped, audit = step.apply_audited(frame)
    weights = dict(zip(out["id"].to_list(), out["_weight"].to_list()))
    assert not dropped and out.height == frame.height
    assert weights["pmid:20301577"] == pytest.approx(3.0)  # a Review in GeneReviews: 2 x 1.5
    assert weights["pmid:29768149"] == 0.0
    assert json.loads(out.filter(pl.col("id") == "pmid:20301577")["meta"][0])["weight"] == 3.0
    assert audit["rule:reviews"] >= 1 and audit["rule:nejm"] == len(nejm_citations()) and audit["rows"] == frame.height
    # The loader draws a row `weight` times per epoch on average.
    rng = np.random.default_rng(0)
    draws = Counter(repeats(w, rng) for w in [2.5] * 4000)
    assert set(draws) == {2, 3} and abs(sum(k * n for k, n in draws.items()) / 4000 - 2.5) < 0.05
    assert row_weight('{"weight":0.0}') == 0.0 and row_weight('{"year":2001}') == 1.0 and row_weight(None) == 1.0


def test_mixture_sizes_sources_by_weighted_words() -> None:
    mix = Mixture("words", {"papers": ["a", "b"]}, {"papers": 1.0})
    def entry(**kw: Any) -> SourceEntry:
        return SourceEntry(builder="medline", dir="medline", status="ok", rows=10, words=1000, **kw)

    plain = {"a": entry(), "b": entry()}
    assert mixture_report(mix, plain).source_weights == {"a": 0.5, "b": 0.5}
    weighted = {"a": entry(weighted_words=3000), "b": plain["b"]}
    assert mixture_report(mix, weighted).source_weights == {"a": 0.75, "b": 0.25}
