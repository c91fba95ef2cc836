"""Clinical notes (CSV) → MedC-K rows, for local training only.

Two layouts: MIMIC-III's `NOTEEVENTS.csv` (`row_id, subject_id, hadm_id, chartdate, ...,
category, description, cgid, iserror, text`; headers lower- (demo) or upper-case
(credentialed)) and MIMIC-IV-Note's `discharge.csv` / `radiology.csv` (`note_id, subject_id,
hadm_id, note_type, note_seq, charttime, storetime, text`; `.gz` as PhysioNet serves them).
Rows flagged `iserror` are skipped and counted; MIMIC-III's de-identification placeholders
(`[** ... **]`) are kept, with their inner spacing made consistent, and MIMIC-IV's (`___`) as
they are: the `deidentify` step maps both to typed surrogates. Every row carries the
`physionet-restricted` licence: `python -m medc.publish` refuses a repo that holds such rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from medc.ingest.builder import Builder, FileReport, register_builder
from medc.text.normalize import normalize_text

REQUIRED = ("row_id", "text")  # MIMIC-III NOTEEVENTS
REQUIRED_MIMIC_IV = ("note_id", "text")  # MIMIC-IV-Note discharge / radiology
# MIMIC-IV-Note's note types (its `note_type` column) as MIMIC-III's categories name them.
NOTE_TYPES = {"DS": "Discharge summary", "RR": "Radiology", "AR": "Radiology"}
_PLACEHOLDER = re.compile(r"\[\*\*\s*(.*?)\s*\*\*\]", re.S)
LICENSE = "physionet-restricted"


def tidy_placeholders(text: str) -> str:
    return _PLACEHOLDER.sub(lambda m: f"[**{' '.join(m.group(1).split())}**]", text)


@register_builder("clinical_notes")
class ClinicalNotesBuilder(Builder):
    citations = ("johnson2016mimic",)
    # Notes are protected health information: problems are reported by these phrases only.
    public_reasons = ("malformed CSV", "not a NOTEEVENTS or MIMIC-IV-Note table", "missing row_id or text")
    kind = "knowledge"
    patterns = ("**/NOTEEVENTS.csv", "**/NOTEEVENTS.csv.gz", "**/noteevents.csv",
                "**/discharge.csv", "**/discharge.csv.gz", "**/radiology.csv", "**/radiology.csv.gz")
    defaults: dict[str, Any] = {"categories": None, "min_chars": 1}

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        try:
            frame = pl.read_csv(path, infer_schema=False, quote_char='"', truncate_ragged_lines=False)
        except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed CSV: {exc}") from None
        frame = frame.rename({c: c.strip().lower() for c in frame.columns})
        mimic_iv = all(c in frame.columns for c in REQUIRED_MIMIC_IV) and "row_id" not in frame.columns
        missing = [c for c in (REQUIRED_MIMIC_IV if mimic_iv else REQUIRED) if c not in frame.columns]
        if missing:
            raise ValueError(f"not a NOTEEVENTS or MIMIC-IV-Note table: missing column(s) {', '.join(missing)}")
        categories = self.options["categories"]
        for rec in frame.iter_rows(named=True):
            report.records += 1
            row_id = (rec.get("note_id" if mimic_iv else "row_id") or "").strip()
            if (rec.get("iserror") or "").strip() in ("1", "1.0", "true", "True"):
                report.skip("iserror row")
                continue
            note_type = (rec.get("note_type") or "").strip()
            category = NOTE_TYPES.get(note_type, note_type) if mimic_iv else (rec.get("category") or "").strip()
            if categories and category not in categories:
                report.skip("category not selected")
                continue
            text = normalize_text(tidy_placeholders(rec.get("text") or ""))
            if not row_id:
                report.error("missing row_id or text", f"row {report.records}")
                continue
            if len(text) < self.options["min_chars"]:
                report.skip("empty note")  # a real row with no text (MTSamples has some): counted, not an error
                continue
            meta = {"subject_id": rec.get("subject_id"), "hadm_id": rec.get("hadm_id"), "category": category}
            if mimic_iv:  # charttime "2180-05-07 00:00:00": the day, as NOTEEVENTS' chartdate
                meta |= {"chartdate": (rec.get("charttime") or "")[:10] or None, "note_type": note_type, "note_seq": rec.get("note_seq")}
            else:
                meta["chartdate"] = rec.get("chartdate")
            yield {
                "id": f"mimic4:note:{row_id}" if mimic_iv else f"mimic:note:{row_id}",
                "source": self.source,
                "title": (rec.get("description") or "").strip() or None,
                "text": text,
                "license": LICENSE,
                "meta": meta,
            }
