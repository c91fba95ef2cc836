"""Benchmark decontamination (a global step): find and drop training rows that contain
benchmark test items.

Two signals:

* word n-gram overlap (13 by default, after lower-casing and dropping punctuation) between
  a row and each test item's question and contexts: an item is found in a row that holds
  `min_matches` (3) of its n-grams, so one exam sentence shared by chance is not a leak. A question shorter than n words but at
  least `min_words` long is matched as a whole; shorter ones are too generic to match
  safely and are counted as unchecked. N-grams shared by more than `max_item_frequency`
  test items are exam templates ("which of the following is the most likely ..."), not
  item content, and are ignored.
* id matching: a row whose `meta.pmid` is the PMID of a PubMedQA test question (its
  contexts are that paper's abstract, so the leak is real even when reworded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medc.files.atomic import sha256_file
from medc.ingest.benchmarks import REGISTRY, matching_files, read_split
from medc.ingest.testsets import BenchmarkItem
from medc.steps.base import Decision, GlobalContext, GlobalStep, register_step, text_expr
from medc.steps.params import ParamError, StepParams, positive_int
from medc.steps.rows import KeptRows
from medc.text.ngrams import ngram_hashes, word_hashes

DEFAULT_MIN_MATCHES = 3
# Every benchmark of the registry, each from its scored split and its held-out few-shot split.
DEFAULT_BENCHMARKS: tuple[dict[str, Any], ...] = tuple({"name": name} for name in REGISTRY)


def spec_patterns(spec: dict[str, Any]) -> list[str]:
    """The globs a benchmark spec reads: its own `paths`, else the registry's test and dev splits."""
    bench = REGISTRY[spec["name"]]
    return list(spec.get("paths") or (*bench.test, *bench.fewshot))


@dataclass
class ContaminationIndex:
    n: int
    min_words: int
    max_item_frequency: int
    table: pl.DataFrame  # n, hash, item
    sorted_hashes: dict[int, np.ndarray]
    pmids: dict[str, str]  # pmid -> item id
    item_grams: pl.DataFrame  # item, grams (distinct n-grams of the item in the index)
    benchmarks: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> files, items, unchecked

    @classmethod
    def build(cls, items: list[BenchmarkItem], n: int, min_words: int, max_item_frequency: int) -> ContaminationIndex:
        field_texts: list[str] = []
        field_items: list[str] = []
        for item in items:
            for text in (item.question, *item.contexts):
                if text:
                    field_texts.append(text)
                    field_items.append(item.item_id)
        frames = []
        checked: set[str] = set()
        if field_texts:
            hashes, offsets = word_hashes(pl.Series(field_texts, dtype=pl.String))
            lengths = np.diff(offsets)
            item_arr = np.array(field_items, dtype=object)
            grams, docs = ngram_hashes(hashes, offsets, n)
            if len(grams):
                frames.append(pl.DataFrame({"n": np.full(len(grams), n, dtype=np.int64), "hash": grams, "item": item_arr[docs]}))
                checked.update(item_arr[np.unique(docs)])
            short = np.flatnonzero((lengths >= min_words) & (lengths < n))
            for length in np.unique(lengths[short]):
                sel = short[lengths[short] == length]
                sub_offsets = np.concatenate([[0], np.cumsum(lengths[sel])])
                sub_hashes = np.concatenate([hashes[offsets[i] : offsets[i + 1]] for i in sel])
                g, d = ngram_hashes(sub_hashes, sub_offsets, int(length))
                frames.append(pl.DataFrame({"n": np.full(len(g), int(length), dtype=np.int64), "hash": g, "item": item_arr[sel][d]}))
                checked.update(item_arr[sel])
        table = (
            pl.concat(frames).unique() if frames
            else pl.DataFrame(schema={"n": pl.Int64, "hash": pl.UInt64, "item": pl.String})
        )
        # Template n-grams (in many items) say nothing about a specific item.
        table = table.filter(pl.col("item").n_unique().over("n", "hash") <= max_item_frequency)
        sorted_hashes = {
            int(k): np.sort(g["hash"].to_numpy()) for (k,), g in table.group_by("n", maintain_order=True)
        }
        pmids = {item.pmid: item.item_id for item in items if item.pmid}
        bench: dict[str, dict[str, Any]] = {}
        for item in items:
            b = bench.setdefault(item.benchmark, {"items": 0, "unchecked_short": 0})
            b["items"] += 1
            if item.item_id not in checked and not item.pmid:
                b["unchecked_short"] += 1
        item_grams = table.group_by("item").agg(pl.len().cast(pl.UInt32).alias("grams"))
        return cls(n, min_words, max_item_frequency, table.sort("n", "hash"), sorted_hashes, pmids, item_grams, bench)

    def match(self, texts: pl.Series, min_matches: int = DEFAULT_MIN_MATCHES, batch_words: int = 20_000_000) -> list[list[str]]:
        """For each text, the sorted ids of the test items it contains."""
        out: list[list[str]] = [[] for _ in range(len(texts))]
        if self.table.height == 0 or len(texts) == 0:
            return out
        lengths = texts.fill_null("").str.len_bytes().to_numpy()
        start = 0
        while start < len(texts):
            # Batches bounded by text size keep the n-gram arrays small on huge shards.
            stop = start + 1
            size = lengths[start]
            while stop < len(texts) and size + lengths[stop] < batch_words * 6:
                size += lengths[stop]
                stop += 1
            self._match_batch(texts.slice(start, stop - start), start, min_matches, out)
            start = stop
        return out

    def _match_batch(self, texts: pl.Series, base: int, min_matches: int, out: list[list[str]]) -> None:
        hashes, offsets = word_hashes(texts)
        hits = []
        for n, index in self.sorted_hashes.items():
            grams, docs = ngram_hashes(hashes, offsets, n)
            if not len(grams):
                continue
            pos = np.searchsorted(index, grams)
            pos[pos == len(index)] = 0
            found = index[pos] == grams
            if found.any():
                hits.append(pl.DataFrame({"doc": docs[found], "n": np.full(int(found.sum()), n, dtype=np.int64), "hash": grams[found]}))
        if not hits:
            return
        matched = (
            pl.concat(hits)
            .unique()
            .join(self.table, on=["n", "hash"])
            .group_by("doc", "item")
            .len()
            .join(self.item_grams, on="item")
            # An item counts as found when the row holds `min_matches` of its n-grams, or all
            # of them for items that have fewer (short questions matched whole).
            .filter(pl.col("len") >= pl.min_horizontal(pl.lit(min_matches, dtype=pl.UInt32), pl.col("grams")))
            .group_by("doc")
            .agg(pl.col("item").sort())
        )
        for doc, items in matched.iter_rows():
            out[base + doc] = list(items)


