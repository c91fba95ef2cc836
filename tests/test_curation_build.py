"""One default MedC-K build that exercises the curation and privacy steps end to end (shared by
the tests below, to build once): clinical notes with planted identifiers (tests/phi_notes.py)
for `deidentify`, and real JATS / MEDLINE files with a derived retraction notice and the
real-layout Retraction Watch list (tests/test_retractions.py) for `retractions`."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from typing import Any

import polars as pl
import pytest

from medc.text.deidentify import PHI_TYPES
from tests.conftest import FIXTURES, REPO
from tests.phi_notes import free_text_note, mimic_note
from tests.test_retractions import JATS, MEDLINE, retraction_notice

NOTE_COLUMNS = ["row_id", "subject_id", "hadm_id", "chartdate", "charttime", "storetime", "category", "description",
                "cgid", "iserror", "text"]
SHORT_NOTE = "Pt Ingrid Lindqvist seen by Dr. Kwame Mensah, stable, call 555-203-4417."  # dropped as too short
PAPERS = ("6605965a.nxml", "elife07586.nxml", "biorxiv-493855.nxml", "PMC7417471.nxml")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("curation")
    sources = tmp / "sources"
    notes = [free_text_note(i) for i in range(4)] + [mimic_note(i) for i in range(4)]
    (sources / "clinical_notes").mkdir(parents=True)
    with open(sources / "clinical_notes" / "NOTEEVENTS.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(NOTE_COLUMNS)
        for i, text in enumerate([n.text for n in notes] + [SHORT_NOTE], 1):
            out.writerow([i, 70000 + i, 190000 + i, "2151-07-16", "", "", "Discharge summary", "Report", "", "", text])
    (sources / "pmc_jats").mkdir()
    for name in PAPERS:
        shutil.copy(JATS / name, sources / "pmc_jats")
    shutil.copy(retraction_notice(tmp), sources / "pmc_jats")
    (sources / "medline").mkdir()
    shutil.copy(MEDLINE / "biopython_pubmed5.xml", sources / "medline")
    shutil.copytree(FIXTURES / "retractions", sources / "retractions")
    done = subprocess.run([sys.executable, "-m", "medc.build", "medc-k", "--sources", str(sources), "--out", str(tmp / "out"),
                           "--workers", "1", "--keep-dropped"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return {"out": tmp / "out", "notes": notes, "sources": sources, "stdout": done.stdout, "stderr": done.stderr,
            "manifest": json.loads((tmp / "out" / "medc-k" / "build_manifest.json").read_text()),
            "card": (tmp / "out" / "medc-k" / "README.md").read_text()}


def planted_secrets(build: dict[str, Any]) -> set[str]:
    """The planted identifiers' words (4+ characters), less those that also occur where they
    identify nobody: in the notes outside the planted spans (`Clinic note`), or in the papers
    of the build (a surname such as Young or Hill is an ordinary word there)."""
    secrets = {"Ingrid", "Lindqvist", "Kwame", "Mensah", "555-203-4417", "70001", "190001", "2151-07-16"}
    elsewhere = []
    for note in build["notes"]:
        at = 0
        for start, end, _ in sorted(note.phi):
            secrets.update(w for w in note.text[start:end].replace(",", " ").split() if len(w) >= 4 and not w.isupper())
            elsewhere.append(note.text[at:start])
            at = max(at, end)
        elsewhere.append(note.text[at:])
    elsewhere += [p.read_text(encoding="utf-8", errors="replace") for p in (build["sources"] / "pmc_jats").iterdir()]
    elsewhere.append((build["sources"] / "medline" / "biopython_pubmed5.xml").read_text(encoding="utf-8"))
    ordinary = " ".join(elsewhere)
    return {s for s in secrets if not re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", ordinary)}


def test_build_deidentifies_notes_everywhere_it_writes(build: dict[str, Any]) -> None:
    notes, manifest, card = build["notes"], build["manifest"], build["card"]
    steps = manifest["sources"]["clinical_notes"]["steps"]
    assert steps[0]["step"] == "deidentify" and steps[0]["in"] == 9
    assert all(s["step"] != "deidentify" for s in manifest["sources"]["pmc_jats"]["steps"])  # its sources only
    audit = steps[0]["audit"]
    assert audit["rows"] == 9 and audit["rows_touched"] == 9 and audit["mimic_placeholders"] == sum(len(n.mimic) for n in notes)
    assert all(audit.get(kind, 0) >= 4 for kind in PHI_TYPES), audit
    assert "de-identified by the `deidentify` step" in card and f"NAME {audit['NAME']:,}" in card

    texts = [build["stdout"], build["stderr"], card.split("## Citation")[0]]  # (the citations name real authors)
    for path in build["out"].rglob("*"):
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            if "source" in frame.columns:
                frame = frame.filter(pl.col("source") == "clinical_notes")
            texts += [str(v) for c in frame.columns if frame[c].dtype == pl.String for v in frame[c].to_list()]
        elif path.is_file() and path.name != "README.md":
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    everything = "\n".join(texts)
    dropped = pl.read_parquet(sorted((build["out"] / "medc-k-dropped").glob("*.parquet")))
    notes_dropped = dropped.filter(pl.col("source") == "clinical_notes")
    assert notes_dropped.height == 1 and "[NAME-1]" in notes_dropped["text"][0]  # the short note, de-identified
    secrets = planted_secrets(build)
    assert len(secrets) > 100
    leaked = sorted(s for s in secrets if re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", everything))
    assert not leaked, leaked


def test_build_reports_retractions_in_manifest_and_card(build: dict[str, Any]) -> None:
    step = next(g for g in build["manifest"]["global_steps"] if g["step"] == "retractions")
    assert step["report"]["by_reason"] == {"correction notice": 1, "retracted: retraction list": 1,
                                           "retracted: retraction notice in pmc_jats": 2, "retraction notice": 1}
    card = build["card"]
    assert "### Retractions" in card and "retracted: retraction notice in pmc_jats: 2" in card
    assert "retractions/retraction_watch_sample.csv (7 rows, 6 papers; rows naming no paper by DOI or PMID: 1)" in card
    dropped = pl.read_parquet(sorted((build["out"] / "medc-k-dropped").glob("*.parquet")))
    assert set(dropped.filter(pl.col("step") == "retractions")["id"].to_list()) == {
        "doi:10.7554/eLife.07586", "doi:10.7554/eLife.07586.retraction", "doi:10.1101/2022.05.28.493855",
        "pmid:28775130", "pmc:PMC2994229"}
