"""`--prompt-style lm-eval` against lm-evaluation-harness itself (issue "Evaluation the field can
compare"): lm-eval's own task configs (`medqa_4options`, `medmcqa`, `pubmedqa`, `mmlu_<subject>`,
included from the installed package, only their data files pointed at local copies of the real
samples in each task's Hub layout) are run through `lm_eval.simple_evaluate` on a local tiny
model, and `training.eval` must give the same per-item log-likelihoods, the same choice for
every item under `acc` and `acc_norm`, the same accuracies and the same size-weighted group
mean, 0-shot and (MMLU) 5-shot from the dev split.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from medc.ingest.benchmarks import REGISTRY
from tests.conftest import SAMPLES
from training.eval import Scorer, evaluate, group_scores, load_questions

ITEMS = 12  # per benchmark: enough to disagree somewhere if anything differs, small enough for CPU
MMLU_SUBJECTS = ("anatomy", "clinical_knowledge")  # the subjects with samples (samples/mmlu/)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def hub_layout_data(root: Path) -> dict[str, dict[str, Path]]:
    """The real samples written in the layouts lm-eval's tasks load from the Hub, under the
    folder names medc's registry looks in. Returns task -> split -> file."""
    medqa = [json.loads(line) for line in (SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl").open()][:ITEMS]
    mcq = [json.loads(line) for line in (SAMPLES / "medmcqa" / "medagentsbench_medmcqa_test.jsonl").open()][:ITEMS]
    pqal = json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text())
    truth = json.loads((SAMPLES / "pubmedqa" / "test_ground_truth.json").read_text())
    files = {
        # GBaker/MedQA-USMLE-4-options-hf: sent1, ending0..3, label (0-based)
        "medqa_4options": {"test": write_jsonl(root / "medqa" / "test.jsonl", [
            {"id": f"test-{i}", "sent1": r["question"], **{f"ending{j}": r["options"][k] for j, k in enumerate("ABCD")},
             "label": "ABCD".index(r["answer_idx"])} for i, r in enumerate(medqa)])},
        # openlifescienceai/medmcqa: question, opa..opd, cop (0-based)
        "medmcqa": {"test": write_jsonl(root / "medmcqa" / "validation.jsonl", [
            {"id": r["realidx"], "question": r["question"], **{f"op{c}": r["options"][k] for c, k in zip("abcd", "ABCD")},
             "cop": "ABCD".index(r["answer_idx"]), "choice_type": "single", "exp": None, "subject_name": "", "topic_name": ""}
            for r in mcq])},
        # bigbio/pubmed_qa source layout of the labelled test fold
        "pubmedqa": {"test": write_jsonl(root / "pubmedqa" / "pqal_test.jsonl", [
            {**{k: pqal[p][k] for k in ("QUESTION", "CONTEXTS", "LABELS", "MESHES", "YEAR", "LONG_ANSWER")},
             "reasoning_required_pred": pqal[p]["reasoning_required_pred"], "reasoning_free_pred": pqal[p]["reasoning_free_pred"],
             "final_decision": pqal[p]["final_decision"]} for p in sorted(truth, key=int)[:ITEMS]])},
    }
    for subject in MMLU_SUBJECTS:  # cais/mmlu: question, subject, choices, answer (0-based)
        splits = {}
        for split in ("test", "dev"):
            with open(SAMPLES / "mmlu" / "data" / split / f"{subject}_{split}.csv", newline="", encoding="utf-8") as f:
                rows = [{"question": r[0], "subject": subject, "choices": r[1:5], "answer": "ABCD".index(r[5])} for r in csv.reader(f)]
            splits[split] = write_jsonl(root / "mmlu" / subject / f"{split}.jsonl", rows)
        files[f"mmlu_{subject}"] = splits
    return files


def task_configs(folder: Path, files: dict[str, dict[str, Path]]) -> list[str]:
    """One YAML per task that includes lm-eval's installed config and only swaps its data files."""
    import lm_eval

    tasks_dir = Path(lm_eval.__file__).parent / "tasks"
    upstream = {"medqa_4options": "medqa/medqa.yaml", "medmcqa": "medmcqa/medmcqa.yaml", "pubmedqa": "pubmedqa/pubmedqa.yaml",
                **{f"mmlu_{s}": f"mmlu/default/mmlu_{s}.yaml" for s in MMLU_SUBJECTS}}
    names = []
    for task, rel in upstream.items():
        data_files = "\n".join(f"      {split}: {path}" for split, path in files[task].items())
        (folder / f"parity_{task}.yaml").write_text(
            f"include: {tasks_dir / rel}\ntask: parity_{task}\ntag: []\ndataset_path: json\ndataset_name: null\n"
            f"dataset_kwargs:\n  data_files:\n{data_files}\ntraining_split: null\nvalidation_split: null\ntest_split: test\n"
            + ("fewshot_split: dev\n" if "dev" in files[task] else ""))
        names.append(f"parity_{task}")
    group = "\n".join(f"  - {n}" for n in names)
    (folder / "parity_group.yaml").write_text(
        f"group: parity_multimedqa\ntask:\n{group}\naggregate_metric_list:\n  - metric: acc\n    aggregation: mean\n"
        "    weight_by_size: True\n")
    return names


def run_lm_eval(model: Path, folder: Path, tasks: list[str], shots: int) -> dict[str, Any]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(folder), include_defaults=False)
    return simple_evaluate(model="hf", model_args=f"pretrained={model},dtype=float32", tasks=tasks, num_fewshot=shots,
                           device="cpu", batch_size=4, log_samples=True, task_manager=manager, random_seed=0,
                           numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=1234)


