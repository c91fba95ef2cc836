"""Benchmark test sets (MedQA, MedMCQA, PubMedQA) read from their raw files, in every layout.

One reader per benchmark returns `BenchmarkItem`s: the question, its options and gold
letter, contexts (PubMedQA) and PMID. Decontamination uses their text; the evaluator
uses the gold answers. Layout rules:

* MedQA US JSONL: `question, options{A..E}, answer_idx` (4- or 5-option files).
* MedMCQA: the original release (`opa..opd`, `cop` **1-based**), the Hugging Face copy
  (`cop` **0-based**, `-1` for the unlabelled test split) and the `{options, answer_idx}`
  re-format. The layout is read from the keys; for `cop` files the base is decided from
  the values in the whole file (a 0 means 0-based, a 4 means 1-based) unless the caller
  names it, and a file where both or neither occur is refused with the reason.
* PubMedQA PQA-L: `ori_pqal.json` restricted to the PMIDs of `test_ground_truth.json`
  (the official 500 test questions), gold from the ground-truth file.
"""

from __future__ import annotations

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


def hub_pointer(path: Path) -> dict[str, Any]:
    """A `*.hf.toml` file naming a Hugging Face dataset instead of holding its records:
    `dataset` (a Hub id, or a local folder in the Hub layout), optional `config`, `split`
    (default train) and `revision`."""
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name}: invalid TOML ({exc})") from None
    unknown = sorted(set(spec) - {"dataset", "config", "split", "revision"})
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
    if isinstance(options, list) and all(isinstance(o, dict) and "key" in o and "value" in o for o in options):
        return {str(o["key"]): str(o["value"]) for o in options}
    if isinstance(options, dict):
        return {str(k): str(v) for k, v in options.items() if v is not None}
    return {}


def read_medqa(path: Path) -> list[BenchmarkItem]:
    items = []
    for i, rec in enumerate(read_records(path)):
        options = medqa_options(rec)
        if not rec.get("question") or not options:
            raise ValueError(f"{path.name}: record {i + 1}: not a MedQA record (question, options)")
        items.append(
            BenchmarkItem("medqa", f"medqa:{path.stem}:{i}", rec["question"], options, rec.get("answer_idx"))
        )
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


def load_benchmark(name: str, root: Path, paths: list[str], options: dict[str, Any] | None = None) -> tuple[list[BenchmarkItem], list[str]]:
    """Items of one benchmark from files matching `paths` (globs under `root`), and the files read."""
    options = options or {}
    files = sorted({p for pattern in paths for p in root.glob(pattern) if p.is_file()})
    items: list[BenchmarkItem] = []
    if name == "pubmedqa":
        truth = root / options.get("test_ids", "pubmedqa/test_ground_truth.json")
        pqal = [f for f in files if f.name != truth.name]
        if not pqal or not truth.is_file():
            return [], []
        for f in pqal:
            items += read_pubmedqa_test(f, truth)
        return items, [f.relative_to(root).as_posix() for f in [*pqal, truth]]
    reader = {"medqa": read_medqa, "medmcqa": lambda p: read_medmcqa(p, options.get("layout"))}.get(name)
    if reader is None:
        raise ValueError(f"unknown benchmark {name!r} (medqa, medmcqa, pubmedqa)")
    for f in files:
        items += reader(f)
    return items, [f.relative_to(root).as_posix() for f in files]
