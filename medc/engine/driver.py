"""One dataset build, as a list of named stages: plan shards, run the map stage on the
executor, decide globally, write the configs, assemble the manifest and write the repo.

Where state lives (`<out>/.medc-cache/<dataset>/`): each shard's rows and report, the report
written last as its completion marker; a rerun skips every shard whose marker carries the
shard's fingerprint, so a killed build resumes. With a URL `--out`, shards are kept under
`<out>/.medc-cache/` (shared by every node) and the repo is written in a local work folder,
then uploaded.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medc.engine.executors import LocalExecutor, RayExecutor
from medc.engine.global_stage import global_decisions
from medc.engine.manifest_assembly import assemble_manifest
from medc.engine.map_stage import run_shard
from medc.engine.profiling import write_summary
from medc.engine.plan import ShardTask, SourcePlan, plan, reference_patterns, resignable, source_patterns
from medc.engine.progress import Progress
from medc.engine.shard_cache import CACHE_DIR, cached_shard, fetch_shard, read_marker, shard_stem
from medc.engine.write_stage import COMMERCIAL_CONFIG, write_commercial, write_config
from medc.errors import NothingToBuild, UserError
from medc.files import storage
from medc.files.content_hashes import ContentHashes
from medc.files.lock import exclusive
from medc.files.storage import Tree, is_url, join
from medc.recipes.recipe import Recipe
from medc.release.manifest import ErrorBudget, ExecutorInfo, Manifest
from medc.release.repo import swap_in, write_repo


@dataclass
class BuildResult:
    recipe: Recipe
    repo: Path  # the repo folder written (with a remote --out: the local copy that was uploaded)
    manifest: Manifest
    error_rate: float
    budget_exceeded: bool
    location: str = ""  # where the repo is: `repo`, or its URL
    shards: dict[str, int] = field(default_factory=dict)  # reused / signatures recomputed / recomputed


@dataclass
class Layout:
    """Where one build reads and writes."""

    tree: Tree  # the sources
    remote_out: str | None  # the --out URL, or None for a local --out
    local_out: Path  # --out, or the driver's work folder for a URL --out
    dataset: str

    @property
    def cache_dir(self) -> str:
        """Where the shards are, for every node."""
        return join(self.remote_out or str(self.local_out), CACHE_DIR, self.dataset)

    @property
    def local_cache(self) -> Path:
        """Where the driver reads the shards."""
        return self.local_out / CACHE_DIR / self.dataset

    def local_stem(self, t: ShardTask) -> Path:
        return Path(shard_stem(str(self.local_cache), t.source.name, t.name))

    @property
    def repo(self) -> Path:
        return self.local_out / self.dataset

    @property
    def staging(self) -> Path:
        """Where the release is written before it is swapped in as `repo`."""
        return self.local_cache / "release"


@dataclass
class Timer:
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.timings[f"{name}_seconds"] = round(time.perf_counter() - t, 3)

    def total(self) -> dict[str, float]:
        return {**self.timings, "total_seconds": round(time.perf_counter() - self.started, 3)}


def default_work_dir(out: str) -> Path:
    """The driver's local folder for a build whose --out is a URL (shard copies, the repo before upload)."""
    return storage.stage_dir() / "work" / hashlib.sha256(out.encode()).hexdigest()[:16]


def build_dataset(
    recipe: Recipe,
    sources_root: str | Path,
    out_dir: str | Path,
    workers: int | None = None,
    error_budget: float | None = None,
    progress: Progress | None = None,
    sources_label: str = "",
    keep_dropped: bool = False,
    executor: LocalExecutor | RayExecutor | None = None,
    work_dir: Path | None = None,
    strict: bool = False,
    profile_dir: Path | None = None,
) -> BuildResult:
    """Build one dataset repo. `sources_root` and `out_dir` are local folders or fsspec URLs.
    One build at a time writes a dataset under one output folder (a lock in its cache)."""
    remote_out = str(out_dir).rstrip("/") if is_url(out_dir) else None
    local_out = (work_dir or default_work_dir(remote_out)) if remote_out else Path(out_dir)
    hashes = ContentHashes(local_out / CACHE_DIR / recipe.name / "input-hashes.json")
    layout = Layout(Tree(sources_root, hashes), remote_out, local_out, recipe.name)
    with exclusive(layout.local_cache / "build.lock", f"{out_dir} ({recipe.name})"):
        return run_build(recipe, layout, hashes, executor or LocalExecutor(workers), progress or Progress(enabled=False),
                         error_budget, sources_label, keep_dropped, strict, profile_dir)


