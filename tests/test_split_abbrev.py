"""Optional MedC-K steps: `split_long` (long documents cut into pieces at paragraph /
sentence boundaries, pysbd) and `abbreviations` (scispaCy AbbreviationDetector
definitions in `meta`), on the bundled PMC articles."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from builders.pmc_jats import PMCJatsBuilder
from medc.ingest.builder import FileReport
from medc.errors import UserError
from medc.engine.driver import build_dataset
from medc.recipes.recipe import load_recipe
from medc.text.abbreviations import definitions, pipeline
from tests.conftest import SAMPLES

RECIPE = """
[dataset]
name = "papers"
kind = "knowledge"
card = "medc-k.md"

[[sources]]
name = "pmc_jats"
builder = "pmc_jats"
dir = "pmc_jats"

[[steps]]
step = "split_long"
max_words = {max_words}

[[steps]]
step = "abbreviations"

[[steps]]
step = "exact_dedup"
"""


def test_long_articles_are_cut_between_blocks_and_abbreviations_recorded(tmp_path: Path) -> None:
    recipe_path = tmp_path / "papers.toml"
    recipe_path.write_text(RECIPE.format(max_words=1000))
    result = build_dataset(load_recipe(recipe_path), SAMPLES, tmp_path / "out", workers=1)
    rows = pl.read_parquet(result.repo / "data" / "pmc_jats" / "*.parquet").to_dicts()

    builder = PMCJatsBuilder("pmc_jats", {}, SAMPLES)
    originals = {r["id"]: r["text"] for f in sorted((SAMPLES / "pmc_jats").glob("*.nxml")) for r in builder.parse(f, FileReport(f.name))}
    pieces: dict[str, list[dict]] = {}
    for row in rows:
        meta = json.loads(row["meta"])
        pieces.setdefault(meta.get("document", row["id"]), []).append(row | {"meta": meta})
    assert pieces.keys() == originals.keys()
    for doc_id, parts in pieces.items():
        original = originals[doc_id]
        if len(original.split()) <= 1000:
            assert [p["id"] for p in parts] == [doc_id] and parts[0]["text"] == original
            continue
        parts.sort(key=lambda p: p["meta"]["part"])
        blocks = set(original.split("\n\n"))
        n = len(parts)
        assert n >= 2 and [p["id"] for p in parts] == [f"{doc_id}#{i}" for i in range(1, n + 1)]
        assert all(p["meta"]["parts"] == n and p["title"] == parts[0]["title"] for p in parts)
        # Nothing lost, nothing repeated, every piece within the limit, no piece ends on a heading.
        assert " ".join(p["text"] for p in parts).split() == original.split()
        for p in parts:
            assert len(p["text"].split()) <= 1000 and not p["text"].split("\n\n")[-1].startswith("#")
            # Cuts fall between blocks or, inside a block longer than the limit, between sentences.
            last = p["text"].split("\n\n")[-1]
            assert last in blocks or last[-1] in ".!?", last[-80:]
    manifest = json.loads((result.repo / "build_manifest.json").read_text())
    split = next(s for s in manifest["sources"]["pmc_jats"]["steps"] if s["step"] == "split_long")
    assert split["in"] == 6 and split["out"] == len(rows) > 6

    # Definitions found by scispaCy's detector, per piece, in meta.
    found = {}
    for parts in pieces.values():
        for p in parts:
            found.update(p["meta"].get("abbreviations", {}))
    assert found["OHIP"] == "Oral Health Impact Profile"
    assert found["ELISA"] == "enzyme-linked immunosorbent assay"
    assert found["RVF"] == "Rift Valley fever"
    assert "induction" not in found and "cancer" not in found  # detector noise is not kept


def test_split_long_must_come_before_steps_that_compute_columns(tmp_path: Path) -> None:
    recipe = RECIPE.format(max_words=1000).replace('step = "split_long"', 'step = "quality_signals"\n\n[[steps]]\nstep = "split_long"')
    path = tmp_path / "bad.toml"
    path.write_text(recipe)
    with pytest.raises(UserError, match=r"'split_long' adds rows, so it must come before 'quality_signals'"):
        load_recipe(path)
    path.write_text(RECIPE.format(max_words=10))
    with pytest.raises(UserError, match="max_words must be an integer >= 50"):
        load_recipe(path)


def test_abbreviation_context_carries_no_markdown_headings() -> None:
    """The sentencizer leaves a row's heading lines at the start of the next sentence
    ("# Title ## Methods We used ..."): a prompt's context is the prose alone."""
    found = definitions(pipeline()("# Brain imaging\n\n## Methods\n\nWe used magnetic resonance imaging (MRI) to scan the brain."))
    assert found["MRI"]["sentence"] == "We used magnetic resonance imaging (MRI) to scan the brain."
