"""Pipeline steps that recipes name in `[[steps]]`: map, filter and two-phase global steps.

* A map step is a pure function of one shard (a polars DataFrame), run in the workers and
  cached with the shard: it adds columns (signals) and may drop rows, counting why.
* A filter step decides from stored columns only, in the driver, so thresholds can change
  without recomputing a shard (dolma's "attributes" idea).
* A global step (dedup, decontamination) works in two phases so that it can run on any
  executor: `signature` computes small columns per shard in the workers (stored beside the
  rows), `decide` reads only those columns across all shards and returns the row keys to
  drop with their reason; the executor then applies the decision shard by shard.

Every row carries `_key` (u64: source, shard and row position), so "first" is well defined
and every decision is deterministic.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import polars as pl

from medc.errors import UserError
from medc.schema import TEXT_FIELDS
from medc.text import normalize_text


class Step:
    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        self.root = root  # the sources root, for steps that read reference files (benchmarks)
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise UserError(f"{where}: unknown parameter {unknown[0]!r} for step {self.name!r} (known: {known})")
        self.params = {**self.defaults, **params}
        self.kind = kind

    def reference_patterns(self) -> list[str]:
        """Globs under the sources root of files besides the inputs that the step reads
        (part of shard fingerprints; staged on every node when the sources are remote)."""
        return []


class MapStep(Step):
    """Runs in the workers on each shard; its output is cached with the shard."""

    adds_rows: ClassVar[bool] = False  # may return more rows than it got (see SplitLong)

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        raise NotImplementedError


class FilterStep(Step):
    """Decides from stored columns only (signals, `_words`), in the driver after the map
    stage: changing its thresholds re-applies it without recomputing any shard."""

    def columns(self) -> list[str]:
        raise NotImplementedError

    def reasons(self, frame: pl.DataFrame) -> pl.Series:
        """Per row: why it is dropped, or null to keep it (`frame` has `source` + `columns()`)."""
        raise NotImplementedError


@dataclass
class GlobalContext:
    """What a global step may use besides the signature columns."""

    work_dir: Path  # for side outputs (e.g. cluster tables)
    shard_files: list[str] = field(default_factory=list)  # the map stage's outputs (texts are read from them)
    # The build's executor (`map_unordered(fn, tasks)`), to spread heavy work over workers / a Ray cluster.
    map_unordered: Callable[[Callable[[Any], Any], list[Any]], Any] | None = None


class GlobalStep(Step):
    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        """Columns (named `_sig_<step>_*`) added to the shard for `decide`."""
        raise NotImplementedError

    def signature_columns(self) -> list[str]:
        raise NotImplementedError

    def decide(self, sigs: pl.LazyFrame, ctx: GlobalContext | None = None) -> pl.DataFrame:
        """From `_key` plus the signature columns of every shard: `_key, reason` rows to drop."""
        raise NotImplementedError

    def report(self, frame: pl.DataFrame, drop: pl.DataFrame) -> dict[str, Any]:
        """Extra facts for the manifest and card (e.g. which test items were found)."""
        return {}


def _text_expr(kind: str, fields: tuple[str, ...] | None = None) -> pl.Expr:
    fields = fields or TEXT_FIELDS[kind]
    if len(fields) == 1:
        return pl.col(fields[0]).fill_null("")
    return pl.concat_str([pl.col(f).fill_null("") for f in fields], separator="\x1f")


class NormalizeText(MapStep):
    """Unicode NFC, ligatures, control characters and white space in every text field."""

    name = "normalize_text"

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        fields = [f for f in TEXT_FIELDS[self.kind] if f in df.columns]
        out = df.with_columns(
            pl.col(f).map_elements(normalize_text, return_dtype=pl.String) for f in fields
        )
        return out, Counter()


class Abbreviations(MapStep):
    """Abbreviation definitions in each row's `meta.abbreviations` ({short: long}), found by scispaCy's AbbreviationDetector on a blank spaCy pipeline (see
    `medc.abbrev`). Optional: about 0.1-0.3 s per paper on one core. Only the first
    `max_chars` characters of a text are read; at most `max_per_document` definitions (the
    first ones used in the text)."""

    name = "abbreviations"
    defaults = {"max_chars": 100_000, "max_per_document": 50, "batch": 16}

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        super().__init__(params, kind, where, root)
        for key in self.defaults:
            if not isinstance(self.params[key], int) or self.params[key] < 1:
                raise UserError(f"{where}: step 'abbreviations': {key} must be a positive integer")

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        from medc.abbrev import find_all
        from medc.schema import dump_meta

        if df.height == 0:
            return df, Counter()
        field = "text" if self.kind == "knowledge" else "output"
        limit, most = self.params["max_chars"], self.params["max_per_document"]
        texts = [(t or "")[:limit] for t in df[field].to_list()]
        metas = []
        for meta, found in zip(df["meta"].to_list(), find_all(texts, self.params["batch"])):
            record = json.loads(meta or "{}")
            record["abbreviations"] = {short: d["long"] for short, d in list(found.items())[:most]}
            metas.append(dump_meta(record))
        return df.with_columns(pl.Series("meta", metas, dtype=pl.String)), Counter()


class SplitLong(MapStep):
    """Cut documents longer than `max_words` into pieces at paragraph and heading
    boundaries, a paragraph longer than that between sentences (scispaCy's pysbd
    sentencizer), never mid-sentence; a heading never ends a piece (`medc.text.split_blocks`).
    Pieces get ids `<id>#<n>` and `meta.part`, `meta.parts`, `meta.document`. It adds rows, so
    it comes before every step that computes columns (signals, tokens, dedup signatures)."""

    name = "split_long"
    defaults = {"max_words": 2000}
    adds_rows = True

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        super().__init__(params, kind, where, root)
        if kind != "knowledge":
            raise UserError(f"{where}: step 'split_long' is for knowledge datasets (documents), not {kind}")
        if not isinstance(self.params["max_words"], int) or self.params["max_words"] < 50:
            raise UserError(f"{where}: step 'split_long': max_words must be an integer >= 50")

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        from medc.schema import dump_meta
        from medc.text import split_blocks

        limit = self.params["max_words"]
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


_TOKENIZERS: dict[str, Any] = {}


class CountTokens(MapStep):
    """Per-row token counts (`_tokens`) with the tokenizer of the model you will train (a
    local folder or a Hub id that `AutoTokenizer` loads); summed per source in the manifest
    and card, and used by the recipe's `[mixture]` when its unit is tokens."""

    name = "count_tokens"
    defaults = {"tokenizer": None, "batch": 1000}

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        super().__init__(params, kind, where, root)
        if not isinstance(self.params["tokenizer"], str) or not self.params["tokenizer"]:
            raise UserError(f"{where}: step 'count_tokens' needs tokenizer = a local tokenizer folder or a Hub id")

    def tokenizer(self) -> Any:
        name = self.params["tokenizer"]
        if name not in _TOKENIZERS:
            from transformers import AutoTokenizer

            try:
                _TOKENIZERS[name] = AutoTokenizer.from_pretrained(name)
            except (OSError, ValueError) as exc:
                raise UserError(f"step 'count_tokens': cannot load tokenizer {name!r}: {str(exc).splitlines()[0]}") from None
        return _TOKENIZERS[name]

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        tok = self.tokenizer()
        texts = df.select(_text_expr(self.kind).alias("t"))["t"].to_list()
        counts: list[int] = []
        batch = int(self.params["batch"])
        for start in range(0, len(texts), batch):
            counts += [len(ids) for ids in tok(texts[start:start + batch], add_special_tokens=False)["input_ids"]]
        return df.with_columns(pl.Series("_tokens", counts, dtype=pl.UInt32)), Counter()


