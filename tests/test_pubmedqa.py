"""The PubMedQA builder: rationale + decision rows, and the test split kept out."""

from __future__ import annotations

import json
from pathlib import Path

from builders.pubmedqa import TEST_SET_REASON, PubMedQABuilder
from medc.ingest.builder import FileReport
from medc.schema import INSTRUCTION_SCHEMA, validate_row
from tests.conftest import SAMPLES

PQAL = SAMPLES / "pubmedqa" / "ori_pqal.json"


def build(path: Path, root: Path = SAMPLES) -> tuple[list[dict], FileReport]:
    report = FileReport(path.name)
    rows = list(PubMedQABuilder("pubmedqa", {}, root).parse(path, report))
    return rows, report


def test_test_split_never_enters() -> None:
    rows, report = build(PQAL)
    source = json.loads(PQAL.read_text())
    test = set(json.loads((SAMPLES / "pubmedqa" / "test_ground_truth.json").read_text()))
    assert report.records == 1000
    assert report.skipped == {TEST_SET_REASON: 500}
    assert len(rows) == 500
    pmids = {r["meta"]["pmid"] for r in rows}
    assert not pmids & test
    assert pmids == set(source) - test


def test_rows_carry_rationale_and_gold_decision() -> None:
    rows, _ = build(PQAL)
    source = json.loads(PQAL.read_text())
    for row in rows:
        rec = source[row["meta"]["pmid"]]
        assert row["task"] == "rationale_qa"
        assert row["output"].endswith(f"Final answer: {rec['final_decision']}")
        assert " ".join(rec["LONG_ANSWER"].split()) in " ".join(row["output"].split())
        assert " ".join(rec["QUESTION"].split()) in row["input"]
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert row["messages"][1]["content"] == row["output"]
        assert row["id"] == f"pubmedqa:pqal:{row['meta']['pmid']}"
        validate_row(row, "instruction")
    first = rows[0]
    rec = source[first["meta"]["pmid"]]
    assert f"{rec['LABELS'][0]}: " in first["input"]
    assert set(INSTRUCTION_SCHEMA.names) == set(first)


def test_bad_records_reported_not_fatal(tmp_path: Path) -> None:
    data = json.loads(PQAL.read_text())
    train = [k for k in data if k not in json.loads((SAMPLES / "pubmedqa" / "test_ground_truth.json").read_text())]
    del data[train[0]]["LONG_ANSWER"]
    data[train[1]]["final_decision"] = "perhaps"
    (tmp_path / "pubmedqa").mkdir()
    (tmp_path / "pubmedqa" / "test_ground_truth.json").write_bytes((SAMPLES / "pubmedqa" / "test_ground_truth.json").read_bytes())
    path = tmp_path / "pubmedqa" / "ori_pqal.json"
    path.write_text(json.dumps(data))
    rows, report = build(path, tmp_path)
    assert len(rows) == 498
    assert report.errors == [
        {"file": "ori_pqal.json", "record": f"PMID {train[0]}", "reason": "missing required field(s) LONG_ANSWER"},
        {"file": "ori_pqal.json", "record": f"PMID {train[1]}", "reason": "final_decision 'perhaps' is not yes/no/maybe"},
    ]


def test_missing_test_set_file_refuses_the_file(tmp_path: Path) -> None:
    (tmp_path / "pubmedqa").mkdir()
    path = tmp_path / "pubmedqa" / "ori_pqal.json"
    path.write_bytes(PQAL.read_bytes())
    try:
        build(path, tmp_path)
    except ValueError as exc:
        assert "test_ground_truth.json is missing" in str(exc)
    else:
        raise AssertionError("a PQA-L file without its test-set list must not be built")
