"""The quality rules: thresholds (Gopher's, datatrove's defaults; FineWeb's, off unless set)
and `quality_decision`, which applies them to the stored signal columns of
`medc.text.quality` (no recomputation), with datatrove's reason names."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import polars as pl

from medc.text.quality import DUP_NGRAMS, TOP_NGRAMS


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the quality rules; None turns a rule off. The Gopher ones default to
    datatrove's `GopherQualityFilter` / `GopherRepetitionFilter` values."""

    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_2gram: float | None = 0.2
    top_3gram: float | None = 0.18
    top_4gram: float | None = 0.16
    dup_5gram: float | None = 0.15
    dup_6gram: float | None = 0.14
    dup_7gram: float | None = 0.13
    dup_8gram: float | None = 0.12
    dup_9gram: float | None = 0.11
    dup_10gram: float | None = 0.10
    languages: list[str] | None = None
    min_language_score: float | None = None
    # FineWeb's rules as datatrove's FineWebQualityFilter applies them (its defaults: 0.12, 0.67, 0.01, 0.3).
    fineweb_line_punct_thr: float | None = None
    fineweb_short_line_thr: float | None = None
    fineweb_char_dup_ratio: float | None = None
    fineweb_new_line_ratio: float | None = None
    max_non_ascii_frac: float | None = None
    max_digit_frac: float | None = None


GOPHER_DEFAULTS: dict[str, Any] = {f.name: getattr(Thresholds(), f.name) for f in fields(Thresholds)}
# Thresholds that are fractions (of words, lines, characters) or a score: in [0, 1].
FRACTION_THRESHOLDS = frozenset(k for k in GOPHER_DEFAULTS if k.endswith(("_frac", "_ratio", "gram", "_score", "_thr")))
FINEWEB_KEYS = ("fineweb_line_punct_thr", "fineweb_short_line_thr", "fineweb_char_dup_ratio", "fineweb_new_line_ratio")


def quality_decision(sig: pl.DataFrame, t: dict[str, Any]) -> pl.Series:
    """The reason each row fails (in Gopher's order of checks), or null when it passes.

    Rules whose threshold is None are off. Reasons carry datatrove's names.
    """
    c = pl.col
    rules: list[tuple[pl.Expr, str]] = []

    def add(key: str, expr: Any, reason: str) -> None:
        if t.get(key) is not None:
            rules.append((expr(t[key]), reason))

    add("dup_para_frac", lambda v: c("sig_dup_para_frac") > v, "dup_para_frac")
    add("dup_para_char_frac", lambda v: c("sig_dup_para_char_frac") > v, "dup_para_char_frac")
    add("dup_line_frac", lambda v: c("sig_dup_line_frac") > v, "dup_line_frac")
    add("dup_line_char_frac", lambda v: c("sig_dup_line_char_frac") > v, "dup_line_char_frac")
    for n in TOP_NGRAMS:
        add(f"top_{n}gram", lambda v: c(f"sig_top_{n}gram_char_frac") > v, f"top_{n}_gram")
    for n in DUP_NGRAMS:
        add(f"dup_{n}gram", lambda v: c(f"sig_dup_{n}gram_char_frac") > v, f"duplicated_{n}_n_grams")
    add("min_doc_words", lambda v: c("sig_non_symbol_words") < v, "gopher_short_doc")
    add("max_doc_words", lambda v: c("sig_non_symbol_words") > v, "gopher_long_doc")
    add("min_avg_word_length", lambda v: c("sig_mean_word_length") < v, "gopher_below_avg_threshold")
    add("max_avg_word_length", lambda v: c("sig_mean_word_length") > v, "gopher_above_avg_threshold")
    add("max_symbol_word_ratio", lambda v: c("sig_hash_ratio") > v, "gopher_too_many_hashes")
    add("max_symbol_word_ratio", lambda v: c("sig_ellipsis_ratio") > v, "gopher_too_many_ellipsis")
    add("max_bullet_lines_ratio", lambda v: c("sig_bullet_lines") > v, "gopher_too_many_bullets")
    add("max_ellipsis_lines_ratio", lambda v: c("sig_ellipsis_lines") > v, "gopher_too_many_end_ellipsis")
    add("max_non_alpha_words_ratio", lambda v: c("sig_alpha_words") < v, "gopher_below_alpha_threshold")
    add("min_stop_words", lambda v: c("sig_stop_words") < v, "gopher_enough_stop_words")
    if t.get("languages"):
        rules.append((~c("sig_lang").is_in(list(t["languages"])), "language"))
    add("min_language_score", lambda v: c("sig_lang_score") < v, "language_score")
    if any(t.get(k) is not None for k in FINEWEB_KEYS):  # FineWeb's checks, in its order and with its reason names
        rules.append((c("sig_nonblank_lines") == 0, "empty"))
    add("fineweb_line_punct_thr", lambda v: c("sig_line_punct_frac") < v, "line_punct_ratio")
    add("fineweb_short_line_thr", lambda v: c("sig_short_line_frac") > v, "short_line_ratio")
    add("fineweb_char_dup_ratio", lambda v: c("sig_line_char_dup_frac") > v, "char_dup_ratio")
    add("fineweb_new_line_ratio", lambda v: c("sig_newlines_per_word") > v, "list_ratio")
    add("max_non_ascii_frac", lambda v: c("sig_non_ascii_frac") > v, "non_ascii_frac")
    add("max_digit_frac", lambda v: c("sig_digit_frac") > v, "digit_frac")
    if not rules:
        return pl.Series("reason", [None] * sig.height, dtype=pl.String)
    expr = pl.when(rules[0][0]).then(pl.lit(rules[0][1]))
    for cond, reason in rules[1:]:
        expr = expr.when(cond).then(pl.lit(reason))
    return sig.select(expr.otherwise(pl.lit(None, dtype=pl.String)).alias("reason"))["reason"]
