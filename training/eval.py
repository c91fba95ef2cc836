"""`python -m training.eval`: MedQA, MedMCQA and PubMedQA accuracy against the gold labels.

Zero-shot multiple choice scored by log-likelihood, with one fixed prompt per benchmark
(`PROMPTS`): the prediction is the option whose continuation the model finds most
likely. Two figures per benchmark: `letter` (continuations " A", " B", ...; for PubMedQA
" yes", " no", " maybe") and `option_text_norm` (the full option text, log-likelihood
divided by its length in characters, as lm-evaluation-harness's acc_norm). `--mode
generate` adds greedy generation with tolerant answer parsing ("OPTION C IS CORRECT",
"The answer is C", "(C)"); unparseable answers are counted apart and scored wrong.
Accuracy comes with a 95% Wilson interval and the number of items; results go to JSON
and Markdown, printed beside published reference numbers for context.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medc.ingest.testsets import BenchmarkItem, load_benchmark
from medc.cli import command
from medc.errors import UserError
from medc.files.bundled import SAMPLES_DIR
from medc.model_reference import checked_model_reference, model_load_error

BENCHMARKS = ("medqa", "medmcqa", "pubmedqa")
DATA_PATTERNS = {
    "medqa": (["medqa/**/*test*.jsonl"], {}),
    "medmcqa": (["medmcqa/**/*test*.json*", "medmcqa/**/*dev*.json*"], {}),
    "pubmedqa": (["pubmedqa/**/ori_pqal.json"], {"test_ids": "pubmedqa/test_ground_truth.json"}),
}
PROMPTS = {
    "mcq": (
        "The following is a multiple-choice question about medicine. "
        "Answer with the letter of the correct option.\n\nQuestion: {question}\nOptions:\n{options}\nAnswer:"
    ),
    "pubmedqa": (
        "Read the abstract and answer the research question with yes, no or maybe.\n\n"
        "Abstract: {context}\nQuestion: {question}\nAnswer:"
    ),
}
# Published zero-/few-shot accuracies, for context (PMC-LLaMA paper, Wu et al. 2024, Table 3),
# measured on the splits that paper reports: MedQA (USMLE, 4 options) test, MedMCQA dev (its
# test labels are not public), PubMedQA PQA-L test; other prompts and shots than ours.
REFERENCE_SPLITS = {"medqa": "MedQA US 4-option test", "medmcqa": "MedMCQA dev", "pubmedqa": "PubMedQA PQA-L test"}
# A model whose most frequent answer is at least this share of its answers is flagged.
ONE_ANSWER_SHARE = 0.9
REFERENCE = {
    "PMC-LLaMA 13B": {"medqa": 56.36, "medmcqa": 56.04, "pubmedqa": 77.9},
    "LLaMA-2 13B": {"medqa": 45.48, "medmcqa": 39.48, "pubmedqa": 76.4},
    "ChatGPT": {"medqa": 57.0, "medmcqa": 44.0, "pubmedqa": 63.9},
}
PUBMEDQA_CHOICES = ("yes", "no", "maybe")


@dataclass(frozen=True)
class Question:
    item: BenchmarkItem
    prompt: str
    labels: tuple[str, ...]  # what a prediction is (letters, or yes/no/maybe)
    letter_continuations: tuple[str, ...]
    text_continuations: tuple[str, ...]
    gold: int  # index into labels


def build_question(item: BenchmarkItem) -> Question:
    if item.benchmark == "pubmedqa":
        prompt = PROMPTS["pubmedqa"].format(context=" ".join(item.contexts), question=item.question)
        conts = tuple(f" {c}" for c in PUBMEDQA_CHOICES)
        return Question(item, prompt, PUBMEDQA_CHOICES, conts, conts, PUBMEDQA_CHOICES.index(str(item.answer)))
    letters = tuple(sorted(item.options))
    options = "\n".join(f"{k}. {item.options[k]}" for k in letters)
    prompt = PROMPTS["mcq"].format(question=item.question.strip(), options=options)
    if item.answer not in letters:
        raise ValueError(f"{item.item_id}: gold answer {item.answer!r} is not one of the options {letters}")
    return Question(item, prompt, letters, tuple(f" {k}" for k in letters),
                    tuple(f" {item.options[k]}" for k in letters), letters.index(item.answer))


def load_questions(name: str, data: Path, limit: int | None, medmcqa_layout: str | None = None) -> list[Question]:
    paths, options = DATA_PATTERNS[name]
    if name == "medmcqa" and medmcqa_layout:
        options = {**options, "layout": medmcqa_layout}
    try:
        items, files = load_benchmark(name, data, paths, options)
    except ValueError as exc:
        hint = "; here: --medmcqa-layout original or hf" if "layout" in str(exc) else ""
        raise UserError(f"{name}: {exc}{hint}") from None
    if not files:
        raise UserError(f"{name}: no test file under {data} (looked for {', '.join(paths)})")
    labelled = [i for i in items if i.answer is not None]  # unlabelled test splits cannot be scored
    if not labelled:
        raise UserError(f"{name}: {', '.join(files)}: no item has an answer (an unlabelled test split, e.g. MedMCQA's "
                        "test with cop = -1): nothing to score; use the dev / validation split")
    return [build_question(i) for i in labelled[:limit]]


# ---------------------------------------------------------------------------- scoring math
def argmax(values: list[float]) -> int:
    """Index of the largest value; the first one on ties (deterministic)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def predict(letter_ll: list[float], text_ll: list[float], text_chars: list[int]) -> tuple[int, int]:
    """(prediction by letter log-likelihood, prediction by length-normalised option text)."""
    normed = [ll / max(n, 1) for ll, n in zip(text_ll, text_chars)]
    return argmax(letter_ll), argmax(normed)


