"""The benchmark registry: every benchmark medc evaluates on and decontaminates against, where
its files are found under a data root, and the groups that name several at once.

A benchmark is one scored split (`test`: globs under the root) and the pool its few-shot
examples come from (`fewshot`, the dev split), read by one reader of `medc.ingest.testsets`.
The same registry feeds `training.eval` (which scores the labelled items) and the
`decontaminate` step (which removes training rows that contain any item, of either split).

Files are found under the names users have: the original releases' names and the Hugging Face
Hub's (`test-00000-of-00001.parquet`, a `validation` split), JSON, JSONL, CSV or parquet, or a
`*.hf.toml` pointer naming a Hub dataset (`medc.ingest.testsets.hub_pointer`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medc.ingest.testsets import (
    HUB_POINTER,
    BenchmarkItem,
    read_medmcqa,
    read_medqa,
    read_medxpertqa,
    read_mmlu,
    read_mmlu_pro,
    read_pubmedqa_records,
    read_pubmedqa_test,
)

READABLE = (".json", ".jsonl", ".parquet", ".csv", HUB_POINTER)
MMLU_MEDICAL = ("anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                "professional_medicine")


@dataclass(frozen=True)
class Benchmark:
    name: str
    reader: str  # medqa, medmcqa, pubmedqa, mmlu, mmlu_pro, medxpertqa
    test: tuple[str, ...]  # globs (under the data root) of the scored split
    fewshot: tuple[str, ...] = ()  # globs of the held-out split few-shot examples come from (never a training split)
    options: dict[str, Any] = field(default_factory=dict)  # reader options (subject, n_options, test_ids, layout)
    hub: str = ""  # where the scored split is on the Hugging Face Hub (id, config, split)
    split: str = ""  # what the scored split is, said in results next to published numbers
    lm_eval_task: str | None = None  # the lm-evaluation-harness task this reproduces under --prompt-style lm-eval

    def with_options(self, **options: Any) -> Benchmark:
        return dataclasses.replace(self, options={**self.options, **{k: v for k, v in options.items() if v is not None}})


def _mmlu(subject: str) -> Benchmark:
    return Benchmark(
        f"mmlu_{subject}", "mmlu",
        test=(f"mmlu/**/{subject}_test.csv", f"mmlu/**/{subject}/test*"),
        fewshot=(f"mmlu/**/{subject}_dev.csv", f"mmlu/**/{subject}/dev*"),
        options={"subject": subject}, hub=f"cais/mmlu ({subject}, test)", split=f"MMLU {subject.replace('_', ' ')} test",
        lm_eval_task=f"mmlu_{subject}")


REGISTRY: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("medqa", "medqa", test=("medqa/**/*test*",), fewshot=("medqa/**/*dev*", "medqa/**/*validation*"),
              options={"n_options": 4}, hub="GBaker/MedQA-USMLE-4-options-hf (test)", split="MedQA US 4-option test",
              lm_eval_task="medqa_4options"),
    Benchmark("medqa_5options", "medqa", test=("medqa/**/*test*",), fewshot=("medqa/**/*dev*",),
              options={"n_options": 5}, hub="bigbio/med_qa (med_qa_en_source, test)", split="MedQA US 5-option test"),
    Benchmark("medmcqa", "medmcqa", test=("medmcqa/**/*test*", "medmcqa/**/*dev*", "medmcqa/**/*validation*"),
              hub="openlifescienceai/medmcqa (validation)",
              split="MedMCQA dev (its test labels are not public)", lm_eval_task="medmcqa"),
    Benchmark("pubmedqa", "pubmedqa", test=("pubmedqa/**/ori_pqal.json", "pubmedqa/**/pqa_labeled/*.parquet", "pubmedqa/**/*test*"),
              options={"test_ids": "pubmedqa/test_ground_truth.json"},
              hub="bigbio/pubmed_qa (pubmed_qa_labeled_fold0_source, test)", split="PubMedQA PQA-L test",
              lm_eval_task="pubmedqa"),
    *(_mmlu(s) for s in MMLU_MEDICAL),
    Benchmark("mmlu_pro_health", "mmlu_pro", test=("mmlu_pro/**/*test*",), fewshot=("mmlu_pro/**/*validation*",),
              options={"category": "health"}, hub="TIGER-Lab/MMLU-Pro (test, category health)", split="MMLU-Pro health test"),
    # MedXpertQA: the Hub's Text/test.jsonl, or the authors' eval input (medxpertqa_text_input.jsonl);
    # the MM subset (MM/, *_mm_input*) needs images and is left out.
    Benchmark("medxpertqa", "medxpertqa", test=("medxpertqa/**/*test*", "medxpertqa/**/*text_input*"),
              fewshot=("medxpertqa/**/*dev*",), options={"skip": ("MM", "_mm_")},
              hub="TsinghuaC3I/MedXpertQA (Text, test)", split="MedXpertQA Text test"),
)}
# lm-eval's `multimedqa` group: these nine, its score the mean weighted by items.
GROUPS: dict[str, tuple[str, ...]] = {
    "multimedqa": ("pubmedqa", "medmcqa", "medqa", *(f"mmlu_{s}" for s in MMLU_MEDICAL)),
    "mmlu_medical": tuple(f"mmlu_{s}" for s in MMLU_MEDICAL),
    "all": tuple(REGISTRY),
}


def resolve(names: str) -> list[str]:
    """Benchmark names from a comma-separated list of names and groups, in order, once each."""
    out: list[str] = []
    for word in (w.strip() for w in names.split(",")):
        if not word:
            continue
        if word not in REGISTRY and word not in GROUPS:
            raise ValueError(f"unknown benchmark {word!r} (benchmarks: {', '.join(REGISTRY)}; groups: {', '.join(GROUPS)})")
        out += [n for n in GROUPS.get(word, (word,)) if n not in out]
    return out


def matching_files(root: Path, patterns: tuple[str, ...] | list[str]) -> list[Path]:
    """Readable files under `root` that match any of the globs, sorted."""
    found = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    return sorted(p for p in found if p.name.endswith(READABLE))


def _skipped(relative: Path, markers: tuple[str, ...]) -> bool:
    """A file another subset owns: a folder named as a marker, or a marker in its name."""
    return any(m in relative.parts[:-1] or m in relative.name for m in markers)


def _relabel(items: list[BenchmarkItem], name: str) -> list[BenchmarkItem]:
    """Items under the registry's name (`medqa_5options:...`), so that a decontamination hit says
    which benchmark it came from."""
    return [dataclasses.replace(i, benchmark=name, item_id=f"{name}:{i.item_id.split(':', 1)[1]}") for i in items]


def _pubmedqa(bench: Benchmark, root: Path, files: list[Path]) -> tuple[list[BenchmarkItem], list[Path]]:
    truth = root / bench.options.get("test_ids", "pubmedqa/test_ground_truth.json")
    keyed = [f for f in files if f.name == "ori_pqal.json" or f.suffix == ".parquet" and "pqa_labeled" in f.parts]
    if keyed:  # the labelled set keyed by PMID, cut to the official test PMIDs
        if not truth.is_file():
            return [], []
        return [i for f in keyed for i in read_pubmedqa_test(f, truth)], [*keyed, truth]
    records = [f for f in files if f.name != truth.name]
    return [i for f in records for i in read_pubmedqa_records(f)], records


def read_split(bench: Benchmark, root: Path, patterns: tuple[str, ...]) -> tuple[list[BenchmarkItem], list[str]]:
    """Items of one split of a benchmark, and the files read (relative to `root`)."""
    files = [f for f in matching_files(root, patterns) if not _skipped(f.relative_to(root), bench.options.get("skip", ()))]
    readers: dict[str, Callable[[Path], list[BenchmarkItem]]] = {
        "medqa": read_medqa,
        "medmcqa": lambda p: read_medmcqa(p, bench.options.get("layout")),
        "mmlu": lambda p: read_mmlu(p, bench.options["subject"]),
        "mmlu_pro": lambda p: read_mmlu_pro(p, bench.options["category"]),
        "medxpertqa": read_medxpertqa,
    }
    if bench.reader == "pubmedqa":
        items, files = _pubmedqa(bench, root, files)
    else:
        items = [i for f in files for i in readers[bench.reader](f)]
    if "n_options" in bench.options:  # MedQA's 4- and 5-option files sit side by side: a file is this
        items = [i for i in items if len(i.options) == bench.options["n_options"]]  # benchmark's if it gave items
        files = [f for f in files if any(i.item_id.split(":")[1] == f.stem for i in items)]
    return _relabel(items, bench.name), [f.relative_to(root).as_posix() for f in files]


def load_test(bench: Benchmark, root: Path) -> tuple[list[BenchmarkItem], list[str]]:
    return read_split(bench, root, bench.test)


def load_fewshot(bench: Benchmark, root: Path) -> tuple[list[BenchmarkItem], list[str]]:
    return read_split(bench, root, bench.fewshot)
