"""The shard cache (`<out>/.medc-cache/<dataset>/<source>/shard-NNNNN.{parquet,json}`): a
shard's rows and its report, the report written last as the completion marker. Local paths
or fsspec URLs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from medc.files import storage
from medc.files.atomic import atomic_write_bytes, atomic_write_parquet
from medc.files.storage import is_url, join

CACHE_DIR = ".medc-cache"


def shard_stem(cache_dir: str, source: str, shard: int) -> str:
    return join(cache_dir, source, f"shard-{shard:05d}")


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


def is_complete(stem: str, fingerprint: str) -> bool:
    """Whether the cache holds this shard, computed with this fingerprint."""
    marker = read_marker(stem)
    if marker is None or marker.get("fingerprint") != fingerprint:
        return False
    if is_url(stem):
        fs, path = storage.filesystem(stem + ".parquet")
        return bool(fs.exists(path))
    return Path(stem + ".parquet").is_file()


def write_shard(stem: str, df: pl.DataFrame, report: dict[str, Any]) -> None:
    """The shard's rows, then its marker: a marker is never seen without its shard."""
    marker = json.dumps(report, sort_keys=True).encode()
    if is_url(stem):
        with tempfile.TemporaryDirectory(prefix="medc-shard-") as tmp:
            local = Path(tmp) / "shard.parquet"
            pq.write_table(df.to_arrow(), local, compression="zstd")
            storage.upload_file(local, stem + ".parquet")
        storage.write_bytes(stem + ".json", marker)
        return
    path = Path(stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(df.to_arrow(), path.with_suffix(".parquet"), compression="zstd")
    atomic_write_bytes(path.with_suffix(".json"), marker)


def fetch_shard(stem: str, local: Path, fingerprint: str) -> None:
    """A local copy of a remote shard and its marker, unless the local copy is this shard."""
    if (marker := read_marker(str(local))) and marker.get("fingerprint") == fingerprint and local.with_suffix(".parquet").is_file():
        return
    storage.download(stem + ".parquet", local.with_suffix(".parquet"))
    data = storage.read_bytes(stem + ".json")
    if data is None:
        raise RuntimeError(f"{stem}.json vanished while the build was reading it")
    atomic_write_bytes(local.with_suffix(".json"), data)
