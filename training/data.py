"""Training data from the released repos: packed pretraining sequences and masked SFT rows.

* Pretraining: documents are tokenised in batches, joined with EOS into one stream per
  source, and cut into fixed-length sequences (every token is a real token, so packing
  efficiency is 100% but for one partial tail per source, which is dropped). Sequences are
  drawn from the sources by mixture weights with a seeded generator. In memory
  (`pretrain_sequences`), or streamed (`StreamingPacker`, `data.streaming = true`) for
  corpora larger than memory, with a resumable position.
* SFT: each row is rendered with the tokenizer's chat template (or the PMC-LLaMA Alpaca
  template); labels are -100 everywhere but on assistant/response tokens. Rows are packed
  into fixed-length sequences whose `position_ids` restart at every row: transformers then
  builds a block-diagonal causal mask, so no row attends to another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from medc.errors import UserError
from medc.release.manifest import MANIFEST_NAME, Manifest

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
    path = Path(name) / MANIFEST_NAME
    if not path.is_file():
        return {}
    manifest = Manifest.load(path)
    if manifest.mixture and manifest.mixture.source_weights:
        return dict(manifest.mixture.source_weights)
    words = {k: s.words for k, s in manifest.sources.items() if s.built and s.rows}
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


def row_weight(meta: str | None) -> float:
    """A released row's sampling weight (`meta.weight`, set by a `weight` step; 1 without)."""
    if not meta or '"weight"' not in meta:
        return 1.0
    try:
        value = json.loads(meta).get("weight", 1.0)
    except (json.JSONDecodeError, AttributeError):
        return 1.0
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 1.0


def repeats(weight: float, rng: np.random.Generator) -> int:
    """How many times a row of this weight comes in one epoch: its whole part, plus one with
    the probability of its fraction (2.5: two or three times, 2.5 on average)."""
    whole = int(weight)
    return whole + int(rng.random() < weight - whole)


def pretrain_sequences(dataset: Any, tokenizer: Any, seq_len: int, weights: dict[str, float], n_sequences: int, seed: int,
                       batch: int = 256) -> Packed:
    """`n_sequences` packed sequences drawn from the sources by `weights` (seeded)."""
    by_source: dict[str, list[str]] = {}
    repeat_rng = np.random.default_rng(seed)
    for row in dataset:  # a row weighted by a `weight` step comes `weight` times on average
        by_source.setdefault(row["source"], []).extend([row["text"]] * repeats(row_weight(row.get("meta")), repeat_rng))
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


