"""The build manifest (`build_manifest.json`) as typed objects: written by the build engine,
read by the card, `verify`, `publish` and the training loader. `Manifest.to_json()` gives
the JSON object (keys in a fixed order); `Manifest.load(path)` reads one back and refuses
a file that is not a manifest with a one-line `UserError`."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from medc.errors import UserError

MANIFEST_NAME = "build_manifest.json"
T = TypeVar("T")


def _key(f: Any) -> str:
    return f.metadata.get("json", f.name)


def to_json(value: Any) -> Any:
    """Dataclasses as JSON objects (fields in declaration order, renamed by `metadata["json"]`;
    fields marked `omit_none` left out when None, and those a dataclass's `omitted()` names),
    recursively."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {}
        omitted = value.omitted() if hasattr(value, "omitted") else ()
        for f in fields(value):
            v = getattr(value, f.name)
            if f.name in omitted or (v is None and f.metadata.get("omit_none")):
                continue
            out[_key(f)] = to_json(v)
        return out
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(hint: Any, data: Any, where: str) -> Any:
    """A value of type `hint` from its JSON form; `ValueError` naming `where` when it does not fit."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return from_json(inner, data, where)
    if origin is list:
        if not isinstance(data, list):
            raise ValueError(f"{where} is not a list")
        (item,) = typing.get_args(hint)
        return [from_json(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise ValueError(f"{where} is not an object")
        _, item = typing.get_args(hint)
        return {k: from_json(item, v, f"{where}.{k}") for k, v in data.items()}
    if is_dataclass(hint):
        if not isinstance(data, dict):
            raise ValueError(f"{where} is not an object")
        hints = get_type_hints(hint)
        values = {}
        for f in fields(hint):
            key = _key(f)
            if key in data:
                values[f.name] = from_json(hints[f.name], data[key], f"{where}.{key}")
            elif f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(f"{where} has no {key!r}")
        return hint(**values)
    if hint is Any:
        return data
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if not isinstance(data, hint) or (hint is int and isinstance(data, bool)):
        raise ValueError(f"{where} is not a {hint.__name__}")
    return data


@dataclass
class OutputFile:
    path: str  # relative to the repo, e.g. data/pmc_jats/train-00000-of-00001.parquet
    rows: int
    bytes: int
    sha256: str


@dataclass
class ConfigOutputs:
    sources: list[str]
    rows: int
    outputs: list[OutputFile]


@dataclass
class CommercialOutputs:
    rows: int = 0
    outputs: list[OutputFile] = field(default_factory=list)


@dataclass
class RecipeInfo:
    file: str
    sha256: str
    content: dict[str, Any]


@dataclass
class StepCount:
    """Rows into and out of one step for one source, and why rows were dropped."""

    step: str
    rows_in: int = field(metadata={"json": "in"})
    rows_out: int = field(metadata={"json": "out"})
    dropped: dict[str, int]
    # What the step changed in the rows it kept, counted (the `deidentify` step: identifiers per type).
    audit: dict[str, int] | None = field(default=None, metadata={"omit_none": True})


@dataclass
class LengthHistogram:
    edges: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)


SOURCE_OK = "ok"


@dataclass
class SourceEntry:
    """One source of the recipe: `status` ok, absent (no folder), empty (no matching file) or
    references (only benchmark test files, read for decontamination);
    the counts only for a source that was built."""

    builder: str
    dir: str  # "" for a source that reads a Hub dataset (`hub`)
    status: str
    files: int = 0
    failed_files: int = 0
    records: int = 0
    record_errors: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rows_built: int = 0
    steps: list[StepCount] = field(default_factory=list)
    config: str = ""
    rows: int = 0
    words: int = 0
    tokens: int | None = None
    length_histogram: LengthHistogram = field(default_factory=LengthHistogram)
    # Words counted by row weight (a `weight` step): what the loader draws per epoch.
    weighted_words: int | None = field(default=None, metadata={"omit_none": True})
    # The recipe's `hub` table (the Hugging Face dataset the source read), when it has one.
    hub: dict[str, Any] | None = field(default=None, metadata={"omit_none": True})
    # Records read into another row (joined metadata, modules of a collection): not losses.
    info: dict[str, int] = field(default_factory=dict)

    @property
    def built(self) -> bool:
        return self.status == SOURCE_OK

    def omitted(self) -> tuple[str, ...]:
        """A source that was not built has no counts in the JSON."""
        return () if self.built else tuple(f.name for f in fields(self))[3:]


@dataclass
class GlobalStepReport:
    """One step decided in the driver (filters, unique ids, global steps), over all sources."""

    step: str
    rows_in: int = field(metadata={"json": "in"})
    rows_out: int = field(metadata={"json": "out"})
    dropped: dict[str, dict[str, int]]  # source -> reason -> rows
    report: dict[str, Any] | None = field(default=None, metadata={"omit_none": True})


@dataclass
class GroupShare:
    weight: float
    declared_share: float
    sources: list[str]
    documents: int
    words: int
    tokens: int | None
    effective_share: float = 0.0


@dataclass
class MixtureReport:
    unit: str
    groups: dict[str, GroupShare]
    missing_groups: list[str]
    source_weights: dict[str, float]


@dataclass
class Totals:
    files: int = 0
    failed_files: int = 0
    records: int = 0
    record_errors: int = 0
    rows_built: int = 0
    rows: int = 0


@dataclass
class InputFile:
    source: str
    path: str
    sha256: str
    bytes: int
    records: int
    rows: int
    skipped: dict[str, int]
    failed: bool


@dataclass
class InputError:
    source: str
    file: str
    record: str
    reason: str


@dataclass
class ExecutorInfo:
    kind: str
    workers: int


@dataclass
class Throughput:
    """One stage of one source's map work, summed over its shards: seconds of one core, the
    documents it handled and their megabytes (input files for `parse`, text for the steps),
    and the rates per core."""

    seconds: float
    docs: int
    megabytes: float
    docs_per_s: float
    mb_per_s: float


@dataclass
class ErrorBudget:
    budget: float
    error_rate: float
    exceeded: bool


@dataclass
class Manifest:
    dataset: str
    configs: dict[str, ConfigOutputs]
    commercial: CommercialOutputs
    kind: str
    medc_version: str
    recipe: RecipeInfo
    sources_root: str
    sources: dict[str, SourceEntry]
    global_steps: list[GlobalStepReport]
    mixture: MixtureReport | None
    totals: Totals
    inputs: list[InputFile]
    errors: list[InputError]
    timings: dict[str, float]
    executor: ExecutorInfo | None = field(default=None, metadata={"omit_none": True})
    error_budget: ErrorBudget | None = field(default=None, metadata={"omit_none": True})
    licenses: dict[str, dict[str, int]] | None = field(default=None, metadata={"omit_none": True})  # source -> licence -> rows
    # source -> stage (parse, a map step, `signatures:<global step>`) -> throughput per core, from
    # each shard's marker (measured when that shard was computed; a cached shard keeps its figures).
    throughput: dict[str, dict[str, Throughput]] = field(default_factory=dict)

    def released_configs(self) -> list[str]:
        """Configs with rows, in recipe order."""
        return [name for name, c in self.configs.items() if c.rows > 0]

    def config_outputs(self) -> dict[str, list[OutputFile]]:
        """The data files of every released config, `commercial` included when it has rows."""
        files = {name: self.configs[name].outputs for name in self.released_configs()}
        if self.commercial.rows:
            files["commercial"] = self.commercial.outputs
        return files

    def all_outputs(self) -> list[OutputFile]:
        return [o for c in self.configs.values() for o in c.outputs] + list(self.commercial.outputs)

    def global_step(self, name: str) -> GlobalStepReport | None:
        return next((g for g in self.global_steps if g.step == name), None)

    def unchecked_benchmarks(self) -> dict[str, str]:
        """Benchmarks the decontamination step could not check, with why: a test file that could
        not be read whole, or no test file at all."""
        decon = self.global_step("decontaminate")
        out = {}
        for name, b in ((decon.report or {}).get("benchmarks", {}) if decon else {}).items():
            if "error" in b:
                out[name] = b["error"]
            elif not b.get("files"):
                out[name] = "no test file under the sources root"
        return out

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, data: Any, where: str = "manifest") -> Manifest:
        return from_json(cls, data, where)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_json(data, path.name)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as exc:
            raise UserError(f"{path}: not a readable build manifest ({exc})") from None
