"""`python -m training.eval`: accuracy on the medical benchmarks of the registry (MedQA, MedMCQA,
PubMedQA, the six MMLU medical subjects, MMLU-Pro health, MedXpertQA) against the gold labels.

Multiple choice scored by log-likelihood: the prediction is the option whose continuation the
model finds most likely. Two prompt styles:

* `medc` (default): one fixed instruction prompt per benchmark (`PROMPTS`), two figures:
  `letter` (continuations " A", " B", ...; for PubMedQA " yes", " no", " maybe") and
  `option_text_norm` (the full option text, log-likelihood divided by its length in
  characters). An instruction prompt reads better for models that follow instructions.
* `lm-eval`: lm-evaluation-harness's tasks reproduced exactly (`medqa_4options`, `medmcqa`,
  `pubmedqa`, `mmlu_<subject>`): the same prompt text, choices (" A".." D", " yes"/" no"/
  " maybe"), tokenisation of context and continuation, `acc` and `acc_norm` (log-likelihood
  over the choice's length in characters), MMLU's subject description and its k-shot examples
  taken in order from the dev split (`first_n`). Numbers comparable with papers that used lm-eval.

Groups: `multimedqa` (lm-eval's nine, with its mean weighted by items), `mmlu_medical`, `all`.
`--mode generate` adds greedy generation with tolerant answer parsing ("OPTION C IS CORRECT",
"The answer is C", "(C)"); unparseable answers are counted apart and scored wrong. Accuracy
comes with a 95% Wilson interval, the chance and majority-class rates and the distribution of
the model's answers; results go to JSON, Markdown and a PNG chart, beside published reference
numbers (with the split they were measured on) for context.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medc.ingest.benchmarks import GROUPS, REGISTRY, Benchmark, load_fewshot, load_test, resolve
from medc.ingest.testsets import BenchmarkItem
from medc.cli import command
from medc.errors import UserError
from medc.files.bundled import SAMPLES_DIR
from medc.model_reference import checked_model_reference, model_load_error
from medc.rationale import HTTPBackend

DEFAULT_BENCHMARKS = "medqa,medmcqa,pubmedqa"
PROMPT_STYLES = ("medc", "lm-eval")
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
# A model whose most frequent answer is at least this share of its answers is flagged.
ONE_ANSWER_SHARE = 0.9
# Published zero-/few-shot accuracies, for context (PMC-LLaMA paper, Wu et al. 2024, Table 3),
# measured on the splits the registry names (`Benchmark.split`); other prompts and shots than ours.
REFERENCE = {
    "PMC-LLaMA 13B": {"medqa": 56.36, "medmcqa": 56.04, "pubmedqa": 77.9},
    "LLaMA-2 13B": {"medqa": 45.48, "medmcqa": 39.48, "pubmedqa": 76.4},
    "ChatGPT": {"medqa": 57.0, "medmcqa": 44.0, "pubmedqa": 63.9},
}
PUBMEDQA_CHOICES = ("yes", "no", "maybe")
METRIC_ORDER = ("letter", "option_text_norm", "acc", "acc_norm", "generate", "cot")


@dataclass(frozen=True)
class Scoring:
    """One way of reading the model's choice: a continuation per option, and the lengths the
    log-likelihoods are divided by (None: not normalised)."""

    metric: str
    continuations: tuple[str, ...]
    lengths: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Question:
    item: BenchmarkItem
    prompt: str
    labels: tuple[str, ...]  # what a prediction is (letters, or yes/no/maybe)
    gold: int  # index into labels
    scorings: tuple[Scoring, ...]


def mcq_letters(item: BenchmarkItem) -> tuple[str, ...]:
    letters = tuple(sorted(item.options))
    if item.answer not in letters:
        raise ValueError(f"{item.item_id}: gold answer {item.answer!r} is not one of the options {letters}")
    return letters


def build_question(item: BenchmarkItem, shots: tuple[BenchmarkItem, ...] = ()) -> Question:
    """medc's prompt: an instruction, the question and its options, "Answer:"; k-shot examples
    (the same prompt followed by their answer) go before it, separated by blank lines."""
    if item.benchmark == "pubmedqa":
        def render(i: BenchmarkItem) -> str:
            return PROMPTS["pubmedqa"].format(context=" ".join(i.contexts), question=i.question)
        labels = PUBMEDQA_CHOICES
        conts = tuple(f" {c}" for c in labels)
        scorings = (Scoring("letter", conts), Scoring("option_text_norm", conts, tuple(len(c) for c in conts)))
    else:
        def render(i: BenchmarkItem) -> str:
            options = "\n".join(f"{k}. {i.options[k]}" for k in sorted(i.options))
            return PROMPTS["mcq"].format(question=i.question.strip(), options=options)
        labels = mcq_letters(item)
        texts = tuple(f" {item.options[k]}" for k in labels)
        scorings = (Scoring("letter", tuple(f" {k}" for k in labels)), Scoring("option_text_norm", texts, tuple(len(t) for t in texts)))
    context = "".join(f"{render(s)} {s.answer}\n\n" for s in shots)
    return Question(item, context + render(item), labels, labels.index(str(item.answer)), scorings)


def lm_eval_text(bench: Benchmark, item: BenchmarkItem) -> str:
    """lm-evaluation-harness's `doc_to_text` of each task (lm_eval/tasks/medqa/preprocess_medqa.py,
    medmcqa/utils_medmcqa.py, pubmedqa/preprocess_pubmedqa.py, mmlu/default/_default_template_yaml).
    MMLU-Pro and MedXpertQA, which lm-eval scores only generatively, get MMLU's layout."""
    letters = sorted(item.options)
    if bench.reader == "pubmedqa":
        return "Abstract: {}\nQuestion: {}\nAnswer:".format("\n".join(item.contexts), item.question)
    if bench.reader == "medqa":
        return f"Question: {item.question}\n" + "".join(f"{k}. {item.options[k]}\n" for k in letters) + "Answer:"
    if bench.reader == "medmcqa":
        return "Question: " + item.question + "\nChoices:\n" + "".join(f"{k}. {item.options[k]}\n" for k in letters) + "Answer:"
    return item.question.strip() + "".join(f"\n{k}. {item.options[k]}" for k in letters) + "\nAnswer:"


