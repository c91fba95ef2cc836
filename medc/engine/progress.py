"""Progress for long work (files, records/s, ETA) on stderr, and one-line notices."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm


class Bar:
    def __init__(self, desc: str, total: int, files: int, enabled: bool):
        self.started = time.perf_counter()
        self.files = 0
        self.records = 0
        self.total_files = files
        self.tqdm = tqdm(total=total, desc=desc, unit="shard", disable=not enabled, file=sys.stderr, dynamic_ncols=True)

    def advance(self, files: int = 0, records: int = 0) -> None:
        self.files += files
        self.records += records
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.tqdm.set_postfix_str(
            f"files {self.files}/{self.total_files}, {self.records / elapsed:,.0f} records/s", refresh=False
        )
        self.tqdm.update(1)


class Progress:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.notices: list[str] = []

    def notice(self, message: str) -> None:
        self.notices.append(message)
        print(f"note: {message}", file=sys.stderr)

    def warning(self, message: str) -> None:
        """Something the user most likely did not mean (a source folder with no matching file)."""
        self.notices.append(message)
        print(f"WARNING: {message}", file=sys.stderr)

    @contextmanager
    def bar(self, desc: str, total: int, files: int = 0) -> Iterator[Bar]:
        bar = Bar(desc, total, files, self.enabled)
        try:
            yield bar
        finally:
            bar.tqdm.close()
