"""Reading input files: size-capped bytes (`.gz` transparently), and the one JSON / JSONL
record reader that every builder and test-set reader uses."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_INPUT_BYTES = 1 << 30  # refuse a single (decompressed) input document above 1 GiB


class InputTooLarge(ValueError):
    """A file (or its decompressed content) is larger than the reader's limit."""


def read_bytes(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a file, transparently decompressing `.gz`, refusing anything larger than `limit`."""
    if not path.name.endswith(".gz"):
        with open(path, "rb") as fh:
            # (read(limit + 1) would allocate a buffer of `limit` bytes for every file)
            if os.fstat(fh.fileno()).st_size > limit:
                raise InputTooLarge(f"document is larger than {limit} bytes")
            return fh.read()
    chunks, total = [], 0
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            total += len(chunk)
            if total > limit:
                raise InputTooLarge(f"document is larger than {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def json_records(path: Path, tables: bool = False) -> Iterator[tuple[str, Any]]:
    """(`record N` / `line N`, the parsed value or the JSONDecodeError of a bad line) for a
    JSON file (one record, or a list of records) or a JSONL file; a BOM, CRLF, blank lines and
    `.gz` are tolerated. With `tables`, a JSON object whose every value is an object is a
    table of records keyed by id (PubMedQA's `ori_pqal.json`): its values are the records."""
    text = read_bytes(path).decode("utf-8-sig")
    stripped = text.lstrip()
    if stripped[:1] == "[" or (path.name.removesuffix(".gz").endswith(".json") and stripped[:1] == "{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # JSON lines after all
        if data is not None:
            if tables and isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
                data = list(data.values())
            for i, rec in enumerate(data if isinstance(data, list) else [data]):
                yield f"record {i + 1}", rec
            return
    for i, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                yield f"line {i + 1}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"line {i + 1}", exc
