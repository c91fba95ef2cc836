"""MIMIC NOTEEVENTS-style clinical notes (CSV) → MedC-K rows, for local training only.

Headers may be lower- (demo) or upper-case (credentialed MIMIC-III); rows flagged
`iserror` are skipped and counted; de-identification placeholders (`[** ... **]`) are kept,
with their inner spacing made consistent. Every row carries the `physionet-restricted`
licence: `python -m medc.publish` refuses a repo that holds such rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from medc.ingest.builder import Builder, FileReport, register_builder
from medc.text.normalize import normalize_text

REQUIRED = ("row_id", "text")
_PLACEHOLDER = re.compile(r"\[\*\*\s*(.*?)\s*\*\*\]", re.S)
LICENSE = "physionet-restricted"


def tidy_placeholders(text: str) -> str:
    return _PLACEHOLDER.sub(lambda m: f"[**{' '.join(m.group(1).split())}**]", text)


@register_builder("clinical_notes")
class ClinicalNotesBuilder(Builder):
    citations = ("johnson2016mimic",)
    # Notes are protected health information: problems are reported by these phrases only.
    public_reasons = ("malformed CSV", "not a NOTEEVENTS table", "missing row_id or text")
    kind = "knowledge"
    patterns = ("**/NOTEEVENTS.csv", "**/NOTEEVENTS.csv.gz", "**/noteevents.csv")
    defaults: dict[str, Any] = {"categories": None, "min_chars": 1}

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        try:
            frame = pl.read_csv(path, infer_schema=False, quote_char='"', truncate_ragged_lines=False)
        except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed CSV: {exc}") from None
        frame = frame.rename({c: c.strip().lower() for c in frame.columns})
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise ValueError(f"not a NOTEEVENTS table: missing column(s) {', '.join(missing)}")
        categories = self.options["categories"]
        for rec in frame.iter_rows(named=True):
            report.records += 1
            row_id = (rec.get("row_id") or "").strip()
            if (rec.get("iserror") or "").strip() in ("1", "1.0", "true", "True"):
                report.skip("iserror row")
                continue
            if categories and (rec.get("category") or "").strip() not in categories:
                report.skip("category not selected")
                continue
            text = normalize_text(tidy_placeholders(rec.get("text") or ""))
            if not row_id:
                report.error("missing row_id or text", f"row {report.records}")
                continue
            if len(text) < self.options["min_chars"]:
                report.skip("empty note")  # a real row with no text (MTSamples has some): counted, not an error
                continue
            yield {
                "id": f"mimic:note:{row_id}",
                "source": self.source,
                "title": (rec.get("description") or "").strip() or None,
                "text": text,
                "license": LICENSE,
                "meta": {
                    "subject_id": rec.get("subject_id"),
                    "hadm_id": rec.get("hadm_id"),
                    "category": (rec.get("category") or "").strip(),
                    "chartdate": rec.get("chartdate"),
                },
            }