class MinLength(FilterStep):
    """Drop rows whose main text (`text`, or an instruction's `output`) has fewer than
    `min_words` white-space separated words (the `_words` column of every shard)."""

    name = "min_length"
    defaults = {"min_words": 50}

    def columns(self) -> list[str]:
        return ["_words"]

    def reasons(self, frame: pl.DataFrame) -> pl.Series:
        n = self.params["min_words"]
        return frame.select(
            pl.when(pl.col("_words") < n).then(pl.lit(f"fewer than {n} words")).otherwise(None).alias("r")
        )["r"]


class QualitySignals(MapStep):
    """Quality signals as `sig_*` columns (see `medc.quality`), stored with the shard."""

    name = "quality_signals"
    defaults = {"language": True}

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        from medc.quality import compute_signals

        text = df.select(_text_expr(self.kind).alias("t"))["t"]
        return pl.concat([df, compute_signals(text, with_language=self.params["language"])], how="horizontal"), Counter()


class QualityFilter(FilterStep):
    """Gopher quality and repetition rules (datatrove's thresholds by default), optional
    language / C4 / FineWeb rules, on the stored signals. `sources = {name = {...}}`
    overrides thresholds for one source (papers and textbooks differ from web text)."""

    name = "quality_filter"

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        from medc.quality import GOPHER_DEFAULTS

        self.defaults = {**GOPHER_DEFAULTS, "sources": None}
        super().__init__(params, kind, where, root)
        for src, over in (self.params["sources"] or {}).items():
            unknown = sorted(set(over) - set(GOPHER_DEFAULTS))
            if unknown:
                raise UserError(f"{where}: step 'quality_filter': unknown threshold {unknown[0]!r} for source {src!r}")

    def thresholds(self, source: str) -> dict[str, Any]:
        base = {k: v for k, v in self.params.items() if k != "sources"}
        return {**base, **(self.params["sources"] or {}).get(source, {})}

    def columns(self) -> list[str]:
        from medc.quality import SIGNAL_COLUMNS

        return list(SIGNAL_COLUMNS)

    def reasons(self, frame: pl.DataFrame) -> pl.Series:
        from medc.quality import quality_decision

        missing = [c for c in self.columns() if c not in frame.columns]
        if missing:
            raise UserError("step 'quality_filter' needs the signals of a 'quality_signals' step in the recipe")
        out = pl.Series("r", [None] * frame.height, dtype=pl.String)
        for source in frame["source"].unique().sort().to_list():
            mask = (frame["source"] == source).to_numpy()
            decided = quality_decision(frame.filter(pl.Series(mask)), self.thresholds(source))
            out = out.scatter(np.flatnonzero(mask), decided)
        return out


