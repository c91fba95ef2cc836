"""MedC-I sources as researchers download them from the Hugging Face Hub (issue "The user's own
data"): `snapshot_download` folders with `data/train-00000-of-00001.parquet`, `validation` and
`test` splits beside it, PubMedQA's `pqa_labeled/` and `pqa_artificial/` configs. The rows are
the bundled samples' real records, written in each dataset's Hub schema:

* `openlifescienceai/medmcqa`: id, question, opa..opd, cop (0-based), choice_type, exp,
  subject_name, topic_name;
* `GBaker/MedQA-USMLE-4-options`: question, answer, options{A..D}, meta_info, answer_idx,
  metamap_phrases;
* `qiaojin/PubMedQA` pqa_labeled: pubid, question, context{contexts, labels, meshes},
  long_answer, final_decision;
* `lavita/ChatDoctor-HealthCareMagic-100k`: instruction, input, output;
* `lavita/ChatDoctor-iCliniq`: input, answer_icliniq, answer_chatgpt, answer_chatdoctor;
* `bigbio/med_qa` source schema (the Hub's converted parquet, `<config>/train/0000.parquet`):
  meta_info, question, answer_idx, answer, options as a list of {key, value};
* `medical_dialog` (MedDialog): processed.en {description, utterances ["patient: ...",
  "doctor: ..."]} and the raw config {file_name, dialogue_id, dialogue_url, dialogue_turns
  {speaker (0 = patient, 1 = doctor), utterance}}, written from ChatDoctor sample exchanges.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from medc.release.card import hub_origin
from tests.conftest import REPO, SAMPLES, run_build

SPLIT_FILE = "{split}-00000-of-00001.parquet"


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def hub_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hub") / "sources"
    mcq = jsonl(SAMPLES / "medmcqa" / "medagentsbench_medmcqa_test.jsonl")[:60]
    medmcqa = pl.DataFrame([{"id": r["realidx"], "question": r["question"], "opa": r["options"]["A"], "opb": r["options"]["B"],
                             "opc": r["options"]["C"], "opd": r["options"]["D"], "cop": "ABCD".index(r["answer_idx"]),
                             "choice_type": "single", "exp": None, "subject_name": "Unknown", "topic_name": None} for r in mcq])
    (root / "medmcqa" / "data").mkdir(parents=True)
    medmcqa[:40].write_parquet(root / "medmcqa" / "data" / SPLIT_FILE.format(split="train"))
    medmcqa[40:].write_parquet(root / "medmcqa" / "data" / SPLIT_FILE.format(split="validation"))  # never training rows
    medqa = pl.DataFrame(jsonl(SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl")[:30])
    (root / "medqa" / "data").mkdir(parents=True)
    medqa.write_parquet(root / "medqa" / "data" / SPLIT_FILE.format(split="train"))
    pqal = json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text())
    pubmedqa = pl.DataFrame([{"pubid": int(pmid), "question": r["QUESTION"],
                              "context": {"contexts": r["CONTEXTS"], "labels": r["LABELS"], "meshes": r["MESHES"]},
                              "long_answer": r["LONG_ANSWER"], "final_decision": r["final_decision"]} for pmid, r in pqal.items()])
    (root / "pubmedqa" / "pqa_labeled").mkdir(parents=True)
    pubmedqa.write_parquet(root / "pubmedqa" / "pqa_labeled" / SPLIT_FILE.format(split="train"))
    shutil.copy(SAMPLES / "pubmedqa" / "test_ground_truth.json", root / "pubmedqa" / "test_ground_truth.json")
    chat = json.loads((SAMPLES / "dialogues" / "chatdoctor" / "chatdoctor5k.json").read_text())[:50]
    (root / "dialogues" / "chatdoctor" / "data").mkdir(parents=True)
    pl.DataFrame(chat).write_parquet(root / "dialogues" / "chatdoctor" / "data" / SPLIT_FILE.format(split="train"))
    more = json.loads((SAMPLES / "dialogues" / "chatdoctor" / "chatdoctor5k.json").read_text())[50:90]
    icliniq = pl.DataFrame([{"input": r["input"], "answer_icliniq": r["output"], "answer_chatgpt": "(a ChatGPT answer)",
                             "answer_chatdoctor": "(a ChatDoctor answer)"} for r in more[:20]])
    (root / "dialogues" / "chatdoctor" / "icliniq").mkdir()
    icliniq.write_parquet(root / "dialogues" / "chatdoctor" / "icliniq" / SPLIT_FILE.format(split="train"))
    bigbio = [{"meta_info": r["meta_info"], "question": r["question"], "answer_idx": r["answer_idx"], "answer": r["answer"],
               "options": [{"key": k, "value": v} for k, v in r["options"].items()]}
              for r in jsonl(SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl")[30:50]]
    (root / "medqa" / "med_qa_en_source" / "train").mkdir(parents=True)
    pl.DataFrame(bigbio).write_parquet(root / "medqa" / "med_qa_en_source" / "train" / "0000.parquet")
    processed = [{"description": f"Question {i}", "utterances": [f"patient: {r['input']}", f"doctor: {r['output']}"]}
                 for i, r in enumerate(more[20:30])]
    raw = [{"file_name": "healthcaremagic_dialogue_1.txt", "dialogue_id": 1000 + i, "dialogue_url": f"https://example.org/q/{i}",
            "dialogue_turns": {"speaker": [0, 1], "utterance": [r["input"], r["output"]]}} for i, r in enumerate(more[30:40])]
    (root / "dialogues" / "meddialog" / "processed.en").mkdir(parents=True)
    pl.DataFrame(processed).write_parquet(root / "dialogues" / "meddialog" / "processed.en" / SPLIT_FILE.format(split="train"))
    (root / "dialogues" / "meddialog" / "en").mkdir(parents=True)
    pl.DataFrame(raw).write_parquet(root / "dialogues" / "meddialog" / "en" / SPLIT_FILE.format(split="train"))
    return root


def test_hub_layout_folders_build_every_medc_i_source(hub_sources: Path, tmp_path: Path) -> None:
    """Each Hub folder gives its training rows (validation splits and PubMedQA's 500 test
    questions never), and the card names what was built."""
    out = tmp_path / "out"
    proc = run_build("medc-i", "--sources", str(hub_sources), "--out", str(out), "--strict", "--keep-dropped")
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "medc-i" / "build_manifest.json").read_text())
    built = {name: s for name, s in manifest["sources"].items() if s["status"] == "ok"}
    assert set(built) >= {"medmcqa", "medqa", "pubmedqa", "chatdoctor", "meddialog"}
    assert built["medmcqa"]["files"] == 1 and built["medmcqa"]["rows_built"] == 40  # the train split only
    assert built["medmcqa"]["record_errors"] == 0 and built["medqa"]["rows_built"] == 30 + 20  # GBaker + bigbio layouts
    assert built["medqa"]["record_errors"] == 0 and built["meddialog"]["rows_built"] == 20 and built["meddialog"]["record_errors"] == 0
    test_ids = json.loads((hub_sources / "pubmedqa" / "test_ground_truth.json").read_text())
    assert built["pubmedqa"]["rows_built"] == 1000 - len(test_ids) == 500
    assert built["pubmedqa"]["skipped"] == {"benchmark test set (PubMedQA PQA-L test)": 500}
    assert built["chatdoctor"]["rows_built"] == 50 + 20  # HealthCareMagic + iCliniq (its answer_icliniq)
    rows = pl.read_parquet(sorted((out / "medc-i" / "data" / "rationale_qa").glob("*.parquet")))
    layouts = {json.loads(m)["layout"] for m, src in zip(rows["meta"], rows["source"]) if src == "medmcqa"}
    assert layouts == {"hf"}  # 0-based `cop`, read from the values
    decon = next(s for s in manifest["global_steps"] if s["step"] == "decontaminate")["report"]["benchmarks"]
    files = {name: [f["path"] for f in b.get("files", [])] for name, b in decon.items()}
    assert files["medmcqa"] == ["medmcqa/data/validation-00000-of-00001.parquet"]  # the Hub's dev split
    assert files["pubmedqa"] == ["pubmedqa/pqa_labeled/train-00000-of-00001.parquet", "pubmedqa/test_ground_truth.json"]
    # --keep-dropped writes one file per source (several sources share the rationale_qa config).
    assert {p.stem for p in (out / "medc-i-dropped").glob("*.parquet")} == set(built)
    dialogues = pl.read_parquet(sorted((out / "medc-i" / "data" / "dialogue").glob("*.parquet")))
    meddialog = dialogues.filter(pl.col("source") == "meddialog")
    assert meddialog.height == 20 and all(len(m) == 3 for m in meddialog["messages"])  # system, patient, doctor
    assert {json.loads(m).get("url") for m in meddialog["meta"]} >= {"https://example.org/q/0"}
    card = (out / "medc-i" / "README.md").read_text()
    assert all(f"`{name}`" in card for name in ("medmcqa", "medqa", "pubmedqa", "chatdoctor", "meddialog"))
    assert "This build holds" in card  # the card states what it holds


def test_a_source_folder_with_no_matching_file_warns_and_strict_refuses(hub_sources: Path, tmp_path: Path) -> None:
    """A MedMCQA folder holding only CSV files is not silently skipped: the summary warns and
    names the patterns looked for; `--strict` makes it a one-line error (exit 2)."""
    root = tmp_path / "sources"
    shutil.copytree(hub_sources / "medqa", root / "medqa")
    (root / "medmcqa").mkdir()
    (root / "medmcqa" / "train.csv").write_text("id,question\n1,What?\n")
    proc = run_build("medc-i", "--sources", str(root), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    warning = ("source 'medmcqa': folder medmcqa/ exists but holds no file matching **/train.json, **/*train*.json*, "
               "**/train-*.parquet, **/*.hf.toml")
    assert f"WARNING: medc-i: {warning}" in proc.stderr and f"WARNING: {warning}" in proc.stdout
    strict = run_build("medc-i", "--sources", str(root), "--out", str(tmp_path / "out2"), "--strict")
    errors = [line for line in strict.stderr.splitlines() if line.startswith("error:")]
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert errors == [f"error: medc-i: {warning} (--strict)"]


def test_a_hub_id_in_a_pointer_file_is_read_through_datasets(hub_sources: Path, tmp_path: Path) -> None:
    """A `*.hf.toml` file names the dataset instead of holding it (`dataset` = a Hub id, here a
    local folder in the Hub layout, as `datasets` reads both); a pointer to a held-out split is
    refused like a test file."""
    from builders.exam_qa import MedMCQABuilder
    from medc.ingest.builder import FileReport

    hub = tmp_path / "hub"
    shutil.copytree(hub_sources / "medmcqa", hub / "medmcqa")
    (hub / "chatdoctor" / "data").mkdir(parents=True)
    shutil.copy(hub_sources / "dialogues" / "chatdoctor" / "data" / SPLIT_FILE.format(split="train"), hub / "chatdoctor" / "data")
    root = tmp_path / "sources"
    (root / "medmcqa").mkdir(parents=True)
    (root / "medmcqa" / "openlifescienceai-medmcqa.hf.toml").write_text(f'dataset = "{(hub / "medmcqa").as_posix()}"\nsplit = "train"\n')
    (root / "dialogues" / "chatdoctor").mkdir(parents=True)
    (root / "dialogues" / "chatdoctor" / "healthcaremagic.hf.toml").write_text(f'dataset = "{(hub / "chatdoctor").as_posix()}"\n')
    out = tmp_path / "out"
    proc = run_build("medc-i", "--sources", str(root), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = json.loads((out / "medc-i" / "build_manifest.json").read_text())["sources"]
    assert built["medmcqa"]["rows_built"] == 40 and built["chatdoctor"]["rows_built"] == 50  # the train splits
    held_out = root / "medmcqa" / "dev.hf.toml"
    held_out.write_text(f'dataset = "{(hub / "medmcqa").as_posix()}"\nsplit = "validation"\n')
    with pytest.raises(ValueError, match="dev.hf.toml names the 'validation' split: refused"):
        list(MedMCQABuilder("medmcqa", {}, root).parse(held_out, FileReport("dev.hf.toml")))


def test_a_hub_id_in_the_recipe_itself(hub_sources: Path, tmp_path: Path) -> None:
    """`hub = { dataset = ..., split = ... }` in a recipe's source (a Hub id, here a local folder
    in the Hub layout): the source reads that dataset through `datasets`, no file under the
    sources root; the cache keeps it like a file (a second build reuses it, a changed table
    computes it again). Misuse is a one-line recipe error."""
    hub = tmp_path / "hub"
    shutil.copytree(hub_sources / "medmcqa", hub / "medmcqa")
    (hub / "chatdoctor" / "data").mkdir(parents=True)
    shutil.copy(hub_sources / "dialogues" / "chatdoctor" / "data" / SPLIT_FILE.format(split="train"), hub / "chatdoctor" / "data")
    base = (REPO / "pipelines" / "medc-i.toml").read_text()
    medmcqa_files = 'dir = "medmcqa"\nconfig = "rationale_qa"\npatterns = ["**/train.json", "**/*train*.json*", "**/train-*.parquet", "**/*.hf.toml"]\n'
    chatdoctor_files = 'dir = "dialogues/chatdoctor"\n'
    assert medmcqa_files in base and chatdoctor_files in base
    recipe = tmp_path / "medc-i.toml"
    text = base.replace(medmcqa_files, f'config = "rationale_qa"\nhub = {{ dataset = "{(hub / "medmcqa").as_posix()}", split = "train" }}\n')
    recipe.write_text(text.replace(chatdoctor_files, f'hub = {{ dataset = "{(hub / "chatdoctor").as_posix()}" }}\n'))
    sources = tmp_path / "sources"
    sources.mkdir()  # nothing on disk: both sources come from the recipe
    out = tmp_path / "out"
    proc = run_build("medc-i", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "medc-i" / "build_manifest.json").read_text())
    built = manifest["sources"]
    assert built["medmcqa"]["rows_built"] == 40 and built["chatdoctor"]["rows_built"] == 50  # the train splits, as from pointer files
    assert [f["path"] for f in manifest["inputs"] if f["source"] == "medmcqa"] == ["recipe:medmcqa.hf.toml"]
    assert built["medmcqa"]["hub"] == {"dataset": (hub / "medmcqa").as_posix(), "split": "train"} and built["medmcqa"]["dir"] == ""
    card = (out / "medc-i" / "README.md").read_text()
    assert "MedMCQA training questions with their explanations, read from a local folder in the Hugging Face dataset layout" in card
    assert str(hub) not in card  # a path of this machine is not published
    assert hub_origin({"dataset": "openlifescienceai/medmcqa", "split": "train", "revision": "91c6572"}) == \
        ", read from the Hugging Face dataset `openlifescienceai/medmcqa` (split train, revision 91c6572)"
    again = run_build("medc-i", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
    assert "shards: 2 reused, 0 keys rewritten, 0 signatures recomputed, 0 signatures restored, 0 recomputed" in again.stdout
    recipe.write_text(recipe.read_text().replace('split = "train" }', 'split = "validation" }'))  # a held-out split: refused
    refused = run_build("medc-i", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
    assert "recipe:medmcqa.hf.toml: medmcqa.hf.toml names the 'validation' split: refused" in refused.stdout + refused.stderr

    for table, message in [
        ('{ dataset = "x", splt = "train" }', "unknown key 'splt' in sources[2].hub (allowed: config, dataset, revision, split)"),
        ('{ config = "x" }', 'sources[2].hub needs dataset = "<Hub id or folder>"'),
        ('{ dataset = "x", revision = 3 }', "sources[2].hub.revision must be a string, not 3"),
    ]:
        recipe.write_text(text.replace(f'hub = {{ dataset = "{(hub / "medmcqa").as_posix()}", split = "train" }}', f"hub = {table}"))
        bad = run_build("medc-i", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
        assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].endswith(message), bad.stderr
    recipe.write_text(text.replace('config = "rationale_qa"\nhub =', 'config = "rationale_qa"\ndir = "medmcqa"\nhub ='))
    both = run_build("medc-i", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
    assert both.returncode == 2 and "reads either files (dir, patterns) or a Hub dataset (hub), not both" in both.stderr
    recipe.write_text(text.replace('name = "umls"\nbuilder = "umls"\n', 'name = "umls"\nbuilder = "umls"\nhub = { dataset = "x" }\n'))
    files_only = run_build("medc-i", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
    assert files_only.returncode == 2 and "builder 'umls' reads files only, not a Hub dataset" in files_only.stderr