def lm_eval_description(bench: Benchmark) -> str:
    subject = bench.options.get("subject")
    return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n" if subject else ""


def build_lm_eval_question(bench: Benchmark, item: BenchmarkItem, shots: tuple[BenchmarkItem, ...] = ()) -> Question:
    """lm-eval's context: description + k-shot examples ("<text> <answer>\n\n") + the item's text;
    choices " <label>"; `acc` and `acc_norm` (divided by the choice's length)."""
    labels = PUBMEDQA_CHOICES if bench.reader == "pubmedqa" else mcq_letters(item)
    context = lm_eval_description(bench) + "".join(f"{lm_eval_text(bench, s)} {s.answer}\n\n" for s in shots)
    conts = tuple(f" {label}" for label in labels)
    scorings = (Scoring("acc", conts), Scoring("acc_norm", conts, tuple(len(label) for label in labels)))
    return Question(item, context + lm_eval_text(bench, item), labels, labels.index(str(item.answer)), scorings)


def load_questions(name: str, data: Path, limit: int | None, medmcqa_layout: str | None = None,
                   style: str = "medc", shots: int = 0) -> list[Question]:
    bench = REGISTRY[name].with_options(layout=medmcqa_layout if name == "medmcqa" else None)
    try:
        items, files = load_test(bench, data)
        pool = load_fewshot(bench, data)[0] if shots else []
    except ValueError as exc:
        hint = "; here: --medmcqa-layout original or hf" if "layout" in str(exc) else ""
        raise UserError(f"{name}: {exc}{hint}") from None
    if not files:
        raise UserError(f"{name}: no test file under {data} (looked for {', '.join(bench.test)})")
    labelled = [i for i in items if i.answer is not None]  # unlabelled test splits cannot be scored
    if not labelled:
        raise UserError(f"{name}: {', '.join(files)}: no item has an answer (an unlabelled test split, e.g. MedMCQA's "
                        "test with cop = -1): nothing to score; use the dev / validation split")
    if shots:
        if style == "lm-eval" and bench.reader != "mmlu":
            raise UserError(f"{name}: --num-fewshot with --prompt-style lm-eval is reproduced for the MMLU tasks only (their "
                            "first_n sampler over the dev split); lm-eval draws other tasks' examples at random from a training split")
        if len(pool) < shots:
            raise UserError(f"{name}: --num-fewshot {shots} needs {shots} examples from the dev split; found {len(pool)} "
                            f"(looked for {', '.join(bench.fewshot) or 'no dev split'})")
    examples = tuple(pool[:shots])  # lm-eval's first_n: the first k of the dev split, for every item
    build = (lambda i: build_lm_eval_question(bench, i, examples)) if style == "lm-eval" else (lambda i: build_question(i, examples))
    return [build(i) for i in labelled[:limit]]


