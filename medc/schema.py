"""Arrow schemas of the two released datasets (MedC-K and MedC-I), in one place.

`meta` is a JSON object serialised as a string (sorted keys) so that every source of a
dataset shares one schema and the `default` config can load all of them together.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import pyarrow as pa

from medc.text.provenance import PROVENANCE_DEFAULTS

Kind = Literal["knowledge", "instruction"]

KNOWLEDGE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("license", pa.string(), nullable=False),
        pa.field("meta", pa.string(), nullable=False),
    ]
)

MESSAGE_TYPE = pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())])

INSTRUCTION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("input", pa.string(), nullable=False),
        pa.field("output", pa.string(), nullable=False),
        pa.field("messages", pa.list_(MESSAGE_TYPE), nullable=False),
        pa.field("license", pa.string(), nullable=False),
        pa.field("meta", pa.string(), nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"knowledge": KNOWLEDGE_SCHEMA, "instruction": INSTRUCTION_SCHEMA}

# Which fields hold a row's text, per kind, by what they are used for; nothing else decides it.
# Every free-text field: cleaned, scored by the quality signals, checked for contamination, tokenised.
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "knowledge": ("text",),
    "instruction": ("instruction", "input", "output"),
}
# The main text: its words are the row's length (`_words`), it is cut and read for abbreviations.
MAIN_TEXT_FIELD: dict[str, str] = {"knowledge": "text", "instruction": "output"}
# What the dedup steps compare: instructions are templated phrasings, so an instruction row
# is compared on its input and output.
DEDUP_FIELDS: dict[str, tuple[str, ...]] = {"knowledge": ("text",), "instruction": ("input", "output")}


class RecordError(ValueError):
    """A record that cannot become a row; the message says why."""


def schema_for(kind: str) -> pa.Schema:
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise ValueError(f"unknown dataset kind {kind!r} (expected one of {sorted(SCHEMAS)})") from None


def dump_meta(meta: dict[str, Any]) -> str:
    """Serialise `meta` deterministically, leaving out empty values except the provenance keys
    of papers and abstracts (every such row has them all: `medc.text.provenance`); a value
    JSON cannot hold (NaN, infinity, an object of no JSON type) is a `RecordError`."""
    clean = {k: v for k, v in meta.items() if k in PROVENANCE_DEFAULTS or v not in (None, "", [], {})}
    try:
        return json.dumps(clean, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):
        raise RecordError("meta holds a value that is not valid JSON (NaN, infinity or a non-JSON type)") from None


def stable_id(prefix: str, *parts: str) -> str:
    """An id derived from content when a source has no id of its own."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}:{digest}"


# Fields that must hold non-blank text; other non-nullable string fields may be "".
NON_BLANK: dict[str, frozenset[str]] = {
    "knowledge": frozenset({"id", "source", "text", "license"}),
    "instruction": frozenset({"id", "source", "task", "instruction", "output", "license"}),
}


def validate_row(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """Check the required fields of a row and serialise `meta`; raise RecordError."""
    schema = schema_for(kind)
    extra = set(row) - set(schema.names)
    if extra:
        raise RecordError(f"unexpected fields {sorted(extra)}")
    out: dict[str, Any] = {}
    for field in schema:
        value = row.get(field.name)
        if field.name == "meta":
            if isinstance(value, str) and value:  # a builder's own JSON string, checked the same way
                try:
                    value = json.loads(value)
                except ValueError:
                    raise RecordError("meta is not a JSON object") from None
            if value is not None and not isinstance(value, dict):
                raise RecordError(f"meta must be a JSON object, not {type(value).__name__}")
            value = dump_meta(value) if value else "{}"
        elif pa.types.is_string(field.type) and value is not None and not isinstance(value, str):
            raise RecordError(f"field {field.name!r} must be text, not {type(value).__name__}")
        elif field.name in NON_BLANK[kind] and (not isinstance(value, str) or not value.strip()):
            raise RecordError(f"missing required field {field.name!r}")
        elif value is None and not field.nullable:
            raise RecordError(f"missing required field {field.name!r}")
        out[field.name] = value
    if kind == "instruction":
        messages = out["messages"]
        if not isinstance(messages, list) or not messages:
            raise RecordError("empty 'messages'")
        for m in messages:
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
                raise RecordError("every message needs a role and a content that are text")
    return out


def rows_to_table(rows: list[dict[str, Any]], kind: str) -> pa.Table:
    schema = schema_for(kind)
    if not rows:
        return schema.empty_table()
    return pa.Table.from_pylist(rows, schema=schema)
