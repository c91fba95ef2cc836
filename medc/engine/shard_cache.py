"""The shard cache (`<out>/.medc-cache/<dataset>/<source>/shard-NNNNN.{parquet,json}`): a
shard's rows and its report, the report written last as the completion marker. Local paths
or fsspec URLs."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from medc.files import storage
from medc.files.atomic import atomic_write_bytes, atomic_write_parquet, sha256_file
from medc.files.storage import is_url, join

CACHE_DIR = ".medc-cache"


def shard_name(first_file: str) -> str:
    """A shard's name in the cache: from its first input file, so that a shard keeps its name
    (and its cached rows) when files are added elsewhere and the shards' numbers move."""
    return "shard-" + hashlib.blake2b(first_file.encode(), digest_size=8).hexdigest()


def shard_stem(cache_dir: str, source: str, name: str) -> str:
    return join(cache_dir, source, name)


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


def write_shard(stem: str, df: pl.DataFrame, report: dict[str, Any]) -> None:
    """The shard's rows, then its marker (with the shard's sha256 and size): a marker is never
    seen without its shard, and a shard that changed after its marker is recognised."""
    if is_url(stem):
        with tempfile.TemporaryDirectory(prefix="medc-shard-") as tmp:
            local = Path(tmp) / "shard.parquet"
            pq.write_table(df.to_arrow(), local, compression="zstd")
            report.update(parquet_sha256=sha256_file(local), parquet_bytes=local.stat().st_size)
            storage.upload_file(local, stem + ".parquet")
        storage.write_bytes(stem + ".json", json.dumps(report, sort_keys=True).encode())
        return
    path = Path(stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    parquet = path.with_suffix(".parquet")
    atomic_write_parquet(df.to_arrow(), parquet, compression="zstd")
    report.update(parquet_sha256=sha256_file(parquet), parquet_bytes=parquet.stat().st_size)
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(report, sort_keys=True).encode())


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
