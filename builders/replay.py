"""General-domain replay text → MedC-K rows (Meditron / Me-LLaMA mix general text in to keep
general abilities): JSONL (`.jsonl`, `.jsonl.gz`), parquet files, or a Hugging Face dataset
named in a small pointer file `*.hf.toml`:

    dataset = "HuggingFaceFW/fineweb-edu"   # a Hub id, or a local dataset folder
    config = "sample-10BT"                  # optional
    split = "train"
    revision = "main"                       # optional: a commit, for a build that can be repeated
    max_rows = 200000                       # read at most this many (streamed)

Each record's text is taken from `text_field` (default `text`), its id from `id_field` when
the records have one. Sampling to a token / word budget is the `sample_budget` step, so the
sample does not depend on how files are sharded.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medc.files.records import json_records
from medc.ingest.builder import Builder, FileReport, register_builder
from medc.text.normalize import normalize_text

POINTER_KEYS = frozenset({"dataset", "config", "split", "revision", "max_rows", "text_field", "id_field", "license"})


@register_builder("replay")
class ReplayBuilder(Builder):
    kind = "knowledge"
    patterns = ("**/*.jsonl", "**/*.jsonl.gz", "**/*.parquet", "**/*.hf.toml")
    pointer_keys = POINTER_KEYS
    defaults: dict[str, Any] = {"text_field": "text", "id_field": "id", "license": "unknown", "min_chars": 1}

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        name = path.name.lower()
        # Ids are made from the file's path under the sources root (without its extensions), so
        # `book.part1.jsonl` and `book.part2.jsonl`, or `a/same.jsonl` and `b/same.jsonl`, never share one.
        rel = path.relative_to(self.sources_root).as_posix() if path.is_relative_to(self.sources_root) else path.name
        label = rel.removesuffix(".gz").removesuffix(".jsonl").removesuffix(".parquet")
        text_field, id_field, license = self.options["text_field"], self.options["id_field"], self.options["license"]
        if name.endswith(".hf.toml"):
            try:
                spec = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"invalid TOML: {exc}") from None
            unknown = sorted(set(spec) - POINTER_KEYS)
            if unknown or not isinstance(spec.get("dataset"), str):
                raise ValueError(f"pointer file needs dataset = \"hub id or folder\" (unknown keys: {unknown})")
            records = self._hub_records(spec)
            text_field, id_field = spec.get("text_field", text_field), spec.get("id_field", id_field)
            license = spec.get("license", license)
            label = spec["dataset"]
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq

            try:
                table = pq.ParquetFile(path)
            except Exception as exc:  # pyarrow raises several types for a bad file
                raise ValueError(f"unreadable parquet: {exc}") from None
            if text_field not in table.schema_arrow.names:
                raise ValueError(f"no column {text_field!r} (columns: {', '.join(table.schema_arrow.names[:10])})")
            records = (rec for batch in table.iter_batches(batch_size=10_000) for rec in batch.to_pylist())
        else:
            records = (rec for _, rec in json_records(path))
        for i, rec in enumerate(records):
            report.records += 1
            key = f"record {i + 1}"
            if isinstance(rec, Exception):
                report.error(f"invalid JSON: {rec}", key)
                continue
            if not isinstance(rec, dict):
                report.error("record is not an object", key)
                continue
            text = rec.get(text_field)
            if not isinstance(text, str):
                report.error(f"no text in field {text_field!r}", key)
                continue
            text = normalize_text(text)
            if len(text) < self.options["min_chars"]:
                report.skip("empty text")
                continue
            rid = rec.get(id_field)
            yield {
                "id": f"replay:{label}:{rid if rid not in (None, '') else i}",
                "source": self.source,
                "title": None,
                "text": text,
                "license": license,
                "meta": {"dataset": label, "file": rel, "article_type": "general"},
            }

    def _hub_records(self, spec: dict[str, Any]) -> Iterator[Any]:
        from datasets import load_dataset

        try:
            ds = load_dataset(spec["dataset"], spec.get("config"), split=spec.get("split", "train"), revision=spec.get("revision"),
                              streaming=True)
        except Exception as exc:  # offline, unknown id, bad folder: one clear line
            raise ValueError(f"cannot load dataset {spec['dataset']!r}: {str(exc).splitlines()[0]}") from None
        limit = spec.get("max_rows")
        for i, rec in enumerate(ds):
            if limit is not None and i >= int(limit):
                break
            yield rec
