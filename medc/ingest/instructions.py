"""Instruction phrasings (from a data file) and the two renderings of a MedC-I row.

A row's phrasing is chosen by a seeded hash of its id, so rebuilding never reshuffles
them. `messages` (system / user / assistant) is one rendering; the PMC-LLaMA Alpaca prompt
(`alpaca_prompt`) is the other, used by `training.run` with `data.sft_format = "alpaca"`.
"""

from __future__ import annotations

import hashlib
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from medc.errors import UserError
from medc.files.bundled import PIPELINES_DIR

DEFAULT_TEMPLATES = PIPELINES_DIR / "templates" / "medc-i.toml"
MIN_PHRASINGS = 5


@lru_cache(maxsize=8)
def load_templates(path: str) -> dict[str, dict[str, tuple[str, ...]]]:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"templates {p}: cannot read ({exc})") from None
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for task, kinds in raw.items():
        if not isinstance(kinds, dict):
            raise UserError(f"templates {p}: [{task}] must be a table of lists")
        out[task] = {}
        for kind, phrasings in kinds.items():
            if not isinstance(phrasings, list) or len(phrasings) < MIN_PHRASINGS or not all(isinstance(x, str) for x in phrasings):
                raise UserError(f"templates {p}: {task}.{kind} needs at least {MIN_PHRASINGS} phrasings (strings)")
            out[task][kind] = tuple(phrasings)
    return out


def choose(row_id: str, task: str, kind: str, path: Path | str | None = None, seed: int = 0) -> str:
    """The phrasing of `task.kind` for this row: deterministic in (seed, row id). `path`: a
    phrasings file (a source's `templates` option), default `pipelines/templates/medc-i.toml`."""
    path = path or DEFAULT_TEMPLATES
    templates = load_templates(str(path))
    try:
        options = templates[task][kind]
    except KeyError:
        raise UserError(f"templates {path}: no {task}.{kind} phrasings") from None
    digest = hashlib.sha256(f"{seed}\x1f{task}\x1f{kind}\x1f{row_id}".encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def messages(instruction: str, input_text: str, output: str, system: str | None = None) -> list[dict[str, str]]:
    user = f"{instruction}\n\n{input_text}" if input_text else instruction
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def instruction_row(source: str, row_id: str, task: str, instruction: str, input_text: str, output: str, license: str,
                    meta: dict[str, Any], chat: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A MedC-I row; `messages` is the single-turn chat of the instruction, input and output
    unless the source has a conversation of its own (`chat`)."""
    return {
        "id": row_id,
        "source": source,
        "task": task,
        "instruction": instruction,
        "input": input_text,
        "output": output,
        "messages": chat if chat is not None else messages(instruction, input_text, output),
        "license": license,
        "meta": meta,
    }


def format_options(options: dict[str, str]) -> str:
    return "\n".join(f"{k}. {v}" for k, v in sorted(options.items()))
