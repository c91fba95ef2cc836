"""`KeptRows`, what global steps read: rows kept so far, by slice, selection or hash partition
spilled to disk; partitions never split a group and lose or repeat no row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from medc.steps import rows as rows_module
from medc.steps.base import GlobalContext, make_step
from medc.steps.rows import KeptRows, read_batches


def shard(path: Path, n: int, source_index: int, groups: int) -> Path:
    keys = (source_index << 48) + np.arange(n, dtype=np.uint64)
    pl.DataFrame({"_key": keys, "id": [f"r{source_index}-{i}" for i in range(n)], "source": f"s{source_index}",
                  "g": [f"group-{i % groups}" for i in range(n)]}).write_parquet(path, row_group_size=7)
    return path


def test_partitions_spilled_to_disk_keep_groups_whole_and_every_row_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows_module, "OPEN_SPILLS", 16)  # several passes over the shards as well
    parts = [shard(tmp_path / "a.parquet", 300, 0, 50), shard(tmp_path / "b.parquet", 200, 1, 50)]
    spill = tmp_path / "spill"
    rows = KeptRows(parts, partition_rows=10, spill_dir=spill)
    assert rows.height == 500 and rows.sources == {0: "s0", 1: "s1"}
    dropped = pl.Series([3, 5, (1 << 48) + 7], dtype=pl.UInt64)
    rows = rows.without(dropped)
    assert rows.height == 497
    seen: list[int] = []
    group_home: dict[str, int] = {}
    partitions = list(rows.partitions(["g"], by="g"))
    assert len(partitions) > 16  # up to 50 partitions of 10 rows (empty ones are not yielded)
    for index, part in enumerate(partitions):
        seen += part["_key"].to_list()
        for g in part["g"].unique().to_list():
            assert group_home.setdefault(g, index) == index, f"group {g} split across partitions"
    expected = sorted(set(pl.concat([pl.read_parquet(p)["_key"] for p in parts]).to_list()) - set(dropped.to_list()))
    assert sorted(seen) == expected  # every kept row once, dropped rows never
    assert len(group_home) == 50
    assert not list(spill.iterdir())  # the spilled partitions are removed as they are read


def test_one_partition_batches_selection_and_sources(tmp_path: Path) -> None:
    parts = [shard(tmp_path / "a.parquet", 30, 2, 4)]
    rows = KeptRows(parts).without(pl.Series([2 << 48], dtype=pl.UInt64))
    [whole] = list(rows.partitions(["g"], by="g"))
    assert whole.height == 29 and (2 << 48) not in whole["_key"].to_list()
    picked = rows.collect(["id"], where=pl.col("g") == "group-1")
    assert picked["id"].to_list() == [f"r2-{i}" for i in range(1, 30, 4)]
    assert pl.select(rows.source_of(pl.lit((2 << 48) + 5, dtype=pl.UInt64))).item() == "s2"
    slices = list(read_batches(parts[0], ["_key", "id"], rows=8))
    assert [s.height for s in slices] == [8, 8, 8, 6]
    assert pl.concat(slices)["id"].to_list() == pl.read_parquet(parts[0])["id"].to_list()
    empty = tmp_path / "empty.parquet"
    pl.read_parquet(parts[0]).head(0).write_parquet(empty)
    [none] = list(read_batches(empty, ["_key", "id"]))
    assert none.height == 0 and none.columns == ["_key", "id"]


def test_sample_budget_reads_one_rank_bucket_and_decides_as_a_full_sort(tmp_path: Path) -> None:
    """The budget cut by rank buckets equals sorting the whole source by (rank, id) and cutting
    its running sum at the budget: ranks crowded into few buckets, ties, rows of size 0, and
    budgets that end inside, at the edge of and past a bucket."""
    rng = np.random.default_rng(7)
    n = 2_000
    ranks = (rng.integers(0, 6, n).astype(np.uint64) << np.uint64(48)) + rng.integers(0, 50, n).astype(np.uint64)
    frame = pl.DataFrame({
        "_key": np.arange(n, dtype=np.uint64), "id": [f"d{i:05d}" for i in range(n)],
        "source": rng.choice(["replay", "papers"], n), "_sig_budget_rank": ranks,
        "_sig_budget_words": rng.integers(0, 40, n).astype(np.uint32), "_sig_budget_tokens": pl.Series([None] * n, dtype=pl.UInt32),
    })
    path = tmp_path / "s.parquet"
    frame.write_parquet(path, row_group_size=100)
    ordered = frame.filter(pl.col("source") == "replay").sort("_sig_budget_rank", "id")
    running = ordered["_sig_budget_words"].cast(pl.Int64).cum_sum()
    for limit in (1, 37, int(running[400]), int(running[401]), int(running[-1]) - 1, int(running[-1]), 10**9):
        step = make_step("sample_budget", {"sources": {"replay": {"words": limit}}}, "knowledge")
        decision = step.decide(KeptRows([path]), GlobalContext(tmp_path))
        over = ordered.filter(running > limit)
        assert sorted(decision.drops["_key"].to_list()) == sorted(over["_key"].to_list()), limit
        kept = ordered.height - over.height
        assert decision.report["replay"] == {"budget": {"words": limit}, "rows_in": ordered.height, "rows_kept": kept,
                                             "words_kept": int(running[kept - 1]) if kept else 0}
