"""Licence normalisation, text cleaning, steps and the parquet writer on small real inputs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from medc.text.licenses import allows_commercial_use, normalize_license
from medc.engine.plan import resignable, shard_groups
from medc.engine.write_stage import ShardedParquetWriter
from medc.recipes.recipe import load_recipe
from medc.schema import KNOWLEDGE_SCHEMA, RecordError, rows_to_table, validate_row
from medc.steps.base import GlobalContext, make_step
from medc.steps.rows import KeptRows
from medc.text.normalize import collapse_spaces, normalize_text
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("http://creativecommons.org/licenses/by/2.0", "cc-by-2.0"),
        ("https://creativecommons.org/licenses/by-nc-nd/4.0/", "cc-by-nc-nd-4.0"),
        ("http://creativecommons.org/publicdomain/mark/1.0/", "public-domain"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "cc0-1.0"),
        ("This is an open-access article distributed under the terms of the Creative Commons Attribution License", "cc-by"),
        ("Creative Commons Attribution Non-Commercial License 3.0", "cc-by-nc-3.0"),
        ("CC BY-NC-SA 4.0", "cc-by-nc-sa-4.0"),
        ("All rights reserved.", "unknown"),
        # PMC's COVID-19 collection (PMC9000000, Springer 2022): a temporary permission, no licence
        ("This article is made available via the PMC Open Access Subset for unrestricted research re-use and secondary "
         "analysis in any form or by any means with acknowledgement of the original source. These permissions are granted "
         "for the duration of the World Health Organization (WHO) declaration of COVID-19 as a global pandemic.", "pmc-covid-19"),
        (None, "unknown"),
    ],
)
def test_normalize_license(statement: str | None, expected: str) -> None:
    assert normalize_license(statement) == expected


def test_commercial_use() -> None:
    assert allows_commercial_use("cc-by-4.0") and allows_commercial_use("cc0-1.0") and allows_commercial_use("public-domain")
    assert not allows_commercial_use("cc-by-nc-3.0") and not allows_commercial_use("unknown")


def test_normalize_text() -> None:
    raw = "Of\ufb01ce  \u00a0visit\r\nsecond\u00adline\x07\n\n\n\nnext\u2005para "
    assert normalize_text(raw) == "Office visit\nsecondline\n\nnext para"
    assert normalize_text("m\u00b2 and \u00b5g") == "m\u00b2 and \u00b5g"  # NFC keeps superscripts and micro


@pytest.mark.parametrize("text", [
    "plain ascii\n\nsecond paragraph", "Of\ufb01ce e\u0301t\u00e9", "f\u2061(x) and g\u2062h",  # MathML marks
    "a\u00a0b", "thin\u2009space", "soft\u00adhyphen", "zero\u200bwidth", "line\u2028sep", "c1\x85control",
    "bell\x07", "cr\rlf", "bom\ufeffhere", "private\ue001use", "tab\there",
])
def test_normalize_text_fast_path_for_collapsed_text_gives_the_same_result(text: str) -> None:
    """`collapsed=True` only skips work: whatever the text holds, the result is the full pass's."""
    assert normalize_text(text, collapsed=True) == normalize_text(text)


@pytest.mark.parametrize("text", [
    "one space each", "two  spaces", " leading", "trailing ", "new\nline", "tab\tbed", "nbsp\u00a0here",
    "thin\u2009space", "ideographic\u3000space", "line\u2028sep", "nel\x85char", "unit\x1fsep", "", " ", "é\u0301 ok",
])
def test_collapse_spaces_is_split_and_join(text: str) -> None:
    """The already-collapsed shortcut gives what splitting on white space and joining gives."""
    assert collapse_spaces(text) == " ".join(text.split())


def test_validate_row_requires_fields() -> None:
    row = {"id": "x:1", "source": "s", "title": None, "text": "t", "license": "mit", "meta": {"a": 1, "b": None}}
    assert validate_row(row, "knowledge")["meta"] == '{"a":1}'
    with pytest.raises(RecordError, match="missing required field 'text'"):
        validate_row({**row, "text": "  "}, "knowledge")
    with pytest.raises(RecordError, match="unexpected fields"):
        validate_row({**row, "body": "x"}, "knowledge")


