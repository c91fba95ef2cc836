"""Clinical notes in MIMIC-IV-Note's layout (`discharge.csv.gz`, `radiology.csv.gz`: note_id,
subject_id, hadm_id, note_type, note_seq, charttime, storetime, text) besides MIMIC-III's
NOTEEVENTS. MIMIC's notes are credentialed: the texts here are real MTSamples transcriptions
(tests/fixtures/clinical_notes/SOURCES.md) laid out in that layout, as PhysioNet documents it."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import polars as pl
import pytest

from builders.clinical_notes import ClinicalNotesBuilder
from medc.ingest.builder import FileReport
from medc.text.normalize import normalize_text
from tests.conftest import FIXTURES

MIMIC_IV_COLUMNS = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]


def mtsamples(n: int, skip: int = 0) -> list[dict[str, str]]:
    with open(FIXTURES / "clinical_notes" / "mtsamples_subset.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))[skip : skip + n]


def mimic_iv_table(notes: list[dict[str, str]], note_type: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(MIMIC_IV_COLUMNS)
    for i, note in enumerate(notes, 1):
        subject = 10000000 + i
        writer.writerow([f"{subject}-{note_type}-{i}", subject, 20000000 + i, note_type, i, "2180-05-07 00:00:00",
                         "2180-05-08 14:01:00", note["transcription"]])
    return out.getvalue()


def test_mimic_iv_note_tables_are_read(tmp_path: Path) -> None:
    """`discharge.csv.gz` (gzipped, as PhysioNet serves it) and `radiology.csv`: one row per
    note, its note_id the row id, its note type as a category, the day of its charttime; a
    note without text is counted."""
    discharge, radiology = mtsamples(6), mtsamples(3, skip=6)
    (tmp_path / "discharge.csv.gz").write_bytes(gzip.compress(mimic_iv_table(discharge, "DS").encode()))
    (tmp_path / "radiology.csv").write_text(mimic_iv_table(radiology, "RR"), encoding="utf-8")
    builder = ClinicalNotesBuilder("clinical_notes", {}, tmp_path)
    assert sorted({p.name for pattern in builder.patterns for p in tmp_path.glob(pattern)}) == ["discharge.csv.gz", "radiology.csv"]
    report = FileReport("discharge.csv.gz")
    rows = list(builder.parse(tmp_path / "discharge.csv.gz", report))
    with_text = [n for n in discharge if n["transcription"].strip()]
    assert report.errors == [] and len(rows) == len(with_text)
    assert report.skipped == ({"empty note": len(discharge) - len(with_text)} if len(with_text) < len(discharge) else {})
    first = rows[0]
    assert first["id"] == "mimic4:note:10000001-DS-1" and first["license"] == "physionet-restricted"
    assert first["meta"] == {"subject_id": "10000001", "hadm_id": "20000001", "category": "Discharge summary",
                             "chartdate": "2180-05-07", "note_type": "DS", "note_seq": "1"}
    assert [r["text"] for r in rows] == [normalize_text(n["transcription"]) for n in with_text]
    rows = list(builder.parse(tmp_path / "radiology.csv", FileReport("radiology.csv")))
    assert {r["meta"]["category"] for r in rows} == {"Radiology"}


def test_a_table_of_another_layout_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "discharge.csv").write_text("subject_id,charttime,value\n1,2180-01-01,3\n")
    with pytest.raises(ValueError, match=r"not a NOTEEVENTS or MIMIC-IV-Note table: missing column\(s\) row_id, text"):
        list(ClinicalNotesBuilder("clinical_notes", {}, tmp_path).parse(tmp_path / "discharge.csv", FileReport("x")))


def test_mimic_iv_notes_built_and_deidentified(tmp_path: Path) -> None:
    """Through a build with the `deidentify` step: MIMIC-IV's `___` placeholders become typed
    surrogates of their own, the patient and stay ids leave `meta`."""
    from medc.build import main as build

    notes = mtsamples(3)
    header = "Name:  ___                 Unit No:   ___\n \nAdmission Date:  ___    Discharge Date:   ___\n \nAttending: ___.\n \n"
    for note in notes:
        note["transcription"] = header + note["transcription"]
    (tmp_path / "src" / "clinical_notes" / "note").mkdir(parents=True)
    (tmp_path / "src" / "clinical_notes" / "note" / "discharge.csv.gz").write_bytes(gzip.compress(mimic_iv_table(notes, "DS").encode()))
    recipe = tmp_path / "r.toml"
    recipe.write_text('[dataset]\nname = "medc-k"\nkind = "knowledge"\n[[sources]]\nname = "clinical_notes"\n'
                      'builder = "clinical_notes"\ndir = "clinical_notes"\n[[steps]]\nstep = "deidentify"\nsources = ["clinical_notes"]\n')
    assert build(["medc-k", "--sources", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--recipe", str(recipe), "--quiet"]) == 0
    frame = pl.read_parquet(sorted((tmp_path / "out" / "medc-k" / "data").rglob("*.parquet")))
    with_text = [n for n in notes if n["transcription"].strip()]
    assert frame.height == len(with_text)
    for text, meta in zip(frame["text"], frame["meta"]):
        assert text.startswith("Name: [NAME-1] Unit No: [ID-1]\n\nAdmission Date: [DATE-1] Discharge Date: [DATE-2]\n\nAttending: [NAME-2].")
        assert "___" not in text
        assert not {"subject_id", "hadm_id", "chartdate"} & set(json.loads(meta))
