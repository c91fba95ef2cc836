"""Benchmark test sets (MedQA, MedMCQA, PubMedQA, MMLU, MMLU-Pro, MedXpertQA) read from their raw
files, in every layout. `medc.ingest.benchmarks` names them and says where each split is found.

One reader per benchmark returns `BenchmarkItem`s: the question, its options and gold
letter, contexts (PubMedQA) and PMID. Decontamination uses their text; the evaluator
uses the gold answers. Layout rules:

* MedQA US JSONL: `question, options{A..E}, answer_idx` (4- or 5-option files); bigbio/med_qa's
  `options` as a list of `{key, value}`; GBaker's `-hf` layout `sent1, ending0..3, label` (0-based).
* MedMCQA: the original release (`opa..opd`, `cop` **1-based**), the Hugging Face copy
  (`cop` **0-based**, `-1` for the unlabelled test split) and the `{options, answer_idx}`
  re-format. The layout is read from the keys; for `cop` files the base is decided from
  the values in the whole file (a 0 means 0-based, a 4 means 1-based) unless the caller
  names it, and a file where both or neither occur is refused with the reason. Parquet
  files and Hub pointers are the Hub's copy (0-based), the original release being JSON.
* PubMedQA PQA-L: `ori_pqal.json` restricted to the PMIDs of `test_ground_truth.json`
  (the official 500 test questions), gold from the ground-truth file; or the test split in
  bigbio/pubmed_qa's source layout (`QUESTION, CONTEXTS, final_decision`, one record per item).
* MMLU: the original per-subject CSVs (no header: question, A, B, C, D, answer letter) or
  cais/mmlu's files (`question, subject, choices[4], answer` 0-based).
* MMLU-Pro (TIGER-Lab/MMLU-Pro): `question_id, question, options[up to 10], answer, answer_index,
  category`; one category (health) is read.
* MedXpertQA (TsinghuaC3I/MedXpertQA, Text): `id, question, options{A..J}, label`; or the authors'
  evaluation input (`options` as `[{letter, content}]`, `label` as a one-element list).
"""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from medc.files.records import json_records
from medc.schema import stable_id
from medc.text.normalize import normalize_text

LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    question: str
    options: dict[str, str] = field(default_factory=dict)  # letter -> text (empty for PubMedQA)
    answer: str | None = None  # gold letter, or yes/no/maybe for PubMedQA; None if unlabelled
    contexts: tuple[str, ...] = ()
    pmid: str | None = None

    def text(self) -> str:
        """Everything of the item a training document could have copied."""
        parts = [self.question, *self.options.values(), *self.contexts]
        return "\n".join(p for p in parts if p)


HUB_POINTER = ".hf.toml"
HUB_POINTER_KEYS = frozenset({"dataset", "config", "split", "revision"})


def hub_pointer(path: Path) -> dict[str, Any]:
    """A `*.hf.toml` file naming a Hugging Face dataset instead of holding its records:
    `dataset` (a Hub id, or a local folder in the Hub layout), optional `config`, `split`
    (default train) and `revision`."""
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name}: invalid TOML ({exc})") from None
    unknown = sorted(set(spec) - HUB_POINTER_KEYS)
    if not isinstance(spec.get("dataset"), str) or unknown or not all(isinstance(v, str) for v in spec.values()):
        raise ValueError(f"{path.name}: a dataset pointer is dataset = \"<Hub id or folder>\" with optional config, split, "
                         "revision (strings)" + (f"; unknown key {unknown[0]!r}" if unknown else ""))
    return {"split": "train", **spec}


