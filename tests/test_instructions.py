"""MedC-I builders on real sample files: exam QA, dialogues, UMLS prompts, phrasings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.dialogues import DialogueBuilder
from builders.exam_qa import MedMCQABuilder, MedQABuilder
from builders.umls import UMLSBuilder
from medc.ingest.builder import FileReport
from medc.errors import UserError
from medc.ingest.instructions import choose, load_templates
from medc.schema import validate_row
from medc.text.normalize import normalize_text
from tests.conftest import FIXTURES, SAMPLES

MEDQA_TEST = SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl"


def parse(builder, path: Path) -> tuple[list[dict], FileReport]:
    report = FileReport(path.name)
    rows = list(builder.parse(path, report))
    for row in rows:
        validate_row(row, "instruction")
    return rows, report


def test_templates_have_five_phrasings_and_choice_is_stable() -> None:
    templates = load_templates(str(Path(__file__).resolve().parent.parent / "pipelines" / "templates" / "medc-i.toml"))
    assert all(len(v) >= 5 for kinds in templates.values() for v in kinds.values())
    picks = {choose(f"row:{i}", "rationale_qa", "mcq") for i in range(200)}
    assert len(picks) == len(templates["rationale_qa"]["mcq"])  # every phrasing is used
    assert choose("row:7", "rationale_qa", "mcq") == choose("row:7", "rationale_qa", "mcq")


def test_medqa_train_rows_answers_match_source(tmp_path: Path) -> None:
    records = [json.loads(l) for l in MEDQA_TEST.read_text().splitlines()[:40]]
    train = tmp_path / "phrases_no_exclude_train.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in records))
    rows, report = parse(MedQABuilder("medqa", {}, tmp_path), train)
    assert len(rows) == 40 and report.errors == []
    for row, rec in zip(rows, records):
        letter = rec["answer_idx"]
        assert row["output"] == f"The answer is {letter}. {normalize_text(rec['options'][letter])}"
        assert json.loads(json.dumps(row["meta"]))["answer"] == letter
        assert f"{letter}. " in row["input"] and row["messages"][-1]["content"] == row["output"]
    five = dict(records[0], options={**records[0]["options"], "E": "None of the above"})
    (tmp_path / "five_train.jsonl").write_text(json.dumps(five))
    (row,), _ = parse(MedQABuilder("medqa", {}, tmp_path), tmp_path / "five_train.jsonl")
    assert "E. None of the above" in row["input"]


def test_test_splits_are_refused() -> None:
    builder = MedQABuilder("medqa", {}, SAMPLES)
    with pytest.raises(ValueError, match="named as a test/dev split: refused"):
        parse(builder, MEDQA_TEST)
    with pytest.raises(ValueError, match="refused"):
        parse(MedMCQABuilder("medmcqa", {}, SAMPLES), SAMPLES / "medmcqa" / "medagentsbench_medmcqa_test.jsonl")
    with pytest.raises(UserError, match="split 'test' refused"):
        MedQABuilder("medqa", {"split": "test"}, SAMPLES)


def test_medmcqa_one_and_zero_based_give_the_same_answer(tmp_path: Path) -> None:
    row = json.loads((FIXTURES / "medmcqa_readme_example_row.json").read_text())
    assert row["cop"] == 1 and row["opa"] == "Leukemoid reaction"  # 1-based: option A
    orig = dict(row, id="x1")
    hf = dict(row, id="x2", cop=0)
    (tmp_path / "original_train.json").write_text(json.dumps(orig))
    (tmp_path / "hf_train.json").write_text(json.dumps(hf))
    (r1,), _ = parse(MedMCQABuilder("medmcqa", {"layout": "original"}, tmp_path), tmp_path / "original_train.json")
    (r2,), _ = parse(MedMCQABuilder("medmcqa", {"layout": "hf"}, tmp_path), tmp_path / "hf_train.json")
    assert r1["output"].endswith("The answer is A. Leukemoid reaction") and r2["output"].endswith("The answer is A. Leukemoid reaction")
    assert r1["output"].startswith("Circulating levels of leukocytes")  # exp is the rationale
    with pytest.raises(ValueError, match="cannot be told from the data"):
        parse(MedMCQABuilder("medmcqa", {}, tmp_path), tmp_path / "original_train.json")


def test_medmcqa_null_exp_and_conflicting_duplicates(tmp_path: Path) -> None:
    row = json.loads((FIXTURES / "medmcqa_readme_example_row.json").read_text())
    recs = [dict(row, id="a", cop=1), dict(row, id="b", cop=2),  # same question, different answers
            dict(row, id="c", question="Another question about leukocytes?", exp=None, cop=4)]
    path = tmp_path / "train.json"
    path.write_text("\n".join(json.dumps(r) for r in recs))
    rows, report = parse(MedMCQABuilder("medmcqa", {}, tmp_path), path)
    assert [r["id"] for r in rows] == ["medmcqa:c"] and rows[0]["output"] == "The answer is D. Neutrophilia"
    assert report.skipped == {"duplicate question with conflicting answers": 2}
    rows, report = parse(MedMCQABuilder("medmcqa", {"null_exp": "drop"}, tmp_path), path)
    assert rows == [] and report.skipped["no explanation (exp is null)"] == 1


def test_chatdoctor_crlf_file_and_medalpaca() -> None:
    path = SAMPLES / "dialogues" / "chatdoctor" / "chatdoctor5k.json"
    assert b"\r\n" in path.read_bytes()[:200]
    rows, report = parse(DialogueBuilder("chatdoctor", {"license": "research-only"}, SAMPLES), path)
    source = json.loads(path.read_text())
    assert len(rows) == len(source) and report.errors == []
    for row, rec in zip(rows[:50], source[:50]):
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][1]["content"] == " ".join(rec["input"].split()) or rec["input"].strip().startswith(row["input"][:30])
        assert "\r" not in row["output"] and row["license"] == "research-only"
    ma = SAMPLES / "dialogues" / "medalpaca" / "medical_meadow_small.first1000.json"
    rows, report = parse(DialogueBuilder("medalpaca", {}, SAMPLES), ma)
    # One answer is only a MediaWiki video template: with the template gone there is no reply.
    assert len(rows) == 999 and rows[0]["input"] == "What are the symptoms of Allergy?" and len(report.errors) == 1


MEDDIALOG = (
    "id=1\r\nhttps://www.example.org/q/1\r\nDescription\r\nCough for a week.\r\nDialogue\r\n"
    "Patient:\r\nI have had a dry cough for a week.\r\nIt is worse at night.\r\n"
    "Doctor:\r\nDo you have fever or shortness of breath?\r\n"
    "Patient:\r\nNo fever.\rNo breathlessness.\r\n"
    "Doctor:\r\nIt is probably a viral cough; see your doctor if it lasts beyond three weeks.\r\n\r\n"
    "id=2\r\nhttps://www.example.org/q/2\r\nDescription\r\nRash.\r\nDialogue\r\nPatient:\r\nI have a rash.\r\n\r\n"
    "id=1\r\nhttps://www.example.org/q/1b\r\nDescription\r\nDuplicate.\r\nDialogue\r\nPatient:\r\nHi\r\nDoctor:\r\nHello\r\n"
)


def test_meddialog_multi_turn_order_and_bad_blocks(tmp_path: Path) -> None:
    path = tmp_path / "dialogues.txt"
    path.write_bytes(MEDDIALOG.encode())
    rows, report = parse(DialogueBuilder("meddialog", {"format": "meddialog"}, tmp_path), path)
    assert len(rows) == 1
    msgs = rows[0]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs[1]["content"] == "I have had a dry cough for a week. It is worse at night."
    assert msgs[3]["content"] == "No fever. No breathlessness."
    assert rows[0]["output"].startswith("It is probably a viral cough")
    assert rows[0]["input"].startswith("Patient: I have had a dry cough")
    assert {e["record"] for e in report.errors} == {"id=2", "id=1"}
    assert any("repeated id=1" in e["reason"] for e in report.errors)


def test_umls_prompts_name_real_concepts() -> None:
    conso = [l.split("|") for l in (FIXTURES / "umls" / "MRCONSO.RRF").read_text().splitlines()]
    names = {r[14] for r in conso}
    rows, report = parse(UMLSBuilder("umls", {"max_per_concept": 10}, FIXTURES), FIXTURES / "umls" / "MRCONSO.RRF")
    kinds = {}
    for row in rows:
        kinds.setdefault(json.loads(json.dumps(row["meta"]))["prompt"], []).append(row)
    assert set(kinds) == {"describe", "semantic_type", "synonyms", "relation"}
    for row in rows:
        assert any(n in row["instruction"] or n in row["output"] for n in names), row
        assert row["license"] == "umls" and row["task"] == "knowledge_graph"
    describe = {r["meta"]["cui"]: r for r in kinds["describe"]}
    assert describe["C0000039"]["output"].startswith("1,2-Dipalmitoylphosphatidylcholine: Synthetic phospholipid")
    sty = {r["meta"]["cui"]: r["output"] for r in kinds["semantic_type"]}
    assert "Amino Acid, Peptide, or Protein" in sty["C0000052"] and "Enzyme" in sty["C0000052"]
    rel = sorted(r["output"] for r in kinds["relation"])
    assert "(131)I-Macroaggregated Albumin may be used with 1,2-Dipalmitoylphosphatidylcholine." in rel
    assert len(rel) == 3  # no RELA, or a concept without a name: not prompted
    assert report.skipped["relation to a concept without an English name"] == 1
    capped, rep2 = parse(UMLSBuilder("umls", {"max_per_concept": 1, "seed": 1}, FIXTURES), FIXTURES / "umls" / "MRCONSO.RRF")
    per_cui = {}
    for r in capped:
        cui = r["meta"].get("cui") or r["meta"]["cui1"]
        per_cui[cui] = per_cui.get(cui, 0) + 1
    assert max(per_cui.values()) == 1 and rep2.skipped["cap per concept"] > 0
    only_msh, _ = parse(UMLSBuilder("umls", {"sabs": ["MSH"], "kinds": ["synonyms"]}, FIXTURES), FIXTURES / "umls" / "MRCONSO.RRF")
    assert all("[Chemical/Ingredient]" not in r["output"] for r in only_msh)  # an NDFRT string


def test_abbreviation_prompts_from_a_real_article() -> None:
    from builders.abbreviations import AbbreviationBuilder

    rows, report = parse(AbbreviationBuilder("abbreviations", {}, SAMPLES), SAMPLES / "pmc_jats" / "mds526.nxml")
    by_short = {r["meta"]["short"]: r for r in rows}
    assert by_short["ECRIC"]["output"] == "In this text, ECRIC stands for Eastern Cancer Registration and Information Centre."
    assert by_short["MAR"]["meta"]["long"] == "missing at random"
    # the context quotes a sentence that uses the short form without defining it, when there is one
    assert "missing at random" not in by_short["MAR"]["instruction"] and "MAR" in by_short["MAR"]["instruction"]
    assert {r["license"] for r in rows} == {"cc-by-nc-3.0"} and report.records == 1
    assert len(rows) <= 10 and all(r["task"] == "knowledge_graph" for r in rows)


def test_wiki_templates_never_reach_dialogue_rows(tmp_path: Path) -> None:
    """MedAlpaca's WikiDoc answers hold MediaWiki templates; one bundled answer is nothing else."""
    from builders.dialogues import DialogueBuilder

    path = SAMPLES / "dialogues" / "medalpaca" / "medical_meadow_small.first1000.json"
    assert path.read_text().count("{{#ev:youtube|") == 9
    report = FileReport(path.name)
    rows = list(DialogueBuilder("medalpaca", {"license": "cc-by-4.0"}, SAMPLES).parse(path, report))
    assert rows and not any("{{" in r["output"] or "#ev:youtube" in r["output"] for r in rows)
    assert sum("needs the patient's message" in e["reason"] for e in report.errors) >= 1  # the answer that was only a video
