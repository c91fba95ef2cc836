"""The shard cache (`<out>/.medc-cache/<dataset>/<source>/shard-NNNNN.{parquet,json}`): a
shard's rows and its report, the report written last as the completion marker. Local paths
or fsspec URLs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medc.files import storage
from medc.files.atomic import atomic_write_bytes, sha256_file, temporary_name
from medc.files.storage import is_url, join

CACHE_DIR = ".medc-cache"


def shard_name(first_file: str) -> str:
    """A shard's name in the cache: from its first input file, so that a shard keeps its name
    (and its cached rows) when files are added elsewhere and the shards' numbers move."""
    return "shard-" + hashlib.blake2b(first_file.encode(), digest_size=8).hexdigest()


def shard_stem(cache_dir: str, source: str, name: str) -> str:
    return join(cache_dir, source, name)


def _read(location: str) -> bytes | None:
    """A cache file's bytes (local path or URL), None when absent."""
    if is_url(location):
        return storage.read_bytes(location)
    return Path(location).read_bytes() if Path(location).is_file() else None


def _write(location: str, data: bytes) -> None:
    """A cache file written whole (local: atomically)."""
    if is_url(location):
        storage.write_bytes(location, data)
    else:
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(location), data)


def read_marker(stem: str) -> dict[str, Any] | None:
    """A shard's report (its completion marker), or None when absent or unreadable."""
    data = _read(stem + ".json")
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def cached_shard(stem: str, fingerprint: str, inputs: dict[str, str] | None = None) -> tuple[bool, str]:
    """(usable, why not): whether the cache holds this shard, computed with this fingerprint and
    intact. A shard that is absent or stale is not usable, silently (""); one whose marker
    matches but whose bytes, row count or recorded inputs do not is damaged, with the reason.
    `inputs`: the content hashes of the shard's input files, when known (local sources)."""
    marker = read_marker(stem)
    if marker is None or marker.get("fingerprint") != fingerprint:
        return False, ""
    if "parquet_sha256" not in marker or not isinstance(marker.get("rows"), int):
        return False, "its marker does not record the shard's sha256 and rows"
    if is_url(stem):  # the bytes are checked once copied to the driver (`fetch_shard`)
        fs, path = storage.filesystem(stem + ".parquet")
        if not fs.exists(path):
            return False, ""
        if int(fs.info(path).get("size") or -1) != marker.get("parquet_bytes"):
            return False, "its size differs from its marker's"
        return True, ""
    parquet = Path(stem + ".parquet")
    if not parquet.is_file():
        return False, ""
    problem = check_bytes(parquet, marker)
    if problem:
        return False, problem
    if inputs is not None and {f["path"]: f["sha256"] for f in marker.get("files", [])} != inputs:
        return False, "its marker's input hashes are not those of its input files"
    return True, ""


def check_bytes(parquet: Path, marker: dict[str, Any]) -> str:
    """Why a shard file is not the one its marker describes ("" when it is)."""
    if sha256_file(parquet) != marker.get("parquet_sha256"):
        return "its sha256 differs from its marker's"
    try:
        rows = pq.ParquetFile(parquet).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a damaged file
        return f"unreadable ({str(exc).splitlines()[0]})"
    return "" if rows == marker.get("rows") else f"{rows} rows, its marker says {marker.get('rows')}"


def read_shard(stem: str) -> pl.DataFrame:
    """A cached shard's rows (local or remote cache)."""
    if is_url(stem):
        data = storage.read_bytes(stem + ".parquet")
        if data is None:
            raise RuntimeError(f"{stem}.parquet vanished while the build was reading it")
        return pl.read_parquet(io.BytesIO(data))
    return pl.read_parquet(Path(stem + ".parquet"))


