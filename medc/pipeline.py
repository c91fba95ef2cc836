"""One dataset build: plan shards, run the map stage, the global steps, and write the repo.

Stages and where their state lives (`<out>/.medc-cache/<dataset>/`):

1. map (parallel, per shard of input files): builder → rows → map steps → signature
   columns of the global steps; written as `<source>/shard-NNNNN.parquet` plus a
   `.json` report (the completion marker, written last, holding the shard's fingerprint).
   A rerun skips every shard whose marker matches: a killed build resumes.
2. global (driver): unique ids, then each global step decides from the signature columns
   of all shards which row keys to drop.
3. write: shards are streamed in order into `data/<source>/train-NNNNN-of-NNNNN.parquet`
   with fixed-size row groups, so the bytes depend on the rows only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medc import __version__
from medc.builder import FileReport
from medc.errors import NothingToBuild, UserError
from medc import storage
from medc.executor import LocalExecutor, RayExecutor
from medc.progress import Progress
from medc.recipe import Recipe, SourceSpec
from medc.schema import RecordError, schema_for, validate_row
from medc.steps import FilterStep, GlobalContext, GlobalStep, MapStep, make_step
from medc.storage import Tree, is_url, join

CACHE_DIR = ".medc-cache"
COMMERCIAL_CONFIG = "commercial"
SHARD_BITS = 24  # _key = source << 48 | shard << 24 | row
MAX_ROWS_PER_SHARD = (1 << SHARD_BITS) - 1


# ---------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class ShardTask:
    kind: str
    source: SourceSpec
    source_index: int
    shard_index: int
    files: tuple[str, ...]  # paths relative to the sources root (posix)
    sources_root: str  # a local path or an fsspec URL
    steps: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    cache_dir: str  # a local path or an fsspec URL
    fingerprint: str
    # Remote sources only: files read besides the inputs, staged on the worker's node: (path, size, version).
    shared: tuple[tuple[str, int, str], ...] = ()

    @property
    def stem(self) -> str:
        return join(self.cache_dir, self.source.name, f"shard-{self.shard_index:05d}")


@dataclass
class SourcePlan:
    spec: SourceSpec
    index: int
    folder: Path
    files: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | absent | empty
    tasks: list[ShardTask] = field(default_factory=list)


def _frozen(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in params.items()))


def _thaw(params: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in params}


def reference_patterns(recipe: Recipe) -> list[str]:
    """Globs of the files the recipe's steps read under the sources root (benchmark test sets)."""
    return sorted({p for s in recipe.steps for p in make_step(s.step, s.params, recipe.kind).reference_patterns()})


def plan(recipe: Recipe, tree: Tree, cache_dir: str) -> list[SourcePlan]:
    from medc.registry import builder_class

    # Filter steps are left out: they run on the stored columns, so changing one never
    # invalidates a shard.
    steps = tuple(
        (s.step, _frozen(s.params)) for s in recipe.steps
        if not isinstance(make_step(s.step, s.params, recipe.kind), FilterStep)
    )
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
        sp.files = tree.glob(spec.patterns or builder.patterns, under=spec.dir)
        if not sp.files:
            sp.status = "empty"
            continue
        shared: tuple[tuple[str, int, str], ...] = ()
        if tree.url:  # what a task reads besides its inputs, staged on its node
            names = sorted(set(references) | set(tree.glob(builder.companions({**builder.defaults, **spec.options}, spec.dir))))
            shared = tuple((rel, *tree.files[rel]) for rel in names)
        for shard, start in enumerate(range(0, len(sp.files), recipe.files_per_shard)):
            files = tuple(sp.files[start : start + recipe.files_per_shard])
            fp = fingerprint(recipe.kind, spec, (steps, ref_stats), [tree.stat(f) for f in files])
            sp.tasks.append(
                ShardTask(
                    kind=recipe.kind,
                    source=spec,
                    source_index=index,
                    shard_index=shard,
                    files=files,
                    sources_root=str(tree),
                    steps=steps,
                    cache_dir=cache_dir,
                    fingerprint=fp,
                    shared=shared,
                )
            )
    return plans