def hub_records(path: Path) -> list[dict[str, Any]]:
    """The records of the dataset a pointer names, through `datasets` (Hub downloads go to its cache)."""
    from datasets import load_dataset  # seconds to import: only for pointer files

    spec = hub_pointer(path)
    try:
        ds = load_dataset(spec["dataset"], spec.get("config"), split=spec["split"], revision=spec.get("revision"))
    except Exception as exc:  # offline, unknown id, bad folder: one clear line
        raise ValueError(f"{path.name}: cannot load dataset {spec['dataset']!r}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return ds.to_list()


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON / JSONL file, a JSON table of records
    (`medc.files.records.json_records`), a parquet file (the Hugging Face Hub layout,
    `data/train-00000-of-00001.parquet`) or the dataset a `*.hf.toml` pointer names. A
    malformed line fails the whole file: a test set is read completely or not at all."""
    if path.name.endswith(HUB_POINTER):
        return hub_records(path)
    if path.suffix == ".parquet":
        try:
            return pl.read_parquet(path).to_dicts()
        except pl.exceptions.PolarsError as exc:
            raise ValueError(f"{path.name}: unreadable parquet ({exc})") from None
    records: list[dict[str, Any]] = []
    for where, value in json_records(path, tables=True):
        if isinstance(value, json.JSONDecodeError):
            raise ValueError(f"{path.name}: {where}: malformed JSON ({value.msg})")
        if isinstance(value, dict):
            records.append(value)
    return records


def medqa_id(question: str, options: dict[str, str]) -> str:
    """The id of a MedQA training question: made from its content, so that two files of the
    same name (`US/train.jsonl`, `Taiwan/train.jsonl`) never share ids, the same question is
    one id wherever it stands, and rationales generated for it find it again."""
    return stable_id("medqa", normalize_text(question), *(f"{k}. {normalize_text(str(v))}" for k, v in sorted(options.items())))


def medqa_options(rec: dict[str, Any]) -> dict[str, str]:
    """A MedQA record's options, letter -> text: the original JSONL and GBaker's Hub layout
    give `options{A..E}`, bigbio/med_qa's source schema a list of `{key, value}`; {} when neither."""
    options = rec.get("options")
    if options is None and all(f"ending{i}" in rec for i in range(4)):  # GBaker/MedQA-USMLE-4-options-hf
        return {k: str(rec[f"ending{i}"]) for i, k in enumerate("ABCD")}
    if isinstance(options, list) and all(isinstance(o, dict) and "key" in o and "value" in o for o in options):
        return {str(o["key"]): str(o["value"]) for o in options}
    if isinstance(options, dict):
        return {str(k): str(v) for k, v in options.items() if v is not None}
    return {}


def medqa_answer(rec: dict[str, Any]) -> str | None:
    """The gold letter: `answer_idx` (original, GBaker) or the 0-based `label` of the -hf layout."""
    if rec.get("answer_idx") is not None:
        return str(rec["answer_idx"])
    label = rec.get("label")
    return "ABCD"[label] if isinstance(label, int) and 0 <= label < 4 else None


def read_medqa(path: Path) -> list[BenchmarkItem]:
    items = []
    for i, rec in enumerate(read_records(path)):
        options = medqa_options(rec)
        question = rec.get("question") or rec.get("sent1")
        if not question or not options:
            raise ValueError(f"{path.name}: record {i + 1}: not a MedQA record (question, options; or sent1, ending0..3)")
        items.append(BenchmarkItem("medqa", f"medqa:{path.stem}:{i}", question, options, medqa_answer(rec)))
    return items


def medmcqa_layout(records: list[dict[str, Any]], declared: str | None = None) -> str:
    """`options` (re-format), `original` (1-based cop) or `hf` (0-based cop)."""
    if declared:
        if declared not in ("options", "original", "hf"):
            raise ValueError(f"unknown MedMCQA layout {declared!r} (options, original or hf)")
        return declared
    if not records:
        raise ValueError("no MedMCQA records")
    first = records[0]
    if "options" in first and "answer_idx" in first:
        return "options"
    if not all(k in first for k in ("opa", "opb", "opc", "opd")):
        raise ValueError("not a MedMCQA layout: expected opa..opd + cop, or options + answer_idx")
    cops = {r.get("cop") for r in records}
    cops.discard(None)
    zero, four = 0 in cops, 4 in cops
    if zero and four:
        raise ValueError("MedMCQA 'cop' values hold both 0 and 4: cannot tell 0- from 1-based")
    if zero or -1 in cops:
        return "hf"
    if four:
        return "original"
    raise ValueError(
        "MedMCQA 'cop' values are all in 1..3: 0- or 1-based cannot be told from the data; "
        "set the layout (original = 1-based, hf = 0-based)"
    )


def read_medmcqa(path: Path, layout: str | None = None) -> list[BenchmarkItem]:
    records = read_records(path)
    if layout is None and (path.suffix == ".parquet" or path.name.endswith(HUB_POINTER)) and records and "cop" in records[0]:
        layout = "hf"  # parquet files and Hub pointers are the Hub's copy: 0-based cop (the original release is JSON)
    try:
        layout = medmcqa_layout(records, layout)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    items = []
    for i, rec in enumerate(records):
        rid = str(rec.get("id") or rec.get("realidx") or i)
        if layout == "options":
            options = {str(k): str(v) for k, v in (rec.get("options") or {}).items()}
            answer = rec.get("answer_idx")
        else:
            options = dict(zip("ABCD", (str(rec.get(k) or "") for k in ("opa", "opb", "opc", "opd"))))
            cop = rec.get("cop")
            index = None if cop is None or cop == -1 else int(cop) - (1 if layout == "original" else 0)
            if index is not None and not 0 <= index < 4:
                raise ValueError(f"{path.name}: record {rid}: cop {cop} out of range for the {layout} layout")
            answer = None if index is None else "ABCD"[index]
        if not rec.get("question"):
            raise ValueError(f"{path.name}: record {rid}: no question")
        items.append(BenchmarkItem("medmcqa", f"medmcqa:{rid}", rec["question"], options, answer))
    return items


def read_pubmedqa(path: Path) -> dict[str, dict[str, Any]]:
    """PubMedQA records keyed by PMID in the original release's shape (`QUESTION, CONTEXTS,
    LABELS, MESHES, LONG_ANSWER, final_decision`), from `ori_pqal.json` / `ori_pqaa.json` or
    from the Hub's parquet files (`qiaojin/PubMedQA`: `pubid, question, context{contexts,
    labels, meshes}, long_answer, final_decision`)."""
    if path.suffix != ".parquet" and not path.name.endswith(HUB_POINTER):
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{path.name}: malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path.name}: expected a JSON object keyed by PMID")
        return data
    rows = read_records(path)
    if rows and not {"pubid", "question", "context"} <= rows[0].keys():
        raise ValueError(f"{path.name}: not a PubMedQA Hub file (columns: {', '.join(sorted(rows[0]))})")
    return {str(row["pubid"]): {"QUESTION": row.get("question"), "CONTEXTS": (row.get("context") or {}).get("contexts"),
                                "LABELS": (row.get("context") or {}).get("labels"), "MESHES": (row.get("context") or {}).get("meshes"),
                                "LONG_ANSWER": row.get("long_answer"), "final_decision": row.get("final_decision")}
            for row in rows}