@pytest.fixture(scope="module")
def parity(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hub_layout")
    files = hub_layout_data(root)
    tasks = task_configs(root, files)
    zero = run_lm_eval(tiny_model, root, ["parity_multimedqa"], 0)  # the group runs its tasks
    five = run_lm_eval(tiny_model, root, [t for t in tasks if "mmlu" in t], 5)
    return {"root": root, "zero": zero, "five": five, "scorer": Scorer(str(tiny_model), "cpu", 4)}


def ours(parity: dict[str, Any], name: str, shots: int) -> tuple[dict[str, Any], list[list[float]]]:
    questions = load_questions(name, parity["root"], None, style="lm-eval", shots=shots)
    result = evaluate(parity["scorer"], name, questions, "loglik", "lm-eval")
    pairs = [(q.prompt, c) for q in questions for c in q.scorings[0].continuations]
    lls = parity["scorer"].loglikelihoods(pairs, style="lm-eval")
    width = len(questions[0].labels)
    return result, [lls[i : i + width] for i in range(0, len(lls), width)]


CASES = [("medqa", "parity_medqa_4options", 0), ("medmcqa", "parity_medmcqa", 0), ("pubmedqa", "parity_pubmedqa", 0),
         *((f"mmlu_{s}", f"parity_mmlu_{s}", k) for s in MMLU_SUBJECTS for k in (0, 5))]


@pytest.mark.parametrize(("name", "task", "shots"), CASES, ids=[f"{c[0]}-{c[2]}shot" for c in CASES])
def test_same_items_choices_and_accuracy_as_lm_eval(parity: dict[str, Any], name: str, task: str, shots: int) -> None:
    run = parity["five" if shots else "zero"]
    samples = sorted(run["samples"][task], key=lambda s: s["doc_id"])
    result, lls = ours(parity, name, shots)
    assert result["items"] == len(samples) == (14 if name == "mmlu_anatomy" else ITEMS)
    for sample, mine, pred in zip(samples, lls, result["predictions"]):
        theirs = [float(r[0]) for r in sample["filtered_resps"]]
        assert mine == pytest.approx(theirs, abs=2e-4), (name, sample["doc_id"])
        choices = ["yes", "no", "maybe"] if name == "pubmedqa" else ["A", "B", "C", "D"]
        assert pred["gold"] == choices[sample["target"]] if isinstance(sample["target"], int) else pred["gold"] == sample["target"]
        assert (pred["acc"] == pred["gold"]) == bool(sample["acc"])
        if "acc_norm" in sample:
            assert (pred["acc_norm"] == pred["gold"]) == bool(sample["acc_norm"])
    metrics = run["results"][task]
    assert result["metrics"]["acc"]["accuracy"] == pytest.approx(metrics["acc,none"], abs=1e-12)
    if "acc_norm,none" in metrics:
        assert result["metrics"]["acc_norm"]["accuracy"] == pytest.approx(metrics["acc_norm,none"], abs=1e-12)
    if shots:  # lm-eval's prompt holds the description and the first five dev items, in order
        assert sample["arguments"][0][0].startswith("The following are multiple choice questions (with answers) about")
        assert sample["arguments"][0][0].count("\nAnswer:") == 6


def test_group_mean_weighted_by_size_as_lm_eval(parity: dict[str, Any]) -> None:
    results = {name: ours(parity, name, 0)[0] for name, _, shots in CASES if not shots}
    mine = group_scores(results, tuple(results))
    assert mine is not None and mine["items"] == sum(r["items"] for r in results.values())
    assert mine["metrics"]["acc"]["accuracy"] == pytest.approx(parity["zero"]["results"]["parity_multimedqa"]["acc,none"], abs=1e-12)
    assert set(mine["benchmarks"]) <= set(REGISTRY)
