"""Dedup steps (global): exact duplicates, MinHash near-duplicates verified by exact
Jaccard, and one row per article across sources (same PMCID / PMID / DOI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from medc.files.storage import stage_files
from medc.schema import DEDUP_FIELDS
from medc.steps.base import Decision, GlobalContext, GlobalStep, register_step, text_expr
from medc.steps.params import ParamError, StepParams, positive_int
from medc.steps.rows import KeptRows, read_batches, source_index
from medc.text.minhash import (band_entries, band_hashes, bucket_pairs, clusters, jaccard, optimal_bands, shingle_sets,
                               signatures)


def dedup_fields(kind: str, fields: list[str] | None) -> tuple[str, ...]:
    """The fields a dedup step compares: the recipe's `fields`, else the kind's `DEDUP_FIELDS`."""
    return tuple(fields) if fields else DEDUP_FIELDS[kind]


@dataclass(frozen=True)
class ExactDedupParams(StepParams):
    fields: list[str] | None = None


@register_step("exact_dedup")
class ExactDedup(GlobalStep):
    """Keep the first row of each group whose normalised text is identical (across sources).

    Text is lower-cased with white space collapsed; the key is a 128-bit hash (two seeded
    64-bit hashes). For instructions the `input` and `output` are compared (instructions
    are templated phrasings and may differ for the same content).
    """

    Params = ExactDedupParams
    params: ExactDedupParams

    def signature_columns(self) -> list[str]:
        return ["_sig_exact_h1", "_sig_exact_h2"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        text = text_expr(self.kind, dedup_fields(self.kind, self.params.fields))
        norm = text.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
        return df.with_columns(
            norm.hash(seed=0x5EED0001).alias("_sig_exact_h1"),
            norm.hash(seed=0x5EED0002).alias("_sig_exact_h2"),
        )

    def decide(self, rows: KeptRows, ctx: GlobalContext) -> Decision:
        """Per hash partition of the key: equal texts are in the same partition."""
        first = pl.col("_key").min().over(["_sig_exact_h1", "_sig_exact_h2"])
        drops = [part.filter(pl.col("_key") != first).select("_key", pl.lit("exact duplicate").alias("reason"))
                 for part in rows.partitions(self.signature_columns(), by="_sig_exact_h1")]
        return Decision(pl.concat(drops)) if drops else Decision()


def verify_pairs(task: tuple[Any, ...]) -> tuple[int, np.ndarray]:
    """One chunk of near-duplicate candidate pairs checked by exact Jaccard (runs in a worker)."""
    index, shard_files, kind, fields, ngram, threshold, a, b = task
    wanted = pl.Series(np.unique(np.concatenate([a, b])), dtype=pl.UInt64).implode()
    sets: dict[int, np.ndarray] = {}
    for path in stage_files(list(shard_files)):  # a slice of a shard at a time: only the wanted texts are held
        for texts in read_batches(path, ["_key", *fields], pl.col("_key").is_in(wanted)):
            joined = texts.select("_key", text_expr(kind, tuple(fields)).alias("t"))
            sets.update(zip(joined["_key"].to_list(), shingle_sets(joined["t"], ngram)))
    return index, np.array([jaccard(sets[int(x)], sets[int(y)]) >= threshold for x, y in zip(a, b)], dtype=bool)


def chunk_starts(pairs: pl.DataFrame, words: pl.DataFrame, max_pairs: int, max_words: int) -> list[int]:
    """Where each verification chunk of the candidate `pairs` (a, b) starts: a chunk has at
    most `max_pairs` pairs and, summed over its pairs, at most about `max_words` words of
    their two documents (`words`: `_key, _sig_near_words` of the candidates), so a chunk of
    full papers holds a bounded amount of text."""
    words = words.select("_key", "_sig_near_words")
    sized = (pairs.join(words.rename({"_key": "a", "_sig_near_words": "wa"}), on="a", how="left", maintain_order="left")
             .join(words.rename({"_key": "b", "_sig_near_words": "wb"}), on="b", how="left", maintain_order="left"))
    cost = (sized["wa"].cast(pl.Int64).fill_null(0) + sized["wb"].cast(pl.Int64).fill_null(0)).to_numpy()
    by_words = (np.cumsum(cost) - cost) // max_words  # a pair starts a new chunk once the words before it pass a multiple
    by_pairs = np.arange(len(cost)) // max_pairs
    return [0, *(np.flatnonzero((np.diff(by_words) != 0) | (np.diff(by_pairs) != 0)) + 1).tolist()]


@dataclass(frozen=True)
class NearDedupParams(StepParams):
    ngram: int = 5  # word shingles
    num_perm: int = 128
    threshold: float = 0.8  # Jaccard similarity
    bands: int | None = None  # default: derived from the threshold (weighted toward recall)
    rows: int | None = None
    seed: int = 42
    fields: list[str] | None = None
    max_bucket: int = 50  # an LSH bucket larger than this pairs its rows with its first row only
    verify_chunk: int = 200_000  # candidate pairs per verification task, at most
    verify_words: int = 20_000_000  # and words of their documents (a task holds their texts and shingles)

    def check(self) -> None:
        positive_int(self, "ngram", "num_perm", "max_bucket", "verify_chunk", "verify_words")
        if not 0 < self.threshold <= 1:
            raise ParamError("threshold", "threshold is a Jaccard similarity in (0, 1]")
        if (self.bands is None) != (self.rows is None):
            raise ParamError("bands", "give both bands and rows, or neither")
        if self.bands is not None and self.rows is not None:
            positive_int(self, "bands", "rows")
            if self.bands * self.rows > self.num_perm:
                raise ParamError("bands", "bands * rows must not exceed num_perm")

    def banding(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands(self.threshold, self.num_perm)


@register_step("near_dedup")
class NearDedup(GlobalStep):
    """MinHash LSH near-duplicate removal, verified by exact Jaccard (see `medc.text.minhash`).

    One row is kept per cluster of near-duplicates, by preference: full text (rows whose
    `meta` lists sections) over abstracts, then more words, then the smaller id. Cluster
    membership (`cluster`, `cluster_size`, `kept`) is written to `near_dedup_clusters.parquet`
    in the build's work folder.
    """

    Params = NearDedupParams
    params: NearDedupParams

    def signature_columns(self) -> list[str]:
        return ["_sig_near_bands", "_sig_near_words", "_sig_near_full"]

    def signature_key(self) -> dict[str, Any]:
        """The band hashes depend on the shingles, permutations, seed, fields and the banding
        (derived from the threshold); `max_bucket` and `verify_chunk` and the verification
        threshold itself are used by `decide` alone."""
        p = self.params
        return {"ngram": p.ngram, "num_perm": p.num_perm, "seed": p.seed, "fields": p.fields, "banding": list(p.banding())}

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        text = df.select(text_expr(self.kind, dedup_fields(self.kind, p.fields)).alias("t"))["t"]
        bands, rows = p.banding()
        bh = band_hashes(signatures(text, p.ngram, p.num_perm, p.seed), bands, rows)
        full = df["meta"].str.json_path_match("$.sections").fill_null("[]") != "[]" if "meta" in df.columns else pl.Series([False] * df.height)
        return df.with_columns(
            pl.Series("_sig_near_bands", bh, dtype=pl.Array(pl.UInt64, bands)),
            text.str.count_matches(r"\S+").cast(pl.UInt32).alias("_sig_near_words"),
            full.alias("_sig_near_full"),
        )

    def decide(self, rows: KeptRows, ctx: GlobalContext) -> Decision:
        p = self.params
        bands, band_rows = p.banding()
        stats: dict[str, Any] = {"bands": bands, "rows": band_rows, "candidate_pairs": 0, "verified_pairs": 0, "clusters": 0,
                                 "rows_in_clusters": 0}
        found = self._clusters(rows, ctx, stats)
        if found is None or found[0].height == 0:
            return Decision(report=self._report(stats, None))
        members, candidates = found
        ranked = (
            members.join(candidates, on="_key")
            .with_columns(pl.len().over("cluster").alias("cluster_size"))
            .sort(["cluster", "_sig_near_full", "_sig_near_words", "id"], descending=[False, True, True, False])
            .with_columns((pl.int_range(pl.len()).over("cluster") == 0).alias("kept"))
        )
        winners = ranked.filter("kept").select("cluster", pl.col("id").alias("cluster_id"))
        table = ranked.join(winners, on="cluster").select("_key", "id", "source", "cluster_id", "cluster_size", "kept")
        stats["clusters"] = winners.height
        stats["rows_in_clusters"] = ranked.height
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        table.sort("_key").write_parquet(ctx.work_dir / "near_dedup_clusters.parquet")
        drops = table.filter(~pl.col("kept")).select("_key", pl.lit("near duplicate").alias("reason"))
        return Decision(drops, self._report(stats, table))

    def _clusters(self, rows: KeptRows, ctx: GlobalContext, stats: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """Clusters (`_key`, `cluster`) of candidate pairs that pass the exact-Jaccard check,
        and the facts that size the verification chunks and rank a cluster's rows (`_key, id,
        source, _sig_near_words, _sig_near_full` of the candidates, read once).

        Candidates are the rows sharing an LSH bucket (a band's hash), found a hash partition
        of the buckets at a time: the driver holds one partition's (key, band, hash) entries."""
        p = self.params
        bands = stats["bands"]

        def entries(frame: pl.DataFrame) -> pl.DataFrame:
            col = frame["_sig_near_bands"]
            matrix = (col if isinstance(col.dtype, pl.Array) else col.list.to_array(bands)).to_numpy()
            return band_entries(frame["_key"].to_numpy(), matrix)

        found = [bucket_pairs(part, p.max_bucket)
                 for part in rows.partitions(["_sig_near_bands"], by="h", where=pl.col("_sig_near_words") > 0,
                                             expand=entries, entries_per_row=bands)]
        pairs = pl.concat(found).unique().sort("a", "b") if found else pl.DataFrame(schema={"a": pl.UInt64, "b": pl.UInt64})
        stats["candidate_pairs"] = pairs.height
        if pairs.height == 0:
            return None
        # Exact-Jaccard verification in chunks of pairs, each reading the texts of its own pairs
        # from the shard files; more than one chunk is spread over the executor's workers.
        fields = dedup_fields(self.kind, p.fields)
        a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
        keys = pl.concat([pairs["a"], pairs["b"]]).unique().implode()
        candidates = rows.collect(["id", "source", "_sig_near_words", "_sig_near_full"], where=pl.col("_key").is_in(keys))
        starts = chunk_starts(pairs, candidates, p.verify_chunk, p.verify_words)
        tasks = [(i, ctx.shard_files, self.kind, fields, p.ngram, p.threshold, a[i:j], b[i:j])
                 for i, j in zip(starts, [*starts[1:], pairs.height])]
        if ctx.map_unordered is not None and len(tasks) > 1:
            parts = dict(ctx.map_unordered(verify_pairs, tasks))
        else:
            parts = dict(verify_pairs(t) for t in tasks)
        verified = pairs.filter(pl.Series(np.concatenate([parts[i] for i in sorted(parts)]), dtype=pl.Boolean))
        stats["verified_pairs"] = verified.height
        return clusters(verified), candidates

    def _report(self, stats: dict[str, Any], table: pl.DataFrame | None) -> dict[str, Any]:
        if table is not None:
            sizes = table.filter("kept").group_by("cluster_size").len().sort("cluster_size")
            stats["cluster_sizes"] = {str(k): v for k, v in sizes.iter_rows()}
        return {**stats, "ngram": self.params.ngram, "num_perm": self.params.num_perm, "threshold": self.params.threshold}


ARTICLE_IDS = ("pmcid", "pmid", "doi")


@dataclass(frozen=True)
class SameArticleParams(StepParams):
    ids: list[str] = ("pmcid", "pmid", "doi")  # type: ignore[assignment]  # (a tuple: defaults must be immutable)
    prefer: list[str] | None = None  # source names, best first (default: the recipe's source order)

    def check(self) -> None:
        bad = [i for i in self.ids if i not in ARTICLE_IDS]
        if bad or not self.ids:
            raise ParamError("ids", f"ids are a non-empty list of pmcid, pmid, doi (got {bad[:1]})")


@register_step("same_article")
class SameArticle(GlobalStep):
    """One row per article across sources: rows sharing a PMCID, PMID or DOI (from `meta`)
    are one article, reached e.g. as JATS full text, as an S2ORC parse and as a PubMed
    abstract. Kept: full text over an abstract, then the source listed first in `prefer`
    (default: the recipe's source order, so a JATS parse beats a PDF parse), then more
    words, then the smaller id. Dropped rows say which source kept the article."""

    Params = SameArticleParams
    params: SameArticleParams
    kinds = ("knowledge",)

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

    def decide(self, rows: KeptRows, ctx: GlobalContext) -> Decision:
        pairs = []
        for name in self.params.ids:  # rows sharing an id, a hash partition of the ids at a time
            col = f"_sig_art_{name}"
            for part in rows.partitions([col], by=col, where=pl.col(col).is_not_null() & (pl.col(col) != "")):
                grouped = part.select("_key", pl.col("_key").min().over(col).alias("a"))
                pairs.append(grouped.filter(pl.col("_key") != pl.col("a")).select("a", pl.col("_key").alias("b")))
        pair_frame = pl.concat(pairs) if pairs else pl.DataFrame(schema={"a": pl.UInt64, "b": pl.UInt64})
        members = clusters(pair_frame)
        if members.height == 0:
            return Decision(report={"articles_seen_in_several_rows": 0, "rows_dropped": 0})
        frame = rows.collect(["id", "source", "_sig_art_full", "_sig_art_words"], where=pl.col("_key").is_in(members["_key"].implode()))
        prefer = self.params.prefer or []
        rank = source_index(pl.col("_key")).cast(pl.Int64)  # the source's position in the recipe
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
        drops = ranked.filter(~pl.col("kept")).select(
            "_key", pl.concat_str(pl.lit("same article kept from "), pl.col("kept_source")).alias("reason"))
        return Decision(drops, {"articles_seen_in_several_rows": int(ranked["cluster"].n_unique()),
                                "rows_dropped": int((~ranked["kept"]).sum())})