def run_build(recipe: Recipe, layout: Layout, hashes: ContentHashes, executor: LocalExecutor | RayExecutor, progress: Progress,
              error_budget: float | None, sources_label: str, keep_dropped: bool, strict: bool = False,
              profile_dir: Path | None = None) -> BuildResult:
    """The stages of one build, in order (the caller holds the output folder's lock)."""
    timer = Timer()
    remote_out = layout.remote_out

    with timer.stage("map"):
        plans = plan(recipe, layout.tree, layout.cache_dir)
        active = announce_sources(recipe, plans, layout.tree, progress, strict)
        tasks = [t for p in active for t in p.tasks]
        hashes.save()
        shard_counts = run_map_stage(recipe, tasks, layout.tree, executor, progress, profile_dir)
        if profile_dir is not None and (summary := write_summary(profile_dir / recipe.name)):
            progress.notice(f"{recipe.name}: map-stage profile in {summary}")
    if remote_out:
        for t in tasks:
            if problem := fetch_shard(t.stem, layout.local_stem(t), t.fingerprint):
                progress.notice(f"{recipe.name}: shard {t.shard_index} of source {t.source.name!r} in the cache is damaged "
                                f"({problem}): recomputed")
                run_shard(t)
                if problem := fetch_shard(t.stem, layout.local_stem(t), t.fingerprint):
                    raise RuntimeError(f"{t.stem}.parquet changed while the build was reading it ({problem})")
    shard_reports = {(t.source.name, t.shard_index): json.loads(layout.local_stem(t).with_suffix(".json").read_text()) for t in tasks}
    shard_files = [layout.local_stem(t).with_suffix(".parquet") for t in tasks]

    with timer.stage("global"), driver_root(layout.tree, recipe) as root:
        # Workers of the global stage (near-dup verification) read the shards where every node sees them.
        shared_shards = [t.stem + ".parquet" for t in tasks] if remote_out else None
        withdrawn: dict[str, int] = {}
        for report in shard_reports.values():
            for row_id, key in report.get("withdrawn", []):
                withdrawn[row_id] = max(withdrawn.get(row_id, 0), key)
        drops, global_reports, step_seconds = global_decisions(recipe, shard_files, root, layout.local_cache, executor.map_unordered, shared_shards,
                                                 withdrawn)

    with timer.stage("write"):
        # The release is written whole in a staging folder, then swapped in (`swap_in`).
        if layout.staging.exists():
            shutil.rmtree(layout.staging)
        config_sources: dict[str, list[str]] = {}
        for p in active:
            config_sources.setdefault(p.spec.config, []).append(p.spec.name)
        written: dict[str, list[dict[str, Any]]] = {}
        stats: dict[str, dict[str, Any]] = {}
        for config, names in config_sources.items():
            files = [layout.local_stem(t).with_suffix(".parquet") for p in active if p.spec.name in names for t in p.tasks]
            dropped_dir = layout.local_out / f"{recipe.name}-dropped" if keep_dropped else None
            written[config], config_stats = write_config(files, drops, layout.staging / "data" / config, recipe, dropped_dir)
            stats.update(config_stats)
        written[COMMERCIAL_CONFIG] = write_commercial(layout.staging, [name for name, files in written.items() if files], recipe)

    timings = {**timer.total(), **{f"global_step:{name}_seconds": secs for name, secs in step_seconds.items()}}
    manifest = assemble_manifest(recipe, plans, shard_reports, global_reports, written, layout.staging, timings,
                                 sources_label, stats, config_sources)
    manifest.executor = ExecutorInfo("ray" if isinstance(executor, RayExecutor) else "local", executor.workers)
    error_rate = judge_errors(manifest, recipe.error_budget if error_budget is None else error_budget)
    write_repo(recipe, layout.staging, manifest)
    swap_in(layout.staging, layout.repo)
    location = upload_repo(layout, recipe, keep_dropped, progress) if remote_out else str(layout.repo)
    assert manifest.error_budget is not None
    return BuildResult(recipe, layout.repo, manifest, error_rate, manifest.error_budget.exceeded, location, shard_counts)


def announce_sources(recipe: Recipe, plans: list[SourcePlan], tree: Tree, progress: Progress,
                     strict: bool = False) -> list[SourcePlan]:
    """The sources with input files; a notice for each absent folder, a warning for each folder
    that holds no matching file (an error with `strict`); NothingToBuild when none has any."""
    for p in plans:
        if p.status == "absent":
            progress.notice(f"{recipe.name}: source {p.spec.name!r} skipped: folder {p.spec.dir}/ not found under the sources root")
    references = set(tree.glob(reference_patterns(recipe)))
    for p in (p for p in plans if p.status == "empty"):
        message = (f"{recipe.name}: source {p.spec.name!r}: folder {p.spec.dir}/ exists but holds no file matching "
                   f"{', '.join(source_patterns(p.spec))}")
        held = tree.glob(["**/*"], under=p.spec.dir)
        if held and set(held) <= references:  # e.g. medqa/ with the test set only: it is there for decontamination
            p.status = "references"
            progress.notice(f"{message}; it holds benchmark test files only (read for decontamination)")
            continue
        if strict:
            raise UserError(f"{message} (--strict)")
        progress.warning(message)
    for p in plans:
        if p.refused:
            progress.notice(f"{recipe.name}: source {p.spec.name!r}: {len(p.refused)} file(s) not read (e.g. {p.refused[0][0]}: "
                            f"{p.refused[0][1]})")
    active = [p for p in plans if p.status == "ok"]
    if not active:
        raise NothingToBuild(
            f"{recipe.name}: none of the sources ({', '.join(s.name for s in recipe.sources)}) has input files under "
            f"{tree}; see the README for the expected layout"
        )
    return active