def wilson_interval(correct: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Exact at the ends (p = 0 gives a lower bound of 0, p = 1 an upper bound of 1).
    lo = 0.0 if correct == 0 else max(0.0, centre - half)
    hi = 1.0 if correct == n else min(1.0, centre + half)
    return (lo, hi)


_PATTERNS = [
    r"\boption\s*\(?([A-J])\)?\s*is\s*correct",
    r"\banswer\s*(?:is|:)?\s*(?:option\s*)?\(?([A-J])\)?(?![A-Za-z])",
    r"^\s*\(?([A-J])\)?(?:[.):]|\s*$)",
    r"\(([A-J])\)",
]


def parse_answer(text: str, labels: tuple[str, ...]) -> str | None:
    """The label a generated answer names, or None when it names none (or several)."""
    if set(labels) == set(PUBMEDQA_CHOICES):
        found = {w for w in re.findall(r"\b(yes|no|maybe)\b", text.lower())}
        return found.pop() if len(found) == 1 else None
    for pattern in _PATTERNS:
        m = re.search(pattern, text, flags=re.IGNORECASE | re.MULTILINE)
        if m and m.group(1).upper() in labels:
            return m.group(1).upper()
    return None


# ---------------------------------------------------------------------------- the model
class Scorer:
    def __init__(self, model: str, device: str | None, batch_size: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        model = checked_model_reference(model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        except (OSError, ValueError, ImportError) as exc:
            raise model_load_error(model, exc) from None
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_len = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def loglikelihoods(self, pairs: list[tuple[str, str]], progress: Any = None) -> list[float]:
        """Sum of log P(continuation tokens | context) for each (context, continuation)."""
        torch = self.torch
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        encoded = []
        for ctx, cont in pairs:
            c = bos + self.encode(ctx)
            k = self.encode(cont)
            full = (c + k)[-self.max_len :]
            encoded.append((full, min(len(k), len(full) - 1)))
        order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i][0]), i))
        results = [0.0] * len(encoded)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                width = max(len(encoded[i][0]) for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    toks = encoded[i][0]
                    ids[row, : len(toks)] = torch.tensor(toks)
                    mask[row, : len(toks)] = 1
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
                logprobs = torch.log_softmax(logits, dim=-1).cpu()
                for row, i in enumerate(idx):
                    toks, n_cont = encoded[i]
                    length = len(toks)
                    targets = torch.tensor(toks[length - n_cont :])
                    lp = logprobs[row, length - n_cont - 1 : length - 1].gather(1, targets[:, None]).sum()
                    results[i] = float(lp)
                if progress is not None:
                    progress.update(len(idx))
        return results

    def generate(self, prompts: list[str], max_new_tokens: int = 16) -> list[str]:
        torch = self.torch
        outs = []
        self.tokenizer.padding_side = "left"
        self.tokenizer.truncation_side = "left"  # keep the end of long prompts (the options and "Answer:")
        with torch.inference_mode():
            for start in range(0, len(prompts), self.batch_size):
                batch = self.tokenizer(prompts[start : start + self.batch_size], return_tensors="pt", padding=True,
                                       truncation=True, max_length=self.max_len - max_new_tokens)
                gen = self.model.generate(**{k: v.to(self.device) for k, v in batch.items()}, max_new_tokens=max_new_tokens,
                                          do_sample=False, pad_token_id=self.tokenizer.pad_token_id)
                new = gen[:, batch["input_ids"].shape[1] :]
                outs += self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return outs


def evaluate(scorer: Scorer, name: str, questions: list[Question], mode: str) -> dict[str, Any]:
    from tqdm import tqdm

    pairs = []
    for q in questions:
        pairs += [(q.prompt, c) for c in q.letter_continuations]
        pairs += [(q.prompt, c) for c in q.text_continuations]
    with tqdm(total=len(pairs), desc=f"{name}: scoring", unit="choice", file=sys.stderr) as bar:
        lls = scorer.loglikelihoods(pairs, bar)
    correct_letter = correct_text = 0
    predictions = []
    pos = 0
    for q in questions:
        n = len(q.labels)
        letter_ll, text_ll = lls[pos : pos + n], lls[pos + n : pos + 2 * n]
        pos += 2 * n
        by_letter, by_text = predict(letter_ll, text_ll, [len(c) for c in q.text_continuations])
        correct_letter += by_letter == q.gold
        correct_text += by_text == q.gold
        predictions.append({"id": q.item.item_id, "gold": q.labels[q.gold], "letter": q.labels[by_letter], "option_text_norm": q.labels[by_text]})
    n = len(questions)
    result: dict[str, Any] = {"items": n, "metrics": {}}
    for metric, correct in (("letter", correct_letter), ("option_text_norm", correct_text)):
        lo, hi = wilson_interval(correct, n)
        result["metrics"][metric] = {"accuracy": correct / n if n else 0.0, "correct": correct, "ci95": [lo, hi]}
    if mode == "generate":
        texts = scorer.generate([q.prompt for q in questions])
        parsed = [parse_answer(t, q.labels) for t, q in zip(texts, questions)]
        correct = sum(p == q.labels[q.gold] for p, q in zip(parsed, questions))
        lo, hi = wilson_interval(correct, n)
        result["metrics"]["generate"] = {"accuracy": correct / n if n else 0.0, "correct": correct, "ci95": [lo, hi],
                                         "unparseable": sum(p is None for p in parsed)}
        for pred, text, p in zip(predictions, texts, parsed):
            pred["generated"], pred["parsed"] = text, p
    result["predictions"] = predictions
    result["baselines"] = answer_baselines(questions)
    result["answer_distribution"] = {m: answer_distribution([p[m] for p in predictions if p.get(m) is not None])
                                     for m in result["metrics"] if m in ("letter", "option_text_norm")}
    if mode == "generate":
        result["answer_distribution"]["generate"] = answer_distribution([p["parsed"] for p in predictions if p.get("parsed")])
    result["warnings"] = [f"{m}: answers {d['most_common']!r} to {d['most_common_share']:.0%} of the items; the accuracy "
                          f"says little more than the majority-class rate ({100 * result['baselines']['majority']:.2f})"
                          for m, d in result["answer_distribution"].items() if d["answers"] and d["most_common_share"] >= ONE_ANSWER_SHARE]
    return result


def answer_baselines(questions: list[Question]) -> dict[str, Any]:
    """The accuracy of guessing (mean 1 / number of choices) and of always giving the most
    common gold answer of these items (and which answer that is)."""
    n = len(questions)
    golds = Counter(q.labels[q.gold] for q in questions)
    top, count = golds.most_common(1)[0] if golds else ("", 0)
    return {"chance": sum(1 / len(q.labels) for q in questions) / n if n else 0.0,
            "majority": count / n if n else 0.0, "majority_answer": top}


def answer_distribution(answers: list[str]) -> dict[str, Any]:
    counts = Counter(answers)
    top, count = counts.most_common(1)[0] if counts else ("", 0)
    return {"answers": len(answers), "counts": dict(sorted(counts.items())), "most_common": top,
            "most_common_share": count / len(answers) if answers else 0.0}


def markdown_table(results: dict[str, Any]) -> str:
    metrics = sorted({m for r in results["benchmarks"].values() for m in r["metrics"]}, key=["letter", "option_text_norm", "generate"].index)
    header = (["benchmark", "items"] + [f"{m} acc (95% CI)" for m in metrics] + ["chance", "majority class"]
              + [f"{k}" for k in REFERENCE] + ["reference split"])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, r in results["benchmarks"].items():
        cells = [name, str(r["items"])]
        for m in metrics:
            v = r["metrics"].get(m)
            cells.append(f"{100 * v['accuracy']:.2f} ({100 * v['ci95'][0]:.1f}–{100 * v['ci95'][1]:.1f})" if v else "-")
        b = r.get("baselines") or {}
        cells += [f"{100 * b.get('chance', 0):.2f}", f"{100 * b.get('majority', 0):.2f} ({b.get('majority_answer', '-')})"]
        cells += [f"{REFERENCE[k][name]:.2f}" for k in REFERENCE] + [REFERENCE_SPLITS[name]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def distribution_lines(results: dict[str, Any]) -> list[str]:
    """Per benchmark and metric, how often the model gave each answer, and the warnings."""
    lines = []
    for name, r in results["benchmarks"].items():
        for metric, d in (r.get("answer_distribution") or {}).items():
            shares = ", ".join(f"{a} {n}" for a, n in d["counts"].items())
            lines.append(f"- {name} ({metric}): predicted answers {shares}")
        lines += [f"- **warning** {name}: {w}" for w in r.get("warnings", [])]
    return lines


def write_chart(results: dict[str, Any], path: Path) -> None:
    """A bar chart of the table: accuracy with its 95 % interval per benchmark and metric, and
    the chance and majority-class rates as marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["benchmarks"])
    metrics = sorted({m for r in results["benchmarks"].values() for m in r["metrics"]}, key=["letter", "option_text_norm", "generate"].index)
    fig, ax = plt.subplots(figsize=(2 + 2.2 * len(names), 3.6), dpi=100)
    width = 0.8 / max(len(metrics), 1)
    for j, m in enumerate(metrics):
        xs, ys, errs = [], [], [[], []]
        for i, name in enumerate(names):
            v = results["benchmarks"][name]["metrics"].get(m)
            if v:
                xs.append(i + (j - (len(metrics) - 1) / 2) * width)
                ys.append(100 * v["accuracy"])
                errs[0].append(100 * (v["accuracy"] - v["ci95"][0]))
                errs[1].append(100 * (v["ci95"][1] - v["accuracy"]))
        ax.bar(xs, ys, width, yerr=errs, capsize=3, label=m)
    for i, name in enumerate(names):
        b = results["benchmarks"][name].get("baselines") or {}
        ax.hlines([100 * b.get("chance", 0)], i - 0.45, i + 0.45, colors="black", linestyles="dotted", label="chance" if i == 0 else None)
        ax.hlines([100 * b.get("majority", 0)], i - 0.45, i + 0.45, colors="grey", linestyles="dashed", label="majority class" if i == 0 else None)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{results['model']}: accuracy with 95% intervals ({results['mode']})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.eval", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a local checkpoint folder or a Hugging Face model id")
    ap.add_argument("--benchmarks", default=",".join(BENCHMARKS), help="comma-separated: medqa,medmcqa,pubmedqa")
    ap.add_argument("--data", type=Path, default=SAMPLES_DIR, help="folder with medqa/, medmcqa/, pubmedqa/ test files (default: samples/)")
    ap.add_argument("--limit", type=int, default=None, help="first N items of each benchmark")
    ap.add_argument("--medmcqa-layout", choices=("original", "hf", "options"), default=None,
                    help="MedMCQA's answer column: original (1-based cop), hf (0-based cop), options; default: read from the values")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--mode", choices=("loglik", "generate"), default="loglik", help="generate also scores greedy answers")
    ap.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    ap.add_argument("--out", type=Path, default=Path("eval-results"), help="where results.json and results.md go")
    args = ap.parse_args(argv)
    names = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    unknown = [b for b in names if b not in BENCHMARKS]
    if unknown:
        raise UserError(f"--benchmarks: unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHMARKS)})")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    questions = {name: load_questions(name, args.data, args.limit, args.medmcqa_layout) for name in names}
    import torch

    torch.manual_seed(0)
    scorer = Scorer(args.model, args.device, args.batch_size)
    results: dict[str, Any] = {"model": args.model, "mode": args.mode, "prompts": PROMPTS, "benchmarks": {}}
    for name, qs in questions.items():
        results["benchmarks"][name] = evaluate(scorer, name, qs, args.mode)
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(results)
    details = distribution_lines(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_chart(results, args.out / "results.png")
    (args.out / "results.md").write_text(
        f"# Evaluation of `{args.model}`\n\nMode: {args.mode}; prompts: medc's own (in results.json).\n\n{table}\n\n"
        "Chance: the accuracy of guessing; majority class: of always giving the most common correct answer of these "
        "items. Reference columns: published accuracies (%), PMC-LLaMA paper (Wu et al., 2024), on the split named, "
        "with their own prompts: for context only.\n\n" + "\n".join(details) + "\n\n![accuracy](results.png)\n")
    print(table)
    for line in details:
        if "**warning**" in line:
            print(line.replace("**", ""))
    print(f"\nreference columns: published accuracies (%) for context; full results in {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
