"""The global stage, in the driver: from the stored columns of every shard, the rows that
filter steps, unique ids and global steps drop, each step seeing only the rows the ones
before it kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medc.errors import UserError
from medc.ingest.builder import builder_class
from medc.recipes.recipe import Recipe
from medc.release.manifest import GlobalStepReport
from medc.steps.base import DROP_SCHEMA, FilterStep, GlobalContext, GlobalStep, make_step
from medc.steps.rows import KeptRows, read_batches, source_index

DROPS_SCHEMA = {"_key": pl.UInt64, "step": pl.String, "reason": pl.String}


class DropLedger:
    """The drops decided so far (`_key, step, reason`) and a report per step."""

    def __init__(self) -> None:
        self.decisions: list[pl.DataFrame] = []
        self.reports: list[GlobalStepReport] = []
        self.seconds: dict[str, float] = {}  # per step, in the driver (kept apart: the reports are deterministic)
        self.lap = time.perf_counter()  # a step's seconds: from the previous record to its own

    def start(self) -> None:
        self.lap = time.perf_counter()

    def record(self, name: str, drop: pl.DataFrame, rows: KeptRows, report: dict[str, Any] | None = None) -> KeptRows:
        """Record a step's drops (`_key, reason`, among `rows`); return the rows it kept."""
        seconds = round(time.perf_counter() - self.lap, 4)
        drop = drop.select(pl.col("_key").cast(pl.UInt64), "reason").unique("_key", keep="first", maintain_order=True)
        self.add(name, drop.with_columns(rows.source_of(pl.col("_key")).alias("source")), rows.height, seconds, report)
        kept = rows.without(drop["_key"])
        self.lap = time.perf_counter()
        return kept

    def add(self, name: str, drop: pl.DataFrame, rows_in: int, seconds: float, report: dict[str, Any] | None = None) -> None:
        """Record a step's drops (`_key, source, reason`) among `rows_in` rows, decided in `seconds`."""
        by_source = drop.group_by("source", "reason").len().sort("source", "reason")
        dropped: dict[str, dict[str, int]] = {}
        for src, reason, n in by_source.iter_rows():
            dropped.setdefault(src, {})[reason] = n
        self.reports.append(GlobalStepReport(name, rows_in, rows_in - drop.height, dropped, report or None))
        self.seconds[name] = round(seconds, 4)
        self.decisions.append(drop.select(pl.col("_key").cast(pl.UInt64), pl.lit(name).alias("step"), "reason"))

    def drops(self) -> pl.DataFrame:
        return pl.concat(self.decisions) if self.decisions else pl.DataFrame(schema=DROPS_SCHEMA)


def global_decisions(
    recipe: Recipe, shard_files: list[Path], root: Path, work_dir: Path,
    map_unordered: Callable[..., Any] | None = None, shared_shards: list[str] | None = None,
    withdrawn: dict[str, int] | None = None,
) -> tuple[pl.DataFrame, list[GlobalStepReport], dict[str, float]]:
    """Row keys to drop (`_key, step, reason`): filter steps on stored columns, rows withdrawn
    by a later file, then unique ids, then every global step. `shared_shards`: where the
    global steps' workers read the shards (URLs every node sees), default the local
    `shard_files`. `withdrawn`: row id -> the key before which its rows are withdrawn. Also
    returns each step's seconds.

    Between steps the driver holds the keys of the rows dropped so far; each step reads the
    columns it needs from the shards (`KeptRows`), in hash partitions of at most the recipe's
    `partition_rows` rows where it groups rows."""
    ledger = DropLedger()
    if not shard_files:
        return ledger.drops(), [], {}
    steps = [make_step(s.step, s.params, recipe.kind, root=root) for s in recipe.steps]
    filters = [s for s in steps if isinstance(s, FilterStep)]
    global_steps = [s for s in steps if isinstance(s, GlobalStep)]
    rows = filtered_rows(recipe, shard_files, filters, global_steps, ledger, work_dir / "spill")
    ledger.start()
    if withdrawn:
        table = pl.DataFrame({"id": list(withdrawn), "_before": list(withdrawn.values())}, schema={"id": pl.String, "_before": pl.UInt64})
        named = rows.collect(["id"], where=pl.col("id").is_in(table["id"].implode()))
        gone = named.join(table, on="id").filter(pl.col("_key") < pl.col("_before"))
        rows = ledger.record("withdrawn", gone.select("_key", pl.lit("withdrawn by a later file").alias("reason")), rows)
    superseding = superseding_sources(recipe)
    same_id = [duplicate_ids(part, superseding) for part in rows.partitions(["id", "source"], by="id")]
    rows = ledger.record("unique_ids", pl.concat(same_id) if same_id else pl.DataFrame(schema=DROP_SCHEMA), rows)
    ctx = GlobalContext(work_dir, shared_shards or [str(p) for p in shard_files], map_unordered)
    for step in global_steps:
        decision = step.decide(rows, ctx)
        rows = ledger.record(step.name, decision.drops, rows, decision.report)
    return ledger.drops(), ledger.reports, ledger.seconds


