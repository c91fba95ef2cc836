"""Planning a build: which input files each shard task reads, and the fingerprints that say
whether a completed shard in the cache can be reused.

A shard's fingerprint covers what its parse and map steps compute: the package version, its
source's spec, the recipe's map steps, the files its builder reads besides its inputs
(`Builder.companions`: OA file lists, S2ORC metadata, CNXML modules), and its own files:
[path, size, content hash] locally (see `medc.files.content_hashes`), [path, size, ETag or
other version] remotely. Each global step's signature columns have a fingerprint of their
own (`GlobalStep.signature_key`, plus the files the step reads, e.g. benchmark test sets):
when only those change, the cached rows are kept and only the signatures are computed again
(`ShardTask.resign`). Filter steps run later on stored columns and never invalidate a shard.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medc import __version__
from medc.engine.shard_cache import shard_name, shard_stem
from medc.files.storage import Tree
from medc.ingest.builder import builder_class
from medc.recipes.recipe import Recipe, SourceSpec
from medc.steps.base import FilterStep, GlobalStep, MapStep, make_step

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
    # Fingerprint of each global step's signature columns: (step, fingerprint).
    signatures: tuple[tuple[str, str], ...] = ()
    # Global steps whose signatures alone are to be computed again on the cached rows.
    resign: tuple[str, ...] = ()
    # The cached shard's number (or its source's) changed: its row keys are rewritten, nothing parsed.
    rekey: bool = False
    # `--profile`: the folder the shard's cProfile goes to (local to the worker); "" for none.
    profile_dir: str = ""
    # Rows parsed and run through the map steps at a time (the recipe's `batch_rows`): the
    # worker's memory, not the shard's output, depends on it.
    batch_rows: int = 20_000

    @property
    def name(self) -> str:
        return shard_name(self.files[0])

    @property
    def stem(self) -> str:
        """Where the shard's outputs go: `<stem>.parquet` and its marker `<stem>.json`."""
        return shard_stem(self.cache_dir, self.source.name, self.name)


@dataclass
class SourcePlan:
    spec: SourceSpec
    index: int
    folder: Path
    files: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | absent | empty | references (the folder holds benchmark test files only)
    tasks: list[ShardTask] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, why) matching files that are never read


def source_patterns(spec: SourceSpec) -> tuple[str, ...]:
    """The globs a source's files are found by: the recipe's `patterns`, else its builder's."""
    return tuple(spec.patterns or builder_class(spec.builder).patterns)


def shard_groups(files: list[str], files_per_shard: int, sizes: dict[str, int] | None = None,
                 shard_bytes: int | None = None) -> list[list[str]]:
    """The sorted files cut into shards: a shard ends before a file whose path hash says so
    (one file in `files_per_shard` on average), once it holds 4 × `files_per_shard` files, or
    once its files hold `shard_bytes` (`sizes`: bytes per file; a few large files, such as
    PubMed's baseline, are then a shard each instead of one shard taking most of them).
    A hash cut depends on the file's own name, not on its position, so a file added to (or
    removed from) a source changes its own shard only (and, through the count and size
    limits, at most the shards up to the next hash cut): the other shards keep their files,
    their names (`shard_name`) and their cached rows; when their numbers move, only their row
    keys are rewritten (`ShardTask.resign` with a moved shard, no parsing)."""
    groups: list[list[str]] = []
    current: list[str] = []
    held = 0
    for f in files:
        starts = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "big") % files_per_shard == 0
        full = len(current) >= 4 * files_per_shard or shard_bytes is not None and held >= shard_bytes
        if current and (starts or full):
            groups.append(current)
            current, held = [], 0
        current.append(f)
        held += (sizes or {}).get(f, 0)
    if current:
        groups.append(current)
    return groups


def freeze(params: dict[str, Any]) -> FrozenParams:
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in params.items()))


def thaw(params: FrozenParams) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in params}


