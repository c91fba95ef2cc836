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


# The threshold rules in Gopher's order of checks (then FineWeb's, then the extras):
# (threshold key, signal column, ">" fails above / "<" fails below, reason as datatrove names it).
_GOPHER_RULES: list[tuple[str, str, str, str]] = [
    ("dup_para_frac", "sig_dup_para_frac", ">", "dup_para_frac"),
    ("dup_para_char_frac", "sig_dup_para_char_frac", ">", "dup_para_char_frac"),
    ("dup_line_frac", "sig_dup_line_frac", ">", "dup_line_frac"),
    ("dup_line_char_frac", "sig_dup_line_char_frac", ">", "dup_line_char_frac"),
    *[(f"top_{n}gram", f"sig_top_{n}gram_char_frac", ">", f"top_{n}_gram") for n in TOP_NGRAMS],
    *[(f"dup_{n}gram", f"sig_dup_{n}gram_char_frac", ">", f"duplicated_{n}_n_grams") for n in DUP_NGRAMS],
    ("min_doc_words", "sig_non_symbol_words", "<", "gopher_short_doc"),
    ("max_doc_words", "sig_non_symbol_words", ">", "gopher_long_doc"),
    ("min_avg_word_length", "sig_mean_word_length", "<", "gopher_below_avg_threshold"),
    ("max_avg_word_length", "sig_mean_word_length", ">", "gopher_above_avg_threshold"),
    ("max_symbol_word_ratio", "sig_hash_ratio", ">", "gopher_too_many_hashes"),
    ("max_symbol_word_ratio", "sig_ellipsis_ratio", ">", "gopher_too_many_ellipsis"),
    ("max_bullet_lines_ratio", "sig_bullet_lines", ">", "gopher_too_many_bullets"),
    ("max_ellipsis_lines_ratio", "sig_ellipsis_lines", ">", "gopher_too_many_end_ellipsis"),
    ("max_non_alpha_words_ratio", "sig_alpha_words", "<", "gopher_below_alpha_threshold"),
    ("min_stop_words", "sig_stop_words", "<", "gopher_enough_stop_words"),
]
_LANGUAGE_RULES: list[tuple[str, str, str, str]] = [("min_language_score", "sig_lang_score", "<", "language_score")]
_LATER_RULES: list[tuple[str, str, str, str]] = [  # FineWeb's, in its order and with its reason names; then the extras
    ("fineweb_line_punct_thr", "sig_line_punct_frac", "<", "line_punct_ratio"),
    ("fineweb_short_line_thr", "sig_short_line_frac", ">", "short_line_ratio"),
    ("fineweb_char_dup_ratio", "sig_line_char_dup_frac", ">", "char_dup_ratio"),
    ("fineweb_new_line_ratio", "sig_newlines_per_word", ">", "list_ratio"),
    ("max_non_ascii_frac", "sig_non_ascii_frac", ">", "non_ascii_frac"),
    ("max_digit_frac", "sig_digit_frac", ">", "digit_frac"),
]
# The signal column that decided each reason (for `--keep-dropped`).
REASON_SIGNAL: dict[str, str] = {reason: column for _, column, _, reason in _GOPHER_RULES + _LANGUAGE_RULES + _LATER_RULES} | {
    "language": "sig_lang", "empty": "sig_nonblank_lines"}


def quality_decision(sig: pl.DataFrame, t: dict[str, Any]) -> pl.Series:
    """The reason each row fails, or null when it passes: the language rules first (as
    datatrove's pipelines put their `LanguageFilter` before the quality filters: a document in
    another language is dropped for its language, not for lacking English stop words), then
    Gopher's checks in Gopher's order, then FineWeb's and the extras.

    Rules whose threshold is None are off. Reasons carry datatrove's names.
    """
    def checks(table: list[tuple[str, str, str, str]]) -> list[tuple[pl.Expr, str]]:
        return [((pl.col(column) > t[key]) if op == ">" else (pl.col(column) < t[key]), reason)
                for key, column, op, reason in table if t.get(key) is not None]

    rules = []
    if t.get("languages"):
        rules.append((~pl.col("sig_lang").is_in(list(t["languages"])), "language"))
    rules += checks(_LANGUAGE_RULES)
    rules += checks(_GOPHER_RULES)
    if any(t.get(k) is not None for k in FINEWEB_KEYS):  # FineWeb's first check: a document with no line
        rules.append((pl.col("sig_nonblank_lines") == 0, "empty"))
    rules += checks(_LATER_RULES)
    if not rules:
        return pl.Series("reason", [None] * sig.height, dtype=pl.String)
    expr = pl.when(rules[0][0]).then(pl.lit(rules[0][1]))
    for cond, reason in rules[1:]:
        expr = expr.when(cond).then(pl.lit(reason))
    return sig.select(expr.otherwise(pl.lit(None, dtype=pl.String)).alias("reason"))["reason"]
