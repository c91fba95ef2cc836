"""`--model` values: a local model folder or a Hugging Face Hub id, checked before anything is
loaded, so that a mistake is one line and not a traceback or half a minute of Hub retries."""

from __future__ import annotations

import re
from pathlib import Path

from medc.errors import UserError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def checked_model_reference(value: str, flag: str = "--model") -> str:
    """`value` as it is to be loaded: an existing folder must hold a model (`config.json`);
    anything that looks like a path but is not a folder is refused, not tried on the Hub."""
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{flag} {value}: a folder but not a model: no config.json in it "
                            "(expected a Hugging Face model folder: config.json, weights, tokenizer files)")
        return str(path)
    if path.exists():
        raise UserError(f"{flag} {value}: a file, not a model folder")
    if value.startswith((".", "/", "~")) or "\\" in value or not _HUB_ID.match(value):
        raise UserError(f"{flag} {value}: no such folder (and not a Hub id of the form namespace/name)")
    return value


def model_load_error(value: str, exc: BaseException, flag: str = "--model") -> UserError:
    """The one-line error for a model or tokenizer that cannot be loaded."""
    text = str(exc)
    if "sentencepiece" in text.lower():
        return UserError(f"{flag} {value}: its tokenizer needs the sentencepiece package, which is not installed "
                         "(uv pip install sentencepiece)")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return UserError(f"{flag} {value}: cannot load a causal LM and tokenizer from it ({first})")
