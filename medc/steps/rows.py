"""The rows a global step decides on: the rows every step before it kept, read from the shards
on disk when the step asks for them, so that the driver never holds the corpus.

A global step asks for the columns it needs in one of three shapes:

* `batches(columns)`: up to `READ_ROWS` rows of a shard at a time (a decision row by row: `select`);
* `collect(columns, where)`: the rows that meet a condition, in one frame (few rows: the
  members of near-duplicate clusters, the rows with a retraction signal);
* `partitions(columns, by)`: hash partitions of the rows by a column, each small enough to
  hold (`partition_rows`): rows that share a value of `by` are in the same partition, so a
  decision made within groups of equal `by` (exact duplicates, duplicate ids, one LSH
  bucket) is the same partition by partition as over the whole corpus. With one partition
  (corpora below `partition_rows`) the rows are read in one pass and held; with more, they
  are read once and spilled to disk by partition.

What stays in memory between steps is the sorted `_key`s of the rows dropped so far
(8 bytes a dropped row), the number of rows kept and the source of each source index.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)

PARTITION_ROWS = 2_000_000  # rows (or expanded entries) a partition holds at most, by default
READ_ROWS = 65_536  # rows read from a shard at a time
OPEN_SPILLS = 256  # partition files written at a time (more partitions: another pass over the shards)
SOURCE_SHIFT = 48  # `_key` = source << 48 | shard << 24 | row

Part = Path | str | pl.DataFrame  # a shard file, or rows in memory (small builds, tests)


def source_index(keys: pl.Expr) -> pl.Expr:
    """The source's position in the recipe, from row keys."""
    return keys // (1 << SOURCE_SHIFT)


def read_batches(part: Part, columns: list[str], where: pl.Expr | None = None, rows: int = READ_ROWS) -> Iterator[pl.DataFrame]:
    """`columns` of a shard's rows (that meet `where`), `rows` rows at a time (polars reads
    only the row groups of each slice: a shard's columns are never all in memory). At least
    one frame, empty for an empty shard."""
    lazy = part.lazy() if isinstance(part, pl.DataFrame) else pl.scan_parquet(part)
    total = lazy.select(pl.len()).collect().item()  # from the file's metadata
    for start in range(0, max(total, 1), rows):
        chunk = lazy.slice(start, rows)
        if where is not None:
            chunk = chunk.filter(where)
        yield chunk.select(columns).collect()


