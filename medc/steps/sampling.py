"""Sampling steps (global): sources sampled down to a budget of words or tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from medc.errors import UserError
from medc.steps.base import Decision, GlobalContext, GlobalStep, register_step
from medc.steps.params import ParamError, StepParams
from medc.steps.rows import KeptRows

BUDGET_UNITS = ("tokens", "words")


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
        """Over the budgeted sources' rows only (`_key`, id, rank and size: ~40 bytes a row)."""
        budgeted = sorted((self.params.sources or {}))
        frame = rows.collect(["id", "source", *self.signature_columns()], where=pl.col("source").is_in(budgeted))
        drops = []
        stats: dict[str, Any] = {}
        for name, budget in sorted((self.params.sources or {}).items()):
            unit, limit = next(iter(budget.items()))
            rows = frame.filter(pl.col("source") == name).sort("_sig_budget_rank", "id")
            size = pl.col(f"_sig_budget_{unit}").cast(pl.Int64)
            rows = rows.with_columns(size.cum_sum().alias("_cum"))
            over = rows.filter(pl.col("_cum") > limit)
            kept = rows.height - over.height
            stats[name] = {"budget": {unit: limit}, "rows_in": rows.height, "rows_kept": kept,
                           f"{unit}_kept": int(rows["_cum"][kept - 1]) if kept else 0}
            drops.append(over.select("_key", pl.lit(f"over the {unit} budget").alias("reason")))
        return Decision(pl.concat(drops), stats) if drops else Decision(report=stats)