# ---------------------------------------------------------------------------- scoring math
def argmax(values: list[float]) -> int:
    """Index of the largest value; the first one on ties (deterministic)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def predict(lls: list[float], lengths: tuple[int, ...] | None) -> int:
    """The option with the largest log-likelihood, divided by its length when lengths are given."""
    return argmax(lls if lengths is None else [ll / max(n, 1) for ll, n in zip(lls, lengths)])


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


COT_PROMPTS = {
    "mcq": (
        "Answer the following multiple-choice question about medicine. Think step by step, then finish with "
        "a line of the form \"The answer is X\", where X is the letter of the correct option.\n\n"
        "Question: {question}\nOptions:\n{options}"
    ),
    "pubmedqa": (
        "Read the abstract and answer the research question. Think step by step, then finish with a line of "
        "the form \"The answer is yes\", \"The answer is no\" or \"The answer is maybe\".\n\n"
        "Abstract: {context}\nQuestion: {question}"
    ),
}
# "The answer is C", "Final answer: (C)", "answer = **C**": the last such statement decides.
_FINAL_LETTER = re.compile(r"(?i:\banswer\s*(?:is|:|=))\s*:?\s*(?i:option\s*)?[(\[*\s]*([A-J])\b")  # the letter in capitals
_FINAL_WORD = re.compile(r"\banswer\s*(?:is|:|=)\s*:?\s*[(\[*\s\"']*(yes|no|maybe)\b", re.IGNORECASE)
# An option letter written as one: "(C)", "C.", "C)", "option C", or a line holding only "C".
_OPTION_LETTER = re.compile(r"\(([A-J])\)|(?<![A-Za-z])([A-J])[.)](?=\s|$)|\boption\s+([A-J])\b|^\s*\**([A-J])\**\s*$",
                            re.MULTILINE)


def cot_messages(q: Question) -> list[dict[str, str]]:
    """The one user turn of a zero-shot chain-of-thought question (the chat template is the model's)."""
    item = q.item
    if item.benchmark == "pubmedqa":
        content = COT_PROMPTS["pubmedqa"].format(context=" ".join(item.contexts), question=item.question)
    else:
        options = "\n".join(f"{k}. {item.options[k]}" for k in q.labels)
        content = COT_PROMPTS["mcq"].format(question=item.question.strip(), options=options)
    return [{"role": "user", "content": content}]


def extract_cot_answer(text: str, labels: tuple[str, ...]) -> str | None:
    """The answer a chain of thought ends on, by these rules in order: (1) the last "answer is X"
    statement ("The answer is C", "Final answer: (C)", "answer: yes"); (2) else the last option
    written as one ("(C)", "C.", "option C", a line with only "C"; for PubMedQA the last yes / no
    / maybe); (3) else None: unparseable, scored wrong and counted."""
    words = set(labels) == set(PUBMEDQA_CHOICES)
    finals = [m.group(1) for m in (_FINAL_WORD if words else _FINAL_LETTER).finditer(text)]
    candidates = [f.lower() if words else f.upper() for f in finals]
    if not candidates:
        if words:
            candidates = [w.lower() for w in re.findall(r"\b(yes|no|maybe)\b", text, flags=re.IGNORECASE)]
        else:
            candidates = [next(g for g in m.groups() if g) for m in _OPTION_LETTER.finditer(text)]
    candidates = [c for c in candidates if c in labels]
    return candidates[-1] if candidates else None


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

    def encode_pair(self, context: str, continuation: str, style: str) -> tuple[list[int], list[int]]:
        """Token ids of a context and its continuation. `medc`: BOS, then each encoded on its own.
        `lm-eval`: as lm-evaluation-harness's causal models do (`_encode_pair`): trailing spaces of
        the context move to the continuation, the whole string is encoded with the tokenizer's
        default special tokens and the continuation is what follows the context's tokens."""
        if style == "lm-eval":
            spaces = len(context) - len(context.rstrip())
            if spaces:
                context, continuation = context[:-spaces], context[-spaces:] + continuation
            whole = self.tokenizer.encode(context + continuation)
            ctx = self.tokenizer.encode(context)
            return ctx, whole[len(ctx):]
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        return bos + self.encode(context), self.encode(continuation)

    def loglikelihoods(self, pairs: list[tuple[str, str]], progress: Any = None, style: str = "medc") -> list[float]:
        """Sum of log P(continuation tokens | context) for each (context, continuation). A pair
        longer than the model's context keeps its last `max_len + 1` tokens, the last of which is
        only predicted (as lm-eval truncates).

        The model reads each distinct input once: the options of a question whose continuations
        are one token (" A", " B", ...) share their context, so one forward pass scores them all
        (lm-eval's logits cache does the same); and the log-softmax is taken at the continuation
        positions only, not over the whole sequence."""
        torch = self.torch
        encoded = []
        for ctx, cont in pairs:
            c, k = self.encode_pair(ctx, cont, style)
            full = (c + k)[-(self.max_len + 1):]
            encoded.append((full, min(len(k), len(full) - 1)))
        inputs: dict[tuple[int, ...], list[int]] = {}  # distinct model input -> the pairs it scores
        for i, (full, _) in enumerate(encoded):
            inputs.setdefault(tuple(full[:-1]), []).append(i)
        rows = sorted(inputs.items(), key=lambda kv: -len(kv[0]))  # longest first: little padding per batch
        results = [0.0] * len(encoded)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.inference_mode():
            for start in range(0, len(rows), self.batch_size):
                batch = rows[start : start + self.batch_size]
                width = len(batch[0][0])
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                for row, (toks, _) in enumerate(batch):
                    ids[row, : len(toks)] = torch.tensor(toks)
                # Padding goes on the right, after every token scored, so the causal mask alone keeps
                # it unseen: no attention mask, which lets attention take its fused causal kernel.
                logits = self.model(input_ids=ids.to(self.device)).logits
                for row, (toks, members) in enumerate(batch):
                    for i in members:
                        full, n_cont = encoded[i]
                        if n_cont == 0:  # a continuation with no token of its own adds nothing
                            continue
                        positions = logits[row, len(toks) - n_cont : len(toks)].float()
                        targets = torch.tensor(full[-n_cont:], device=positions.device)
                        results[i] = float(torch.log_softmax(positions, dim=-1).gather(1, targets[:, None]).sum())
                if progress is not None:
                    progress.update(sum(len(m) for _, m in batch))
        return results

    def generate(self, prompts: list[str], max_new_tokens: int = 16, add_special_tokens: bool = True) -> list[str]:
        """Greedy continuations of each prompt, in batches (left-padded; a prompt longer than the
        model's context keeps its end: the options and "Answer:")."""
        torch = self.torch
        tok = self.tokenizer
        tok.padding_side, tok.truncation_side = "left", "left"
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        outs: list[str] = []
        with torch.inference_mode():
            for start in range(0, len(prompts), self.batch_size):
                batch = tok(prompts[start : start + self.batch_size], return_tensors="pt", padding=True, truncation=True,
                            add_special_tokens=add_special_tokens, max_length=max(self.max_len - max_new_tokens, 1))
                gen = self.model.generate(**{k: v.to(self.device) for k, v in batch.items()}, max_new_tokens=max_new_tokens,
                                          do_sample=False, pad_token_id=pad)
                outs += tok.batch_decode(gen[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        return outs

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """The model's chat template applied (with the assistant turn opened); a model without one
        gets the turns' text joined by blank lines."""
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages) + "\n\n"

    def generate_chat(self, conversations: list[list[dict[str, str]]], max_new_tokens: int) -> list[str]:
        """Greedy replies to each conversation (a chat template adds its own special tokens)."""
        replies = self.generate([self.chat_prompt(c) for c in conversations], max_new_tokens,
                                add_special_tokens=not self.tokenizer.chat_template)
        return [r.strip() for r in replies]


class ServerChat:
    """Chain-of-thought answers from an OpenAI-compatible server (vLLM, TGI, a hosted API) through
    the rationale generator's client (retries, backoff), `concurrency` requests at a time."""

    def __init__(self, base_url: str, model: str, api_key: str | None, concurrency: int = 8):
        self.client = HTTPBackend(base_url, model, api_key)
        self.concurrency = concurrency

    def generate_chat(self, conversations: list[list[dict[str, str]]], max_new_tokens: int) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(lambda c: self.client.chat(c, max_new_tokens), conversations))


def cot_result(chat: Scorer | ServerChat, questions: list[Question], max_new_tokens: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `cot` metric (unparseable answers scored wrong and counted) and per item the reply and its answer."""
    texts = chat.generate_chat([cot_messages(q) for q in questions], max_new_tokens)
    parsed = [extract_cot_answer(t, q.labels) for t, q in zip(texts, questions)]
    right = sum(a == q.labels[q.gold] for a, q in zip(parsed, questions))
    n = len(questions)
    lo, hi = wilson_interval(right, n)
    metric = {"accuracy": right / n if n else 0.0, "correct": right, "ci95": [lo, hi], "unparseable": sum(a is None for a in parsed)}
    return metric, [{"reply": t, "answer": a} for t, a in zip(texts, parsed)]


def evaluate(scorer: Scorer | ServerChat, name: str, questions: list[Question], mode: str, style: str = "medc",
             max_new_tokens: int = 16) -> dict[str, Any]:
    """Scores of one benchmark: by log-likelihood (every mode but `cot`), greedy answers
    (`generate`), or zero-shot chain of thought (`cot`, the only one a server can do)."""
    from tqdm import tqdm

    ll: dict[tuple[str, str], float] = {}
    if mode != "cot":
        assert isinstance(scorer, Scorer)
        pairs = sorted({(q.prompt, c) for q in questions for sc in q.scorings for c in sc.continuations})
        with tqdm(total=len(pairs), desc=f"{name}: scoring", unit="choice", file=sys.stderr) as bar:
            ll = dict(zip(pairs, scorer.loglikelihoods(pairs, bar, style)))
    metrics = [sc.metric for sc in questions[0].scorings] if questions and mode != "cot" else []
    correct = Counter[str]()
    predictions = []
    for q in questions:
        pred: dict[str, Any] = {"id": q.item.item_id, "gold": q.labels[q.gold]}
        for sc in (q.scorings if mode != "cot" else ()):
            choice = predict([ll[(q.prompt, c)] for c in sc.continuations], sc.lengths)
            correct[sc.metric] += choice == q.gold
            pred[sc.metric] = q.labels[choice]
        predictions.append(pred)
    n = len(questions)
    result: dict[str, Any] = {"items": n, "metrics": {}}
    for metric in metrics:
        lo, hi = wilson_interval(correct[metric], n)
        result["metrics"][metric] = {"accuracy": correct[metric] / n if n else 0.0, "correct": correct[metric], "ci95": [lo, hi]}
    if mode == "cot":
        result["metrics"]["cot"], replies = cot_result(scorer, questions, max_new_tokens)
        for pred, reply in zip(predictions, replies):
            pred.update(reply)
    if mode == "generate":
        assert isinstance(scorer, Scorer)
        texts = scorer.generate([q.prompt for q in questions], max_new_tokens)
        parsed = [parse_answer(t, q.labels) for t, q in zip(texts, questions)]
        right = sum(p == q.labels[q.gold] for p, q in zip(parsed, questions))
        lo, hi = wilson_interval(right, n)
        result["metrics"]["generate"] = {"accuracy": right / n if n else 0.0, "correct": right, "ci95": [lo, hi],
                                         "unparseable": sum(p is None for p in parsed)}
        for pred, text, p in zip(predictions, texts, parsed):
            pred["generated"], pred["parsed"] = text, p
    result["predictions"] = predictions
    result["baselines"] = answer_baselines(questions)
    result["answer_distribution"] = {m: answer_distribution([p[m] for p in predictions]) for m in metrics}
    if mode == "generate":
        result["answer_distribution"]["generate"] = answer_distribution([p["parsed"] for p in predictions if p.get("parsed")])
    if mode == "cot":
        result["answer_distribution"]["cot"] = answer_distribution([p["answer"] for p in predictions if p.get("answer")])
    result["warnings"] = [f"{m}: answers {d['most_common']!r} to {d['most_common_share']:.0%} of the items; the accuracy "
                          f"says little more than the majority-class rate ({100 * result['baselines']['majority']:.2f})"
                          for m, d in result["answer_distribution"].items() if d["answers"] and d["most_common_share"] >= ONE_ANSWER_SHARE]
    return result


def group_scores(results: dict[str, Any], members: tuple[str, ...]) -> dict[str, Any] | None:
    """A group's score per metric: the mean over its benchmarks weighted by their items (lm-eval's
    `weight_by_size`), i.e. the pooled accuracy, with its interval; and which members are missing."""
    present = [m for m in members if m in results]
    if not present:
        return None
    n = sum(results[m]["items"] for m in present)
    metrics = [k for k in METRIC_ORDER if all(k in results[m]["metrics"] for m in present)]
    out: dict[str, Any] = {"items": n, "benchmarks": present, "missing": [m for m in members if m not in results], "metrics": {}}
    for metric in metrics:
        right = sum(results[m]["metrics"][metric]["correct"] for m in present)
        lo, hi = wilson_interval(right, n)
        out["metrics"][metric] = {"accuracy": right / n, "correct": right, "ci95": [lo, hi]}
    return out


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


def metric_names(results: dict[str, Any]) -> list[str]:
    return sorted({m for r in results["benchmarks"].values() for m in r["metrics"]}, key=METRIC_ORDER.index)


def accuracy_cell(v: dict[str, Any] | None) -> str:
    return f"{100 * v['accuracy']:.2f} ({100 * v['ci95'][0]:.1f}–{100 * v['ci95'][1]:.1f})" if v else "-"


def markdown_table(results: dict[str, Any]) -> str:
    """One row per benchmark scored, one per group (its mean weighted by items, and the members
    it lacks), one per benchmark that could not be run (and why)."""
    metrics = metric_names(results)
    header = (["benchmark", "items"] + [f"{m} acc (95% CI)" for m in metrics] + ["chance", "majority class"]
              + [f"{k}" for k in REFERENCE] + ["reference split"])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, r in results["benchmarks"].items():
        cells = [name, str(r["items"])] + [accuracy_cell(r["metrics"].get(m)) for m in metrics]
        b = r.get("baselines") or {}
        cells += [f"{100 * b.get('chance', 0):.2f}", f"{100 * b.get('majority', 0):.2f} ({b.get('majority_answer', '-')})"]
        cells += [f"{REFERENCE[k][name]:.2f}" if name in REFERENCE[k] else "-" for k in REFERENCE] + [REGISTRY[name].split]
        lines.append("| " + " | ".join(cells) + " |")
    for group, g in results.get("groups", {}).items():
        note = f"{len(g['benchmarks'])} of {len(g['benchmarks']) + len(g['missing'])} benchmarks" + (
            f"; not run: {', '.join(g['missing'])}" if g["missing"] else "")
        cells = [f"**{group}** (mean weighted by items)", str(g["items"])] + [accuracy_cell(g["metrics"].get(m)) for m in metrics]
        cells += ["-", "-"] + ["-" for _ in REFERENCE] + [note]
        lines.append("| " + " | ".join(cells) + " |")
    for name, why in results.get("not_run", {}).items():
        lines.append("| " + " | ".join([name, "0", *(["not run"] * len(metrics)), "-", "-", *(["-"] * len(REFERENCE)), why]) + " |")
    return "\n".join(lines)


def distribution_lines(results: dict[str, Any]) -> list[str]:
    """Per benchmark and metric, how often the model gave each answer, and the warnings."""
    lines = []
    for name, r in results["benchmarks"].items():
        for metric, d in (r.get("answer_distribution") or {}).items():
            shares = ", ".join(f"{a} {n}" for a, n in d["counts"].items())
            lines.append(f"- {name} ({metric}): predicted answers {shares}")
        for metric in ("generate", "cot"):
            if metric in r["metrics"]:
                lines.append(f"- {name} ({metric}): {r['metrics'][metric]['unparseable']} of {r['items']} answers unparseable "
                             "(scored wrong)")
        lines += [f"- **warning** {name}: {w}" for w in r.get("warnings", [])]
    return lines


def write_chart(results: dict[str, Any], path: Path) -> None:
    """A bar chart of the table: accuracy with its 95 % interval per benchmark and metric, and
    the chance and majority-class rates as marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["benchmarks"])
    metrics = metric_names(results)
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
    ap.add_argument("--benchmarks", default=DEFAULT_BENCHMARKS,
                    help=f"comma-separated benchmarks ({', '.join(REGISTRY)}) or groups ({', '.join(GROUPS)}); "
                         f"default {DEFAULT_BENCHMARKS}")
    ap.add_argument("--data", type=Path, default=SAMPLES_DIR,
                    help="folder with medqa/, medmcqa/, pubmedqa/, mmlu/, mmlu_pro/, medxpertqa/ test files (default: samples/)")
    ap.add_argument("--prompt-style", choices=PROMPT_STYLES, default="medc",
                    help="medc: instruction prompts (letter, option_text_norm); lm-eval: lm-evaluation-harness's tasks exactly (acc, acc_norm)")
    ap.add_argument("--num-fewshot", type=int, default=0, help="k examples from each benchmark's dev split before every item (default 0)")
    ap.add_argument("--limit", type=int, default=None, help="first N items of each benchmark")
    ap.add_argument("--medmcqa-layout", choices=("original", "hf", "options"), default=None,
                    help="MedMCQA's answer column: original (1-based cop), hf (0-based cop), options; default: read from the values")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--mode", choices=("loglik", "generate", "cot"), default="loglik",
                    help="generate also scores greedy answers; cot: zero-shot chain of thought through the chat template, "
                         "the answer extracted by documented rules (training/eval.py: extract_cot_answer)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="generation length (default: 16 for generate, 512 for cot)")
    ap.add_argument("--server", default=None,
                    help="--mode cot through an OpenAI-compatible server (e.g. vLLM: http://127.0.0.1:8000/v1); --model is "
                         "then the model name the server serves")
    ap.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the server's API key")
    ap.add_argument("--concurrency", type=int, default=8, help="requests in flight to --server")
    ap.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    ap.add_argument("--out", type=Path, default=Path("eval-results"), help="where results.json and results.md go")
    args = ap.parse_args(argv)
    try:
        names = resolve(args.benchmarks)
    except ValueError as exc:
        raise UserError(f"--benchmarks: {exc}") from None
    if not names:
        raise UserError("--benchmarks: name at least one benchmark or group")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    if args.num_fewshot < 0:
        raise UserError("--num-fewshot must be 0 or more")
    if args.server and args.mode != "cot":
        raise UserError("--server scores generated answers only: use it with --mode cot")
    if args.mode == "cot" and (args.num_fewshot or args.prompt_style != "medc"):
        raise UserError("--mode cot is zero-shot with its own instruction (training/eval.py: COT_PROMPTS): "
                        "leave --num-fewshot and --prompt-style out")
    max_new_tokens = args.max_new_tokens or (512 if args.mode == "cot" else 16)
    named = {w.strip() for w in args.benchmarks.split(",")}
    questions: dict[str, list[Question]] = {}
    not_run: dict[str, str] = {}
    for name in names:
        try:
            questions[name] = load_questions(name, args.data, args.limit, args.medmcqa_layout, args.prompt_style, args.num_fewshot)
        except UserError as exc:
            if name in named or "no test file" not in str(exc):
                raise  # a benchmark named on its own must run; a broken file is never skipped
            not_run[name] = f"no test file under {args.data}"  # a group member the user has no file for
    if not questions:
        raise UserError(f"--benchmarks {args.benchmarks}: no test file under {args.data} for any of {', '.join(names)}")
    import torch

    torch.manual_seed(0)
    scorer: Scorer | ServerChat = (ServerChat(args.server, args.model, os.environ.get(args.api_key_env), args.concurrency)
                                   if args.server else Scorer(args.model, args.device, args.batch_size))
    results: dict[str, Any] = {"model": args.model, "mode": args.mode, "prompt_style": args.prompt_style,
                               "num_fewshot": args.num_fewshot, "benchmarks": {}}
    if args.server:
        results["server"] = args.server
    if args.mode == "cot":
        results["prompts"], results["max_new_tokens"] = COT_PROMPTS, max_new_tokens
    elif args.prompt_style == "medc":
        results["prompts"] = PROMPTS
    for name, qs in questions.items():
        try:
            results["benchmarks"][name] = evaluate(scorer, name, qs, args.mode, args.prompt_style, max_new_tokens)
            bench = REGISTRY[name]  # what was scored: the split, its Hub copy, the lm-eval task it reproduces
            results["benchmarks"][name]["benchmark"] = {"split": bench.split, "hub": bench.hub, "lm_eval_task": bench.lm_eval_task}
        except RuntimeError as exc:  # the server kept failing
            raise UserError(f"{name}: {exc}") from None
    groups = {g: group_scores(results["benchmarks"], GROUPS[g]) for g in GROUPS if g in named and g != "all"}
    results["groups"] = {g: v for g, v in groups.items() if v is not None}
    results["not_run"] = not_run
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(results)
    details = distribution_lines(results)
    style = ("zero-shot chain of thought (COT_PROMPTS in results.json), the answer extracted by extract_cot_answer's rules"
             if args.mode == "cot" else "lm-evaluation-harness's task prompts and scoring (acc, acc_norm)"
             if args.prompt_style == "lm-eval" else "medc's own (in results.json)")
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_chart(results, args.out / "results.png")
    (args.out / "results.md").write_text(
        f"# Evaluation of `{args.model}`\n\nMode: {args.mode}; prompts: {style}; {args.num_fewshot}-shot.\n\n{table}\n\n"
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
