"""PubMedQA → MedC-I `rationale_qa` rows, from the original release (`ori_pqal.json` /
`ori_pqaa.json`, objects keyed by PMID) or the Hugging Face Hub layout of `qiaojin/PubMedQA`
(`pqa_labeled/train-*.parquet`, `pqa_artificial/train-*.parquet`: `pubid, question,
context{contexts, labels, meshes}, long_answer, final_decision`).

Input: the question with the abstract's labelled contexts; output: the `LONG_ANSWER` as the
rationale, then the final yes/no/maybe decision. PMIDs listed in the benchmark's
`test_ground_truth.json` (the 500 PQA-L test questions) never become rows: they are counted
as excluded, because the test set is the evaluation and decontamination reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medc.ingest.builder import Builder, FileReport, register_builder
from medc.errors import UserError
from medc.ingest.instructions import choose, instruction_row
from medc.ingest.testsets import HUB_POINTER, HUB_POINTER_KEYS, hub_pointer, read_pubmedqa
from medc.text.normalize import normalize_text

DECISIONS = ("yes", "no", "maybe")
TEST_SET_REASON = "benchmark test set (PubMedQA PQA-L test)"


def load_test_pmids(path: Path) -> frozenset[str]:
    """PMIDs of the PubMedQA test split: `test_ground_truth.json` ({PMID: label}) or a list."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the PubMedQA test PMIDs ({exc})") from None
    if isinstance(data, dict):
        return frozenset(str(k) for k in data)
    if isinstance(data, list):
        return frozenset(str(k) for k in data)
    raise UserError(f"{path}: expected an object {{PMID: label}} or a list of PMIDs")


@register_builder("pubmedqa")
class PubMedQABuilder(Builder):
    citations = ("jin2019pubmedqa",)
    kind = "instruction"
    patterns = ("ori_pqal.json", "ori_pqaa.json", "**/pqa_labeled/*.parquet", "**/pqa_artificial/*.parquet", "**/*.hf.toml")
    pointer_keys = HUB_POINTER_KEYS
    defaults: dict[str, Any] = {
        # Relative to the sources root. The build refuses to run without it: PQA-L holds the test set.
        "test_pmids": "pubmedqa/test_ground_truth.json",
        "templates": None,  # a phrasings file (default: pipelines/templates/medc-i.toml)
    }

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        return [options.get("test_pmids", cls.defaults["test_pmids"])]

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        self._test_pmids: frozenset[str] | None = None

    @property
    def test_pmids(self) -> frozenset[str]:
        if self._test_pmids is None:
            rel = self.options["test_pmids"]
            path = self.sources_root / rel
            if not path.is_file():
                raise ValueError(
                    f"the PubMedQA test-set file {rel} is missing under the sources root; "
                    "without it the 500 test questions would leak into MedC-I"
                )
            self._test_pmids = load_test_pmids(path)
        return self._test_pmids

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        test_pmids = self.test_pmids
        data = read_pubmedqa(path)
        config = hub_pointer(path).get("config", "") if path.name.endswith(HUB_POINTER) else ""
        subset = "pqaa" if "pqaa" in path.name or "pqa_artificial" in path.parts or config == "pqa_artificial" else "pqal"
        for pmid, rec in data.items():
            report.records += 1
            if str(pmid) in test_pmids:
                report.skip(TEST_SET_REASON)
                continue
            try:
                yield self.row(str(pmid), rec, subset)
            except ValueError as exc:
                report.error(str(exc), f"PMID {pmid}")

    def row(self, pmid: str, rec: Any, subset: str) -> dict[str, Any]:
        if not isinstance(rec, dict):
            raise ValueError("record is not an object")
        question = normalize_text(rec.get("QUESTION") or "")
        contexts = rec.get("CONTEXTS") or []
        labels = rec.get("LABELS") or []
        long_answer = normalize_text(rec.get("LONG_ANSWER") or "")
        decision = (rec.get("final_decision") or "").strip().lower()
        missing = [k for k, v in (("QUESTION", question), ("CONTEXTS", contexts), ("LONG_ANSWER", long_answer)) if not v]
        if missing:
            raise ValueError(f"missing required field(s) {', '.join(missing)}")
        if decision not in DECISIONS:
            raise ValueError(f"final_decision {decision!r} is not yes/no/maybe")
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise ValueError("CONTEXTS is not a list of strings")
        parts = []
        for i, ctx in enumerate(contexts):
            label = labels[i] if i < len(labels) and isinstance(labels[i], str) else ""
            ctx = normalize_text(ctx)
            parts.append(f"{label.strip().upper()}: {ctx}" if label.strip() else ctx)
        context = "\n".join(parts)
        input_text = f"Abstract:\n{context}\n\nQuestion: {question}"
        output = f"{long_answer}\n\nFinal answer: {decision}"
        row_id = f"pubmedqa:{subset}:{pmid}"
        instruction = choose(row_id, "rationale_qa", "pubmedqa", self.options["templates"])
        meta = {"pmid": pmid, "subset": subset, "year": rec.get("YEAR"), "meshes": rec.get("MESHES") or [],
                "answer": decision, "split": "train", "rationale": "dataset"}  # the long answer explains the decision
        return instruction_row(self.source, row_id, "rationale_qa", instruction, input_text, output, "mit", meta)
