"""Sampling steps (global): sources sampled down to a budget of words or tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from medc.errors import UserError
from medc.steps.base import Decision, GlobalContext, GlobalStep, register_step
from medc.steps.params import ParamError, StepParams
from medc.steps.rows import KeptRows

BUDGET_UNITS = ("tokens", "words")
RANK_BUCKETS = 1 << 16  # rows are ordered by a 64-bit rank; summed per its top 16 bits first


@dataclass(frozen=True)
class SampleBudgetParams(StepParams):
    sources: dict[str, dict[str, Any]] | None = None  # {source = {tokens = N} or {words = N}}
    seed: int = 0

    def check(self) -> None:
        if not self.sources:
            raise ParamError("sources", "needs sources = {name = {tokens = N} or {words = N}}")
        for name, budget in self.sources.items():
            unit, limit = next(iter(budget.items()), (None, None))
            if len(budget) != 1 or unit not in BUDGET_UNITS or isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
                raise ParamError("sources", f"sources.{name} must be {{tokens = N}} or {{words = N}} (N > 0)")

    @property
    def unit(self) -> str:
        return "tokens" if any("tokens" in b for b in (self.sources or {}).values()) else "words"


@register_step("sample_budget")
class SampleBudget(GlobalStep):
    """Sample sources down to a budget of words or tokens: `sources = {general_replay =
    {tokens = 1000000}}`. Rows are taken in a seeded pseudo-random order (a hash of the id),
    so the sample is the same whatever the sharding; rows past the budget are dropped."""

    Params = SampleBudgetParams
    params: SampleBudgetParams

    def signature_columns(self) -> list[str]:
        return ["_sig_budget_rank", "_sig_budget_words", "_sig_budget_tokens"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        if self.params.unit == "tokens" and "_tokens" not in df.columns:
            raise UserError("step 'sample_budget' with a token budget needs a count_tokens step before it")
        tokens = pl.col("_tokens") if "_tokens" in df.columns else pl.lit(None, dtype=pl.UInt32)
        return df.with_columns(
            pl.col("id").hash(seed=self.params.seed).alias("_sig_budget_rank"),
            pl.col("_words").alias("_sig_budget_words"),
            tokens.cast(pl.UInt32).alias("_sig_budget_tokens"),
        )

    def decide(self, rows: KeptRows, ctx: GlobalContext) -> Decision:
        drops = []
        stats: dict[str, Any] = {}
        for name, budget in sorted((self.params.sources or {}).items()):
            unit, limit = next(iter(budget.items()))
            dropped, stats[name] = self._sample(rows, name, unit, limit)
            drops.append(dropped.select("_key", pl.lit(f"over the {unit} budget").alias("reason")))
        return Decision(pl.concat(drops), stats) if drops else Decision(report=stats)

    def _sample(self, rows: KeptRows, name: str, unit: str, limit: int) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The rows of source `name` past `limit` units in rank order (`_key`), and the facts.

        Without holding the source: a first read sums the sizes per rank bucket (the rank's top
        16 bits); rows of the buckets before the one where the budget runs out are all kept,
        those after it all dropped, and only that bucket's rows are read and ordered."""
        size_col = f"_sig_budget_{unit}"
        bucket = (pl.col("_sig_budget_rank") // (1 << 48)).cast(pl.Int64)
        ours = pl.col("source") == name
        sizes = np.zeros(RANK_BUCKETS, dtype=np.int64)
        counts = np.zeros(RANK_BUCKETS, dtype=np.int64)
        for batch in rows.batches([size_col, "_sig_budget_rank"], where=ours):
            sums = batch.group_by(bucket.alias("b")).agg(pl.col(size_col).cast(pl.Int64).sum().alias("s"), pl.len().alias("n"))
            buckets = sums["b"].to_numpy()
            sizes[buckets] += sums["s"].to_numpy()
            counts[buckets] += sums["n"].to_numpy()
        rows_in = int(counts.sum())
        running = np.cumsum(sizes)
        if rows_in == 0 or running[-1] <= limit:
            return pl.DataFrame(schema={"_key": pl.UInt64}), {"budget": {unit: limit}, "rows_in": rows_in, "rows_kept": rows_in,
                                                              f"{unit}_kept": int(running[-1])}
        last = int(np.argmax(running > limit))  # the bucket where the budget runs out
        before = int(running[last - 1]) if last else 0
        edge = rows.collect(["id", size_col, "_sig_budget_rank"], where=ours & (bucket == last)).sort("_sig_budget_rank", "id")
        edge = edge.with_columns((pl.col(size_col).cast(pl.Int64).cum_sum() + before).alias("_cum"))
        over_edge = edge.filter(pl.col("_cum") > limit)
        after = rows.collect([], where=ours & (bucket > last))
        kept_edge = edge.height - over_edge.height
        rows_kept = int(counts[:last].sum()) + kept_edge
        units_kept = int(edge["_cum"][kept_edge - 1]) if kept_edge else before
        dropped = pl.concat([over_edge.select("_key"), after.select("_key")])
        return dropped, {"budget": {unit: limit}, "rows_in": rows_in, "rows_kept": rows_kept, f"{unit}_kept": units_kept}