@lru_cache(maxsize=4)
def load_index(root: str, benchmarks_json: str, n: int, min_words: int, max_item_frequency: int) -> ContaminationIndex:
    specs = json.loads(benchmarks_json)
    items: list[BenchmarkItem] = []
    files: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for spec in specs:
        bench = REGISTRY[spec["name"]].with_options(layout=spec.get("layout"), test_ids=spec.get("test_ids"))
        patterns = tuple(spec_patterns(spec))
        try:
            found, read = read_split(bench, Path(root), patterns)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # An unreadable test file must not stop the build, and must not pass silently.
            problems[spec["name"]] = f"benchmark {spec['name']!r} not checked: {exc}"
            found, read = [], [p.relative_to(root).as_posix() for p in matching_files(Path(root), patterns)]
        items += found
        files[spec["name"]] = read
    index = ContaminationIndex.build(items, n, min_words, max_item_frequency)
    for spec in specs:
        entry = index.benchmarks.setdefault(spec["name"], {"items": 0, "unchecked_short": 0})
        entry["files"] = [{"path": f, "sha256": sha256_file(Path(root) / f)} for f in files[spec["name"]]]
        if spec["name"] in problems:
            entry["error"] = problems[spec["name"]]
    return index


BENCHMARK_KEYS = ("name", "paths", "layout", "test_ids")