class StreamingPacker:
    """Pretraining sequences from a streamed repo, for corpora that do not fit in memory.

    Each source (a config of the released repo) is read as its own stream: a local repo's
    parquet files batch by batch, a Hub repo through `datasets` streaming; shuffled with a
    seeded buffer (a new seed per epoch); tokenised `batch` rows at a time, joined with EOS and cut
    into `seq_len` windows; every window is a full one. Which source the next sequence
    comes from is drawn by the mixture weights with a seeded generator; a source that runs
    out starts its next epoch. `state_dict()` is small (per source: epoch, rows fully
    used, tokens used of the next row; the generator state): `load_state_dict` skips the
    rows already used and continues with exactly the sequences an uninterrupted run gets.
    Every rank runs the same packer and takes its own slice of each batch."""

    def __init__(self, name: str, tokenizer: Any, seq_len: int, weights: dict[str, float], seed: int,
                 batch: int = 256, shuffle_buffer: int = 10_000):
        self.name, self.tokenizer, self.seq_len, self.seed = name, tokenizer, seq_len, seed
        self.batch, self.shuffle_buffer = batch, shuffle_buffer
        # Like the in-memory packer: the sources the repo has, weighted (a weighted source the
        # repo lacks is left out; without weights, sources are equally likely).
        present = released_configs(name)
        names = sorted(n for n in present if not weights or float(weights.get(n, 0.0)) > 0)
        if not names:
            raise UserError(f"mixture weights {weights} give no weight to any source of {name!r} ({', '.join(present)})")
        w = np.array([float(weights.get(n, 0.0)) if weights else 1.0 for n in names])
        self.names, self.p = names, w / w.sum()
        self.rng = np.random.default_rng(seed)
        self.state = {n: {"epoch": 0, "rows_done": 0, "offset": 0} for n in names}
        self._iters: dict[str, Any] = {}
        self._docs: dict[str, list[list[int]]] = {n: [] for n in names}
        self._skip_tokens: dict[str, int] = dict.fromkeys(names, 0)

    # -- one source
    def _texts(self, source: str, seed: int) -> Iterator[str]:
        """A source's texts in file order: a local repo's parquet files read in batches with
        pyarrow, or the Hub repo's config streamed by `datasets`; a row weighted by a `weight`
        step comes `weight` times on average (drawn with `seed`)."""
        rng = np.random.default_rng(seed)
        folder = Path(self.name) / "data" / source
        if folder.is_dir():
            import pyarrow.parquet as pq

            for f in sorted(folder.glob("*.parquet")):
                for batch in pq.ParquetFile(f).iter_batches(batch_size=1024, columns=["text", "meta"]):
                    for text, meta in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                        yield from [text] * repeats(row_weight(meta), rng)
        else:
            for row in _streamed(self.name, source):
                yield from [row["text"]] * repeats(row_weight(row.get("meta")), rng)

    def _shuffled(self, texts: Iterator[str], seed: int) -> Iterator[str]:
        """A seeded shuffle buffer of `shuffle_buffer` texts (0 or 1: file order)."""
        if self.shuffle_buffer <= 1:
            yield from texts
            return
        rng = np.random.default_rng(seed)
        buf: list[str] = []
        for text in texts:
            if len(buf) < self.shuffle_buffer:
                buf.append(text)
                continue
            i = int(rng.integers(len(buf)))
            yield buf[i]
            buf[i] = text
        for i in rng.permutation(len(buf)):
            yield buf[i]

    def _open(self, source: str) -> Iterator[str]:
        import itertools

        st = self.state[source]
        texts = self._shuffled(self._texts(source, self.seed + 1000 * st["epoch"] + 7), self.seed + 1000 * st["epoch"])
        return itertools.islice(texts, st["rows_done"], None)  # rows already used are skipped

    def _refill(self, source: str) -> None:
        import itertools

        st = self.state[source]
        for attempt in range(2):
            if source not in self._iters:
                self._iters[source] = self._open(source)
            rows = list(itertools.islice(self._iters[source], self.batch))
            if rows:
                break
            if attempt:  # a fresh epoch with no row
                raise UserError(f"source {source!r} of {self.name!r} has no rows to stream")
            st.update(epoch=st["epoch"] + 1, rows_done=0, offset=0)  # next epoch
            self._iters.pop(source)
        eos = self.tokenizer.eos_token_id
        ids = self.tokenizer(rows, add_special_tokens=False)["input_ids"]
        self._docs[source].extend([*t, eos] for t in ids)

    def _take(self, source: str) -> list[int]:
        st, docs = self.state[source], self._docs[source]
        out: list[int] = []
        while len(out) < self.seq_len:
            if not docs:
                self._refill(source)
            doc = docs[0]
            piece = doc[st["offset"] : st["offset"] + self.seq_len - len(out)]
            out += piece
            st["offset"] += len(piece)
            if st["offset"] >= len(doc):
                docs.pop(0)
                st["rows_done"] += 1
                st["offset"] = 0
        return out

    # -- the mixture
    def next_batch(self, n: int) -> np.ndarray:
        """The next `n` sequences, shape (n, seq_len)."""
        choice = self.rng.choice(len(self.names), size=n, p=self.p)
        return np.array([self._take(self.names[c]) for c in choice], dtype=np.int64)

    def state_dict(self) -> dict[str, Any]:
        return {"sources": {n: dict(v) for n, v in self.state.items()}, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if sorted(state["sources"]) != self.names:
            raise UserError(f"checkpoint data state has sources {sorted(state['sources'])}, the config streams {self.names}")
        self.state = {n: dict(v) for n, v in state["sources"].items()}
        self.rng.bit_generator.state = state["rng"]
        self._iters, self._docs = {}, {n: [] for n in self.names}
        # The partly used row is re-read and its used tokens dropped.
        for n in self.names:
            offset = self.state[n]["offset"]
            if offset:
                self._refill(n)
                self.state[n]["offset"] = offset


@lru_cache(maxsize=64)
def _streamed(name: str, config: str) -> Any:
    """A Hub repo's source config as a streaming dataset (resolved once)."""
    return load_released(name, config=config, streaming=True)


def released_configs(name: str) -> list[str]:
    """The per-source configs of a released repo (a local folder's data/<source>/, or the Hub's)."""
    path = Path(name)
    if path.is_dir():
        if not (path / "data").is_dir():
            raise UserError(f"dataset {name!r} has no data/ folder: run `python -m medc.build all` first")
        return sorted(p.name for p in (path / "data").iterdir() if p.is_dir() and p.name != "commercial")
    if name.startswith((".", "/")) or name.count("/") != 1:
        raise UserError(f"dataset {name!r} not found: run `python -m medc.build all` first (or set data.* to a Hub id)")
    from datasets import get_dataset_config_names

    return sorted(c for c in get_dataset_config_names(name) if c not in ("default", "commercial"))


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