def frame(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"_key": pl.Series(range(len(texts)), dtype=pl.UInt64), "id": [f"x:{i}" for i in range(len(texts))],
         "source": ["s"] * len(texts), "text": texts}
    )


def test_min_length_reasons_from_stored_word_counts() -> None:
    step = make_step("min_length", {"min_words": 3}, "knowledge")
    texts = ["one two three", "one two", "a b c d"]
    df = frame(texts).with_columns(pl.col("text").str.count_matches(r"\S+").alias("_words"))
    assert step.reasons(df).to_list() == [None, "fewer than 3 words", None]


def test_exact_dedup_keeps_first_of_normalised_duplicates(tmp_path: Path) -> None:
    step = make_step("exact_dedup", {}, "knowledge")
    df = step.signature(frame(["The  cell\ncycle.", "Another text.", "the cell cycle.", "The cell cycle!"]))
    for partition_rows in (1_000, 1):  # in one partition, and one hash partition per row
        drop = step.decide(KeptRows.of(df, partition_rows), GlobalContext(tmp_path)).drops
        assert drop["_key"].to_list() == [2]
        assert drop["reason"].to_list() == ["exact duplicate"]


def test_sharded_writer_splits_rows_and_row_groups(tmp_path: Path) -> None:
    rows = [{"id": f"x:{i}", "source": "s", "title": None, "text": f"text {i}", "license": "mit", "meta": "{}"} for i in range(23)]
    table = rows_to_table(rows, "knowledge")
    writer = ShardedParquetWriter(tmp_path, KNOWLEDGE_SCHEMA, 23, rows_per_file=10, row_group_size=4)
    writer.write(table.slice(0, 7))
    writer.write(table.slice(7))
    written = writer.close()
    assert [w["file"] for w in written] == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    assert [w["rows"] for w in written] == [10, 10, 3]
    meta = pq.ParquetFile(tmp_path / written[0]["file"]).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [4, 4, 2]
    back = pq.read_table(tmp_path).sort_by("id")
    assert back.num_rows == 23 and back.schema.equals(KNOWLEDGE_SCHEMA)


def test_signatures_are_recomputed_alone_only_after_the_last_map_step(tmp_path: Path) -> None:
    """A global step followed by a map step had its signatures computed on rows that the map
    step may have changed since: a change of it recomputes the shard; a global step after the
    last map step has its signatures recomputed on the cached rows."""
    text = (REPO / "pipelines" / "medc-k.toml").read_text()
    head = text[: text.index("[[steps]]")]
    steps = '[[steps]]\nstep = "exact_dedup"\n\n[[steps]]\nstep = "quality_signals"\n\n[[steps]]\nstep = "near_dedup"\n'
    (tmp_path / "r.toml").write_text(head + steps)
    assert resignable(load_recipe(tmp_path / "r.toml")) == {"near_dedup"}
    default = load_recipe(REPO / "pipelines" / "medc-k.toml")
    assert resignable(default) >= {"decontaminate", "exact_dedup", "near_dedup", "same_article"}


def test_shards_are_cut_by_input_size_too() -> None:
    """Few large files (PubMed's baseline: 34 files of ~300 MB) are a shard each, not one shard
    taking most of them; many small files are cut by the path hash and count as before, and
    adding a large file moves no other shard's files."""
    baseline = [f"medline/pubmed25n{i:04d}.xml" for i in range(1, 35)]
    by_hash = shard_groups(baseline, 16)
    assert max(len(g) for g in by_hash) > 4  # the hash and count cuts alone: a few large shards
    sizes = {f: 311_000_000 for f in baseline}
    assert shard_groups(baseline, 16, sizes, 256_000_000) == [[f] for f in baseline]
    papers = [f"pmc/PMC{i}.nxml" for i in range(500)]
    assert shard_groups(papers, 16, {f: 60_000 for f in papers}, 256_000_000) == shard_groups(papers, 16)
    grown = sorted([*baseline, "medline/pubmed25n0017a.xml"])
    before = {tuple(g) for g in shard_groups(baseline, 16, sizes, 256_000_000)}
    after = {tuple(g) for g in shard_groups(grown, 16, {**sizes, "medline/pubmed25n0017a.xml": 311_000_000}, 256_000_000)}
    assert after - before == {("medline/pubmed25n0017a.xml",)} and before <= after
