"""Planning a build: which input files each shard task reads, and the fingerprint that says
whether a completed shard in the cache can be reused.

A shard's fingerprint covers the package version, its source's spec, the recipe's
non-filter steps (filter steps run later on stored columns, so changing one never
invalidates a shard), the files its steps read besides the inputs (benchmark test sets),
the files its builder reads besides them (`Builder.companions`: OA file lists, S2ORC
metadata, CNXML modules), and its own files: [path, size, content hash] locally (see
`medc.files.content_hashes`), [path, size, ETag or other version] remotely.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medc import __version__
from medc.engine.shard_cache import shard_stem
from medc.files.storage import Tree
from medc.ingest.builder import builder_class
from medc.recipes.recipe import Recipe, SourceSpec
from medc.steps.base import FilterStep, make_step

FrozenParams = tuple[tuple[str, str], ...]  # a step's parameters, hashable and picklable


@dataclass(frozen=True)
class ShardTask:
    kind: str
    source: SourceSpec
    source_index: int
    shard_index: int
    files: tuple[str, ...]  # paths relative to the sources root (posix)
    sources_root: str  # a local path or an fsspec URL
    steps: tuple[tuple[str, FrozenParams], ...]
    cache_dir: str  # a local path or an fsspec URL
    fingerprint: str
    # Remote sources only: files read besides the inputs, staged on the worker's node: (path, size, version).
    shared: tuple[tuple[str, int, str], ...] = ()
    # Local sources: the sha256 of each input, as the plan read it (the worker need not read it again).
    input_hashes: tuple[str, ...] = ()

    @property
    def stem(self) -> str:
        """Where the shard's outputs go: `<stem>.parquet` and its marker `<stem>.json`."""
        return shard_stem(self.cache_dir, self.source.name, self.shard_index)


@dataclass
class SourcePlan:
    spec: SourceSpec
    index: int
    folder: Path
    files: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | absent | empty
    tasks: list[ShardTask] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, why) matching files that are never read


def source_patterns(spec: SourceSpec) -> tuple[str, ...]:
    """The globs a source's files are found by: the recipe's `patterns`, else its builder's."""
    return tuple(spec.patterns or builder_class(spec.builder).patterns)


def freeze(params: dict[str, Any]) -> FrozenParams:
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in params.items()))


def thaw(params: FrozenParams) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in params}


def reference_patterns(recipe: Recipe) -> list[str]:
    """Globs of the files the recipe's steps read under the sources root (benchmark test sets)."""
    return sorted({p for s in recipe.steps for p in make_step(s.step, s.params, recipe.kind).reference_patterns()})


def fingerprint(kind: str, spec: SourceSpec, steps: Any, stats: list[list[Any]]) -> str:
    """What a shard's output depends on (see the module docstring)."""
    payload = {
        "version": __version__,
        "kind": kind,
        "source": [spec.name, spec.builder, spec.dir, spec.patterns, json.dumps(spec.options, sort_keys=True)],
        "steps": steps,
        "files": stats,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def plan(recipe: Recipe, tree: Tree, cache_dir: str) -> list[SourcePlan]:
    """One plan per recipe source, with its shard tasks when it has input files."""
    made = [(s, make_step(s.step, s.params, recipe.kind)) for s in recipe.steps]
    steps = tuple((s.step, freeze(s.params)) for s, step in made if not isinstance(step, FilterStep))
    versions = {s.step: step.cache_version for s, step in made if step.cache_version != 1}
    references = tree.glob(reference_patterns(recipe))
    ref_stats = [tree.stat(rel) for rel in references]
    plans: list[SourcePlan] = []
    for index, spec in enumerate(recipe.sources):
        sp = SourcePlan(spec, index, Path(spec.dir))
        plans.append(sp)
        if not tree.is_dir(spec.dir):
            sp.status = "absent"
            continue
        builder = builder_class(spec.builder)
        # Paths stay relative to the sources root, so a manifest never names this machine.
        sp.files = tree.glob(source_patterns(spec), under=spec.dir, refused=sp.refused)
        if not sp.files:
            sp.status = "empty"
            continue
        # What a task reads besides its inputs (file lists, metadata, modules): in every shard's
        # fingerprint, and staged on the task's node when the sources are remote.
        companions = tree.glob(builder.companions({**builder.defaults, **spec.options}, spec.dir))
        companion_stats = [tree.stat(rel) for rel in companions]
        shared: tuple[tuple[str, int, str], ...] = ()
        if tree.url:
            shared = tuple((rel, *tree.files[rel]) for rel in sorted(set(references) | set(companions)))
        for shard, start in enumerate(range(0, len(sp.files), recipe.files_per_shard)):
            files = tuple(sp.files[start : start + recipe.files_per_shard])
            stats = [tree.stat(f) for f in files]
            fp = fingerprint(recipe.kind, spec, (steps, ref_stats, companion_stats, versions), stats)
            hashes = tuple(str(s[2]) for s in stats) if tree.local is not None else ()
            sp.tasks.append(ShardTask(recipe.kind, spec, index, shard, files, str(tree), steps, cache_dir, fp, shared, hashes))
    return plans