class ShardWriter:
    """A shard's rows written batch by batch into one parquet file under a temporary name, then
    put in place (or uploaded) with its marker, which records the file's sha256 and size: a
    marker is never seen without its shard, and a shard that changed after its marker is
    recognised. A worker holds one batch, not the shard.

    Batches normally share one schema; one whose columns or types differ (a column all null in
    the first batch) has the rows written so far read back and merged with it (types widened),
    and the file is written again."""

    def __init__(self, stem: str):
        self.stem = stem
        self.remote = is_url(stem)
        self._tmpdir = tempfile.TemporaryDirectory(prefix="medc-shard-") if self.remote else None
        final = Path(self._tmpdir.name) / "shard.parquet" if self._tmpdir else Path(stem).with_suffix(".parquet")
        final.parent.mkdir(parents=True, exist_ok=True)
        self.final = final
        self.tmp = temporary_name(final)
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.rows = 0

    def add(self, df: pl.DataFrame) -> None:
        table = df.to_arrow()
        if self.writer is None or self.schema is None:
            self._open(table.schema)
        elif not table.schema.equals(self.schema):
            try:
                table = table.select(self.schema.names).cast(self.schema)
            except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                self.writer.close()
                merged = pl.concat([pl.read_parquet(self.tmp), df], how="diagonal_relaxed")
                self._open(merged.to_arrow().schema)
                self.rows = 0
                df, table = merged, merged.to_arrow()
        assert self.writer is not None
        self.writer.write_table(table)
        self.rows += df.height

    def _open(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")

    def close(self, report: dict[str, Any]) -> None:
        """Finish the file (at least one batch, maybe empty, was added) and write the marker:
        `report` with the file's sha256 and size added."""
        try:
            assert self.writer is not None, "a shard is written from at least one (maybe empty) batch"
            self.writer.close()
            os.replace(self.tmp, self.final)
            report.update(parquet_sha256=sha256_file(self.final), parquet_bytes=self.final.stat().st_size)
            if self.remote:
                storage.upload_file(self.final, self.stem + ".parquet")
            _write(self.stem + ".json", json.dumps(report, sort_keys=True).encode())
        finally:
            self.tmp.unlink(missing_ok=True)
            if self._tmpdir is not None:
                self._tmpdir.cleanup()


def write_shard(stem: str, df: pl.DataFrame, report: dict[str, Any]) -> None:
    """A whole shard at once (see `ShardWriter`)."""
    sink = ShardWriter(stem)
    sink.add(df)
    sink.close(report)


def fetch_shard(stem: str, local: Path, fingerprint: str) -> str:
    """A local copy of a remote shard and its marker, unless the local copy is this shard (same
    fingerprint and same bytes: a shard whose signatures were computed again has new bytes);
    "" when the copy is intact, else why it is not."""
    data = storage.read_bytes(stem + ".json")
    if data is None:
        raise RuntimeError(f"{stem}.json vanished while the build was reading it")
    remote = json.loads(data)
    local_marker = read_marker(str(local)) or {}
    if local_marker.get("parquet_sha256") == remote.get("parquet_sha256") and cached_shard(str(local), fingerprint)[0]:
        return ""
    storage.download(stem + ".parquet", local.with_suffix(".parquet"))
    atomic_write_bytes(local.with_suffix(".json"), data)
    return check_bytes(local.with_suffix(".parquet"), remote)


# ---------------------------------------------------------------------------- signature copies
# When a global step's parameters change, a cached shard's signature columns for that step are
# computed again (`ShardTask.resign`). The columns they replace are kept beside the shard
# (`<stem>.signatures/<step>-<signature fingerprint>-<rows fingerprint>.parquet`, with the rows'
# ids), so that switching the parameter back restores them instead of computing them again.
# The marker lists a step's copies, oldest first; at most SIGNATURE_COPIES are kept per step.
SIGNATURE_COPIES = 3


def signature_copy(stem: str, step: str, signature_fp: str, rows_fp: str) -> str:
    """Where a shard's `step` signature columns, computed with `signature_fp` on the rows that
    `rows_fp` (the shard's fingerprint) describes, are kept."""
    return f"{stem}.signatures/{step}-{signature_fp[:16]}-{rows_fp[:16]}.parquet"


def keep_signature_copy(stem: str, marker: dict[str, Any], step: str, signature_fp: str, rows_fp: str,
                        columns: pl.DataFrame) -> None:
    """Keep `columns` (the row ids and one step's signature columns) and list the copy in
    `marker["signature_copies"]`; the step's oldest copy beyond SIGNATURE_COPIES is deleted."""
    buffer = io.BytesIO()
    columns.write_parquet(buffer, compression="zstd")
    _write(signature_copy(stem, step, signature_fp, rows_fp), buffer.getvalue())
    kept = [fp for fp in marker.setdefault("signature_copies", {}).get(step, []) if fp != signature_fp] + [signature_fp]
    for old in kept[:-SIGNATURE_COPIES]:
        _delete(signature_copy(stem, step, old, rows_fp))
    marker["signature_copies"][step] = kept[-SIGNATURE_COPIES:]


def restored_signatures(stem: str, marker: dict[str, Any], step: str, signature_fp: str, rows_fp: str,
                        ids: pl.Series) -> pl.DataFrame | None:
    """The kept signature columns of `step` for `signature_fp`, when the marker lists them and
    they are those of these rows (same ids in the same order); else None (computed again)."""
    if signature_fp not in (marker.get("signature_copies") or {}).get(step, []):
        return None
    data = _read(signature_copy(stem, step, signature_fp, rows_fp))
    if data is None:
        return None
    try:
        kept = pl.read_parquet(io.BytesIO(data))
    except Exception:  # a damaged copy is computed again
        return None
    if "id" not in kept.columns or not kept.get_column("id").equals(ids):
        return None
    return kept.drop("id")


def drop_signature_copies(stem: str) -> None:
    """Delete a shard's kept signature columns (its rows are being computed again)."""
    _delete(f"{stem}.signatures", folder=True)


def _delete(location: str, folder: bool = False) -> None:
    if is_url(location):
        fs, path = storage.filesystem(location)
        if fs.exists(path):
            fs.rm(path, recursive=folder)
    elif folder:
        shutil.rmtree(location, ignore_errors=True)
    else:
        Path(location).unlink(missing_ok=True)