def fingerprint(kind: str, spec: SourceSpec, steps: Any, stats: list[list[Any]]) -> str:
    """What a shard's output depends on: code version, source spec, steps, and its files'
    stat ([path, size, mtime] locally; [path, size, ETag or other version] remotely)."""
    h = hashlib.sha256()
    payload = {
        "version": __version__,
        "kind": kind,
        "source": [spec.name, spec.builder, spec.dir, spec.patterns, json.dumps(spec.options, sort_keys=True)],
        "steps": steps,
        "files": stats,
    }
    h.update(json.dumps(payload, sort_keys=True, default=str).encode())
    return h.hexdigest()


def read_marker(stem: str) -> dict[str, Any] | None:
    """A shard's report (its completion marker), or None when absent or unreadable."""
    if is_url(stem):
        data = storage.read_bytes(stem + ".json")
    else:
        marker = Path(stem + ".json")
        data = marker.read_bytes() if marker.is_file() else None
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def shard_is_complete(task: ShardTask) -> bool:
    marker = read_marker(task.stem)
    if marker is None or marker.get("fingerprint") != task.fingerprint:
        return False
    if is_url(task.stem):
        fs, path = storage.filesystem(task.stem + ".parquet")
        return bool(fs.exists(path))
    return Path(task.stem + ".parquet").is_file()


# ---------------------------------------------------------------------------- map stage
def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_parquet(table: pa.Table, path: Path, **kwargs: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, **kwargs)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def run_shard(task: ShardTask) -> dict[str, Any]:
    """Map stage of one shard (runs in a worker process). Returns the shard's report."""
    if is_url(task.sources_root):
        with storage.Staged(task.sources_root, task.files, task.shared) as staged:
            return _run_shard(task, staged)
    return _run_shard(task, Path(task.sources_root))


def _run_shard(task: ShardTask, root: Path) -> dict[str, Any]:
    from medc.registry import builder_class

    started = time.perf_counter()
    builder = builder_class(task.source.builder)(task.source.name, task.source.options, root)
    rows: list[dict[str, Any]] = []
    reports: list[FileReport] = []
    for rel in task.files:
        path = root / rel
        report = FileReport(rel)
        reports.append(report)
        file_rows: list[dict[str, Any]] = []
        try:
            report.bytes = path.stat().st_size
            report.sha256 = sha256_file(path)
            for raw in builder.parse(path, report):
                try:
                    file_rows.append(validate_row(raw, task.kind))
                except RecordError as exc:
                    report.error(str(exc), str(raw.get("id") or f"record {report.records}"))
        except Exception as exc:  # a bad file never stops the build: it is reported
            report.failed = True
            reason = str(exc) if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {exc}"
            report.error(reason or type(exc).__name__)
            continue
        report.rows = len(file_rows)
        rows.extend(file_rows)
    schema = schema_for(task.kind)
    table = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    words_of = "text" if task.kind == "knowledge" else "output"
    df = with_keys(df.with_columns(pl.col(words_of).fill_null("").str.count_matches(r"\S+").cast(pl.UInt32).alias("_words")), task)

    step_stats: list[dict[str, Any]] = []
    for name, params in task.steps:
        step = make_step(name, _thaw(params), task.kind, root=root)
        if isinstance(step, MapStep):
            n_in = df.height
            df, dropped = step.apply(df)
            if step.adds_rows:  # keys stay dense and in row order
                df = with_keys(df, task)
            step_stats.append({"step": name, "in": n_in, "out": df.height, "dropped": dict(dropped)})
        elif isinstance(step, GlobalStep):
            df = step.signature(df)
        # FilterSteps run later, in the driver, on the stored columns.

    result = {
        "source": task.source.name,
        "shard": task.shard_index,
        "fingerprint": task.fingerprint,
        "files": [r.to_json() for r in reports],
        "rows_built": len(rows),
        "rows": df.height,
        "steps": step_stats,
        "seconds": round(time.perf_counter() - started, 3),
    }
    marker = json.dumps(result, sort_keys=True).encode()
    if is_url(task.stem):
        # Shard first, marker last: a marker is never seen without its shard.
        with tempfile.TemporaryDirectory(prefix="medc-shard-") as tmp:
            local = Path(tmp) / "shard.parquet"
            _fault_injection(local.with_suffix(""))
            pq.write_table(df.to_arrow(), local, compression="zstd")
            storage.upload_file(local, task.stem + ".parquet")
        storage.write_bytes(task.stem + ".json", marker)
        return result
    stem = Path(task.stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    _fault_injection(stem)
    atomic_write_parquet(df.to_arrow(), stem.with_suffix(".parquet"), compression="zstd")
    atomic_write_bytes(stem.with_suffix(".json"), marker)
    return result


def with_keys(df: pl.DataFrame, task: ShardTask) -> pl.DataFrame:
    """`_key` = source << 48 | shard << 24 | row, for the rows in their order."""
    if df.height > MAX_ROWS_PER_SHARD:
        raise UserError(f"source {task.source.name!r}: a shard has more than {MAX_ROWS_PER_SHARD} rows; lower files_per_shard")
    base = (task.source_index << 48) | (task.shard_index << SHARD_BITS)
    return df.with_columns((pl.int_range(0, df.height, dtype=pl.UInt64) + base).alias("_key"))


def _fault_injection(stem: Path) -> None:
    """Test hook (tests/test_ray.py): with MEDC_TEST_KILL_ONCE=<flag file>, the first task to
    get here leaves a half-written shard file behind and its process dies, once."""
    flag = os.environ.get("MEDC_TEST_KILL_ONCE")
    if not flag:
        return
    try:
        fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"{stem.name} {os.getpid()}\n".encode())
    os.close(fd)
    stem.with_name(f".{stem.name}.parquet.{os.getpid()}.tmp").write_bytes(b"PAR1 half-written")
    os._exit(137)


