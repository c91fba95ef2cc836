"""The write stage, into the release's fresh staging folder: the kept rows of each config's shards streamed, in order, into
`data/<config>/train-NNNNN-of-NNNNN.parquet` with fixed-size row groups (so the bytes
depend on the rows only), the `commercial` config, and per-source statistics."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from medc.files.atomic import atomic_write_parquet, temporary_name
from medc.recipes.recipe import Recipe
from medc.release.manifest import LengthHistogram
from medc.text.quality_rules import REASON_SIGNAL
from medc.schema import schema_for
from medc.steps.rows import read_batches
from medc.text.licenses import allows_commercial_use

COMMERCIAL_CONFIG = "commercial"


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
            self.tmp = temporary_name(self.folder / self.name(self.file_index))
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


def length_histogram(bit_lengths: np.ndarray) -> LengthHistogram:
    """Document lengths in words, in power-of-two bins (edges 0, 1, 2, 4, ...), from the count
    of documents per bit length of their word count (`bit_lengths[j]`: documents of j bits;
    j-bit counts are those in [2**(j-1), 2**j))."""
    if not bit_lengths.sum():
        return LengthHistogram()
    top = max(int(np.flatnonzero(bit_lengths).max()), 1)  # the bit length of the longest document (1 at least)
    edges = [0] + [2**i for i in range(0, top + 1)]
    counts = np.zeros(top + 1, dtype=np.int64)
    counts[:len(bit_lengths)] = bit_lengths[:top + 1]
    return LengthHistogram(edges, [int(c) for c in counts])


def bit_length_counts(words: np.ndarray) -> np.ndarray:
    """How many word counts have each bit length (index 0: empty documents)."""
    return np.bincount(np.frexp(words.astype(np.float64))[1], minlength=1).astype(np.int64)


def deciding_signal(columns: list[str]) -> pl.Expr:
    """`column=value` of the stored signal that decided a drop (a quality rule's signal, the
    word count of `min_length`), null for the other steps."""
    expr = pl.when(pl.col("step") == "min_length").then(pl.format("words={}", pl.col("_words")))
    for reason, column in REASON_SIGNAL.items():
        if column in columns:
            expr = expr.when((pl.col("step") == "quality_filter") & (pl.col("reason") == reason)).then(
                pl.format(f"{column}={{}}", pl.col(column).cast(pl.String)))
    return expr.otherwise(pl.lit(None, dtype=pl.String)).alias("signal")


def write_dropped(shard_files: list[Path], drops: pl.DataFrame, dropped_dir: Path, recipe: Recipe) -> None:
    """The dropped rows of a config's sources, one file per source
    (`<dropped_dir>/<source>.parquet`), with the step and reason that removed them and the
    value of the signal that decided it."""
    schema = schema_for(recipe.kind)
    by_source: dict[str, list[pl.DataFrame]] = {}
    for path in shard_files:
        frame = pl.read_parquet(path).join(drops, on="_key", how="inner").sort("_key")
        rows = frame.select(*schema.names, "step", "reason", deciding_signal(frame.columns))
        by_source.setdefault(path.parent.name, []).append(rows)  # shards live in <cache>/<source>/shard-N
    dropped_dir.mkdir(parents=True, exist_ok=True)
    for source, parts in sorted(by_source.items()):
        atomic_write_parquet(pl.concat(parts).to_arrow(), dropped_dir / f"{source}.parquet", compression="zstd")


def source_stats(shard_files: list[Path], drop_keys: pl.LazyFrame) -> dict[str, dict[str, Any]]:
    """Per source of the kept rows: rows, words, tokens (when counted) and the length histogram,
    summed shard by shard (the driver holds one shard's counts, not the corpus's)."""
    totals: dict[str, dict[str, Any]] = {}
    for path in shard_files:
        lf = pl.scan_parquet(path)
        names = lf.collect_schema().names()
        tokens = pl.col("_tokens").cast(pl.Int64) if "_tokens" in names else pl.lit(None, dtype=pl.Int64)
        weight = pl.col("_weight").cast(pl.Float64) if "_weight" in names else pl.lit(None, dtype=pl.Float64)
        kept = (lf.select("_key", "source", "_words", tokens.alias("_tokens"), weight.alias("_weight"))
                .join(drop_keys, on="_key", how="anti").drop("_key").collect())
        for (source,), group in kept.group_by("source", maintain_order=True):
            total = totals.setdefault(source, {"rows": 0, "words": 0, "tokens": 0, "tokens_missing": 0, "weighted": 0.0,
                                               "weights_missing": 0, "bits": np.zeros(1, dtype=np.int64)})
            words = group["_words"]
            total["rows"] += group.height
            total["words"] += int(words.sum() or 0)
            total["tokens"] += int(group["_tokens"].sum() or 0)
            total["tokens_missing"] += group["_tokens"].null_count()
            # words counted `weight` times (a `weight` step): what the training loader draws per epoch
            total["weighted"] += float((words.cast(pl.Float64) * group["_weight"]).sum() or 0.0)
            total["weights_missing"] += group["_weight"].null_count()
            bits = bit_length_counts(words.to_numpy())
            if len(bits) > len(total["bits"]):
                total["bits"] = np.pad(total["bits"], (0, len(bits) - len(total["bits"])))
            total["bits"][:len(bits)] += bits
    return {
        source: {"rows": t["rows"], "words": t["words"],
                 "tokens": t["tokens"] if t["tokens_missing"] == 0 else None,
                 "weighted_words": int(round(t["weighted"])) if t["weights_missing"] == 0 else None,
                 "length_histogram": length_histogram(t["bits"])}
        for source, t in totals.items()
    }


def write_config(shard_files: list[Path], drops: pl.DataFrame, out_folder: Path, recipe: Recipe,
                 dropped_dir: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Stream the kept rows of a config's shards (its sources, in recipe order) into its
    released parquet files; return them and per-source stats. With `dropped_dir`, also
    write the dropped rows with the step and reason that removed them."""
    if dropped_dir is not None:
        write_dropped(shard_files, drops, dropped_dir, recipe)
    keys = drops.select("_key")
    stats = source_stats(shard_files, keys.lazy())
    total = sum(s["rows"] for s in stats.values())
    if total == 0:  # a config with no rows left gets no files
        return [], stats
    schema = schema_for(recipe.kind)
    writer = ShardedParquetWriter(out_folder, schema, total, recipe.rows_per_file, recipe.row_group_size)
    for path in shard_files:
        for df in kept_rows(path, keys, [*schema.names, "_key"]):
            writer.write(to_schema(df, schema))
    return writer.close(), stats


