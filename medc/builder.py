"""The interface every raw-format builder implements, and the per-file report it fills.

A builder turns one input file into rows of its dataset kind and nothing else: no
cleaning policy, no dedup. Records it cannot use are reported (with the reason) or
counted as skipped (e.g. a benchmark's test split), never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
import json
from typing import Any, ClassVar

from medc.errors import UserError


@dataclass
class FileReport:
    """What happened to one input file: records read, rows produced, skips and errors."""

    path: str
    sha256: str = ""
    bytes: int = 0
    records: int = 0
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, str]] = field(default_factory=list)
    failed: bool = False  # the whole file could not be read

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def error(self, reason: str, record: str | None = None) -> None:
        self.errors.append({"file": self.path, "record": record or "", "reason": reason})

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "records": self.records,
            "rows": self.rows,
            "skipped": dict(sorted(self.skipped.items())),
            "errors": self.errors,
            "failed": self.failed,
        }


class Builder:
    """Base class: subclasses set `kind`, `patterns`, `defaults` and implement `parse`."""

    kind: ClassVar[str]  # "knowledge" or "instruction"
    patterns: ClassVar[tuple[str, ...]]  # default globs inside the source's folder
    defaults: ClassVar[dict[str, Any]] = {}  # options and their default values

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise UserError(
                f"source {source!r}: unknown option {unknown[0]!r} for builder "
                f"{type(self).__name__} (known options: {known})"
            )
        self.source = source
        self.options = {**self.defaults, **options}
        self.sources_root = sources_root

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        """Globs (relative to the sources root) of files the builder reads besides its input
        files, e.g. a package's file list; `folder` is the source's folder. With remote
        sources these are staged next to every task's inputs."""
        return []

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        """Yield rows (dicts in the dataset schema) from one file; report bad records."""
        raise NotImplementedError


def json_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(`record N` / `line N`, parsed JSON or the JSONDecodeError of a bad line) for a JSON file (one record or a list) or JSONL."""
    from medc.xmlsafe import read_bytes

    text = read_bytes(path).decode("utf-8-sig")
    stripped = text.lstrip()
    if path.name.removesuffix(".gz").endswith(".json") and stripped[:1] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # a .json file of JSON lines
        if data is not None:
            for i, rec in enumerate(data if isinstance(data, list) else [data]):
                yield f"record {i + 1}", rec
            return
    for i, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                yield f"line {i + 1}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"line {i + 1}", exc
