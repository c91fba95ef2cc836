"""The global stage, in the driver: from the stored columns of every shard, the rows that
filter steps, unique ids and global steps drop, each step seeing only the rows the ones
before it kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from medc.errors import UserError
from medc.ingest.builder import builder_class
from medc.recipes.recipe import Recipe
from medc.release.manifest import GlobalStepReport
from medc.steps.base import FilterStep, GlobalContext, GlobalStep, make_step

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

    def record(self, name: str, drop: pl.DataFrame, frame: pl.DataFrame, report: dict[str, Any] | None = None) -> pl.DataFrame:
        """Record a step's drops (`_key, reason`) among `frame`'s rows; return the rows it kept."""
        seconds = round(time.perf_counter() - self.lap, 4)
        drop = drop.select(pl.col("_key").cast(pl.UInt64), "reason")
        self.add(name, frame.join(drop, on="_key", how="inner").select("_key", "source", "reason"), frame.height, seconds, report)
        kept = frame.join(drop, on="_key", how="anti")
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
    returns each step's seconds."""
    ledger = DropLedger()
    if not shard_files:
        return ledger.drops(), [], {}
    steps = [make_step(s.step, s.params, recipe.kind, root=root) for s in recipe.steps]
    filters = [s for s in steps if isinstance(s, FilterStep)]
    global_steps = [s for s in steps if isinstance(s, GlobalStep)]
    frame = filtered_columns(recipe, shard_files, filters, global_steps, ledger)
    ledger.start()
    if withdrawn:
        table = pl.DataFrame({"id": list(withdrawn), "_before": list(withdrawn.values())}, schema={"id": pl.String, "_before": pl.UInt64})
        gone = frame.join(table, on="id").filter(pl.col("_key") < pl.col("_before"))
        frame = ledger.record("withdrawn", gone.select("_key", pl.lit("withdrawn by a later file").alias("reason")), frame)
    frame = ledger.record("unique_ids", duplicate_ids(frame, superseding_sources(recipe)), frame)
    ctx = GlobalContext(work_dir, shared_shards or [str(p) for p in shard_files], map_unordered)
    for step in global_steps:
        if step.row_wise:  # one shard's rows at a time
            parts = shard_rows(frame, ["id", "source", *step.signature_columns()], shard_files)
            decision = step.merge([step.decide(part, ctx) for part in parts])
        else:
            decision = step.decide(with_step_columns(frame, step, shard_files), ctx)
        frame = ledger.record(step.name, decision.drops, frame, decision.report)
    return ledger.drops(), ledger.reports, ledger.seconds


def shard_rows(frame: pl.DataFrame, columns: list[str], shard_files: list[Path]) -> Iterator[pl.DataFrame]:
    """Per shard, `_key` and `columns` of its rows that are in `frame`."""
    keys = frame.select("_key")
    for path in shard_files:
        yield pl.read_parquet(path, columns=["_key", *columns]).join(keys, on="_key", how="semi")


def with_step_columns(frame: pl.DataFrame, step: GlobalStep, shard_files: list[Path]) -> pl.DataFrame:
    """`frame` (`_key, id, source` of the rows kept so far) with the step's signature columns,
    read from the shards for those rows: the driver holds one step's columns at a time, not
    every step's for the whole corpus."""
    columns = [c for c in step.signature_columns() if c not in frame.columns]
    if not columns:
        return frame
    parts = list(shard_rows(frame, columns, shard_files))
    return frame.join(pl.concat(parts, how="vertical_relaxed"), on="_key", how="left", maintain_order="left")


def superseding_sources(recipe: Recipe) -> list[str]:
    """Sources whose later files replace earlier rows of the same id (PubMed baseline + updates)."""
    return [s.name for s in recipe.sources if builder_class(s.builder).later_files_supersede]


def duplicate_ids(frame: pl.DataFrame, superseding: list[str]) -> pl.DataFrame:
    """Rows whose id an other row holds: the first is kept, or, in a superseding source, the last."""
    latest = pl.col("source").is_in(superseding)
    keep = pl.when(latest).then(pl.col("_key").max().over("id")).otherwise(pl.col("_key").min().over("id"))
    reason = pl.when(latest).then(pl.lit("superseded by a later file")).otherwise(pl.lit("duplicate id"))
    return frame.filter(pl.col("_key") != keep).select("_key", reason.alias("reason"))


def filtered_columns(recipe: Recipe, shard_files: list[Path], filters: list[FilterStep], global_steps: list[GlobalStep],
                     ledger: DropLedger) -> pl.DataFrame:
    """`_key, id, source` of the rows every filter step keeps, from every shard; the filters'
    drops go to `ledger`.

    Filter rules look at one row at a time, so they run shard by shard, each filter on the rows
    the ones before it kept: the columns only filters read (the quality signals, most of the
    bytes) are never held for the whole corpus; each global step's columns are read when it
    runs (`with_step_columns`)."""
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
    kept: list[pl.DataFrame] = []
    for path in shard_files:
        frame = pl.read_parquet(path, columns=cols)
        for i, f in enumerate(filters):
            t0 = time.perf_counter()
            reasons = f.reasons(frame).alias("reason")
            rows_in[i] += frame.height
            drops[i].append(frame.select("_key", "source", reasons).filter(pl.col("reason").is_not_null()))
            frame = frame.filter(reasons.is_null())
            seconds[i] += time.perf_counter() - t0
        kept.append(frame.select(keep))
    for i, f in enumerate(filters):
        ledger.add(f.name, pl.concat(drops[i], how="vertical_relaxed"), rows_in[i], seconds[i])
    return pl.concat(kept, how="vertical_relaxed")
