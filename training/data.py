"""Training data from the released repos: packed pretraining sequences and masked SFT rows.

* Pretraining: documents are tokenised in batches, joined with EOS into one stream per
  source, and cut into fixed-length sequences (every token is a real token, so packing
  efficiency is 100% but for one partial tail per source, which is dropped). Sequences are
  drawn from the sources by mixture weights with a seeded generator.
* SFT: each row is rendered with the tokenizer's chat template (or the PMC-LLaMA Alpaca
  template); labels are -100 everywhere but on assistant/response tokens. Rows are packed
  into fixed-length sequences whose `position_ids` restart at every row: transformers then
  builds a block-diagonal causal mask, so no row attends to another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medc.errors import UserError

IGNORE = -100
ALPACA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
# Used when a tokenizer has no chat template of its own (e.g. the one trained for the tiny model).
DEFAULT_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def load_released(name: str, config: str | None = None, streaming: bool = False) -> Any:
    """The train split of a released repo: a local folder (e.g. `medc-k`) or a Hub id."""
    from datasets import load_dataset

    path = Path(name)
    if not path.exists() and (name.startswith((".", "/")) or name.count("/") != 1):
        raise UserError(f"dataset {name!r} not found: run `python -m medc.build all` first (or set data.* to a Hub id)")
    try:
        return load_dataset(str(path) if path.exists() else name, config, split="train", streaming=streaming)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"cannot load dataset {name!r} ({str(exc).splitlines()[0]}); run `python -m medc.build all` first") from None


def manifest_weights(name: str) -> dict[str, float]:
    """Per-source sampling weights from a local repo's build manifest: the recipe's declared
    mixture when it has one (`mixture.source_weights`), else each source's share of words."""
    path = Path(name) / "build_manifest.json"
    if not path.is_file():
        return {}
    manifest = json.loads(path.read_text())
    declared = (manifest.get("mixture") or {}).get("source_weights")
    if declared:
        return dict(declared)
    sources = manifest["sources"]
    words = {k: v.get("words", 0) for k, v in sources.items() if v.get("status") == "ok" and v.get("rows")}
    total = sum(words.values()) or 1
    return {k: v / total for k, v in words.items()}


@dataclass
class Packed:
    input_ids: np.ndarray  # (n, seq_len) int64
    labels: np.ndarray  # (n, seq_len) int64, IGNORE where no loss
    position_ids: np.ndarray  # (n, seq_len)
    real_tokens: int  # tokens that are not padding

    @property
    def efficiency(self) -> float:
        return self.real_tokens / max(self.input_ids.size, 1)


def pack_stream(token_lists: list[list[int]], seq_len: int, eos: int) -> np.ndarray:
    """Documents joined with EOS and cut into full sequences of `seq_len` (tail dropped)."""
    stream = np.fromiter((t for toks in token_lists for t in (*toks, eos)), dtype=np.int64)
    n = len(stream) // seq_len
    return stream[: n * seq_len].reshape(n, seq_len)


def pretrain_sequences(dataset: Any, tokenizer: Any, seq_len: int, weights: dict[str, float], n_sequences: int, seed: int,
                       batch: int = 256) -> Packed:
    """`n_sequences` packed sequences drawn from the sources by `weights` (seeded)."""
    by_source: dict[str, list[str]] = {}
    for row in dataset:
        by_source.setdefault(row["source"], []).append(row["text"])
    if not by_source:
        raise UserError("the pretraining dataset has no rows")
    streams: dict[str, np.ndarray] = {}
    for source, texts in sorted(by_source.items()):
        ids: list[list[int]] = []
        for start in range(0, len(texts), batch):  # fast batched tokenisation
            ids += tokenizer(texts[start : start + batch], add_special_tokens=False)["input_ids"]
        packed = pack_stream(ids, seq_len, tokenizer.eos_token_id)
        if len(packed):
            streams[source] = packed
    if not streams:
        raise UserError(f"no source has {seq_len} tokens; lower data.seq_len")
    names = sorted(streams)
    w = np.array([float(weights.get(n, 0.0)) for n in names]) if weights else np.array([len(streams[n]) for n in names], float)
    if w.sum() <= 0:
        raise UserError(f"mixture weights {weights} give no weight to any source present ({', '.join(names)})")
    rng = np.random.default_rng(seed)
    choice = rng.choice(len(names), size=n_sequences, p=w / w.sum())
    cursor = dict.fromkeys(names, 0)
    orders = {n: rng.permutation(len(streams[n])) for n in names}
    rows = []
    for c in choice:
        name = names[c]
        k = cursor[name]
        rows.append(streams[name][orders[name][k % len(streams[name])]])
        cursor[name] = k + 1
    ids = np.stack(rows)
    labels = ids.copy()
    positions = np.broadcast_to(np.arange(seq_len), ids.shape).copy()
    return Packed(ids, labels, positions, int(ids.size))


def render_example(row: dict[str, Any], tokenizer: Any, fmt: str) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one SFT row: loss only on the assistant / response tokens."""
    if fmt == "alpaca":
        template = ALPACA_PROMPT if row.get("input") else ALPACA_PROMPT_NO_INPUT
        prompt = template.format(instruction=row["instruction"], input=row.get("input", ""))
        text = prompt + row["output"] + tokenizer.eos_token
        spans = [(len(prompt), len(text))]
    else:
        messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        template = tokenizer.chat_template or DEFAULT_CHAT_TEMPLATE
        text = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template)
        spans = []
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            start = len(tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True, chat_template=template))
            end = len(tokenizer.apply_chat_template(messages[: i + 1], tokenize=False, chat_template=template))
            spans.append((start, end))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [IGNORE] * len(ids)
    for t, (a, b) in enumerate(enc["offset_mapping"]):
        if any(s <= a and b <= e and b > a for s, e in spans):
            labels[t] = ids[t]
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids, labels = [bos, *ids], [IGNORE, *labels]
    return ids, labels


def sft_sequences(dataset: Any, tokenizer: Any, seq_len: int, fmt: str, seed: int) -> Packed:
    """Rows packed greedily into `seq_len` sequences, position ids restarting per row."""
    examples = [render_example(row, tokenizer, fmt) for row in dataset]
    order = np.random.default_rng(seed).permutation(len(examples))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids_rows, label_rows, pos_rows = [], [], []
    cur_ids: list[int] = []
    cur_labels: list[int] = []
    cur_pos: list[int] = []
    real = 0

    def flush() -> None:
        nonlocal cur_ids, cur_labels, cur_pos
        if not cur_ids:
            return
        fill = seq_len - len(cur_ids)
        # Padding is its own "sequence" (positions restart at 0) and carries no loss.
        ids_rows.append(cur_ids + [pad] * fill)
        label_rows.append(cur_labels + [IGNORE] * fill)
        pos_rows.append(cur_pos + list(range(fill)))
        cur_ids, cur_labels, cur_pos = [], [], []

    for i in order:
        ids, labels = examples[i]
        if len(ids) > seq_len:  # keep the response: cut the start of the prompt
            ids, labels = ids[-seq_len:], labels[-seq_len:]
        if not any(label != IGNORE for label in labels):
            continue  # nothing to learn in this window (response cut off)
        if len(cur_ids) + len(ids) > seq_len:
            flush()
        cur_ids += ids
        cur_labels += labels
        cur_pos += list(range(len(ids)))
        real += len(ids)
    flush()
    if not ids_rows:
        raise UserError("no SFT example fits; raise data.seq_len")
    return Packed(np.array(ids_rows, dtype=np.int64), np.array(label_rows, dtype=np.int64), np.array(pos_rows, dtype=np.int64), real)