def dedup_fields(kind: str, fields: list[str] | None) -> tuple[str, ...]:
    """Fields compared by the dedup steps: instructions differ only by templated phrasing,
    so an instruction row is compared on its input and output."""
    if fields:
        return tuple(fields)
    return ("text",) if kind == "knowledge" else ("input", "output")


class ExactDedup(GlobalStep):
    """Keep the first row of each group whose normalised text is identical (across sources).

    Text is lower-cased with white space collapsed; the key is a 128-bit hash (two seeded
    64-bit hashes). For instructions the `input` and `output` are compared (instructions
    are templated phrasings and may differ for the same content).
    """

    name = "exact_dedup"
    defaults = {"fields": None}

    def signature_columns(self) -> list[str]:
        return ["_sig_exact_h1", "_sig_exact_h2"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        norm = _text_expr(self.kind, dedup_fields(self.kind, self.params["fields"])).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
        return df.with_columns(
            norm.hash(seed=0x5EED0001).alias("_sig_exact_h1"),
            norm.hash(seed=0x5EED0002).alias("_sig_exact_h2"),
        )

    def decide(self, sigs: pl.LazyFrame, ctx: GlobalContext | None = None) -> pl.DataFrame:
        first = pl.col("_key").min().over(["_sig_exact_h1", "_sig_exact_h2"])
        return (
            sigs.filter(pl.col("_key") != first)
            .select("_key", pl.lit("exact duplicate").alias("reason"))
            .collect()
        )


class Decontaminate(GlobalStep):
    """Drop rows that contain a benchmark test item (n-gram overlap, or a PubMedQA test PMID).

    `benchmarks` lists `{name, paths (globs under the sources root), ...}`; by default
    MedQA, MedMCQA and PubMedQA test files in `medqa/`, `medmcqa/`, `pubmedqa/`. A
    benchmark whose files are absent is reported as not checked.
    """

    name = "decontaminate"
    defaults = {"ngram": 13, "min_words": 8, "min_matches": 3, "max_item_frequency": 3, "match_pmids": True, "benchmarks": None}

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        super().__init__(params, kind, where, root)
        for key in ("ngram", "min_words", "min_matches", "max_item_frequency"):
            if not isinstance(self.params[key], int) or self.params[key] < 1:
                raise UserError(f"{where}: step 'decontaminate': {key} must be a positive integer")
        benchmarks = self.params["benchmarks"]
        if benchmarks is not None and not (
            isinstance(benchmarks, list) and all(isinstance(b, dict) and "name" in b and "paths" in b for b in benchmarks)
        ):
            raise UserError(f"{where}: step 'decontaminate': benchmarks is a list of {{name, paths}} tables")
        for spec in benchmarks or []:
            unknown = sorted(set(spec) - {"name", "paths", "layout", "test_ids"})
            if unknown or spec["name"] not in ("medqa", "medmcqa", "pubmedqa"):
                bad = unknown[0] if unknown else spec["name"]
                raise UserError(f"{where}: step 'decontaminate': unknown benchmark key or name {bad!r} "
                                "(names: medqa, medmcqa, pubmedqa; keys: name, paths, layout, test_ids)")

    def specs(self) -> list[dict[str, Any]]:
        from medc.decontam import DEFAULT_BENCHMARKS

        return self.params["benchmarks"] or list(DEFAULT_BENCHMARKS)

    def reference_patterns(self) -> list[str]:
        return [p for spec in self.specs() for p in [*spec["paths"], *([spec["test_ids"]] if spec.get("test_ids") else [])]]

    def index(self) -> Any:
        from medc.decontam import load_index

        if self.root is None:
            raise RuntimeError("decontaminate needs the sources root")
        specs = self.specs()
        p = self.params
        return load_index(str(self.root), json.dumps(specs, sort_keys=True), p["ngram"], p["min_words"], p["max_item_frequency"])

    def signature_columns(self) -> list[str]:
        return ["_sig_decon"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        index = self.index()
        texts = df.select(_text_expr(self.kind).alias("t"))["t"]
        matches = index.match(texts, self.params["min_matches"])
        if self.params["match_pmids"] and index.pmids and df.height:
            pmids = df["meta"].str.json_path_match("$.pmid").to_list()
            for i, pmid in enumerate(pmids):
                if pmid in index.pmids and index.pmids[pmid] not in matches[i]:
                    matches[i] = sorted([*matches[i], index.pmids[pmid]])
        return df.with_columns(pl.Series("_sig_decon", matches, dtype=pl.List(pl.String)))

    def decide(self, sigs: pl.LazyFrame, ctx: GlobalContext | None = None) -> pl.DataFrame:
        return (
            sigs.filter(pl.col("_sig_decon").list.len() > 0)
            .select(
                "_key",
                pl.concat_str(pl.lit("contains "), pl.col("_sig_decon").list.first().str.split(":").list.first(),
                              pl.lit(" test items")).alias("reason"),
            )
            .collect()
        )

    def report(self, frame: pl.DataFrame, drop: pl.DataFrame) -> dict[str, Any]:
        index = self.index()
        hits = frame.filter(pl.col("_sig_decon").list.len() > 0).select("id", "_sig_decon").explode("_sig_decon")
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
        return {"benchmarks": out, "ngram": self.params["ngram"]}


def verify_pairs(task: tuple[Any, ...]) -> tuple[int, np.ndarray]:
    """One chunk of near-duplicate candidate pairs checked by exact Jaccard (runs in a worker)."""
    from medc.minhash import jaccard, shingle_sets

    index, shard_files, kind, fields, ngram, threshold, a, b = task
    wanted = pl.Series(np.unique(np.concatenate([a, b])), dtype=pl.UInt64)
    from medc.storage import stage_files

    texts = pl.scan_parquet(stage_files(list(shard_files))).filter(pl.col("_key").is_in(wanted.implode())).select("_key", *fields).collect()
    joined = texts.select("_key", _text_expr(kind, tuple(fields)).alias("t"))
    sets = dict(zip(joined["_key"].to_list(), shingle_sets(joined["t"], ngram)))
    return index, np.array([jaccard(sets[int(x)], sets[int(y)]) >= threshold for x, y in zip(a, b)], dtype=bool)


class NearDedup(GlobalStep):
    """MinHash LSH near-duplicate removal, verified by exact Jaccard (see `medc.minhash`).

    One row is kept per cluster of near-duplicates, by preference: full text (rows whose
    `meta` lists sections) over abstracts, then more words, then the smaller id. Cluster
    membership (`cluster`, `cluster_size`, `kept`) is written to `near_dedup_clusters.parquet`
    in the build's work folder.
    """

    name = "near_dedup"
    defaults = {"ngram": 5, "num_perm": 128, "threshold": 0.8, "bands": None, "rows": None, "seed": 42,
                "fields": None, "max_bucket": 50, "verify_chunk": 200_000}

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        super().__init__(params, kind, where, root)
        p = self.params
        if not 0 < float(p["threshold"]) <= 1:
            raise UserError(f"{where}: step 'near_dedup': threshold is a Jaccard similarity in (0, 1]")
        if (p["bands"] is None) != (p["rows"] is None):
            raise UserError(f"{where}: step 'near_dedup': give both bands and rows, or neither")
        if p["bands"] is not None and p["bands"] * p["rows"] > p["num_perm"]:
            raise UserError(f"{where}: step 'near_dedup': bands * rows must not exceed num_perm")

    def banding(self) -> tuple[int, int]:
        from medc.minhash import optimal_bands

        p = self.params
        if p["bands"] is not None:
            return int(p["bands"]), int(p["rows"])
        return optimal_bands(float(p["threshold"]), int(p["num_perm"]))

    def signature_columns(self) -> list[str]:
        return ["_sig_near_bands", "_sig_near_words", "_sig_near_full"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        from medc.minhash import band_hashes, signatures

        p = self.params
        text = df.select(_text_expr(self.kind, dedup_fields(self.kind, p["fields"])).alias("t"))["t"]
        bands, rows = self.banding()
        sig = signatures(text, int(p["ngram"]), int(p["num_perm"]), int(p["seed"]))
        bh = band_hashes(sig, bands, rows)
        full = df["meta"].str.json_path_match("$.sections").fill_null("[]") != "[]" if "meta" in df.columns else pl.Series([False] * df.height)
        return df.with_columns(
            pl.Series("_sig_near_bands", bh, dtype=pl.Array(pl.UInt64, bands)),
            text.str.count_matches(r"\S+").cast(pl.UInt32).alias("_sig_near_words"),
            full.alias("_sig_near_full"),
        )

    def decide(self, sigs: pl.LazyFrame, ctx: GlobalContext | None = None) -> pl.DataFrame:
        from medc.minhash import candidate_pairs, clusters

        p = self.params
        frame = sigs.filter(pl.col("_sig_near_words") > 0).select("_key", "id", "source", *self.signature_columns()).collect()
        self._stats = {"bands": None, "rows": None, "candidate_pairs": 0, "verified_pairs": 0, "clusters": 0, "rows_in_clusters": 0}
        bands, rows = self.banding()
        self._stats.update({"bands": bands, "rows": rows})
        empty = pl.DataFrame(schema={"_key": pl.UInt64, "reason": pl.String})
        if frame.height < 2:
            self._clusters = None
            return empty
        keys = frame["_key"].to_numpy()
        col = frame["_sig_near_bands"]
        band_matrix = (col if isinstance(col.dtype, pl.Array) else col.list.to_array(bands)).to_numpy()
        pairs = candidate_pairs(keys, band_matrix, int(p["max_bucket"]))
        self._stats["candidate_pairs"] = pairs.height
        if pairs.height == 0:
            self._clusters = None
            return empty
        assert ctx is not None, "near_dedup needs the texts of candidate rows"
        fields = tuple(dedup_fields(self.kind, p["fields"]))
        # Exact-Jaccard verification in chunks of pairs, each reading the texts of its own pairs
        # from the shard files; more than one chunk is spread over the executor's workers.
        chunk = int(p["verify_chunk"])
        a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
        tasks = [(i, ctx.shard_files, self.kind, fields, int(p["ngram"]), float(p["threshold"]), a[i:i + chunk], b[i:i + chunk])
                 for i in range(0, pairs.height, chunk)]
        if ctx.map_unordered is not None and len(tasks) > 1:
            parts = dict(ctx.map_unordered(verify_pairs, tasks))
        else:
            parts = dict(verify_pairs(t) for t in tasks)
        ok_mask = np.concatenate([parts[i] for i in sorted(parts)])
        verified = pairs.filter(pl.Series(ok_mask, dtype=pl.Boolean))
        self._stats["verified_pairs"] = verified.height
        members = clusters(keys, verified)
        if members.height == 0:
            self._clusters = None
            return empty
        ranked = (
            members.join(frame.select("_key", "id", "source", "_sig_near_words", "_sig_near_full"), on="_key")
            .with_columns(pl.len().over("cluster").alias("cluster_size"))
            .sort(["cluster", "_sig_near_full", "_sig_near_words", "id"], descending=[False, True, True, False])
            .with_columns((pl.int_range(pl.len()).over("cluster") == 0).alias("kept"))
        )
        winners = ranked.filter("kept").select("cluster", pl.col("id").alias("cluster_id"))
        self._clusters = ranked.join(winners, on="cluster").select("_key", "id", "source", "cluster_id", "cluster_size", "kept")
        self._stats["clusters"] = winners.height
        self._stats["rows_in_clusters"] = ranked.height
        if ctx is not None:
            ctx.work_dir.mkdir(parents=True, exist_ok=True)
            self._clusters.sort("_key").write_parquet(ctx.work_dir / "near_dedup_clusters.parquet")
        return self._clusters.filter(~pl.col("kept")).select("_key", pl.lit("near duplicate").alias("reason"))

    def report(self, frame: pl.DataFrame, drop: pl.DataFrame) -> dict[str, Any]:
        stats = dict(getattr(self, "_stats", {}))
        clusters = getattr(self, "_clusters", None)
        if clusters is not None:
            sizes = clusters.filter("kept").group_by("cluster_size").len().sort("cluster_size")
            stats["cluster_sizes"] = {str(k): v for k, v in sizes.iter_rows()}
        stats.update({k: self.params[k] for k in ("ngram", "num_perm", "threshold")})
        return stats


class SampleBudget(GlobalStep):
    """Sample sources down to a budget of words or tokens: `sources = {general_replay =
    {tokens = 1000000}}`. Rows are taken in a seeded pseudo-random order (a hash of the id),
    so the sample is the same whatever the sharding; rows past the budget are dropped."""

    name = "sample_budget"
    defaults = {"sources": None, "seed": 0}

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        super().__init__(params, kind, where, root)
        budgets = self.params["sources"]
        if not isinstance(budgets, dict) or not budgets:
            raise UserError(f"{where}: step 'sample_budget' needs sources = {{name = {{tokens = N}} or {{words = N}}}}")
        for name, b in budgets.items():
            if not (isinstance(b, dict) and len(b) == 1 and next(iter(b)) in ("tokens", "words")
                    and isinstance(next(iter(b.values())), int) and next(iter(b.values())) > 0):
                raise UserError(f"{where}: step 'sample_budget': sources.{name} must be {{tokens = N}} or {{words = N}} (N > 0)")
        self.unit = "tokens" if any("tokens" in b for b in budgets.values()) else "words"

    def signature_columns(self) -> list[str]:
        return ["_sig_budget_rank", "_sig_budget_words", "_sig_budget_tokens"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        if self.unit == "tokens" and "_tokens" not in df.columns:
            raise UserError("step 'sample_budget' with a token budget needs a count_tokens step before it")
        tokens = pl.col("_tokens") if "_tokens" in df.columns else pl.lit(None, dtype=pl.UInt32)
        return df.with_columns(
            pl.col("id").hash(seed=int(self.params["seed"])).alias("_sig_budget_rank"),
            pl.col("_words").alias("_sig_budget_words"),
            tokens.cast(pl.UInt32).alias("_sig_budget_tokens"),
        )

    def decide(self, sigs: pl.LazyFrame, ctx: GlobalContext | None = None) -> pl.DataFrame:
        frame = sigs.select("_key", "id", "source", *self.signature_columns()).collect()
        drops = []
        self._stats: dict[str, Any] = {}
        for name, budget in sorted(self.params["sources"].items()):
            unit, limit = next(iter(budget.items()))
            rows = frame.filter(pl.col("source") == name).sort("_sig_budget_rank", "id")
            size = pl.col(f"_sig_budget_{unit}").cast(pl.Int64)
            rows = rows.with_columns(size.cum_sum().alias("_cum"))
            over = rows.filter(pl.col("_cum") > limit)
            kept = rows.height - over.height
            self._stats[name] = {"budget": {unit: limit}, "rows_in": rows.height, "rows_kept": kept,
                                 f"{unit}_kept": int(rows["_cum"][kept - 1]) if kept else 0}
            drops.append(over.select("_key", pl.lit(f"over the {unit} budget").alias("reason")))
        return pl.concat(drops) if drops else pl.DataFrame(schema={"_key": pl.UInt64, "reason": pl.String})

    def report(self, frame: pl.DataFrame, drop: pl.DataFrame) -> dict[str, Any]:
        return dict(getattr(self, "_stats", {}))


class SameArticle(GlobalStep):
    """One row per article across sources: rows sharing a PMCID, PMID or DOI (from `meta`)
    are one article, reached e.g. as JATS full text, as an S2ORC parse and as a PubMed
    abstract. Kept: full text over an abstract, then the source listed first in `prefer`
    (default: the recipe's source order, so a JATS parse beats a PDF parse), then more
    words, then the smaller id. Dropped rows say which source kept the article."""

    name = "same_article"
    defaults = {"ids": ["pmcid", "pmid", "doi"], "prefer": None}

    def __init__(self, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None):
        super().__init__(params, kind, where, root)
        if kind != "knowledge":
            raise UserError(f"{where}: step 'same_article' applies to knowledge datasets")
        bad = [i for i in self.params["ids"] if i not in ("pmcid", "pmid", "doi")]
        if bad or not self.params["ids"]:
            raise UserError(f"{where}: step 'same_article': ids are a non-empty list of pmcid, pmid, doi (got {bad[:1]})")
        prefer = self.params["prefer"]
        if prefer is not None and not (isinstance(prefer, list) and all(isinstance(x, str) for x in prefer)):
            raise UserError(f"{where}: step 'same_article': prefer is a list of source names")

    def signature_columns(self) -> list[str]:
        return ["_sig_art_pmcid", "_sig_art_pmid", "_sig_art_doi", "_sig_art_full", "_sig_art_words"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        meta = df["meta"]
        full = meta.str.json_path_match("$.article_type").fill_null("") != "abstract"
        return df.with_columns(
            meta.str.json_path_match("$.pmcid").str.to_uppercase().alias("_sig_art_pmcid"),
            meta.str.json_path_match("$.pmid").alias("_sig_art_pmid"),
            meta.str.json_path_match("$.doi").str.to_lowercase().alias("_sig_art_doi"),
            full.alias("_sig_art_full"),
            pl.col("_words").alias("_sig_art_words"),
        )

    def decide(self, sigs: pl.LazyFrame, ctx: GlobalContext | None = None) -> pl.DataFrame:
        from medc.minhash import clusters

        frame = sigs.select("_key", "id", "source", *self.signature_columns()).collect()
        pairs = []
        for name in self.params["ids"]:
            col = f"_sig_art_{name}"
            grouped = frame.filter(pl.col(col).is_not_null() & (pl.col(col) != ""))
            grouped = grouped.select("_key", pl.col("_key").min().over(col).alias("a"))
            pairs.append(grouped.filter(pl.col("_key") != pl.col("a")).select("a", pl.col("_key").alias("b")))
        pair_frame = pl.concat(pairs) if pairs else pl.DataFrame(schema={"a": pl.UInt64, "b": pl.UInt64})
        self._stats = {"articles_seen_in_several_rows": 0, "rows_dropped": 0}
        members = clusters(frame["_key"].to_numpy(), pair_frame)
        if members.height == 0:
            return pl.DataFrame(schema={"_key": pl.UInt64, "reason": pl.String})
        prefer = self.params["prefer"] or []
        rank = (pl.col("_key") // (1 << 48)).cast(pl.Int64)  # the source's position in the recipe
        if prefer:
            order = {name: i for i, name in enumerate(prefer)}
            rank = pl.col("source").replace_strict(order, default=len(order), return_dtype=pl.Int64) * 65536 + rank
        ranked = (
            members.join(frame, on="_key")
            .with_columns(rank.alias("_rank"))
            .sort(["cluster", "_sig_art_full", "_rank", "_sig_art_words", "id"], descending=[False, True, False, True, False])
            .with_columns((pl.int_range(pl.len()).over("cluster") == 0).alias("kept"),
                          pl.col("source").first().over("cluster").alias("kept_source"))
        )
        self._stats = {"articles_seen_in_several_rows": int(ranked["cluster"].n_unique()),
                       "rows_dropped": int((~ranked["kept"]).sum())}
        return ranked.filter(~pl.col("kept")).select(
            "_key", pl.concat_str(pl.lit("same article kept from "), pl.col("kept_source")).alias("reason"))

    def report(self, frame: pl.DataFrame, drop: pl.DataFrame) -> dict[str, Any]:
        return dict(getattr(self, "_stats", {}))


STEPS: dict[str, type[Step]] = {
    cls.name: cls
    for cls in (NormalizeText, QualitySignals, CountTokens, Abbreviations, SplitLong, MinLength, QualityFilter, ExactDedup, NearDedup, Decontaminate, SameArticle, SampleBudget)
}


def make_step(name: str, params: dict[str, Any], kind: str, where: str = "", root: Path | None = None) -> Step:
    if name not in STEPS:
        raise UserError(f"{where}: unknown step {name!r} (available: {', '.join(sorted(STEPS))})")
    return STEPS[name](params, kind, where, root)