def read_pubmedqa_test(pqal: Path, ground_truth: Path) -> list[BenchmarkItem]:
    data = read_pubmedqa(pqal)
    truth = json.loads(ground_truth.read_text(encoding="utf-8"))
    missing = [p for p in truth if p not in data]
    if missing:
        raise ValueError(f"{pqal.name}: {len(missing)} test PMIDs of {ground_truth.name} are not in it (e.g. {missing[0]})")
    return [
        BenchmarkItem("pubmedqa", f"pubmedqa:{pmid}", data[pmid]["QUESTION"], {}, str(truth[pmid]).lower(),
                      tuple(data[pmid].get("CONTEXTS") or ()), str(pmid))
        for pmid in sorted(truth, key=int)
    ]


def read_pubmedqa_records(path: Path) -> list[BenchmarkItem]:
    """A PubMedQA test split with one record per item, in bigbio/pubmed_qa's source layout
    (`QUESTION, CONTEXTS, final_decision`; no PMID, so the item id is made from the question)."""
    items = []
    for i, rec in enumerate(read_records(path)):
        if not {"QUESTION", "CONTEXTS", "final_decision"} <= rec.keys():
            raise ValueError(f"{path.name}: record {i + 1}: not a bigbio/pubmed_qa source record (QUESTION, CONTEXTS, final_decision)")
        pmid = rec.get("PMID") or rec.get("pubid")
        key = str(pmid) if pmid else stable_id("pubmedqa", normalize_text(rec["QUESTION"]))
        items.append(BenchmarkItem("pubmedqa", f"pubmedqa:{key}", rec["QUESTION"], {}, str(rec["final_decision"]).lower(),
                                   tuple(rec.get("CONTEXTS") or ()), str(pmid) if pmid else None))
    return items


