"""The map stage of one shard (runs in a worker process or a Ray task): its builder parses
its files into rows, the recipe's map steps run on them, the global steps add their
signature columns, and the shard is written to the cache with its report. Rows go through
in batches of whole files (`batch_rows` of the recipe), so that a worker holds the rows of
one batch as Python objects, never those of the whole shard."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from medc.engine.plan import ShardTask, thaw
from medc.engine.profiling import profiled
from medc.engine.shard_cache import (
    ShardWriter,
    drop_signature_copies,
    keep_signature_copy,
    read_marker,
    read_shard,
    restored_signatures,
    write_shard,
)
from medc.errors import UserError
from medc.files import storage
from medc.files.atomic import sha256_file
from medc.files.storage import is_url
from medc.ingest.builder import Builder, FileReport, builder_class
from medc.recipes.recipe import RECIPE_POINTER
from medc.schema import MAIN_TEXT_FIELD, RecordError, schema_for, validate_row
from medc.steps.base import GlobalStep, MapStep, make_step

SHARD_BITS = 24  # _key = source << 48 | shard << 24 | row
MAX_ROWS_PER_SHARD = (1 << SHARD_BITS) - 1


def run_shard(task: ShardTask) -> dict[str, Any]:
    """Map stage of one shard. Returns the shard's report (also written as its marker)."""
    if task.profile_dir:
        return profiled(task.profile_dir, f"{task.source.name}-{task.name}", lambda: run_shard(replace(task, profile_dir="")))
    if is_url(task.sources_root):
        on_disk = [f for f in task.files if f != task.source.hub_file]  # a recipe's pointer is not in the tree
        with storage.Staged(task.sources_root, on_disk, task.shared) as staged:
            return _run_shard(task, staged)
    return _run_shard(task, Path(task.sources_root))


def _run_shard(task: ShardTask, root: Path) -> dict[str, Any]:
    if task.resign or task.rekey:
        return resign_shard(task, root)
    started = time.perf_counter()
    drop_signature_copies(task.stem)  # kept for the rows the cache held, not for these
    stage_seconds: dict[str, float] = {"parse": 0.0}
    reports: list[FileReport] = []
    counts = StepCounts()
    sink = ShardWriter(task.stem)
    rows_built = text_bytes = 0
    steps = shard_steps(task, root)
    for batch in parse_batches(task, root, reports, stage_seconds):
        df = rows_frame(batch, task, first_row=rows_built)
        rows_built += len(batch)
        batch.clear()  # the rows as Python objects, their largest form: gone before the steps run
        text_bytes += int(df[MAIN_TEXT_FIELD[task.kind]].str.len_bytes().sum() or 0)
        sink.add(apply_steps(df, task, steps, stage_seconds, counts))
        del df
    withdrawn = withdrawals(list(accumulate(r.rows for r in reports)), reports, task)
    report = {
        "source": task.source.name,
        "source_index": task.source_index,
        "shard": task.shard_index,
        "fingerprint": task.fingerprint,
        "signatures": dict(task.signatures),
        "files": [r.to_json() for r in reports],
        "rows_built": rows_built,
        "rows": sink.rows,
        "steps": counts.stats(),
        "seconds": round(time.perf_counter() - started, 3),
        # Per stage (parse, each map step, each global step's signatures), in this worker; with
        # the input bytes and the text bytes of the rows built, for throughput in the manifest.
        "stage_seconds": {k: round(v, 4) for k, v in stage_seconds.items()},
        "input_bytes": sum(r.bytes for r in reports),
        "text_bytes": text_bytes,
    }
    if withdrawn:  # row id, and the row key before which its earlier versions are withdrawn
        report["withdrawn"] = withdrawn
    sink.close(report)
    return report