# ---------------------------------------------------------------------------- global stage
def global_decisions(
    recipe: Recipe, shard_files: list[Path], root: Path, work_dir: Path | None = None,
    map_unordered: Any = None, shared_shards: list[str] | None = None,
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Row keys to drop (`_key, step, reason`): filter steps on stored columns, then unique
    ids, then every global step, each seeing only the rows the previous ones kept."""
    empty = pl.DataFrame(schema={"_key": pl.UInt64, "step": pl.String, "reason": pl.String})
    if not shard_files:
        return empty, []
    steps = [make_step(s.step, s.params, recipe.kind, root=root) for s in recipe.steps]
    filters = [s for s in steps if isinstance(s, FilterStep)]
    global_steps = [s for s in steps if isinstance(s, GlobalStep)]
    cols = ["_key", "id", "source"] + [c for s in global_steps for c in s.signature_columns()]
    cols += sorted({c for f in filters for c in f.columns()} - set(cols))
    available = set(pl.scan_parquet(str(shard_files[0])).collect_schema().names())
    missing = [c for c in cols if c not in available]
    if missing:
        raise UserError(f"recipe {recipe.path}: a step needs column {missing[0]!r}, which no step of the recipe computes")
    frame = pl.scan_parquet([str(p) for p in shard_files]).select(cols).collect()

    decisions: list[pl.DataFrame] = []
    reports: list[dict[str, Any]] = []

    def record(name: str, drop: pl.DataFrame, frame: pl.DataFrame, extra: dict[str, Any] | None = None) -> pl.DataFrame:
        drop = drop.select(pl.col("_key").cast(pl.UInt64), pl.lit(name).alias("step"), "reason")
        joined = frame.join(drop, on="_key", how="inner")
        by_source = joined.group_by("source", "reason").len().sort("source", "reason")
        report: dict[str, Any] = {"step": name, "in": frame.height, "out": frame.height - drop.height, "dropped": {}}
        if extra:
            report["report"] = extra
        for src, reason, n in by_source.iter_rows():
            report["dropped"].setdefault(src, {})[reason] = n
        reports.append(report)
        decisions.append(drop)
        return frame.join(drop, on="_key", how="anti")

    for f in filters:
        reasons = f.reasons(frame)
        frame = record(f.name, frame.select("_key", reasons.alias("reason")).filter(pl.col("reason").is_not_null()), frame)
    first = pl.col("_key").min().over("id")
    dup_ids = frame.filter(pl.col("_key") != first).select("_key", pl.lit("duplicate id").alias("reason"))
    frame = record("unique_ids", dup_ids, frame)
    ctx = GlobalContext(work_dir or (shard_files[0].parent.parent), shared_shards or [str(p) for p in shard_files], map_unordered)
    for step in global_steps:
        drop = step.decide(frame.lazy(), ctx)
        frame = record(step.name, drop, frame, step.report(frame, drop))
    return (pl.concat(decisions) if decisions else empty), reports


# ---------------------------------------------------------------------------- write stage
class ShardedParquetWriter:
    """Writes rows into `train-NNNNN-of-NNNNN.parquet` files with fixed-size row groups."""

    def __init__(self, folder: Path, schema: pa.Schema, total_rows: int, rows_per_file: int, row_group_size: int):
        self.folder = folder
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.row_group_size = row_group_size
        self.n_files = max(1, -(-total_rows // rows_per_file))
        self.file_index = 0
        self.rows_in_file = 0
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.writer: pq.ParquetWriter | None = None
        self.tmp: Path | None = None
        self.written: list[dict[str, Any]] = []

    def name(self, i: int) -> str:
        return f"train-{i:05d}-of-{self.n_files:05d}.parquet"

    def write(self, table: pa.Table) -> None:
        offset = 0
        while offset < table.num_rows:
            room = min(self.rows_per_file - self.rows_in_file, self.row_group_size - self.buffered)
            piece = table.slice(offset, room)
            offset += piece.num_rows
            self.buffer.append(piece)
            self.buffered += piece.num_rows
            self.rows_in_file += piece.num_rows
            if self.buffered == self.row_group_size or self.rows_in_file == self.rows_per_file:
                self._flush()
            if self.rows_in_file == self.rows_per_file:
                self._close()

    def _flush(self) -> None:
        if not self.buffer:
            return
        if self.writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.tmp = self.folder / f".{self.name(self.file_index)}.tmp"
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd", write_statistics=True)
        group = pa.concat_tables(self.buffer).combine_chunks()
        self.writer.write_table(group, row_group_size=self.row_group_size)
        self.buffer, self.buffered = [], 0

    def _close(self) -> None:
        self._flush()
        if self.writer is None:
            return
        self.writer.close()
        final = self.folder / self.name(self.file_index)
        assert self.tmp is not None
        os.replace(self.tmp, final)
        self.written.append({"file": final.name, "rows": self.rows_in_file})
        self.writer, self.tmp = None, None
        self.file_index += 1
        self.rows_in_file = 0

    def close(self) -> list[dict[str, Any]]:
        self._close()
        if not self.written:  # a config with no rows still gets one valid, empty file
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_parquet(self.schema.empty_table(), self.folder / self.name(0), compression="zstd")
            self.written.append({"file": self.name(0), "rows": 0})
        return self.written


def to_schema(df: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    table = df.select(schema.names).to_arrow()
    arrays = [table.column(f.name).cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_config(
    shard_files: list[Path],
    drops: pl.DataFrame,
    out_folder: Path,
    recipe: Recipe,
    dropped_file: Path | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Stream the kept rows of a config's shards (its sources, in recipe order) into its
    released parquet files; return them and per-source stats (rows, words, lengths). With
    `dropped_file`, also write the dropped rows with the step and reason that removed them."""
    schema = schema_for(recipe.kind)
    if dropped_file is not None:
        parts = [
            pl.read_parquet(path).join(drops, on="_key", how="inner").sort("_key").select(*schema.names, "step", "reason")
            for path in shard_files
        ]
        dropped_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_parquet(pl.concat(parts).to_arrow() if parts else pa.table({}), dropped_file, compression="zstd")
    drop_keys = drops.lazy().select("_key")
    drops = drops.select("_key")
    def counted(path: Path) -> pl.DataFrame:
        lf = pl.scan_parquet(path)
        tokens = pl.col("_tokens").cast(pl.Int64) if "_tokens" in lf.collect_schema().names() else pl.lit(None, dtype=pl.Int64)
        return lf.select("_key", "source", "_words", tokens.alias("_tokens")).join(drop_keys, on="_key", how="anti").drop("_key").collect()

    kept = pl.concat([counted(path) for path in shard_files])
    stats = {
        source: {"rows": group.height, "words": int(group["_words"].sum() or 0),
                 "tokens": int(group["_tokens"].sum()) if group["_tokens"].null_count() == 0 else None,
                 "length_histogram": length_histogram(group["_words"])}
        for (source,), group in kept.group_by("source", maintain_order=True)
    }
    total = kept.height
    # Remove stale files of an earlier build of this config before writing the new set.
    if out_folder.is_dir():
        for old in out_folder.glob("*.parquet"):
            old.unlink()
    if total == 0:  # a config with no rows left gets no files
        if out_folder.is_dir():
            out_folder.rmdir()
        return [], stats
    writer = ShardedParquetWriter(out_folder, schema, total, recipe.rows_per_file, recipe.row_group_size)
    for path in shard_files:
        df = pl.read_parquet(path).join(drops, on="_key", how="anti").sort("_key")
        if df.height:
            writer.write(to_schema(df, schema))
    return writer.close(), stats


def length_histogram(words: pl.Series) -> dict[str, list[int]]:
    """Document lengths in words, in power-of-two bins (edges 1, 2, 4, ...)."""
    if words.len() == 0:
        return {"edges": [], "counts": []}
    top = max(int(words.max() or 1), 1)
    edges = [0] + [2**i for i in range(0, top.bit_length() + 1)]
    counts, _ = np.histogram(words.to_numpy(), bins=edges)
    return {"edges": edges, "counts": [int(c) for c in counts]}


def write_commercial(repo: Path, sources: list[str], recipe: Recipe) -> list[dict[str, Any]]:
    """`data/commercial/`: the released rows whose licence allows commercial use."""
    from medc.licenses import allows_commercial_use

    schema = schema_for(recipe.kind)
    folder = repo / "data" / COMMERCIAL_CONFIG
    if folder.is_dir():
        for old in folder.glob("*.parquet"):
            old.unlink()
    files = [p for s in sources for p in sorted((repo / "data" / s).glob("train-*.parquet"))]
    if not files:
        return []
    licences = pl.scan_parquet([str(f) for f in files]).select("license").unique().collect()["license"].to_list()
    ok = sorted(lic for lic in licences if allows_commercial_use(lic))
    total = pl.scan_parquet([str(f) for f in files]).filter(pl.col("license").is_in(ok)).select(pl.len()).collect().item()
    if total == 0:
        if folder.is_dir():
            folder.rmdir()
        return []
    writer = ShardedParquetWriter(folder, schema, total, recipe.rows_per_file, recipe.row_group_size)
    for f in files:
        df = pl.read_parquet(f).filter(pl.col("license").is_in(ok))
        if df.height:
            writer.write(to_schema(df, schema))
    return writer.close()


# ---------------------------------------------------------------------------- the build
@dataclass
class BuildResult:
    recipe: Recipe
    repo: Path  # the repo folder written (with a remote --out: the local copy that was uploaded)
    manifest: dict[str, Any]
    error_rate: float
    budget_exceeded: bool
    location: str = ""  # where the repo is: `repo`, or its URL


def default_work_dir(out: str) -> Path:
    """The driver's local folder for a build whose --out is a URL (shard copies, the repo before upload)."""
    return storage.stage_dir() / "work" / hashlib.sha256(out.encode()).hexdigest()[:16]


def fetch_shards(tasks: list[ShardTask], local_cache: Path) -> None:
    """Local copies of remote shards (for the global stage and the write), fetched when the
    local copy's marker does not carry the shard's fingerprint."""
    for t in tasks:
        local = local_cache / t.source.name / f"shard-{t.shard_index:05d}"
        if (marker := read_marker(str(local))) and marker.get("fingerprint") == t.fingerprint and local.with_suffix(".parquet").is_file():
            continue
        storage.download(t.stem + ".parquet", local.with_suffix(".parquet"))
        data = storage.read_bytes(t.stem + ".json")
        if data is None:
            raise RuntimeError(f"{t.stem}.json vanished while the build was reading it")
        atomic_write_bytes(local.with_suffix(".json"), data)


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
) -> BuildResult:
    """Build one dataset repo. `sources_root` and `out_dir` are local folders or fsspec URLs;
    with a URL `out_dir`, shards are kept under `<out>/.medc-cache/` (shared by every node)
    and the repo is written in `work_dir` (default: under the staging folder), then uploaded."""
    from medc.repo import write_repo

    progress = progress or Progress(enabled=False)
    executor = executor or LocalExecutor(workers)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tree = Tree(sources_root)
    remote_out = str(out_dir).rstrip("/") if is_url(out_dir) else None
    local_out = (work_dir or default_work_dir(remote_out)) if remote_out else Path(out_dir)
    cache_dir = join(remote_out or str(local_out), CACHE_DIR, recipe.name)
    local_cache = local_out / CACHE_DIR / recipe.name
    plans = plan(recipe, tree, cache_dir)
    active = [p for p in plans if p.status == "ok"]
    for p in plans:
        if p.status == "absent":
            progress.notice(f"{recipe.name}: source {p.spec.name!r} skipped: folder {p.spec.dir}/ not found under the sources root")
        elif p.status == "empty":
            progress.notice(f"{recipe.name}: source {p.spec.name!r}: folder {p.spec.dir}/ holds no file matching {', '.join(p.spec.patterns or ())or 'the builder patterns'}")
    if not active:
        raise NothingToBuild(
            f"{recipe.name}: none of the sources ({', '.join(s.name for s in recipe.sources)}) has input files under "
            f"{tree}; see the README for the expected layout"
        )

    tasks = [t for p in active for t in p.tasks]
    todo = [t for t in tasks if not shard_is_complete(t)]
    n_files = sum(len(t.files) for t in todo)
    with progress.bar(f"{recipe.name}: parse+map", total=len(todo), files=n_files) as bar:
        for result in executor.map_unordered(run_shard, todo):
            bar.advance(files=len(result["files"]), records=sum(f["records"] for f in result["files"]))
    timings["map_seconds"] = round(time.perf_counter() - t0, 3)

    if remote_out:
        fetch_shards(tasks, local_cache)

    def local_stem(t: ShardTask) -> Path:
        return local_cache / t.source.name / f"shard-{t.shard_index:05d}"

    shard_reports = {
        (t.source.name, t.shard_index): json.loads(local_stem(t).with_suffix(".json").read_text()) for t in tasks
    }
    shard_files = [local_stem(t).with_suffix(".parquet") for t in tasks]
    t1 = time.perf_counter()
    # Workers of the global stage (near-dup verification) read the shards where every node sees them.
    shared_shards = [t.stem + ".parquet" for t in tasks] if remote_out else None
    with _driver_root(tree, recipe) as root:
        drops, global_reports = global_decisions(recipe, shard_files, root, local_cache, executor.map_unordered, shared_shards)
    timings["global_seconds"] = round(time.perf_counter() - t1, 3)

    t2 = time.perf_counter()
    out_dir = local_out
    repo = out_dir / recipe.name
    outputs: dict[str, list[dict[str, Any]]] = {}
    source_stats: dict[str, dict[str, Any]] = {}
    config_sources: dict[str, list[str]] = {}
    for p in active:
        config_sources.setdefault(p.spec.config, []).append(p.spec.name)
    for config, names in config_sources.items():
        files = [local_stem(t).with_suffix(".parquet") for p in active if p.spec.name in names for t in p.tasks]
        dropped_file = out_dir / f"{recipe.name}-dropped" / f"{config}.parquet" if keep_dropped else None
        outputs[config], stats = write_config(files, drops, repo / "data" / config, recipe, dropped_file)
        source_stats.update(stats)
    released = [name for name, files in outputs.items() if files]
    outputs[COMMERCIAL_CONFIG] = write_commercial(repo, released, recipe)
    # Configs of sources that are not part of this build must not linger in the repo.
    data_dir = repo / "data"
    for stale in sorted(data_dir.iterdir()) if data_dir.is_dir() else []:
        if stale.is_dir() and not outputs.get(stale.name):
            for f in stale.glob("*"):
                f.unlink()
            stale.rmdir()
    timings["write_seconds"] = round(time.perf_counter() - t2, 3)
    timings["total_seconds"] = round(time.perf_counter() - t0, 3)

    manifest = make_manifest(recipe, plans, shard_reports, global_reports, outputs, repo, timings, sources_label, source_stats,
                             config_sources)
    manifest["executor"] = {"kind": "ray" if isinstance(executor, RayExecutor) else "local", "workers": executor.workers}
    budget = recipe.error_budget if error_budget is None else error_budget
    totals = manifest["totals"]
    inputs = totals["files"] + totals["records"]
    error_rate = (totals["failed_files"] + totals["record_errors"]) / inputs if inputs else 0.0
    manifest["error_budget"] = {"budget": budget, "error_rate": round(error_rate, 6), "exceeded": error_rate > budget}
    write_repo(recipe, repo, manifest)
    location = str(repo)
    if remote_out:
        location = join(remote_out, recipe.name)
        with progress.bar(f"{recipe.name}: upload", total=1) as bar:
            storage.upload_tree(repo, location)
            if keep_dropped:
                storage.upload_tree(out_dir / f"{recipe.name}-dropped", join(remote_out, f"{recipe.name}-dropped"))
            bar.advance()
    return BuildResult(recipe, repo, manifest, error_rate, error_rate > budget, location)


