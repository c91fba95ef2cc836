"""A saved tokenizer + randomly initialised tiny Llama (`from_pretrained` loads it), for the
evaluation and rationale tests; no weights are downloaded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from training.tiny import tiny_llama, train_tokenizer


def make_tiny_checkpoint(folder: Path, texts: Iterable[str], vocab_size: int = 1024, seed: int = 0, **model_kwargs: Any) -> Path:
    """Save a tokenizer + randomly initialised tiny Llama that `from_pretrained` loads."""
    tokenizer = train_tokenizer(texts, vocab_size)
    model = tiny_llama(len(tokenizer), seed=seed, **model_kwargs)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
