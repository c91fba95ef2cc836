"""Release: cards that round-trip, the commercial config, the licence gate, publish plan, verify."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset
from huggingface_hub import DatasetCard

from builders.clinical_notes import ClinicalNotesBuilder
from medc.ingest.builder import FileReport
from medc.text.licenses import allows_commercial_use
from medc.release.publish import commit_operations, plan_upload, upload, validate_card
from tests.conftest import REPO, SAMPLES, run_build

# Made-up notes in the MIMIC-III NOTEEVENTS layout (upper-case headers, as in the
# credentialed release): the public demo ships the header only, and real notes may never
# be committed anywhere.
NOTES_CSV = '''"ROW_ID","SUBJECT_ID","HADM_ID","CHARTDATE","CHARTTIME","STORETIME","CATEGORY","DESCRIPTION","CGID","ISERROR","TEXT"
1,10,100,2101-10-20,,,"Discharge summary","Report",,,"Admission Date:  [**2101-10-20**]     Discharge Date:   [** 2101-10-25 **]
Patient was admitted with community acquired pneumonia and treated with ceftriaxone and azithromycin for five days with good response and was discharged home in stable condition with follow up arranged with the primary care physician in two weeks and instructions to return if fever or shortness of breath recur during the course of recovery at home."
2,11,101,2101-11-02,,,"Nursing","Note",,1,"Entered in error."
3,12,102,2101-12-01,,,"Radiology","CHEST (PA & LAT)",,,"FINDINGS: The lungs are clear without focal consolidation, effusion or pneumothorax. The cardiomediastinal silhouette is within normal limits and there is no acute osseous abnormality seen on these frontal and lateral views of the chest obtained today for evaluation of cough and low grade fever in this patient with a history of asthma who presented to the emergency department earlier in the evening."
'''


def py(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", ["medc-k", "medc-i"])
def test_cards_round_trip_and_every_config_loads(default_build: Path, name: str) -> None:
    repo = default_build / name
    text = (repo / "README.md").read_text()
    raw = yaml.safe_load(text.split("---\n", 2)[1])
    card = DatasetCard.load(repo / "README.md")
    assert card.data.to_dict() == raw
    assert validate_card(repo)["configs"] == raw["configs"]
    manifest = json.loads((repo / "build_manifest.json").read_text())
    counts = {}
    for config in raw["configs"]:
        counts[config["config_name"]] = load_dataset(str(repo), config["config_name"])["train"].num_rows
    infos = {i["config_name"]: i["splits"][0]["num_examples"] for i in raw["dataset_info"]}
    assert counts == infos
    assert counts["default"] == manifest["totals"]["rows"]
    commercial = load_dataset(str(repo), "commercial")["train"]
    assert commercial.num_rows == manifest["commercial"]["rows"] > 0
    assert all(allows_commercial_use(lic) for lic in commercial["license"])
    for section in ("## Sources", "## Processing", "### Deduplication", "### Benchmark decontamination",
                    "## Licences", "## How to load", "Not medical advice", "@article{wu2024pmcllama", "@article{xie2024mellama"):
        assert section in card.text, section
    assert (repo / "length_distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![Rows per source by length](length_distribution.png)" in card.text and "both axes are logarithmic" in card.text


def test_medc_k_card_facts(default_build: Path) -> None:
    text = (default_build / "medc-k" / "README.md").read_text()
    raw = yaml.safe_load(text.split("---\n", 2)[1])
    assert raw["license"] == "other" and "cc-by-nc-3.0 (1 rows)" in raw["license_details"]
    assert "| cc-by-nc-3.0 | 1 | no | yes |" in text
    assert "Configs whose every row allows commercial use: `s2orc`, `commercial`" in text  # S2ORC: ODC-By
    assert "| `pmc_jats` | pmc_jats | `pmc_jats` | 6 | 6 |" in text
    assert "@article{jin2021medqa" in text  # decontaminated against MedQA: cited
    mi = (default_build / "medc-i" / "README.md").read_text()
    assert yaml.safe_load(mi.split("---\n", 2)[1])["license"] == "other"
    assert "| research-only | 5,452 | no | the source allows research use only |" in mi
    assert "@inproceedings{jin2019pubmedqa" in mi


def test_clinical_notes_builder(tmp_path: Path) -> None:
    path = tmp_path / "NOTEEVENTS.csv"
    path.write_text(NOTES_CSV)
    report = FileReport("NOTEEVENTS.csv")
    rows = list(ClinicalNotesBuilder("clinical_notes", {}, tmp_path).parse(path, report))
    assert [r["id"] for r in rows] == ["mimic:note:1", "mimic:note:3"]
    assert report.skipped == {"iserror row": 1}
    assert "[**2101-10-25**]" in rows[0]["text"] and "[** " not in rows[0]["text"]
    assert {r["license"] for r in rows} == {"physionet-restricted"}
    demo = SAMPLES.parent / "tests" / "fixtures" / "NOTEEVENTS.csv"
    report = FileReport("demo")
    assert list(ClinicalNotesBuilder("clinical_notes", {}, tmp_path).parse(demo, report)) == []
    assert report.records == 0 and report.errors == []


@pytest.fixture(scope="module")
def build_with_notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("notes")
    sources = tmp / "sources"
    shutil.copytree(SAMPLES / "pmc_jats", sources / "pmc_jats")
    (sources / "clinical_notes").mkdir()
    (sources / "clinical_notes" / "NOTEEVENTS.csv").write_text(NOTES_CSV)
    recipe = (REPO / "pipelines" / "medc-k.toml").read_text()
    recipe = recipe.replace("min_words = 50", "min_words = 20")
    (tmp / "medc-k.toml").write_text(recipe)
    proc = run_build("medc-k", "--sources", str(sources), "--recipe", str(tmp / "medc-k.toml"), "--out", str(tmp / "out"))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return tmp / "out"


def test_licence_gate_refuses_clinical_notes_and_passes_with_override(build_with_notes: Path) -> None:
    manifest = json.loads((build_with_notes / "medc-k" / "build_manifest.json").read_text())
    assert manifest["licenses"]["clinical_notes"] == {"physionet-restricted": 2}
    refused = py("medc.publish", "medc-k", "--repo-id", "me/medc-k", "--dry-run", cwd=build_with_notes)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    line = refused.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("error: refusing to publish medc-k")
    assert "source 'clinical_notes' has 2 row(s) under 'physionet-restricted'" in line
    assert "--allow-license physionet-restricted" in line
    assert refused.stdout == ""
    allowed = py("medc.publish", "medc-k", "--repo-id", "me/medc-k", "--dry-run", "--allow-license", "physionet-restricted",
                 cwd=build_with_notes)
    assert allowed.returncode == 0, allowed.stderr
    assert "data/clinical_notes/train-00000-of-00001.parquet" in allowed.stdout
    # Restricted rows are never in the commercial config.
    commercial = load_dataset(str(build_with_notes / "medc-k"), "commercial")["train"]
    assert "physionet-restricted" not in set(commercial["license"]) and commercial.num_rows == 5


def test_dry_run_prints_the_upload_plan(default_build: Path) -> None:
    proc = py("medc.publish", "medc-i", "--repo-id", "org/medc-i", "--dry-run", "--revision", "v1", "--private",
              "--allow-license", "research-only", "--allow-license", "umls", cwd=default_build)
    assert proc.returncode == 0, proc.stderr
    repo = default_build / "medc-i"
    plan = plan_upload(repo)
    assert {f.path_in_repo for f in plan} == {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()}
    for f in plan:
        assert f"{f.size:,}  {f.path_in_repo}" in proc.stdout
    assert "to datasets/org/medc-i @ v1 (private)" in proc.stdout
    manifest_sha = __import__("hashlib").sha256((repo / "build_manifest.json").read_bytes()).hexdigest()
    assert f"manifest sha256 {manifest_sha}" in proc.stdout


def test_commit_operations_add_everything_and_delete_stale_data(default_build: Path) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    plan = plan_upload(default_build / "medc-k")
    ops = commit_operations(plan, ["README.md", "data/old_source/train-00000-of-00001.parquet", ".gitattributes"])
    adds = [o for o in ops if isinstance(o, CommitOperationAdd)]
    deletes = [o for o in ops if isinstance(o, CommitOperationDelete)]
    assert [o.path_in_repo for o in adds] == [f.path_in_repo for f in plan]
    assert [o.path_in_repo for o in deletes] == ["data/old_source/train-00000-of-00001.parquet"]
    assert all(Path(o.path_or_fileobj).is_file() for o in adds)


def test_upload_without_a_token_is_a_clear_error(default_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medc.errors import UserError

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no stored login there
    with pytest.raises(UserError, match="no Hugging Face token"):
        upload(default_build / "medc-k", plan_upload(default_build / "medc-k"), "me/x", False, None, "msg")


def test_verify_catches_a_modified_shard(default_build: Path, tmp_path: Path) -> None:
    repo = tmp_path / "medc-k"
    shutil.copytree(default_build / "medc-k", repo)
    ok = py("medc.verify", str(repo), cwd=tmp_path)
    assert ok.returncode == 0 and "OK" in ok.stdout
    shard = repo / "data" / "pmc_jats" / "train-00000-of-00001.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    (repo / "data" / "pmc_jats" / "train-00001-of-00001.parquet").write_bytes(b"extra")
    bad = py("medc.verify", str(repo), cwd=tmp_path)
    assert bad.returncode == 1
    assert "MISMATCH data/pmc_jats/train-00000-of-00001.parquet: sha256" in bad.stdout
    assert "data/pmc_jats/train-00001-of-00001.parquet: not listed in the manifest" in bad.stdout
    refused = py("medc.publish", str(repo), "--repo-id", "me/x", "--dry-run", cwd=tmp_path)
    assert refused.returncode == 2 and "does not match its manifest" in refused.stderr