def resign_shard(task: ShardTask, root: Path) -> dict[str, Any]:
    """The cached shard with the signature columns of `task.resign` computed again (a global
    step's parameters changed, its map-stage rows did not): no file is parsed again."""
    started = time.perf_counter()
    report = read_marker(task.stem)
    assert report is not None, "a shard is re-signed only when its marker was read"
    df = read_shard(task.stem)
    if task.rekey:  # the shard kept its files but its number (or its source's) moved: keys follow
        old_base = key_base(report["source_index"], report["shard"])
        new_base = key_base(task.source_index, task.shard_index)
        df = with_keys(df, task)
        report["withdrawn"] = [[row_id, key - old_base + new_base] for row_id, key in report.get("withdrawn", [])]
        if not report["withdrawn"]:
            del report["withdrawn"]
        report.update(source_index=task.source_index, shard=task.shard_index)
    wanted = dict(task.signatures)
    restored = []
    for name, params in task.steps:
        if name in task.resign:
            step = make_step(name, thaw(params), task.kind, root=root)
            assert isinstance(step, GlobalStep)
            present = [c for c in step.signature_columns() if c in df.columns]
            previous = (report.get("signatures") or {}).get(name)
            if previous and present:  # kept, so that switching the parameter back costs nothing
                keep_signature_copy(task.stem, report, name, previous, task.fingerprint, df.select(["id", *present]))
            df = df.drop(present)
            kept = restored_signatures(task.stem, report, name, wanted[name], task.fingerprint, df.get_column("id"))
            if kept is not None:
                df = df.hstack(kept)
                restored.append(name)
            else:
                df = step.signature(df)
    report = {k: v for k, v in report.items() if k not in ("parquet_sha256", "parquet_bytes")}
    report.update(signatures=wanted, signatures_restored=restored, resign_seconds=round(time.perf_counter() - started, 3))
    write_shard(task.stem, df, report)
    return report


def parse_batches(task: ShardTask, root: Path, reports: list[FileReport],
                  seconds: dict[str, float]) -> Iterator[list[dict[str, Any]]]:
    """The shard's files through its builder, in batches of whole files of about
    `task.batch_rows` valid rows (at least one batch, maybe empty); a report per file is
    appended to `reports` and the parsing time added to `seconds["parse"]`. A file that cannot
    be read and a record that cannot become a row are reported, and the rest goes on; a file
    that fails part-way gives no row."""
    builder = builder_class(task.source.builder)(task.source.name, task.source.options, root)
    batch: list[dict[str, Any]] = []
    yielded = False
    lap = time.perf_counter()
    for i, rel in enumerate(task.files):
        report = FileReport(rel, public_reasons=builder.public_reasons)
        reports.append(report)
        if rel == task.source.hub_file:  # the recipe's `hub` table, as the pointer file its builder reads
            with tempfile.TemporaryDirectory(prefix="medc-pointer-") as folder:
                pointer = Path(folder) / rel.removeprefix(RECIPE_POINTER)
                pointer.write_bytes(task.source.hub_pointer)
                rows = parse_file(builder, pointer, report, task.input_hashes[i] if task.input_hashes else None, task.kind)
        else:
            rows = parse_file(builder, root / rel, report, task.input_hashes[i] if task.input_hashes else None, task.kind)
        batch.extend(rows)
        del rows  # the batch holds the only references: the caller clears it once read
        if len(batch) >= task.batch_rows:
            seconds["parse"] += time.perf_counter() - lap
            yield batch
            yielded, batch, lap = True, [], time.perf_counter()
    seconds["parse"] += time.perf_counter() - lap
    if batch or not yielded:
        yield batch


def parse_file(builder: Builder, path: Path, report: FileReport, sha256: str | None, kind: str) -> list[dict[str, Any]]:
    """One file's valid rows; none when the file fails, part-way or not (reported)."""
    rows: list[dict[str, Any]] = []
    try:
        report.bytes = path.stat().st_size
        report.sha256 = sha256 or sha256_file(path)
        for raw in builder.parse(path, report):
            try:
                rows.append(validate_row(raw, kind))
            except RecordError as exc:
                report.error(str(exc), str(raw.get("id") or f"record {report.records}"))
    except Exception as exc:  # a bad file never stops the build: it is reported
        report.failed = True
        reason = str(exc) if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {exc}"
        report.error(reason or type(exc).__name__)
        return []
    report.rows = len(rows)
    return rows