class KeptRows:
    """The rows kept so far among `parts` (shard files or frames holding `_key`, `id`,
    `source` and the signature columns): every row of the parts but the `dropped` keys."""

    def __init__(self, parts: Sequence[Part], dropped: np.ndarray | None = None, height: int | None = None,
                 partition_rows: int = PARTITION_ROWS, sources: dict[int, str] | None = None, spill_dir: Path | None = None):
        self.parts = list(parts)
        self.spill_dir = spill_dir  # where partitions are spilled (default: the system's temporary folder)
        self.dropped = np.empty(0, dtype=np.uint64) if dropped is None else np.asarray(dropped, dtype=np.uint64)
        self.partition_rows = partition_rows
        if height is None or sources is None:
            counted = 0
            sources = {}
            for frame in self.batches(["source"]):
                counted += frame.height
                for index, name in frame.select(source_index(pl.col("_key")).alias("i"), "source").unique().iter_rows():
                    sources[int(index)] = name
            height = counted if height is None else height
        self.height = height
        self.sources = sources  # source position in the recipe (`_key >> 48`) -> source name

    @classmethod
    def of(cls, frame: pl.DataFrame, partition_rows: int = PARTITION_ROWS) -> KeptRows:
        """Every row of one frame (a step run on rows in memory)."""
        return cls([frame], partition_rows=partition_rows)

    def without(self, keys: pl.Series) -> KeptRows:
        """These rows, less `keys` (rows a step dropped; each one of these rows)."""
        gone = np.setdiff1d(keys.cast(pl.UInt64).to_numpy(), self.dropped)  # sorted, unique
        return KeptRows(self.parts, np.union1d(self.dropped, gone), self.height - len(gone), self.partition_rows, self.sources,
                        self.spill_dir)

    def source_of(self, keys: pl.Expr) -> pl.Expr:
        """The source name of each row key."""
        return source_index(keys).replace_strict(self.sources, default=None, return_dtype=pl.String)

    def _read(self, part: Part, columns: list[str], where: pl.Expr | None) -> Iterator[pl.DataFrame]:
        for frame in read_batches(part, ["_key", *[c for c in columns if c != "_key"]], where):
            if len(self.dropped) and frame.height:
                keys = frame["_key"].to_numpy()
                at = np.searchsorted(self.dropped, keys).clip(max=len(self.dropped) - 1)
                frame = frame.filter(pl.Series(self.dropped[at] != keys))
            yield frame

    def batches(self, columns: list[str], where: pl.Expr | None = None) -> Iterator[pl.DataFrame]:
        """`_key` and `columns` of the kept rows (that meet `where`), up to `READ_ROWS` rows of
        one part (shard) at a time."""
        for part in self.parts:
            yield from self._read(part, columns, where)

    def collect(self, columns: list[str], where: pl.Expr | None = None) -> pl.DataFrame:
        """`_key` and `columns` of the kept rows (that meet `where`), in one frame."""
        frames = list(self.batches(columns, where))
        return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()

    def partition_count(self, entries_per_row: int = 1) -> int:
        return max(1, math.ceil(self.height * entries_per_row / self.partition_rows))

    def partitions(self, columns: list[str], by: str, where: pl.Expr | None = None,
                   expand: Callable[[pl.DataFrame], pl.DataFrame] | None = None, entries_per_row: int = 1) -> Iterator[pl.DataFrame]:
        """The kept rows (that meet `where`) in hash partitions of `by`: rows with equal `by`
        are in the same partition. `expand` turns each shard's rows into the entries to
        partition (e.g. one entry per LSH band, `entries_per_row` of them), `by` being a
        column of the entries.

        One partition (up to `partition_rows` entries): every shard read once, in memory.
        More: the shards are read once and each one's entries spilled to disk by partition
        (Arrow IPC files in a temporary folder under `spill_dir`, at most `OPEN_SPILLS` open
        at a time), then each partition is read back alone and its file removed."""
        count = self.partition_count(entries_per_row)
        if count == 1:
            frames = [expand(f) if expand is not None else f for f in self.batches(columns, where)]
            if frames:
                yield pl.concat(frames, how="vertical_relaxed")
            return
        if self.spill_dir is not None:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="partitions-", dir=self.spill_dir) as folder:
            for first in range(0, count, OPEN_SPILLS):
                group = range(first, min(first + OPEN_SPILLS, count))
                paths = {i: Path(folder) / f"part-{i}.arrow" for i in group}
                writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
                try:
                    for frame in self.batches(columns, where):
                        entries = expand(frame) if expand is not None else frame
                        index = (pl.col(by).hash(seed=0x9A57) % count).alias("_partition")
                        entries = entries.with_columns(index).filter(pl.col("_partition").is_between(group.start, group.stop - 1))
                        for (i,), part in entries.partition_by("_partition", as_dict=True, include_key=False).items():
                            table = part.to_arrow()
                            if i not in writers:
                                writers[i] = pa.ipc.new_file(str(paths[i]), table.schema)
                            writers[i].write_table(table)
                finally:
                    for writer in writers.values():
                        writer.close()
                for i in group:
                    if i in writers:
                        with pa.OSFile(str(paths[i])) as stream:  # read into memory, not mapped
                            frame = pl.DataFrame(pl.from_arrow(pa.ipc.open_file(stream).read_all()))
                        paths[i].unlink()
                        yield frame