def superseding_sources(recipe: Recipe) -> list[str]:
    """Sources whose later files replace earlier rows of the same id (PubMed baseline + updates)."""
    return [s.name for s in recipe.sources if builder_class(s.builder).later_files_supersede]


def duplicate_ids(frame: pl.DataFrame, superseding: list[str]) -> pl.DataFrame:
    """Rows whose id an other row holds: the first is kept, or, in a superseding source, the last."""
    latest = pl.col("source").is_in(superseding)
    keep = pl.when(latest).then(pl.col("_key").max().over("id")).otherwise(pl.col("_key").min().over("id"))
    reason = pl.when(latest).then(pl.lit("superseded by a later file")).otherwise(pl.lit("duplicate id"))
    return frame.filter(pl.col("_key") != keep).select("_key", reason.alias("reason"))


def filtered_rows(recipe: Recipe, shard_files: list[Path], filters: list[FilterStep], global_steps: list[GlobalStep],
                  ledger: DropLedger, spill_dir: Path) -> KeptRows:
    """The rows every filter step keeps (the keys of the others, which go to `ledger`);
    global steps spill hash partitions under `spill_dir`.

    Filter rules look at one row at a time, so they run a batch of a shard's rows at a time,
    each filter on the rows the ones before it kept: the columns only filters read (the quality signals, most of the
    bytes) are never held for the whole corpus; each global step reads its own columns when
    it runs."""
    keep = ["_key", "id", "source"]
    cols = keep + sorted({c for f in filters for c in f.columns()} - set(keep))
    needed = cols + [c for s in global_steps for c in s.signature_columns()]
    available = set(pl.scan_parquet(str(shard_files[0])).collect_schema().names())
    missing = [c for c in needed if c not in available]
    if missing:
        raise UserError(f"recipe {recipe.path}: a step needs column {missing[0]!r}, which no step of the recipe computes")
    drops: list[list[pl.DataFrame]] = [[] for _ in filters]
    rows_in = [0] * len(filters)
    seconds = [0.0] * len(filters)
    kept = 0
    sources: dict[int, str] = {}
    for frame in (batch for path in shard_files for batch in read_batches(path, cols)):
        for index, name in frame.select(source_index(pl.col("_key")).alias("i"), "source").unique().iter_rows():
            sources[int(index)] = name
        for i, f in enumerate(filters):
            t0 = time.perf_counter()
            reasons = f.reasons(frame).alias("reason")
            rows_in[i] += frame.height
            drops[i].append(frame.select("_key", "source", reasons).filter(pl.col("reason").is_not_null()))
            frame = frame.filter(reasons.is_null())
            seconds[i] += time.perf_counter() - t0
        kept += frame.height
    dropped = []
    for i, f in enumerate(filters):
        frame = pl.concat(drops[i], how="vertical_relaxed")
        ledger.add(f.name, frame, rows_in[i], seconds[i])
        dropped.append(frame["_key"].cast(pl.UInt64).to_numpy())
    keys = np.sort(np.concatenate(dropped)) if dropped else None
    return KeptRows(shard_files, keys, kept, recipe.partition_rows, sources, spill_dir)
