"""Benchmark readers and decontamination on the real MedQA / MedMCQA / PubMedQA test files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from datasets import load_dataset

from medc.ingest.benchmarks import REGISTRY
from medc.ingest.testsets import medmcqa_layout, read_medmcqa, read_medqa, read_pubmedqa_test
from medc.steps.decontamination import ContaminationIndex
from medc.text.ngrams import ngram_hashes, word_hashes
from tests.conftest import SAMPLES, run_build

MEDQA = SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl"
MEDMCQA = SAMPLES / "medmcqa" / "medagentsbench_medmcqa_test.jsonl"
PQAL = SAMPLES / "pubmedqa" / "ori_pqal.json"
TRUTH = SAMPLES / "pubmedqa" / "test_ground_truth.json"


def test_ngram_hashes_stay_inside_documents() -> None:
    hashes, offsets = word_hashes(pl.Series(["a b c", "", "A, b; C d", "x"]))
    assert offsets.tolist() == [0, 3, 3, 7, 8]
    grams, docs = ngram_hashes(hashes, offsets, 3)
    assert docs.tolist() == [0, 2, 2]
    assert grams[0] == grams[1]  # punctuation and case do not matter
    assert grams[1] != grams[2]
    assert ngram_hashes(hashes, offsets, 5)[0].size == 0


def test_readers_on_real_test_files() -> None:
    medqa = read_medqa(MEDQA)
    assert len(medqa) == 1273
    assert medqa[0].answer == "B" and medqa[0].options["B"].startswith("Tell the attending")
    mcq = read_medmcqa(MEDMCQA)
    assert len(mcq) == 2816 and mcq[0].answer == "C"
    pqa = read_pubmedqa_test(PQAL, TRUTH)
    truth = json.loads(TRUTH.read_text())
    assert len(pqa) == 500 and all(i.answer == truth[i.pmid] for i in pqa)
    assert all(i.contexts for i in pqa)


def test_medmcqa_layouts_and_base(tmp_path: Path) -> None:
    row = json.loads((SAMPLES.parent / "tests" / "fixtures" / "medmcqa_readme_example_row.json").read_text())
    assert row["cop"] == 1 and row["opa"] == "Leukemoid reaction"
    original = [dict(row, cop=c) for c in (1, 4, 2)]
    hf = [dict(row, cop=c) for c in (0, 3, 1)]
    assert medmcqa_layout(original) == "original" and medmcqa_layout(hf) == "hf"
    for name, rows in (("orig.jsonl", original), ("hf.jsonl", hf)):
        (tmp_path / name).write_text("\n".join(json.dumps(r) for r in rows))
    # The same record: 1-based cop=1 and 0-based cop=0 are both option A ("Leukemoid reaction").
    assert [i.answer for i in read_medmcqa(tmp_path / "orig.jsonl")] == ["A", "D", "B"]
    assert [i.answer for i in read_medmcqa(tmp_path / "hf.jsonl")] == ["A", "D", "B"]
    with pytest.raises(ValueError, match="cannot be told from the data"):
        medmcqa_layout([row])
    assert medmcqa_layout([row], "original") == "original"


def medqa_index() -> ContaminationIndex:
    return ContaminationIndex.build(read_medqa(MEDQA), n=13, min_words=8, max_item_frequency=3)


def test_copied_question_is_found_and_templates_are_not() -> None:
    items = read_medqa(MEDQA)
    index = medqa_index()
    copied = "Some preface text. " + items[10].question.upper().replace(",", " ,") + " The answer is C."
    template = (
        "A 45-year-old man comes to the physician because of a cough. "
        "Which of the following is the most likely diagnosis? Which of the following is the most appropriate next step in management?"
    )
    found = index.match(pl.Series([copied, template, ""]))
    assert found == [[items[10].item_id], [], []]


def test_match_batches_give_the_same_answer() -> None:
    items = read_medqa(MEDQA)
    texts = pl.Series([i.question for i in items[:50]] + ["unrelated text"] * 50)
    index = medqa_index()
    assert index.match(texts, batch_words=50) == index.match(texts)


def jats_with(abstract: str, pmid: str, pmcid: str) -> str:
    raw = (SAMPLES / "pmc_jats" / "mds526.nxml").read_text(encoding="utf-8")
    start = raw.index("<abstract>")
    end = raw.index("</abstract>") + len("</abstract>")
    raw = raw[:start] + f"<abstract><p>{abstract}</p></abstract>" + raw[end:]
    raw = raw.replace('<article-id pub-id-type="pmid">23149571', f'<article-id pub-id-type="pmid">{pmid}', 1)
    return raw.replace('<article-id pub-id-type="pmc">3574550', f'<article-id pub-id-type="pmc">{pmcid}', 1)


def test_leaked_test_items_are_removed_and_reported(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(SAMPLES, sources)
    pqal = json.loads(PQAL.read_text())
    test_pmids = sorted(json.loads(TRUTH.read_text()), key=int)
    leaked, by_id = test_pmids[0], test_pmids[1]
    # 1. a PubMedQA test abstract reprinted in another paper (different PMID): n-gram match
    (sources / "pmc_jats" / "leak.nxml").write_text(jats_with(" ".join(pqal[leaked]["CONTEXTS"]), "1", "111"))
    # 2. the PubMedQA test paper itself, with its abstract reworded away: PMID match
    (sources / "pmc_jats" / "same-paper.nxml").write_text(jats_with("A rewritten summary of the study.", by_id, "222"))
    # 3. a MedQA test question inside an instruction row (PQA-A layout)
    medqa = read_medqa(MEDQA)[7]
    rec = {"QUESTION": "Which answer fits?", "CONTEXTS": [medqa.question], "LABELS": ["CASE"],
           "LONG_ANSWER": "Reasoning.", "final_decision": "yes"}
    (sources / "pubmedqa" / "ori_pqaa.json").write_text(json.dumps({"999": rec}))
    # 4. MedC-I training questions that are near-copies of test questions (MedQA's and MedMCQA's
    # training sets hold some): a MedQA test question with one word changed, an MMLU anatomy test
    # question, and a question of their own that must stay.
    near = read_medqa(MEDQA)[3]
    with open(SAMPLES / "mmlu" / "data" / "test" / "anatomy_test.csv", newline="", encoding="utf-8") as f:
        mmlu = next(csv.reader(f))
    train = [
        {"question": near.question.replace("emergency department", "emergency room", 1), "options": near.options, "answer_idx": near.answer},
        {"question": mmlu[0], "options": dict(zip("ABCD", mmlu[1:5])), "answer_idx": mmlu[5]},
        {"question": "Which vitamin deficiency causes scurvy in sailors on long voyages without fresh fruit?",
         "options": {"A": "Vitamin A", "B": "Vitamin C", "C": "Vitamin D", "D": "Vitamin K"}, "answer_idx": "B"},
    ]
    (sources / "medqa" / "US").mkdir(parents=True)
    (sources / "medqa" / "US" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))

    out = tmp_path / "out"
    proc = run_build("all", "--sources", str(sources), "--out", str(out))
    assert proc.returncode == 0, proc.stderr

    k = json.loads((out / "medc-k" / "build_manifest.json").read_text())
    decon = next(g for g in k["global_steps"] if g["step"] == "decontaminate")
    assert decon["dropped"] == {"pmc_jats": {"contains pubmedqa test items": 2}}
    report = decon["report"]["benchmarks"]["pubmedqa"]
    assert report["items_found"] == sorted([f"pubmedqa:{leaked}", f"pubmedqa:{by_id}"])
    assert report["rows_removed"] == ["pmc:PMC111", "pmc:PMC222"]
    assert report["test_items"] == 500 and report["files"][0]["path"] == "pubmedqa/ori_pqal.json"
    ids = load_dataset(str(out / "medc-k"))["train"]["id"]
    assert "pmc:PMC111" not in ids and "pmc:PMC222" not in ids and len(ids) == 17  # 6 articles + 3 abstracts + 2 S2ORC papers + 6 textbook pieces

    i = json.loads((out / "medc-i" / "build_manifest.json").read_text())
    decon_i = next(g for g in i["global_steps"] if g["step"] == "decontaminate")
    found = decon_i["report"]["benchmarks"]
    assert found["medqa"]["items_found"] == sorted([medqa.item_id, near.item_id])
    removed_medqa = [r for r in found["medqa"]["rows_removed"] if r != "pubmedqa:pqaa:999"]
    assert "pubmedqa:pqaa:999" in found["medqa"]["rows_removed"] and len(removed_medqa) == 1
    assert found["mmlu_anatomy"]["items_found"] == ["mmlu_anatomy:anatomy_test:0"] and len(found["mmlu_anatomy"]["rows_removed"]) == 1
    assert decon_i["dropped"]["medqa"] == {"contains medqa test items": 1, "contains mmlu_anatomy test items": 1}
    kept = load_dataset(str(out / "medc-i"), "rationale_qa")["train"]
    assert sum("scurvy" in t for t in kept["input"]) == 1  # the question of its own stays
    assert kept.num_rows == 501  # 500 PubMedQA training questions + the MedQA question of its own
    card = (out / "medc-k" / "README.md").read_text()
    assert "contains pubmedqa test items: 2" in card


def test_missing_benchmark_files_are_reported_not_checked(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(SAMPLES / "pmc_jats", sources / "pmc_jats")
    out = tmp_path / "out"
    proc = run_build("medc-k", "--sources", str(sources), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "medc-k" / "build_manifest.json").read_text())
    report = next(g for g in m["global_steps"] if g["step"] == "decontaminate")["report"]["benchmarks"]
    # Nothing to check against: no benchmark file under the sources root; the console and the
    # card say so for every benchmark of the registry.
    assert set(report) == set(REGISTRY)
    assert all(b["files"] == [] and b["test_items"] == 0 for b in report.values())
    card = (out / "medc-k" / "README.md").read_text()
    for name in REGISTRY:
        assert f"note: decontamination against {name} NOT CHECKED: no test file under the sources root" in proc.stdout
        assert f"| {name} | not checked: no test file under the sources root |" in card


def test_short_questions_counted_as_unchecked() -> None:
    items = read_medmcqa(MEDMCQA)
    index = ContaminationIndex.build(items, n=13, min_words=8, max_item_frequency=3)
    lengths = np.array([len(word_hashes(pl.Series([i.question]))[0]) for i in items])
    assert index.benchmarks["medmcqa"]["unchecked_short"] == int((lengths < 8).sum())