def withdrawals(rows_before: list[int], reports: list[FileReport], task: ShardTask) -> list[list[Any]]:
    """[row id, key]: the rows of that id with a smaller key (earlier files) are withdrawn.
    `rows_before[i]`: rows of the shard up to and including file i."""
    base = key_base(task.source_index, task.shard_index)
    return [[row_id, base + end] for report, end in zip(reports, rows_before) for row_id in report.withdrawn]


def rows_frame(rows: list[dict[str, Any]], task: ShardTask, first_row: int = 0) -> pl.DataFrame:
    """The rows as a frame in the dataset schema, with `_words` (of the main text) and `_key`
    (the first row is the shard's row `first_row`)."""
    schema = schema_for(task.kind)
    table = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    words = pl.col(MAIN_TEXT_FIELD[task.kind]).fill_null("").str.count_matches(r"\S+").cast(pl.UInt32).alias("_words")
    return with_keys(df.with_columns(words), task, first_row)


@dataclass
class StepCounts:
    """Per map step, over a shard's batches: rows in and out, rows dropped and rows changed
    (audit) by reason; and, for a step that adds rows, how many it has given so far (the keys
    of its next batch continue from there)."""

    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, Counter[str]] = field(default_factory=dict)
    audit: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, name: str, rows_in: int, rows_out: int, dropped: Counter[str], audit: Counter[str]) -> None:
        self.rows_in[name] = self.rows_in.get(name, 0) + rows_in
        self.rows_out[name] = self.rows_out.get(name, 0) + rows_out
        self.dropped.setdefault(name, Counter()).update(dropped)
        self.audit.setdefault(name, Counter()).update(audit)

    def stats(self) -> list[dict[str, Any]]:
        out = []
        for name in self.rows_in:
            stat = {"step": name, "in": self.rows_in[name], "out": self.rows_out[name], "dropped": dict(self.dropped[name])}
            if self.audit[name]:
                stat["audit"] = dict(self.audit[name])
            out.append(stat)
        return out


def shard_steps(task: ShardTask, root: Path) -> list[MapStep | GlobalStep]:
    """The recipe's map steps that run on this shard's source and its global steps, in order
    (filter steps run later, in the driver, on the stored columns)."""
    steps = []
    for name, params in task.steps:
        step = make_step(name, thaw(params), task.kind, root=root)
        if isinstance(step, MapStep) and step.applies_to(task.source.name) or isinstance(step, GlobalStep):
            steps.append(step)
    return steps


def apply_steps(df: pl.DataFrame, task: ShardTask, steps: list[MapStep | GlobalStep], seconds: dict[str, float],
                counts: StepCounts) -> pl.DataFrame:
    """Map steps (counted in `counts`), then the signature columns of the global steps, on one
    batch of a shard. The seconds of each are added to `seconds` (a global step's under
    `signatures:<step>`)."""
    for step in steps:
        started = time.perf_counter()
        if isinstance(step, MapStep):
            n_in = df.height
            df, dropped, audit = step.apply_audited(df)
            if step.adds_rows:  # keys stay dense and in row order, across batches
                df = with_keys(df, task, counts.rows_out.get(step.name, 0))
            counts.add(step.name, n_in, df.height, dropped, audit)
            seconds[step.name] = seconds.get(step.name, 0.0) + time.perf_counter() - started
        else:
            df = step.signature(df)
            key = f"signatures:{step.name}"
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started
    return df


def key_base(source_index: int, shard_index: int) -> int:
    """The `_key` of a shard's first row: source << 48 | shard << 24."""
    return (source_index << 48) | (shard_index << SHARD_BITS)


def with_keys(df: pl.DataFrame, task: ShardTask, first_row: int = 0) -> pl.DataFrame:
    """`_key` = source << 48 | shard << 24 | row, for the rows in their order, the first being
    row `first_row` of the shard."""
    if first_row + df.height > MAX_ROWS_PER_SHARD:
        raise UserError(f"source {task.source.name!r}: a shard has more than {MAX_ROWS_PER_SHARD} rows; lower files_per_shard")
    base = key_base(task.source_index, task.shard_index) + first_row
    return df.with_columns((pl.int_range(0, df.height, dtype=pl.UInt64) + base).alias("_key"))