def reference_patterns(recipe: Recipe) -> list[str]:
    """Globs of the files the recipe's steps read under the sources root (benchmark test sets)."""
    return sorted({p for s in recipe.steps for p in make_step(s.step, s.params, recipe.kind).reference_patterns()})


def signature_fingerprints(made: list[tuple[Any, Any]], tree: Tree) -> tuple[tuple[str, str], ...]:
    """(step, fingerprint) of each global step's signature columns (see the module docstring)."""
    out = []
    for s, step in made:
        if isinstance(step, GlobalStep):
            refs = tree.glob(sorted(step.reference_patterns()))
            payload = [s.step, step.signature_key(), step.cache_version, [tree.stat(rel) for rel in refs]]
            out.append((s.step, hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()))
    return tuple(out)


def resignable(recipe: Recipe) -> frozenset[str]:
    """Global steps whose signatures can be computed again on a cached shard: no map step comes
    after them in the recipe (a later map step could have changed the rows they were computed on)."""
    made = [make_step(s.step, s.params, recipe.kind) for s in recipe.steps]
    last_map = max((i for i, step in enumerate(made) if isinstance(step, MapStep)), default=-1)
    return frozenset(s.step for i, (s, step) in enumerate(zip(recipe.steps, made)) if isinstance(step, GlobalStep) and i > last_map)


def fingerprint(kind: str, spec: SourceSpec, steps: Any, stats: list[list[Any]]) -> str:
    """What a shard's rows depend on (see the module docstring)."""
    payload = {
        "version": __version__,
        "kind": kind,
        "source": [spec.name, spec.builder, spec.dir, spec.patterns, json.dumps(spec.options, sort_keys=True)],
        "steps": steps,
        "files": stats,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def input_stat(spec: SourceSpec, tree: Tree, rel: str) -> list[Any]:
    """[path, size, version] of an input file; of the recipe's `hub` table, its pointer's sha256."""
    if rel == spec.hub_file:
        return [rel, len(spec.hub_pointer), hashlib.sha256(spec.hub_pointer).hexdigest()]
    return tree.stat(rel)


def plan(recipe: Recipe, tree: Tree, cache_dir: str) -> list[SourcePlan]:
    """One plan per recipe source, with its shard tasks when it has input files."""
    made = [(s, make_step(s.step, s.params, recipe.kind)) for s in recipe.steps]
    steps = tuple((s.step, freeze(s.params)) for s, step in made if not isinstance(step, FilterStep))
    map_steps = tuple((s.step, freeze(s.params)) for s, step in made if isinstance(step, MapStep))
    versions = {s.step: step.cache_version for s, step in made if isinstance(step, MapStep) and step.cache_version != 1}
    signatures = signature_fingerprints(made, tree)
    references = tree.glob(reference_patterns(recipe))
    plans: list[SourcePlan] = []
    for index, spec in enumerate(recipe.sources):
        sp = SourcePlan(spec, index, Path(spec.dir))
        plans.append(sp)
        builder = builder_class(spec.builder)
        if spec.hub:  # one input, the recipe's pointer: read on the worker, never from the tree
            sp.files = [spec.hub_file]
        elif not tree.is_dir(spec.dir):
            sp.status = "absent"
            continue
        else:  # paths stay relative to the sources root, so a manifest never names this machine
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
        file_stats = {f: input_stat(spec, tree, f) for f in sp.files}
        sizes = {f: int(stat[1]) for f, stat in file_stats.items()}
        for shard, group in enumerate(shard_groups(sp.files, recipe.files_per_shard, sizes, recipe.shard_mb * 1_000_000)):
            files = tuple(group)
            stats = [file_stats[f] for f in files]
            fp = fingerprint(recipe.kind, spec, (map_steps, companion_stats, versions), stats)
            hashes = tuple(str(s[2]) for s in stats) if tree.local is not None else ()
            sp.tasks.append(ShardTask(recipe.kind, spec, index, shard, files, str(tree), steps, cache_dir, fp, shared, hashes,
                                      signatures, batch_rows=recipe.batch_rows))
    return plans