WRITE_ROWS = 16_384  # rows of a shard read, joined and written at a time


def kept_rows(shard: Path, drop_keys: pl.DataFrame, columns: list[str]) -> Iterator[pl.DataFrame]:
    """The rows of a shard that no step dropped, in `_key` order, with `columns` only:
    `WRITE_ROWS` rows at a time (the driver holds a slice of a row group, not the shard), or
    the whole shard sorted where its rows are not stored in key order."""
    in_order = pl.read_parquet(shard, columns=["_key"])["_key"].is_sorted()
    if not in_order:
        slices: Iterator[pl.DataFrame] = iter([pl.read_parquet(shard, columns=columns)])
    else:
        slices = read_batches(shard, columns, rows=WRITE_ROWS)
    for df in slices:
        df = df.join(drop_keys, on="_key", how="anti").sort("_key")
        if df.height:
            yield df


def write_commercial(repo: Path, configs: list[str], recipe: Recipe) -> list[dict[str, Any]]:
    """`data/commercial/`: the released rows whose licence allows commercial use."""
    folder = repo / "data" / COMMERCIAL_CONFIG
    files = [p for c in configs for p in sorted((repo / "data" / c).glob("train-*.parquet"))]
    if not files:
        return []
    licences = pl.scan_parquet([str(f) for f in files]).select("license").unique().collect()["license"].to_list()
    ok = sorted(lic for lic in licences if allows_commercial_use(lic))
    total = pl.scan_parquet([str(f) for f in files]).filter(pl.col("license").is_in(ok)).select(pl.len()).collect().item()
    if total == 0:
        return []
    schema = schema_for(recipe.kind)
    writer = ShardedParquetWriter(folder, schema, total, recipe.rows_per_file, recipe.row_group_size)
    for f in files:  # a batch of row groups at a time
        for batch in pq.ParquetFile(f).iter_batches(batch_size=20_000):
            df = pl.from_arrow(batch)
            assert isinstance(df, pl.DataFrame)
            df = df.filter(pl.col("license").is_in(ok))
            if df.height:
                writer.write(to_schema(df, schema))
    return writer.close()
