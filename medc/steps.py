"""Pipeline steps that recipes name in `[[steps]]`: map steps and two-phase global steps.

* A map step is a pure function of one shard (a polars DataFrame): it returns the rows it
  keeps and the count of rows it dropped per reason.
* A global step (dedup, decontamination) works in two phases so that it can run on any
  executor: `signature` computes small columns per shard in the workers (stored beside the
  rows), `decide` reads only those columns across all shards and returns the row keys to
  drop with their reason; the executor then applies the decision shard by shard.

Every row carries `_key` (u64: source, shard and row position), so "first" is well defined
and every decision is deterministic.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import polars as pl

from medc.errors import UserError
from medc.schema import TEXT_FIELDS
from medc.text import normalize_text


class Step:
    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: dict[str, Any], kind: str, where: str = ""):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise UserError(f"{where}: unknown parameter {unknown[0]!r} for step {self.name!r} (known: {known})")
        self.params = {**self.defaults, **params}
        self.kind = kind

    def describe(self) -> dict[str, Any]:
        return {"step": self.name, **self.params}


class MapStep(Step):
    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        raise NotImplementedError


class GlobalStep(Step):
    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        """Columns (named `_sig_<step>_*`) added to the shard for `decide`."""
        raise NotImplementedError

    def signature_columns(self) -> list[str]:
        raise NotImplementedError

    def decide(self, sigs: pl.LazyFrame) -> pl.DataFrame:
        """From `_key` plus the signature columns of every shard: `_key, reason` rows to drop."""
        raise NotImplementedError


def _text_expr(kind: str, fields: tuple[str, ...] | None = None) -> pl.Expr:
    fields = fields or TEXT_FIELDS[kind]
    if len(fields) == 1:
        return pl.col(fields[0]).fill_null("")
    return pl.concat_str([pl.col(f).fill_null("") for f in fields], separator="\x1f")


class NormalizeText(MapStep):
    """Unicode NFC, ligatures, control characters and white space in every text field."""

    name = "normalize_text"

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        fields = [f for f in TEXT_FIELDS[self.kind] if f in df.columns]
        out = df.with_columns(
            pl.col(f).map_elements(normalize_text, return_dtype=pl.String) for f in fields
        )
        return out, Counter()


class MinLength(MapStep):
    """Drop rows whose main text has fewer than `min_words` white-space separated words."""

    name = "min_length"
    defaults = {"min_words": 50, "field": None}

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        field = self.params["field"] or ("text" if self.kind == "knowledge" else "output")
        words = pl.col(field).fill_null("").str.count_matches(r"\S+")
        keep = df.filter(words >= self.params["min_words"])
        dropped = df.height - keep.height
        return keep, Counter({f"fewer than {self.params['min_words']} words": dropped} if dropped else {})


class ExactDedup(GlobalStep):
    """Keep the first row of each group whose normalised text is identical (across sources).

    Text is lower-cased with white space collapsed; the key is a 128-bit hash (two seeded
    64-bit hashes). For instructions the `input` and `output` are compared (instructions
    are templated phrasings and may differ for the same content).
    """

    name = "exact_dedup"
    defaults = {"fields": None}

    def _fields(self) -> tuple[str, ...]:
        if self.params["fields"]:
            return tuple(self.params["fields"])
        return ("text",) if self.kind == "knowledge" else ("input", "output")

    def signature_columns(self) -> list[str]:
        return ["_sig_exact_h1", "_sig_exact_h2"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        norm = _text_expr(self.kind, self._fields()).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
        return df.with_columns(
            norm.hash(seed=0x5EED0001).alias("_sig_exact_h1"),
            norm.hash(seed=0x5EED0002).alias("_sig_exact_h2"),
        )

    def decide(self, sigs: pl.LazyFrame) -> pl.DataFrame:
        first = pl.col("_key").min().over(["_sig_exact_h1", "_sig_exact_h2"])
        return (
            sigs.filter(pl.col("_key") != first)
            .select("_key", pl.lit("exact duplicate").alias("reason"))
            .collect()
        )


STEPS: dict[str, type[Step]] = {cls.name: cls for cls in (NormalizeText, MinLength, ExactDedup)}


def make_step(name: str, params: dict[str, Any], kind: str, where: str = "") -> Step:
    if name not in STEPS:
        raise UserError(f"{where}: unknown step {name!r} (available: {', '.join(sorted(STEPS))})")
    return STEPS[name](params, kind, where)