@contextmanager
def _driver_root(tree: Tree, recipe: Recipe) -> Iterator[Path]:
    """The sources root as a local folder for the driver's global steps: the root itself, or
    (remote sources) a staged folder holding the steps' reference files."""
    if tree.local is not None:
        yield tree.local
        return
    refs = tree.glob(reference_patterns(recipe))
    with storage.Staged(str(tree), [], [(r, *tree.files[r]) for r in refs]) as staged:
        yield staged


def mixture_report(recipe: Recipe, sources: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The recipe's declared mixture against what was built: per group its declared share,
    documents, words and tokens; the share renormalised over the groups that have rows; and
    each source's sampling weight (its group's share split by the source's size in the
    mixture's unit), which the training loader uses."""
    mix = recipe.mixture
    if not mix:
        return None
    unit = mix["unit"]
    total_weight = sum(mix["weights"].values())
    groups: dict[str, dict[str, Any]] = {}
    for group, members in mix["groups"].items():
        built = {n: sources[n] for n in members if sources.get(n, {}).get("rows")}
        tokens = [s.get("tokens") for s in built.values()]
        groups[group] = {
            "weight": mix["weights"][group],
            "declared_share": round(mix["weights"][group] / total_weight, 6),
            "sources": list(members),
            "documents": sum(s["rows"] for s in built.values()),
            "words": sum(s["words"] for s in built.values()),
            "tokens": sum(tokens) if tokens and None not in tokens else None,
        }
    present = {g: v for g, v in groups.items() if v["documents"] and v["weight"] > 0}
    present_weight = sum(v["weight"] for v in present.values())
    source_weights: dict[str, float] = {}
    for group, v in groups.items():
        v["effective_share"] = round(v["weight"] / present_weight, 6) if group in present else 0.0
        if group not in present:
            continue
        sizes = {n: (sources[n].get(unit) or 0) for n in v["sources"] if sources.get(n, {}).get("rows")}
        size_total = sum(sizes.values()) or 1
        for n, size in sizes.items():
            source_weights[n] = round(v["effective_share"] * size / size_total, 6)
    return {"unit": unit, "groups": groups, "missing_groups": sorted(g for g in groups if g not in present),
            "source_weights": source_weights}


def make_manifest(
    recipe: Recipe,
    plans: list[SourcePlan],
    shard_reports: dict[tuple[str, int], dict[str, Any]],
    global_reports: list[dict[str, Any]],
    outputs: dict[str, list[dict[str, Any]]],
    repo: Path,
    timings: dict[str, float],
    sources_label: str,
    source_stats: dict[str, dict[str, Any]],
    config_sources: dict[str, list[str]],
) -> dict[str, Any]:
    inputs: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    sources: dict[str, Any] = {}
    totals = Counter()
    for p in plans:
        entry: dict[str, Any] = {"builder": p.spec.builder, "dir": p.spec.dir, "status": p.status}
        sources[p.spec.name] = entry
        if p.status != "ok":
            continue
        reports = [shard_reports[(p.spec.name, t.shard_index)] for t in p.tasks]
        files = [f for r in reports for f in r["files"]]
        skipped: Counter[str] = Counter()
        for f in files:
            inputs.append({"source": p.spec.name, **{k: f[k] for k in ("path", "sha256", "bytes", "records", "rows")}, "skipped": f["skipped"], "failed": f["failed"]})
            skipped.update(f["skipped"])
            errors.extend({"source": p.spec.name, **e} for e in f["errors"])
        steps: list[dict[str, Any]] = []
        for r in reports:
            for i, s in enumerate(r["steps"]):
                if len(steps) <= i:
                    steps.append({"step": s["step"], "in": 0, "out": 0, "dropped": Counter()})
                steps[i]["in"] += s["in"]
                steps[i]["out"] += s["out"]
                steps[i]["dropped"].update(s["dropped"])
        rows_after_map = sum(r["rows"] for r in reports)
        g_steps = []
        remaining = rows_after_map
        for g in global_reports:
            dropped = g["dropped"].get(p.spec.name, {})
            n = sum(dropped.values())
            g_steps.append({"step": g["step"], "in": remaining, "out": remaining - n, "dropped": dropped})
            remaining -= n
        stats = source_stats.get(p.spec.name, {"rows": 0, "words": 0, "length_histogram": {"edges": [], "counts": []}})
        entry.update(
            {
                "files": len(files),
                "failed_files": sum(f["failed"] for f in files),
                "records": sum(f["records"] for f in files),
                "record_errors": sum(len(f["errors"]) for f in files if not f["failed"]),
                "skipped": dict(sorted(skipped.items())),
                "rows_built": sum(r["rows_built"] for r in reports),
                "steps": [{**s, "dropped": dict(sorted(s["dropped"].items()))} for s in steps] + g_steps,
                "config": p.spec.config,
                "rows": stats["rows"],
                "words": stats["words"],
                "tokens": stats.get("tokens"),
                "length_histogram": stats["length_histogram"],
            }
        )
        for k in ("files", "failed_files", "records", "record_errors", "rows_built", "rows"):
            totals[k] += entry[k]
    # Reference files of global steps (benchmark test sets) that could not be read.
    for g in global_reports:
        for name, b in g.get("report", {}).get("benchmarks", {}).items():
            if "error" in b:
                path = b["files"][0]["path"] if b["files"] else name
                errors.append({"source": f"({g['step']})", "file": path, "record": "", "reason": b["error"]})
                totals["files"] += 1
                totals["failed_files"] += 1
    def described(config: str) -> list[dict[str, Any]]:
        files = []
        for o in outputs.get(config, []):
            path = repo / "data" / config / o["file"]
            files.append({"path": f"data/{config}/{o['file']}", "rows": o["rows"], "bytes": path.stat().st_size,
                          "sha256": sha256_file(path)})
        return files

    configs = {}
    for config, names in config_sources.items():
        files = described(config)
        configs[config] = {"sources": names, "rows": sum(o["rows"] for o in files), "outputs": files}
    commercial = described(COMMERCIAL_CONFIG)
    return {
        "dataset": recipe.name,
        "configs": configs,
        "commercial": {"rows": sum(o["rows"] for o in commercial), "outputs": commercial},
        "kind": recipe.kind,
        "medc_version": __version__,
        "recipe": {"file": recipe.path.name, "sha256": recipe.sha256, "content": recipe.raw},
        "sources_root": sources_label,
        "sources": sources,
        "global_steps": global_reports,
        "mixture": mixture_report(recipe, sources),
        "totals": {k: totals[k] for k in ("files", "failed_files", "records", "record_errors", "rows_built", "rows")},
        "inputs": inputs,
        "errors": errors,
        "timings": timings,
    }
