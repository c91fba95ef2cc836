"""The benchmark registry (issue "Evaluation the field can compare", parts 1 and 4): every layout a
user has for each benchmark gives the same items, files are found under the Hub's names
(`test-00000-of-00001.parquet`, `validation`), a `*.hf.toml` pointer reads a folder in the Hub
layout through `datasets`, and the default build's card lists decontamination for every
benchmark of the registry, each checked or said to be not checked.

Expected items come from the files themselves, read here with csv/json (not the readers).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import polars as pl
import pytest

from medc.ingest.benchmarks import GROUPS, REGISTRY, load_fewshot, load_test, resolve
from medc.steps.decontamination import DEFAULT_BENCHMARKS
from tests.conftest import SAMPLES

MEDQA = SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl"


def mmlu_rows(subject: str, split: str) -> list[list[str]]:
    with open(SAMPLES / "mmlu" / "data" / split / f"{subject}_{split}.csv", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def triples(items: list) -> list[tuple[str, tuple[str, ...], str | None]]:
    return [(i.question, tuple(i.options[k] for k in sorted(i.options)), i.answer) for i in items]


def test_medqa_in_the_hub_layouts_and_by_option_count(tmp_path: Path) -> None:
    raw = [json.loads(line) for line in MEDQA.open()][:5]
    expected = [(r["question"], tuple(r["options"][k] for k in "ABCD"), r["answer_idx"]) for r in raw]
    hf = tmp_path / "hf" / "medqa" / "data"
    hf.mkdir(parents=True)  # GBaker/MedQA-USMLE-4-options-hf, as downloaded
    pl.DataFrame([{"id": f"test-{i}", "sent1": r["question"], "sent2": "", **{f"ending{j}": r["options"][k] for j, k in enumerate("ABCD")},
                   "label": "ABCD".index(r["answer_idx"])} for i, r in enumerate(raw)]).write_parquet(hf / "test-00000-of-00001.parquet")
    items, files = load_test(REGISTRY["medqa"], tmp_path / "hf")
    assert triples(items) == expected and files == ["medqa/data/test-00000-of-00001.parquet"]
    # The 4- and 5-option files of the original release sit side by side: each benchmark takes its own.
    both = tmp_path / "both" / "medqa" / "US"
    both.mkdir(parents=True)
    (both / "4_options_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in raw))
    five = [dict(r, options={**r["options"], "E": "None of the above"}) for r in raw[:3]]
    (both / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in five))
    four_items, _ = load_test(REGISTRY["medqa"], tmp_path / "both")
    five_items, _ = load_test(REGISTRY["medqa_5options"], tmp_path / "both")
    assert len(four_items) == 5 and len(five_items) == 3
    assert all(i.item_id.startswith("medqa_5options:") and len(i.options) == 5 for i in five_items)


def test_medmcqa_validation_parquet_and_pubmedqa_bigbio_layout(tmp_path: Path) -> None:
    row = json.loads((SAMPLES.parent / "tests" / "fixtures" / "medmcqa_readme_example_row.json").read_text())
    folder = tmp_path / "medmcqa" / "data"
    folder.mkdir(parents=True)
    pl.DataFrame([dict(row, cop=3)]).write_parquet(folder / "validation-00000-of-00001.parquet")  # 0-based: D
    items, files = load_test(REGISTRY["medmcqa"], tmp_path)
    assert [i.answer for i in items] == ["D"] and files == ["medmcqa/data/validation-00000-of-00001.parquet"]
    pqal = json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text())
    truth = json.loads((SAMPLES / "pubmedqa" / "test_ground_truth.json").read_text())
    pmids = sorted(truth, key=int)[:4]
    bigbio = tmp_path / "pubmedqa" / "pubmed_qa_labeled_fold0_source"
    bigbio.mkdir(parents=True)
    (bigbio / "test.jsonl").write_text("".join(json.dumps({k: pqal[p][k] for k in ("QUESTION", "CONTEXTS", "final_decision")}) + "\n"
                                               for p in pmids))
    items, _ = load_test(REGISTRY["pubmedqa"], tmp_path)
    assert [(i.question, i.answer, i.contexts) for i in items] == [
        (pqal[p]["QUESTION"], truth[p], tuple(pqal[p]["CONTEXTS"])) for p in pmids]


def test_mmlu_csv_and_cais_layouts_give_the_same_items(tmp_path: Path) -> None:
    rows = mmlu_rows("anatomy", "test")
    expected = [(r[0], tuple(r[1:5]), r[5]) for r in rows]
    items, files = load_test(REGISTRY["mmlu_anatomy"], SAMPLES)
    assert triples(items) == expected and files == ["mmlu/data/test/anatomy_test.csv"]
    assert len(load_fewshot(REGISTRY["mmlu_anatomy"], SAMPLES)[0]) == 5
    cais = tmp_path / "mmlu" / "anatomy"
    cais.mkdir(parents=True)
    pl.DataFrame([{"question": r[0], "subject": "anatomy", "choices": r[1:5], "answer": "ABCD".index(r[5])} for r in rows]
                 ).write_parquet(cais / "test-00000-of-00001.parquet")
    assert triples(load_test(REGISTRY["mmlu_anatomy"], tmp_path)[0]) == expected
    # a file of another subject's folder is not read as anatomy
    assert load_test(REGISTRY["mmlu_clinical_knowledge"], tmp_path)[0] == []


def test_mmlu_pro_health_and_medxpertqa(tmp_path: Path) -> None:
    raw = json.loads((SAMPLES / "mmlu_pro" / "health_test.json").read_text())
    items, _ = load_test(REGISTRY["mmlu_pro_health"], SAMPLES)
    assert [(i.question, tuple(i.options.values()), i.answer) for i in items] == [
        (r["question"], tuple(r["options"]), r["answer"]) for r in raw]
    assert all(i.options[i.answer] == r["options"][r["answer_index"]] for i, r in zip(items, raw))
    folder = tmp_path / "mmlu_pro" / "data"
    folder.mkdir(parents=True)  # other categories are left out; N/A padding is not an option
    other = dict(raw[0], question_id=1, category="law")
    padded = dict(raw[1], question_id=2, options=[*raw[1]["options"][:9], "N/A"], answer="I", answer_index=8)
    pl.DataFrame([other, padded]).write_parquet(folder / "test-00000-of-00001.parquet")
    items, _ = load_test(REGISTRY["mmlu_pro_health"], tmp_path)
    assert [len(i.options) for i in items] == [9]
    # MedXpertQA Text, in its documented layout: the options written into the question are cut
    # (they are listed from `options`); an MM record (with images) is refused.
    record = {"id": "Text-0", "question": "A 40-year-old man has chest pain. What is the diagnosis?\nAnswer Choices: (A) MI (B) PE",
              "options": {"A": "MI", "B": "PE"}, "label": "B", "medical_task": "Diagnosis", "body_system": "Cardiovascular",
              "question_type": "Reasoning"}
    mx = tmp_path / "medxpertqa" / "Text"
    mx.mkdir(parents=True)
    (mx / "test.jsonl").write_text(json.dumps(record) + "\n")
    items, _ = load_test(REGISTRY["medxpertqa"], tmp_path)
    assert [(i.item_id, i.question, i.answer) for i in items] == [("medxpertqa:Text-0", "A 40-year-old man has chest pain. What is the diagnosis?", "B")]
    # the authors' evaluation input (eval/data/medxpertqa/input/): options as [{letter, content}], label as a list
    (mx / "test.jsonl").write_text(json.dumps(dict(record, options=[{"letter": "A", "content": "MI"}, {"letter": "B", "content": "PE"}],
                                                   label=["B"])) + "\n")
    assert [(i.options, i.answer) for i in load_test(REGISTRY["medxpertqa"], tmp_path)[0]] == [({"A": "MI", "B": "PE"}, "B")]
    (mx / "test.jsonl").write_text(json.dumps(dict(record, images=["MM-1.jpeg"])) + "\n")
    with pytest.raises(ValueError, match="has images"):
        load_test(REGISTRY["medxpertqa"], tmp_path)


def test_real_medxpertqa_text_items_in_the_authors_layout(tmp_path: Path) -> None:
    """samples/medxpertqa/: 244 real MedXpertQA Text test items as the authors' evaluation reads
    them (`medxpertqa_sampled_text_input.jsonl`). The options the reader lists are checked
    against a second source in the same record: the "Answer Choices: (A) ... (J) ..." text the
    authors wrote into each question, cut here with a regex."""
    path = SAMPLES / "medxpertqa" / "input" / "medxpertqa_sampled_text_input.jsonl"
    raw = [json.loads(line) for line in path.open(encoding="utf-8")]
    items, files = load_test(REGISTRY["medxpertqa"], SAMPLES)
    assert files == ["medxpertqa/input/medxpertqa_sampled_text_input.jsonl"] and len(items) == len(raw) == 244
    for item, rec in zip(items, raw):
        stem, choices = rec["question"].split("\nAnswer Choices: ")
        written = dict(re.findall(r"\(([A-J])\) (.*?)(?= \([A-J]\) |$)", choices, re.S))  # options may be tables
        assert item.item_id == f"medxpertqa:{rec['id']}" and item.question == stem
        assert len(item.options) == 10 and {k: " ".join(v.split()) for k, v in item.options.items()} == {k: " ".join(v.split()) for k, v in written.items()}
        assert item.answer == rec["label"][0]
    # a whole Hub snapshot: the MM subset beside the Text one is left out, not refused
    hub = tmp_path / "medxpertqa"
    for subset in ("Text", "MM"):
        (hub / subset).mkdir(parents=True)
        (hub / subset / "test.jsonl").write_text("".join(json.dumps(dict(r, images=["MM-1.jpeg"] if subset == "MM" else []))
                                                         + "\n" for r in raw[:3]))
    (hub / "input").mkdir()
    (hub / "input" / "medxpertqa_mm_input.jsonl").write_text(json.dumps(dict(raw[3], images=[{"image_path": "MM-2.jpeg"}])) + "\n")
    items, files = load_test(REGISTRY["medxpertqa"], tmp_path)
    assert files == ["medxpertqa/Text/test.jsonl"] and [i.answer for i in items] == [r["label"][0] for r in raw[:3]]


def test_a_hub_pointer_reads_a_folder_in_the_hub_layout(tmp_path: Path) -> None:
    """`mmlu/anatomy/test.hf.toml` names a dataset (a Hub id, or here a local folder laid out as
    the Hub has cais/mmlu) and its split; it is read through `datasets`."""
    rows = mmlu_rows("anatomy", "test")
    hub = tmp_path / "hub_copy" / "anatomy"
    hub.mkdir(parents=True)
    pl.DataFrame([{"question": r[0], "subject": "anatomy", "choices": r[1:5], "answer": "ABCD".index(r[5])} for r in rows]
                 ).write_parquet(hub / "test-00000-of-00001.parquet")
    # the dataset card's config table, as cais/mmlu declares its per-subject configs
    (tmp_path / "hub_copy" / "README.md").write_text(
        "---\nconfigs:\n- config_name: anatomy\n  data_files:\n  - split: test\n    path: anatomy/test-*\n---\n")
    pointer = tmp_path / "data" / "mmlu" / "anatomy"
    pointer.mkdir(parents=True)
    (pointer / "test.hf.toml").write_text(f'dataset = "{(tmp_path / "hub_copy").as_posix()}"\nconfig = "anatomy"\nsplit = "test"\n')
    items, files = load_test(REGISTRY["mmlu_anatomy"], tmp_path / "data")
    assert files == ["mmlu/anatomy/test.hf.toml"] and triples(items) == [(r[0], tuple(r[1:5]), r[5]) for r in rows]


def test_groups_and_defaults_cover_the_registry() -> None:
    assert len(GROUPS["multimedqa"]) == 9 and set(GROUPS["multimedqa"]) < set(REGISTRY)
    assert resolve("multimedqa,medqa,mmlu_pro_health") == [*GROUPS["multimedqa"], "mmlu_pro_health"]
    with pytest.raises(ValueError, match="unknown benchmark 'usmle'"):
        resolve("medqa,usmle")
    assert [s["name"] for s in DEFAULT_BENCHMARKS] == list(REGISTRY)


def test_default_card_lists_decontamination_for_every_benchmark(default_build: Path) -> None:
    """Each of the nine MultiMedQA benchmarks (and the others of the registry) is in the card:
    checked, with its files, or "not checked: no test file"."""
    for dataset in ("medc-k", "medc-i"):
        card = (default_build / dataset / "README.md").read_text()
        manifest = json.loads((default_build / dataset / "build_manifest.json").read_text())
        report = next(s for s in manifest["global_steps"] if s["step"] == "decontaminate")["report"]["benchmarks"]
        assert set(report) == set(REGISTRY)
        for name in REGISTRY:
            row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
            if report[name]["files"]:
                assert report[name]["test_items"] > 0 and "`" in row
            else:
                assert "not checked: no test file" in row
        checked = {n for n in REGISTRY if report[n]["files"]}
        assert {"medqa", "medmcqa", "pubmedqa", "mmlu_anatomy", "mmlu_clinical_knowledge", "mmlu_pro_health", "medxpertqa"} <= checked