def run_map_stage(recipe: Recipe, tasks: list[ShardTask], tree: Tree, executor: LocalExecutor | RayExecutor,
                  progress: Progress, profile_dir: Path | None = None) -> dict[str, int]:
    """Every shard whose cached copy is missing, stale or damaged (with a notice), on the executor;
    a cached shard whose rows still hold but whose global-step signatures are stale has only
    those computed again. Returns how many shards were reused, re-signed and recomputed."""
    todo = []
    signature_only = resignable(recipe)
    counts = {"reused": 0, "keys rewritten": 0, "signatures recomputed": 0, "signatures restored": 0, "recomputed": 0}
    for t in tasks:
        inputs = dict(zip(t.files, t.input_hashes)) if t.input_hashes else None  # as the plan read them
        usable, damage = cached_shard(t.stem, t.fingerprint, inputs)
        if damage:
            progress.notice(f"{recipe.name}: shard {t.shard_index} of source {t.source.name!r} in the cache is damaged ({damage}): recomputed")
        if not usable:
            todo.append(t)
            counts["recomputed"] += 1
            continue
        marker = read_marker(t.stem) or {}
        if "source_index" not in marker:  # written before shards could move: computed again
            todo.append(t)
            counts["recomputed"] += 1
            continue
        stale = tuple(name for name, fp in t.signatures if (marker.get("signatures") or {}).get(name) != fp)
        moved = (marker.get("source_index"), marker.get("shard")) != (t.source_index, t.shard_index)  # keys to rewrite
        if not stale and not moved:
            counts["reused"] += 1
        elif set(stale) <= signature_only:
            todo.append(replace(t, resign=stale, rekey=moved))
            if not stale:
                counts["keys rewritten"] += 1  # re-signed shards are counted from their reports
        else:
            todo.append(t)
            counts["recomputed"] += 1
    if profile_dir is not None:
        todo = [replace(t, profile_dir=str(profile_dir / recipe.name)) for t in todo]
    resigned = {(t.source_index, t.shard_index): t.resign for t in todo if t.resign}
    with progress.bar(f"{recipe.name}: parse+map", total=len(todo), files=sum(len(t.files) for t in todo if not (t.resign or t.rekey))) as bar:
        for result in executor.map_unordered(run_shard, todo):
            bar.advance(files=len(result["files"]), records=sum(f["records"] for f in result["files"]))
            if "signatures_restored" in result:  # re-signed: every stale step's columns kept from before, or not
                stale = resigned.get((result["source_index"], result["shard"]), ())
                if stale:
                    counts["signatures restored" if set(stale) <= set(result["signatures_restored"]) else "signatures recomputed"] += 1
    return counts


def judge_errors(manifest: Manifest, budget: float) -> float:
    """The build's error rate (failed files and bad records over files and records read),
    recorded in the manifest against the budget."""
    totals = manifest.totals
    inputs = totals.files + totals.records
    error_rate = (totals.failed_files + totals.record_errors) / inputs if inputs else 0.0
    manifest.error_budget = ErrorBudget(budget, round(error_rate, 6), error_rate > budget)
    return error_rate


def upload_repo(layout: Layout, recipe: Recipe, keep_dropped: bool, progress: Progress) -> str:
    assert layout.remote_out is not None
    location = join(layout.remote_out, recipe.name)
    with progress.bar(f"{recipe.name}: upload", total=1) as bar:
        storage.upload_tree(layout.repo, location)
        if keep_dropped:
            storage.upload_tree(layout.local_out / f"{recipe.name}-dropped", join(layout.remote_out, f"{recipe.name}-dropped"))
        bar.advance()
    return location


@contextmanager
def driver_root(tree: Tree, recipe: Recipe) -> Iterator[Path]:
    """The sources root as a local folder for the driver's global steps: the root itself, or
    (remote sources) a staged folder holding the steps' reference files."""
    if tree.local is not None:
        yield tree.local
        return
    refs = tree.glob(reference_patterns(recipe))
    with storage.Staged(str(tree), [], [(r, *tree.files[r]) for r in refs]) as staged:
        yield staged
