"""Recipes: the TOML files in `pipelines/` that say which sources, which steps, which outputs.

A recipe is validated when it is loaded: an unknown key, builder or step is a one-line
`UserError` naming it (and the recipe file), before any work starts.
"""

from __future__ import annotations

import difflib

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from medc.errors import UserError
from medc.files.bundled import CARDS_DIR, PIPELINES_DIR, SAMPLES_DIR
from medc.ingest.builder import builder_class
from medc.recipes.mixture import Mixture
from medc.schema import SCHEMAS
from medc.steps.base import FilterStep, make_step
from medc.steps.rows import PARTITION_ROWS

DATASET_KEYS = {"name", "kind", "pretty_name", "summary", "card", "language", "task_categories", "tags", "source_datasets"}
BUILD_KEYS = {"files_per_shard", "shard_mb", "rows_per_file", "row_group_size", "error_budget", "batch_rows", "partition_rows"}
SOURCE_KEYS = {"name", "builder", "dir", "patterns", "options", "description", "citation", "config", "hub"}
RECIPE_POINTER = "recipe:"  # the input path of a source's `hub` table: `recipe:<source>.hf.toml`
TOP_KEYS = {"dataset", "build", "sources", "steps", "mixture"}


@dataclass(frozen=True)
class SourceSpec:
    name: str  # also the config name in the released repo
    builder: str
    dir: str  # folder under the sources root
    patterns: tuple[str, ...] | None  # None: the builder's defaults
    options: dict[str, Any]
    description: str = ""
    config: str = ""  # the released config this source's rows go to (default: its name)
    # A Hugging Face dataset the source reads instead of files: the recipe's `hub` table
    # (`dataset`, a Hub id or a local folder in the Hub layout, and the builder's other keys).
    hub: dict[str, Any] = field(default_factory=dict)

    @property
    def hub_file(self) -> str:
        """The source's one input when it reads a Hub dataset (it names no file on disk)."""
        return f"{RECIPE_POINTER}{self.name}.hf.toml" if self.hub else ""

    @property
    def hub_pointer(self) -> bytes:
        """The `hub` table as the `*.hf.toml` pointer its builder reads (JSON strings are TOML
        basic strings)."""
        return "".join(f"{key} = {json.dumps(value)}\n" for key, value in sorted(self.hub.items())).encode()


@dataclass(frozen=True)
class StepSpec:
    step: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Recipe:
    path: Path
    name: str
    kind: str
    pretty_name: str
    summary: str
    card: str
    language: tuple[str, ...]
    task_categories: tuple[str, ...]
    tags: tuple[str, ...]
    source_datasets: tuple[str, ...]
    files_per_shard: int
    shard_mb: int  # a shard also ends once its input files hold this many MB (few large files: one shard each)
    rows_per_file: int
    row_group_size: int
    error_budget: float
    batch_rows: int  # rows a worker parses and runs through the map steps at a time (its memory follows it)
    # Rows (or per-row entries, e.g. LSH bands) a global step holds at a time in the driver:
    # above it, the rows are read from the shards in hash partitions (`medc.steps.rows`).
    partition_rows: int
    sources: tuple[SourceSpec, ...]
    steps: tuple[StepSpec, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)
    mixture: Mixture | None = field(default=None, compare=False)

    @property
    def sha256(self) -> str:
        """Hash of the recipe's content (canonical JSON), recorded in the manifest."""
        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_keys(where: str, table: Any, allowed: set[str], recipe: Path) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise UserError(f"recipe {recipe}: {where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(
            f"recipe {recipe}: unknown key {unknown[0]!r} in {where} (allowed: {', '.join(sorted(allowed))})"
        )
    return table


def _typed(recipe: Path, where: str, value: Any, kind: type | tuple[type, ...], default: Any = None) -> Any:
    if value is None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool or isinstance(value, float) and not math.isfinite(value):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UserError(f"recipe {recipe}: {where} must be a {names}, not {value!r}")
    return value


IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _identifier(recipe: Path, where: str, value: str) -> str:
    """Dataset, source and config names become folder names under `--out`: plain names only."""
    if not IDENTIFIER.fullmatch(value) or ".." in value:
        raise UserError(f"recipe {recipe}: {where} must be a plain name (letters, digits, _ . -; no / or ..), not {value!r}")
    return value


def _relative(recipe: Path, where: str, value: str) -> str:
    """A folder or glob under the sources root: relative, never climbing out of it."""
    pure = PurePosixPath(value.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", value) or "://" in value:
        raise UserError(f"recipe {recipe}: {where} must be a path under the sources root (relative, no ..), not {value!r}")
    return value


def default_recipe_path(dataset: str) -> Path:
    return PIPELINES_DIR / f"{dataset}.toml"


def load_recipe(path: Path) -> Recipe:
    """Read and validate a recipe; builders and steps are checked against their registries."""
    if not path.is_file():
        raise UserError(f"recipe {path} not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"recipe {path}: invalid TOML ({exc})") from None
    _check_keys("the recipe", raw, TOP_KEYS, path)
    ds = _check_keys("[dataset]", raw.get("dataset", {}), DATASET_KEYS, path)
    build = _check_keys("[build]", raw.get("build", {}), BUILD_KEYS, path)
    name = _typed(path, "dataset.name", ds.get("name"), str)
    if not name:
        raise UserError(f"recipe {path}: [dataset] needs a name")
    _identifier(path, "dataset.name", name)
    kind = _typed(path, "dataset.kind", ds.get("kind"), str)
    if kind not in SCHEMAS:
        raise UserError(f"recipe {path}: dataset.kind must be one of {sorted(SCHEMAS)}, not {kind!r}")

    sources = _sources(path, raw.get("sources", []), kind)
    step_specs = _steps(path, raw.get("steps", []), kind)
    _step_sources(path, step_specs, [s.name for s in sources])
    mixture = _mixture(path, raw.get("mixture"), [s.name for s in sources], step_specs)

    def positive_int(key: str, default: int) -> int:
        value = _typed(path, f"build.{key}", build.get(key), int, default)
        if value < 1:
            raise UserError(f"recipe {path}: build.{key} must be at least 1")
        return value

    card = _relative(path, "dataset.card", _typed(path, "dataset.card", ds.get("card"), str, f"{name}.md"))
    if not (CARDS_DIR / card).is_file():
        raise UserError(f"recipe {path}: dataset.card {card!r} is not a file in cards/")
    budget = _typed(path, "build.error_budget", build.get("error_budget"), (int, float), 0.01)
    if not 0 <= budget <= 1:
        raise UserError(f"recipe {path}: build.error_budget is a fraction between 0 and 1")
    return Recipe(
        path=path,
        name=name,
        kind=kind,
        pretty_name=_typed(path, "dataset.pretty_name", ds.get("pretty_name"), str, name),
        summary=_typed(path, "dataset.summary", ds.get("summary"), str, ""),
        card=card,
        language=tuple(_typed(path, "dataset.language", ds.get("language"), list, ["en"])),
        task_categories=tuple(_typed(path, "dataset.task_categories", ds.get("task_categories"), list, [])),
        tags=tuple(_typed(path, "dataset.tags", ds.get("tags"), list, [])),
        source_datasets=tuple(_typed(path, "dataset.source_datasets", ds.get("source_datasets"), list, ["original"])),
        files_per_shard=positive_int("files_per_shard", 16),
        shard_mb=positive_int("shard_mb", 256),
        rows_per_file=positive_int("rows_per_file", 100_000),
        row_group_size=positive_int("row_group_size", 1_000),
        error_budget=float(budget),
        batch_rows=positive_int("batch_rows", 20_000),
        partition_rows=positive_int("partition_rows", PARTITION_ROWS),
        sources=tuple(sources),
        steps=tuple(step_specs),
        raw=raw,
        mixture=mixture,
    )


def _sources(path: Path, raw_sources: Any, kind: str) -> list[SourceSpec]:
    """`[[sources]]`: names unique and not reserved, builders known and of the dataset's kind,
    options checked by the builder itself."""
    sources: list[SourceSpec] = []
    if not isinstance(raw_sources, list) or not raw_sources:
        raise UserError(f"recipe {path}: needs at least one [[sources]] entry")
    seen: set[str] = set()
    for i, src in enumerate(raw_sources):
        where = f"sources[{i}]"
        _check_keys(where, src, SOURCE_KEYS, path)
        sname = _typed(path, f"{where}.name", src.get("name"), str)
        bname = _typed(path, f"{where}.builder", src.get("builder"), str)
        if not sname or not bname:
            raise UserError(f"recipe {path}: {where} needs 'name' and 'builder'")
        _identifier(path, f"{where}.name", sname)
        if sname in seen or sname in ("default", "commercial") or src.get("config") in ("default", "commercial"):
            raise UserError(f"recipe {path}: source name {sname!r} is used twice or reserved")
        seen.add(sname)
        try:
            cls = builder_class(bname)
        except UserError as exc:
            raise UserError(f"recipe {path}: {where}: {exc}") from None
        if cls.kind != kind:
            raise UserError(f"recipe {path}: builder {bname!r} makes {cls.kind} rows, the dataset is {kind}")
        patterns = _typed(path, f"{where}.patterns", src.get("patterns"), list)
        if patterns is not None and not all(isinstance(p, str) for p in patterns):
            raise UserError(f"recipe {path}: {where}.patterns must be a list of strings")
        for pattern in patterns or []:
            _relative(path, f"{where}.patterns", pattern)
        options = _typed(path, f"{where}.options", src.get("options"), dict, {})
        hub = _hub(path, f"{where}.hub", src.get("hub"), cls.pointer_keys, bname)
        if hub and ("dir" in src or patterns):
            raise UserError(f"recipe {path}: {where}: a source reads either files (dir, patterns) or a Hub dataset (hub), not both")
        sources.append(
            SourceSpec(
                name=sname,
                builder=bname,
                dir=_relative(path, f"{where}.dir", _typed(path, f"{where}.dir", src.get("dir"), str, sname)),
                patterns=tuple(patterns) if patterns else None,
                options=options,
                description=_typed(path, f"{where}.description", src.get("description"), str, ""),
                config=_identifier(path, f"{where}.config", _typed(path, f"{where}.config", src.get("config"), str, sname)),
                hub=hub,
            )
        )
        try:
            cls(sname, options, SAMPLES_DIR)  # validates option names and values early
        except UserError as exc:
            raise UserError(f"recipe {path}: {exc}") from None

    return sources


def _hub(path: Path, where: str, table: Any, keys: frozenset[str], builder: str) -> dict[str, Any]:
    """A source's `hub` table: `dataset` and the pointer keys its builder reads, strings
    (`max_rows` a positive integer)."""
    if table is None:
        return {}
    if not keys:
        raise UserError(f"recipe {path}: {where}: builder {builder!r} reads files only, not a Hub dataset")
    _check_keys(where, table, set(keys), path)
    if not isinstance(table.get("dataset"), str) or not table["dataset"].strip():
        raise UserError(f"recipe {path}: {where} needs dataset = \"<Hub id or folder>\"")
    for key, value in table.items():
        if key == "max_rows":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"recipe {path}: {where}.max_rows must be a positive integer, not {value!r}")
        elif not isinstance(value, str):
            raise UserError(f"recipe {path}: {where}.{key} must be a string, not {value!r}")
    return dict(table)


def _steps(path: Path, raw_steps: Any, kind: str) -> list[StepSpec]:
    """`[[steps]]`: each step known, its parameters parsed and checked; a step that adds rows
    comes before every step that computes columns."""
    step_specs: list[StepSpec] = []
    if not isinstance(raw_steps, list):
        raise UserError(f"recipe {path}: steps must be [[steps]] tables")
    for i, st in enumerate(raw_steps):
        if not isinstance(st, dict) or "step" not in st:
            raise UserError(f"recipe {path}: steps[{i}] needs a 'step' key naming the step")
        params = {k: v for k, v in st.items() if k != "step"}
        made = make_step(st["step"], params, kind, where=f"recipe {path}: steps[{i}]")
        if getattr(made, "adds_rows", False):
            before = [p.step for p in step_specs
                      if p.step != "normalize_text" and not isinstance(make_step(p.step, p.params, kind), FilterStep)]
            if before:
                raise UserError(f"recipe {path}: steps[{i}]: step {st['step']!r} adds rows, so it must come before "
                                f"{before[0]!r} (which computes columns per row)")
        if st["step"] == "deidentify":
            before = [p.step for p in step_specs if p.step != "normalize_text"]
            if before:
                raise UserError(f"recipe {path}: steps[{i}]: step 'deidentify' must come first (after normalize_text "
                                f"at most), before {before[0]!r}: no step may see, count or drop text before it")
        step_specs.append(StepSpec(st["step"], params))

    return step_specs


def _step_sources(path: Path, step_specs: list[StepSpec], source_names: list[str]) -> None:
    """A step's `sources` (a list, or per-source tables) names sources of this recipe: a
    misspelt name would silently leave a source out (e.g. not de-identified)."""
    for i, spec in enumerate(step_specs):
        named = list(spec.params.get("sources") or [])
        named += [n for rule in spec.params.get("rules") or [] if isinstance(rule, dict) for n in rule.get("sources") or []]
        for name in named:
            if name not in source_names:
                close = difflib.get_close_matches(name, source_names, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"sources: {', '.join(source_names)}"
                raise UserError(f"recipe {path}: steps[{i}] ({spec.step}): {name!r} is not a source of this recipe ({hint})")


def _mixture(path: Path, table: Any, source_names: list[str], step_specs: list[StepSpec]) -> Mixture | None:
    """`[mixture]`: groups of sources and their weights, e.g. PMC-LLaMA's papers : books :
    general = 15 : 4 : 1. Every source belongs to exactly one group."""
    if table is None:
        return None
    t = _check_keys("[mixture]", table, {"unit", "groups", "weights"}, path)
    unit = _typed(path, "mixture.unit", t.get("unit"), str, "words")
    if unit not in ("words", "tokens"):
        raise UserError(f"recipe {path}: mixture.unit is words or tokens, not {unit!r}")
    if unit == "tokens" and not any(s.step == "count_tokens" for s in step_specs):
        raise UserError(f"recipe {path}: mixture.unit = \"tokens\" needs a count_tokens step (with your tokenizer)")
    groups = _typed(path, "mixture.groups", t.get("groups"), dict)
    weights = _typed(path, "mixture.weights", t.get("weights"), dict)
    if not groups or not weights:
        raise UserError(f"recipe {path}: [mixture] needs groups = {{group = [sources]}} and weights = {{group = number}}")
    seen: dict[str, str] = {}
    for group, members in groups.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise UserError(f"recipe {path}: mixture.groups.{group} must be a list of source names")
        for m in members:
            if m not in source_names:
                raise UserError(f"recipe {path}: mixture.groups.{group} names {m!r}, which is not a source of the recipe")
            if m in seen:
                raise UserError(f"recipe {path}: source {m!r} is in mixture groups {seen[m]!r} and {group!r}")
            seen[m] = group
    missing = [n for n in source_names if n not in seen]
    if missing:
        raise UserError(f"recipe {path}: source {missing[0]!r} is in no mixture group")
    if set(weights) != set(groups):
        odd = sorted(set(weights) ^ set(groups))[0]
        raise UserError(f"recipe {path}: mixture group {odd!r} needs both a member list and a weight")
    for group, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise UserError(f"recipe {path}: mixture.weights.{group} must be a number >= 0")
    if sum(weights.values()) <= 0:
        raise UserError(f"recipe {path}: mixture weights sum to 0")
    return Mixture(unit, {g: list(m) for g, m in groups.items()}, {g: float(w) for g, w in weights.items()})
