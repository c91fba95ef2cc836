"""What a pipeline step is: map, filter and two-phase global steps, and the step registry.

* A map step is a pure function of one shard (a polars DataFrame), run in the workers and
  cached with the shard: it adds columns (signals) and may drop rows, counting why.
* A filter step decides from stored columns only, in the driver, so thresholds can change
  without recomputing a shard (dolma's "attributes" idea).
* A global step (dedup, decontamination) works in two phases so that it can run on any
  executor: `signature` computes small columns per shard in the workers (stored beside the
  rows), `decide` reads only those columns of the rows kept so far (`KeptRows`: a shard, a
  hash partition or a selection at a time, never the corpus at once) and returns a
  `Decision`: the row keys to drop with their reason, and facts for the manifest.

Every row carries `_key` (u64: source, shard and row position), so "first" is well defined
and every decision is deterministic. A step registers itself with `@register_step("name")`
and declares its parameters as a `StepParams` dataclass (`Params`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from medc.errors import UserError
from medc.registry import Registry
from medc.schema import TEXT_FIELDS
from medc.steps.params import StepParams
from medc.steps.rows import KeptRows


class Step:
    name: ClassVar[str] = ""  # set by @register_step
    Params: ClassVar[type[StepParams]] = StepParams
    kinds: ClassVar[tuple[str, ...]] = ("knowledge", "instruction")  # dataset kinds it applies to
    # Raised when what the step stores in a shard changes (e.g. new signal columns): cached
    # shards computed by an older version are then recomputed (part of shard fingerprints).
    cache_version: ClassVar[int] = 1

    def __init__(self, params: StepParams, kind: str, root: Path | None = None):
        self.params = params
        self.kind = kind
        self.root = root  # the sources root, for steps that read reference files (benchmarks)

    def reference_patterns(self) -> list[str]:
        """Globs under the sources root of files besides the inputs that the step reads
        (part of shard fingerprints; staged on every node when the sources are remote)."""
        return []


class MapStep(Step):
    """Runs in the workers on each shard; its output is cached with the shard."""

    adds_rows: ClassVar[bool] = False  # may return more rows than it got (see SplitLong)

    def applies_to(self, source: str) -> bool:
        """Whether the step runs on this source's shards (a step for some sources only is not
        listed for the others in the manifest)."""
        return True

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        raise NotImplementedError

    def apply_audited(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str], Counter[str]]:
        """`apply` and what the step changed in the rows it kept, counted for the manifest's
        `audit` (e.g. identifiers replaced per type; empty for most steps)."""
        out, dropped = self.apply(df)
        return out, dropped, Counter()


class FilterStep(Step):
    """Decides from stored columns only (signals, `_words`), in the driver after the map
    stage: changing its thresholds re-applies it without recomputing any shard."""

    def columns(self) -> list[str]:
        raise NotImplementedError

    def reasons(self, frame: pl.DataFrame) -> pl.Series:
        """Per row: why it is dropped, or null to keep it (`frame` has `source` + `columns()`)."""
        raise NotImplementedError


@dataclass
class GlobalContext:
    """What a global step may use besides the signature columns."""

    work_dir: Path  # for side outputs (e.g. cluster tables)
    shard_files: list[str] = field(default_factory=list)  # the map stage's outputs (texts are read from them)
    # The build's executor (`map_unordered(fn, tasks)`), to spread heavy work over workers / a Ray cluster.
    map_unordered: Callable[[Callable[[Any], Any], list[Any]], Any] | None = None


DROP_SCHEMA = {"_key": pl.UInt64, "reason": pl.String}


@dataclass
class Decision:
    """What a global step decided: the rows to drop (`_key`, `reason`) and facts for the
    manifest and card (empty when there is nothing to say)."""

    drops: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DROP_SCHEMA))
    report: dict[str, Any] = field(default_factory=dict)


class GlobalStep(Step):
    def signature_key(self) -> dict[str, Any]:
        """What the signature columns depend on (default: every parameter): a change of anything
        else (a threshold used only by `decide`) reuses the cached signatures."""
        return asdict(self.params)

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        """Columns (named `_sig_<step>_*`) added to the shard for `decide`."""
        raise NotImplementedError

    def signature_columns(self) -> list[str]:
        raise NotImplementedError

    def decide(self, rows: KeptRows, ctx: GlobalContext) -> Decision:
        """From `_key`, `id`, `source` and the signature columns of the rows kept so far, read
        through `rows` a shard, a partition or a selection at a time (the drops must be among them)."""
        raise NotImplementedError


def text_expr(kind: str, fields: tuple[str, ...] | None = None) -> pl.Expr:
    """A row's text fields (default: all of them, `TEXT_FIELDS`) as one string expression."""
    fields = fields or TEXT_FIELDS[kind]
    if len(fields) == 1:
        return pl.col(fields[0]).fill_null("")
    return pl.concat_str([pl.col(f).fill_null("") for f in fields], separator="\x1f")


# ---------------------------------------------------------------------------- registry
STEPS: Registry[type[Step]] = Registry("step")
register_step = STEPS.register  # class decorator: `@register_step("name")`


def make_step(name: str, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None) -> Step:
    """A step from a recipe's table: its parameters parsed and checked (`UserError` naming `where`)."""
    if name not in STEPS:
        raise UserError(f"{where}: unknown step {name!r} (available: {', '.join(STEPS.names())})")
    cls = STEPS[name]
    if kind not in cls.kinds:
        raise UserError(f"{where}: step {name!r} applies to {' and '.join(cls.kinds)} datasets, not {kind}")
    return cls(cls.Params.parse(params, where, name), kind, root)