@dataclass(frozen=True)
class DecontaminateParams(StepParams):
    ngram: int = 13  # word n-gram size
    min_words: int = 8  # shorter questions are too generic to check
    min_matches: int = 3  # n-grams of one item a row must hold (all of them for shorter items)
    max_item_frequency: int = 3  # n-grams shared by more test items are exam templates
    match_pmids: bool = True
    benchmarks: list[dict[str, Any]] | None = None  # {name, paths (globs under the sources root; default: the registry's), layout, test_ids}

    def check(self) -> None:
        positive_int(self, "ngram", "min_words", "min_matches", "max_item_frequency")
        for spec in self.benchmarks or []:
            if not isinstance(spec, dict) or "name" not in spec:
                raise ParamError("benchmarks", "benchmarks is a list of {name, paths} tables (paths optional)")
            paths = [*spec.get("paths", []), *([spec["test_ids"]] if spec.get("test_ids") else [])]
            if not all(isinstance(x, str) and not x.startswith(("/", "\\")) and ".." not in x.replace("\\", "/").split("/")
                       for x in paths):
                raise ParamError("benchmarks", f"benchmark {spec['name']!r}: paths are globs under the sources root (relative, no ..)")
            unknown = sorted(set(spec) - set(BENCHMARK_KEYS))
            if unknown or spec["name"] not in REGISTRY:
                bad = unknown[0] if unknown else spec["name"]
                raise ParamError("benchmarks", f"unknown benchmark key or name {bad!r} "
                                 f"(names: {', '.join(REGISTRY)}; keys: {', '.join(BENCHMARK_KEYS)})")


@register_step("decontaminate")
class Decontaminate(GlobalStep):
    """Drop rows that contain a benchmark test item (n-gram overlap, or a PubMedQA test PMID).

    `benchmarks` lists `{name, paths (globs under the sources root), ...}`; by default every
    benchmark of `medc.ingest.benchmarks.REGISTRY` (MedQA 4 and 5 options, MedMCQA, PubMedQA,
    the six MMLU medical subjects, MMLU-Pro health, MedXpertQA), test and dev splits, where
    the registry finds them (`medqa/`, `mmlu/`, ...). A benchmark whose files are absent is
    reported as not checked.
    """

    Params = DecontaminateParams
    params: DecontaminateParams

    def specs(self) -> list[dict[str, Any]]:
        return self.params.benchmarks or list(DEFAULT_BENCHMARKS)

    def reference_patterns(self) -> list[str]:
        return [p for spec in self.specs() for p in [*spec_patterns(spec), *([spec["test_ids"]] if spec.get("test_ids") else [])]]

    def index(self) -> ContaminationIndex:
        if self.root is None:
            raise RuntimeError("decontaminate needs the sources root")
        p = self.params
        return load_index(str(self.root), json.dumps(self.specs(), sort_keys=True), p.ngram, p.min_words, p.max_item_frequency)

    def signature_columns(self) -> list[str]:
        return ["_sig_decon"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        index = self.index()
        texts = df.select(text_expr(self.kind).alias("t"))["t"]
        matches = index.match(texts, self.params.min_matches)
        if self.params.match_pmids and index.pmids and df.height:
            pmids = df["meta"].str.json_path_match("$.pmid").to_list()
            for i, pmid in enumerate(pmids):
                if pmid in index.pmids and index.pmids[pmid] not in matches[i]:
                    matches[i] = sorted([*matches[i], index.pmids[pmid]])
        return df.with_columns(pl.Series("_sig_decon", matches, dtype=pl.List(pl.String)))

    def decide(self, rows: KeptRows, ctx: GlobalContext) -> Decision:
        """Row by row: the rows with a test item found (few) are read, not the corpus."""
        found = rows.collect(["id", "_sig_decon"], where=pl.col("_sig_decon").list.len() > 0)
        benchmark = pl.col("_sig_decon").list.first().str.split(":").list.first()
        drops = found.select("_key", pl.concat_str(pl.lit("contains "), benchmark, pl.lit(" test items")).alias("reason"))
        return Decision(drops, self._report(found))

    def _report(self, found: pl.DataFrame) -> dict[str, Any]:
        """Per benchmark: the files read, test items, those too short to check, the items found
        and the rows removed (or why the benchmark could not be checked)."""
        index = self.index()
        hits = found.select("id", "_sig_decon").explode("_sig_decon")
        hits = hits.with_columns(pl.col("_sig_decon").str.split(":").list.first().alias("benchmark"))
        out: dict[str, Any] = {}
        for name, info in sorted(index.benchmarks.items()):
            mine = hits.filter(pl.col("benchmark") == name)
            out[name] = {
                **({"error": info["error"]} if "error" in info else {}),
                "files": info.get("files", []),
                "test_items": info["items"],
                "unchecked_short_items": info["unchecked_short"],
                "items_found": sorted(set(mine["_sig_decon"].to_list())),
                "rows_removed": sorted(set(mine["id"].to_list())),
            }
        return {"benchmarks": out, "ngram": self.params.ngram}
