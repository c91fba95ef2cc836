"""Exam QA with rationales → MedC-I `rationale_qa` rows: MedQA (US JSONL, 4 or 5 options, or the
Hub's `GBaker/MedQA-USMLE-4-options` parquet) and MedMCQA (original 1-based `cop`, Hugging Face
0-based `cop` as `openlifescienceai/medmcqa`'s parquet files, `{options, answer_idx}`).

Only training splits: the `split` option must be `train`, and a file whose name marks it
as a test / dev / validation split is refused with a clear error (those are the evaluation
and decontamination references). MedQA ships no rationale: its rows carry the answer only,
unless `rationales` points at a cache filled by the rationale generator. MedMCQA's `exp` is
the rationale; rows whose `exp` is null are kept without one or dropped (`null_exp`). The
MedMCQA layout is read from the keys, and for `cop` files the base from the values of the
whole file (`layout` in the options overrides it); questions that occur several times with
different answers are all left out and counted.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medc.ingest.testsets import HUB_POINTER, HUB_POINTER_KEYS, hub_pointer, medmcqa_layout, medqa_id, medqa_options, read_records
from medc.ingest.builder import Builder, FileReport, register_builder
from medc.errors import UserError
from medc.ingest.instructions import choose, format_options, instruction_row
from medc.text.normalize import normalize_text

HELD_OUT = re.compile(r"(^|[_\-.])(test|dev|val|valid|validation)([_\-.]|$)", re.IGNORECASE)


def refuse_held_out(source: str, options: dict[str, Any]) -> None:
    if options["split"] != "train":
        raise UserError(f"source {source!r}: split {options['split']!r} refused: only training splits go into MedC-I "
                        "(test and dev sets are the evaluation and decontamination references)")


def check_file_name(path: Path) -> None:
    """A held-out split is refused by its file name, or by the split a `*.hf.toml` pointer names."""
    if path.name.endswith(HUB_POINTER):
        split = hub_pointer(path)["split"]
        if HELD_OUT.search(split):
            raise ValueError(f"{path.name} names the {split!r} split: refused (only training splits go into MedC-I; "
                             "test sets are the evaluation and decontamination references)")
        return
    if HELD_OUT.search(path.stem):
        raise ValueError(f"{path.name} is named as a test/dev split: refused (only training splits go into MedC-I; "
                         "test sets are the evaluation and decontamination references)")


def read_training_records(path: Path) -> list[dict[str, Any]]:
    """Records of a training-split file (a held-out split is refused by its name)."""
    check_file_name(path)
    try:
        return read_records(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed JSON: {exc}") from None


def answer_text(letter: str, options: dict[str, str]) -> str:
    return f"The answer is {letter}. {options[letter]}"


@register_builder("medqa")
class MedQABuilder(Builder):
    citations = ("jin2021medqa",)
    kind = "instruction"
    patterns = ("**/*.jsonl", "**/*.parquet", "**/*.hf.toml")  # the original JSONL, the Hub's data/train-*.parquet, or a Hub id
    pointer_keys = HUB_POINTER_KEYS
    defaults: dict[str, Any] = {"split": "train", "license": "mit", "rationales": None, "templates": None}

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        return [options["rationales"]] if options.get("rationales") else []

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        refuse_held_out(source, self.options)

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        records = read_training_records(path)
        rationales = load_rationales(self.sources_root, self.options["rationales"])
        for i, rec in enumerate(records):
            report.records += 1
            options = medqa_options(rec)  # shared with the benchmark reader (dict or bigbio's [{key, value}])
            letter = str(rec.get("answer_idx") or "").strip()
            question = normalize_text(rec.get("question") or "")
            if not question or letter not in options:
                report.error("needs question, options and an answer_idx among them", f"line {i + 1}")
                continue
            options = {str(k): normalize_text(str(v)) for k, v in options.items()}
            if rec.get("answer") and normalize_text(str(rec["answer"])) != options[letter]:
                report.error(f"answer text does not match option {letter}", f"line {i + 1}")
                continue
            row_id = medqa_id(question, options)
            rationale = rationales.get(row_id)
            kind = "mcq" if rationale else "mcq_no_rationale"
            instruction = choose(row_id, "rationale_qa", kind, self.options["templates"])
            output = answer_text(letter, options)
            if rationale:
                output = f"{normalize_text(rationale['text'])}\n\n{output}"
            yield instruction_row(self.source, row_id, "rationale_qa", instruction,
                         f"Question: {question}\nOptions:\n{format_options(options)}", output, self.options["license"],
                         {"answer": letter, "n_options": len(options), "exam": rec.get("meta_info"), "split": "train",
                          "rationale": "generated" if rationale else None,
                          "rationale_model": rationale.get("model") if rationale else None})


@register_builder("medmcqa")
class MedMCQABuilder(Builder):
    citations = ("pal2022medmcqa",)
    kind = "instruction"
    patterns = ("**/*.json", "**/*.jsonl", "**/*.parquet", "**/*.hf.toml")  # original JSON, the Hub's data/train-*.parquet, or a Hub id
    pointer_keys = HUB_POINTER_KEYS
    defaults: dict[str, Any] = {"split": "train", "license": "mit", "layout": None, "null_exp": "keep", "templates": None}

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        refuse_held_out(source, self.options)
        if self.options["null_exp"] not in ("keep", "drop"):
            raise UserError(f"source {source!r}: null_exp must be keep or drop")

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        records = read_training_records(path)
        layout = medmcqa_layout(records, self.options["layout"])  # ValueError: reported with the reason
        parsed = []
        for i, rec in enumerate(records):
            report.records += 1
            rid = str(rec.get("id") or rec.get("realidx") or i)
            if layout == "options":
                options = {str(k): normalize_text(str(v)) for k, v in (rec.get("options") or {}).items()}
                letter = str(rec.get("answer_idx") or "")
            else:
                options = dict(zip("ABCD", (normalize_text(str(rec.get(k) or "")) for k in ("opa", "opb", "opc", "opd"))))
                cop = rec.get("cop")
                base = 1 if layout == "original" else 0
                letter = "ABCD"[int(cop) - base] if isinstance(cop, int) and 0 <= int(cop) - base < 4 else ""
            question = normalize_text(rec.get("question") or "")
            if not question or letter not in options:
                report.error("needs a question and a valid answer", f"id {rid}")
                continue
            exp = normalize_text(rec.get("exp") or "")
            if not exp and self.options["null_exp"] == "drop":
                report.skip("no explanation (exp is null)")
                continue
            parsed.append((rid, question, options, letter, exp, rec))
        # Questions that occur more than once with different answers: the key is unreliable.
        answers: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for _, q, opts, letter, _, _ in parsed:
            answers[(q.lower(), *sorted(o.lower() for o in opts.values()))].add(opts[letter].lower())
        for rid, question, options, letter, exp, rec in parsed:
            key = (question.lower(), *sorted(o.lower() for o in options.values()))
            if len(answers[key]) > 1:
                report.skip("duplicate question with conflicting answers")
                continue
            row_id = f"medmcqa:{rid}"
            instruction = choose(row_id, "rationale_qa", "mcq" if exp else "mcq_no_rationale", self.options["templates"])
            output = answer_text(letter, options)
            if exp:
                output = f"{exp}\n\n{output}"
            yield instruction_row(self.source, row_id, "rationale_qa", instruction,
                         f"Question: {question}\nOptions:\n{format_options(options)}", output, self.options["license"],
                         {"answer": letter, "layout": layout, "subject": rec.get("subject_name"), "topic": rec.get("topic_name"),
                          "choice_type": rec.get("choice_type"), "split": "train", "rationale": "dataset" if exp else None})


def load_rationales(root: Path, rel: str | None) -> dict[str, dict[str, Any]]:
    """Rationales filled in by `medc.rationale` (JSONL of {id, text, model}), keyed by row id."""
    if not rel:
        return {}
    path = root / rel
    if not path.is_file():
        raise ValueError(f"rationales file {rel} not found under the sources root")
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            out[rec["id"]] = rec
    return out
