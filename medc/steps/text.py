"""Text steps (map stage): normalisation, cutting long documents, abbreviation definitions,
token counts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import polars as pl

from medc.errors import UserError
from medc.schema import MAIN_TEXT_FIELD, TEXT_FIELDS, dump_meta
from medc.steps.base import MapStep, register_step, text_expr
from medc.steps.params import ParamError, StepParams, positive_int
from medc.text.abbreviations import find_all
from medc.text.normalize import normalize_text
from medc.text.sentences import split_blocks


@register_step("normalize_text")
class NormalizeText(MapStep):
    """Unicode NFC, ligatures, control characters and white space in every text field."""

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        fields = [f for f in TEXT_FIELDS[self.kind] if f in df.columns]
        out = df.with_columns(
            pl.col(f).map_elements(normalize_text, return_dtype=pl.String) for f in fields
        )
        return out, Counter()


@dataclass(frozen=True)
class AbbreviationsParams(StepParams):
    max_chars: int = 100_000  # only the first characters of a text are read
    max_per_document: int = 50  # the first definitions used in the text
    batch: int = 16

    def check(self) -> None:
        positive_int(self, "max_chars", "max_per_document", "batch")


@register_step("abbreviations")
class Abbreviations(MapStep):
    """Abbreviation definitions in each row's `meta.abbreviations` ({short: long}), found by
    scispaCy's AbbreviationDetector on a blank spaCy pipeline (see
    `medc.text.abbreviations`). Optional: about 0.1-0.3 s per paper on one core."""

    Params = AbbreviationsParams
    params: AbbreviationsParams

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        if df.height == 0:
            return df, Counter()
        p = self.params
        texts = [(t or "")[:p.max_chars] for t in df[MAIN_TEXT_FIELD[self.kind]].to_list()]
        metas = []
        for meta, found in zip(df["meta"].to_list(), find_all(texts, p.batch)):
            record = json.loads(meta or "{}")
            record["abbreviations"] = {short: d["long"] for short, d in list(found.items())[:p.max_per_document]}
            metas.append(dump_meta(record))
        return df.with_columns(pl.Series("meta", metas, dtype=pl.String)), Counter()


@dataclass(frozen=True)
class SplitLongParams(StepParams):
    max_words: int = 2000

    def check(self) -> None:
        if self.max_words < 50:
            raise ParamError("max_words", "max_words must be an integer >= 50")


@register_step("split_long")
class SplitLong(MapStep):
    """Cut documents longer than `max_words` into pieces at paragraph and heading
    boundaries, a paragraph longer than that between sentences (scispaCy's pysbd
    sentencizer), never mid-sentence; a heading never ends a piece (`medc.text.sentences`).
    Pieces get ids `<id>#<n>` and `meta.part`, `meta.parts`, `meta.document`. It adds rows, so
    it comes before every step that computes columns (signals, tokens, dedup signatures)."""

    Params = SplitLongParams
    params: SplitLongParams
    kinds = ("knowledge",)
    adds_rows = True

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        limit = self.params.max_words
        if df.height == 0 or int(df["_words"].max() or 0) <= limit:
            return df, Counter()
        pieces: list[list[str]] = []
        for text, words in zip(df["text"].to_list(), df["_words"].to_list()):
            if words <= limit:
                pieces.append([text])
            else:
                pieces.append(["\n\n".join(p) for p in split_blocks(text.split("\n\n"), limit)] or [text])
        out = (
            df.with_columns(pl.Series("_pieces", pieces, dtype=pl.List(pl.String)), pl.int_range(pl.len()).alias("_row"))
            .with_columns(pl.col("_pieces").list.len().alias("_parts"))
            .explode("_pieces")
            .with_columns((pl.int_range(pl.len()).over("_row") + 1).alias("_part"))
        )
        ids, metas = out["id"].to_list(), out["meta"].to_list()
        part_of, parts_of = out["_part"].to_list(), out["_parts"].to_list()
        for i, n in enumerate(parts_of):
            if n < 2:
                continue
            record = json.loads(metas[i] or "{}")
            record.update(document=ids[i], part=int(part_of[i]), parts=int(n))
            ids[i] = f"{ids[i]}#{record['part']}"
            metas[i] = dump_meta(record)
        out = out.with_columns(
            pl.col("_pieces").alias("text"),
            pl.Series("id", ids, dtype=pl.String),
            pl.Series("meta", metas, dtype=pl.String),
            pl.col("_pieces").str.count_matches(r"\S+").cast(pl.UInt32).alias("_words"),
        ).drop("_pieces", "_row", "_parts", "_part")
        return out.select(df.columns), Counter()


@dataclass(frozen=True)
class CountTokensParams(StepParams):
    tokenizer: str = ""  # a local tokenizer folder or a Hub id that AutoTokenizer loads
    batch: int = 1000

    def check(self) -> None:
        if not self.tokenizer:
            raise ParamError("tokenizer", "needs tokenizer = a local tokenizer folder or a Hub id")
        positive_int(self, "batch")


_TOKENIZERS: dict[str, Any] = {}


def load_tokenizer(name: str) -> Any:
    """A tokenizer by folder or Hub id, loaded once per process."""
    if name not in _TOKENIZERS:
        from transformers import AutoTokenizer  # transformers takes seconds to import: only for this step

        try:
            _TOKENIZERS[name] = AutoTokenizer.from_pretrained(name)
        except (OSError, ValueError) as exc:
            raise UserError(f"step 'count_tokens': cannot load tokenizer {name!r}: {str(exc).splitlines()[0]}") from None
    return _TOKENIZERS[name]


@register_step("count_tokens")
class CountTokens(MapStep):
    """Per-row token counts (`_tokens`) with the tokenizer of the model you will train; summed
    per source in the manifest and card, and used by the recipe's `[mixture]` when its unit
    is tokens."""

    Params = CountTokensParams
    params: CountTokensParams

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        tok = load_tokenizer(self.params.tokenizer)
        texts = df.select(text_expr(self.kind).alias("t"))["t"].to_list()
        counts: list[int] = []
        batch = self.params.batch
        for start in range(0, len(texts), batch):
            counts += [len(ids) for ids in tok(texts[start:start + batch], add_special_tokens=False)["input_ids"]]
        return df.with_columns(pl.Series("_tokens", counts, dtype=pl.UInt32)), Counter()