def read_mmlu(path: Path, subject: str) -> list[BenchmarkItem]:
    """One MMLU subject: the original CSV (no header: question, A, B, C, D, answer letter) or a
    cais/mmlu file (`question, subject, choices, answer` 0-based; rows of other subjects are
    left out, so the `all` config's files can be read too)."""
    items = []
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.reader(f)):
                if len(row) != 6 or row[5].strip() not in ("A", "B", "C", "D"):
                    raise ValueError(f"{path.name}: row {i + 1}: not an MMLU row (question, A, B, C, D, answer letter)")
                items.append(BenchmarkItem(f"mmlu_{subject}", f"mmlu_{subject}:{path.stem}:{i}", row[0],
                                           dict(zip("ABCD", row[1:5])), row[5].strip()))
        return items
    for i, rec in enumerate(read_records(path)):
        choices, answer = rec.get("choices"), rec.get("answer")
        if not rec.get("question") or not isinstance(choices, list) or len(choices) != 4:
            raise ValueError(f"{path.name}: record {i + 1}: not a cais/mmlu record (question, choices[4], answer)")
        if rec.get("subject") not in (None, "", subject):
            continue
        gold = "ABCD"[answer] if isinstance(answer, int) and 0 <= answer < 4 else (answer if answer in ("A", "B", "C", "D") else None)
        items.append(BenchmarkItem(f"mmlu_{subject}", f"mmlu_{subject}:{path.stem}:{i}", rec["question"],
                                   dict(zip("ABCD", (str(c) for c in choices))), gold))
    return items


def read_mmlu_pro(path: Path, category: str) -> list[BenchmarkItem]:
    """MMLU-Pro records of one category (TIGER-Lab/MMLU-Pro: `question_id, question, options`
    (up to ten), `answer` letter, `answer_index`, `category`)."""
    items = []
    for i, rec in enumerate(read_records(path)):
        options = rec.get("options")
        if not rec.get("question") or not isinstance(options, list) or "category" not in rec:
            raise ValueError(f"{path.name}: record {i + 1}: not an MMLU-Pro record (question, options, category)")
        if rec["category"] != category:
            continue
        options = [str(o) for o in options if o is not None and str(o) != "N/A"]  # some rows pad with N/A
        letters = LETTERS[: len(options)]
        answer = rec.get("answer")
        if answer not in letters:
            raise ValueError(f"{path.name}: question {rec.get('question_id')}: answer {answer!r} is not one of {letters}")
        items.append(BenchmarkItem(f"mmlu_pro_{category}", f"mmlu_pro_{category}:{rec.get('question_id', i)}", rec["question"],
                                   dict(zip(letters, options)), answer))
    return items


def read_medxpertqa(path: Path) -> list[BenchmarkItem]:
    """MedXpertQA Text (`id, question, options{A..J}, label`). Records with images (the MM
    subset) cannot be scored by a text model and are refused."""
    items = []
    for i, rec in enumerate(read_records(path)):
        options = rec.get("options")
        if isinstance(options, list) and all(isinstance(o, dict) and {"letter", "content"} <= o.keys() for o in options):
            options = {o["letter"]: o["content"] for o in options}  # the authors' eval input: [{letter, content}]
        if not rec.get("question") or not isinstance(options, dict) or "label" not in rec:
            raise ValueError(f"{path.name}: record {i + 1}: not a MedXpertQA record (id, question, options, label)")
        if rec.get("images"):
            raise ValueError(f"{path.name}: record {rec.get('id', i + 1)}: has images (the MM subset); give the Text subset")
        label = rec["label"][0] if isinstance(rec["label"], list) and rec["label"] else rec["label"]
        options = {str(k): str(v) for k, v in options.items() if v is not None}
        if label not in options:
            raise ValueError(f"{path.name}: record {rec.get('id', i + 1)}: label {label!r} is not one of the options")
        question = rec["question"].split("\nAnswer Choices:")[0]  # the options are also written into the question
        items.append(BenchmarkItem("medxpertqa", f"medxpertqa:{rec.get('id', i)}", question, options, label))
    return items
