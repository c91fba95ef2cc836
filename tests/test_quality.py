"""Quality signals against hand-computed values; filters re-applied without recomputation."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from medc.engine.plan import shard_groups
from medc.text.quality import compute_signals
from medc.text.quality_rules import GOPHER_DEFAULTS, quality_decision
from tests.conftest import REPO, SAMPLES, run_build

TEXT = "The dog and the cat.\nThe dog and the cat.\n\nIt is 42..."


def test_signals_equal_hand_computed_values() -> None:
    s = compute_signals(pl.Series([TEXT])).row(0, named=True)
    # spaCy tokens (no white space): The dog and the cat . The dog and the cat . It is 42 ...
    assert s["sig_words"] == 16
    assert s["sig_non_symbol_words"] == 13  # ".", ".", "..." are symbols
    assert s["sig_mean_word_length"] == pytest.approx(36 / 13)
    assert s["sig_hash_ratio"] == 0
    assert s["sig_ellipsis_ratio"] == pytest.approx(1 / 16)
    assert s["sig_bullet_lines"] == 0
    assert s["sig_ellipsis_lines"] == pytest.approx(1 / 4)  # 4 lines, one of them empty
    assert s["sig_alpha_words"] == pytest.approx(12 / 16)
    assert s["sig_stop_words"] == 2  # "the", "and" ("The" is not a stop word: case matters)
    assert s["sig_chars"] == 54
    assert s["sig_dup_para_frac"] == 0 and s["sig_dup_para_char_frac"] == 0
    assert s["sig_dup_line_frac"] == pytest.approx(1 / 3)
    assert s["sig_dup_line_char_frac"] == pytest.approx(20 / 54)
    assert s["sig_top_2gram_char_frac"] == pytest.approx(2 * len("The dog") / 54)
    assert s["sig_dup_5gram_char_frac"] == pytest.approx(len("Thedogandthecat") / 54)
    assert s["sig_dup_6gram_char_frac"] == pytest.approx(len("Thedogandthecat.") / 54)
    assert s["sig_dup_10gram_char_frac"] == 0
    # FineWeb's line rules read the 3 non-blank lines: all end in "." and have at most 30 characters.
    assert s["sig_nonblank_lines"] == 3 and s["sig_line_punct_frac"] == 1.0 and s["sig_short_line_frac"] == 1.0
    assert s["sig_line_char_dup_frac"] == pytest.approx(20 / (54 - 3))  # the repeated line over the characters but newlines
    assert s["sig_newlines_per_word"] == pytest.approx(3 / 16)
    assert s["sig_digit_frac"] == pytest.approx(2 / 54)
    assert s["sig_non_ascii_frac"] == 0


def test_batch_equals_one_by_one_and_language() -> None:
    texts = [TEXT, "", "Le patient présentait une douleur thoracique depuis trois jours et une fièvre.", "- a\n- b\n- c"]
    batch = compute_signals(pl.Series(texts))
    single = pl.concat([compute_signals(pl.Series([t])) for t in texts])
    assert batch.equals(single)
    assert batch["sig_lang"].to_list()[2] == "fr" and batch["sig_lang"].to_list()[1] == ""
    assert batch["sig_bullet_lines"][3] == 1.0


def test_gopher_decisions_and_reasons() -> None:
    prose = " ".join(["The patient was admitted with fever and the team started treatment with antibiotics."] * 1)
    abstract = " ".join(next(iter(json.loads((REPO / "samples" / "pubmedqa" / "ori_pqal.json").read_text()).values()))["CONTEXTS"])
    texts = [
        abstract,  # a real PubMed abstract passes
        "the " * 60,  # top 2-gram and duplicated n-grams
        prose,  # too short
        "# " * 20 + " ".join(["word"] * 60) + " the and",
    ]
    reasons = quality_decision(compute_signals(pl.Series(texts)), GOPHER_DEFAULTS).to_list()
    assert reasons[0] is None
    assert reasons[1] == "top_2_gram"
    # One short sentence: its single 4-gram is 24 of its 86 characters (> 0.16), checked
    # before the word count, as in datatrove's repetition-then-quality order.
    assert reasons[2] == "top_4_gram"
    assert reasons[3] == "top_2_gram"  # "# # # ..." and "word word ..."
    sig = compute_signals(pl.Series([prose]))
    no_rep = {**GOPHER_DEFAULTS, "top_3gram": None, "top_4gram": None}
    assert quality_decision(sig, no_rep).to_list() == ["gopher_short_doc"]
    assert quality_decision(sig, {**no_rep, "min_doc_words": None}).to_list() == [None]


def release_bytes(repo: Path) -> dict[str, bytes]:
    """Every file of a built dataset but its manifest (which records times)."""
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in sorted(repo.rglob("*"))
            if p.is_file() and p.name != "build_manifest.json"}


def test_rethresholding_changes_output_without_recomputing(tmp_path: Path) -> None:
    recipe = tmp_path / "medc-k.toml"
    base = (REPO / "pipelines" / "medc-k.toml").read_text()
    recipe.write_text(base)
    sources = tmp_path / "sources"  # the papers, abstracts and the benchmark files of the samples
    for name in ("pmc_jats", "medline", "medqa", "medmcqa", "pubmedqa"):
        shutil.copytree(SAMPLES / name, sources / name)
    out = tmp_path / "out"
    first = run_build("medc-k", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
    assert first.returncode == 0, first.stderr
    first_release = release_bytes(out / "medc-k")
    shards = {p: p.stat().st_mtime_ns for p in (out / ".medc-cache" / "medc-k").rglob("shard-*")}
    m1 = json.loads((out / "medc-k" / "build_manifest.json").read_text())
    rows1 = m1["totals"]["rows"]

    stricter = base.replace("max_non_alpha_words_ratio = 0.4 ", "max_non_alpha_words_ratio = 0.75 ")  # papers' threshold
    assert stricter != base
    recipe.write_text(stricter)
    second = run_build("medc-k", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out), "--keep-dropped")
    assert second.returncode == 0, second.stderr
    assert {p: p.stat().st_mtime_ns for p in shards} == shards, "a shard was recomputed"
    m2 = json.loads((out / "medc-k" / "build_manifest.json").read_text())
    qf = next(s for s in m2["sources"]["pmc_jats"]["steps"] if s["step"] == "quality_filter")
    assert qf["dropped"]["gopher_below_alpha_threshold"] >= 2
    assert m2["totals"]["rows"] < rows1
    dropped = pl.read_parquet(out / "medc-k-dropped" / "pmc_jats.parquet")
    assert set(dropped["reason"]) >= {"gopher_below_alpha_threshold"}
    assert set(dropped["step"]) >= {"quality_filter"}
    released = set(pl.read_parquet(out / "medc-k" / "data" / "pmc_jats").get_column("id"))
    assert released and not released & set(dropped["id"])
    assert f"shards: {len(shards) // 2} reused, 0 keys rewritten, 0 signatures recomputed, 0 signatures restored, 0 recomputed" in second.stdout

    # A global step's parameter (the near-dedup threshold, whose banding changes): no file is
    # parsed again, only the signatures are computed on the cached rows, and the release is the
    # one a fresh build with that recipe gives.
    recipe.write_text(base.replace("threshold = 0.8", "threshold = 0.7"))
    markers = {p: json.loads(p.read_text()) for p in (out / ".medc-cache" / "medc-k").rglob("shard-*.json")}
    third = run_build("medc-k", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
    assert third.returncode == 0, third.stderr
    assert f"shards: 0 reused, 0 keys rewritten, {len(markers)} signatures recomputed, 0 signatures restored, 0 recomputed" in third.stdout
    for path, before in markers.items():
        after = json.loads(path.read_text())
        assert after["files"] == before["files"] and after["seconds"] == before["seconds"] and "resign_seconds" in after
        assert after["signatures"]["near_dedup"] != before["signatures"]["near_dedup"]
        assert after["signatures"]["decontaminate"] == before["signatures"]["decontaminate"]
    fresh = run_build("medc-k", "--sources", str(sources), "--recipe", str(recipe), "--out", str(tmp_path / "fresh"))
    assert fresh.returncode == 0, fresh.stderr
    for path in sorted((tmp_path / "fresh" / "medc-k").rglob("*")):
        if path.is_file() and path.name != "build_manifest.json":
            assert path.read_bytes() == (out / "medc-k" / path.relative_to(tmp_path / "fresh" / "medc-k")).read_bytes(), path.name
    assert len(released) + dropped.height == m2["sources"]["pmc_jats"]["rows_built"]

    # And back to 0.8: the signature columns the 0.7 build replaced were kept beside each shard,
    # so they are restored, not computed; the release is the first build's, byte for byte.
    recipe.write_text(base)
    fourth = run_build("medc-k", "--sources", str(sources), "--recipe", str(recipe), "--out", str(out))
    assert fourth.returncode == 0, fourth.stderr
    assert f"shards: 0 reused, 0 keys rewritten, 0 signatures recomputed, {len(markers)} signatures restored, 0 recomputed" in fourth.stdout
    for path, before in markers.items():
        after = json.loads(path.read_text())
        assert after["signatures_restored"] == ["near_dedup"] and after["signatures"] == before["signatures"]
        assert len(after["signature_copies"]["near_dedup"]) == 2  # the 0.8 and the 0.7 columns
    assert release_bytes(out / "medc-k") == first_release


def test_an_added_file_recomputes_its_own_shard_only(tmp_path: Path) -> None:
    """PMC publishes new articles daily: a file added to a source is parsed, the shards after it
    keep their cached rows (their keys rewritten when their numbers move), and the release is
    the one a fresh build gives. The added file is one that starts a shard of its own, placed
    first: every later shard's number moves."""
    sources = tmp_path / "sources"
    shutil.copytree(SAMPLES / "pmc_jats", sources / "pmc_jats")
    recipe = tmp_path / "medc-k.toml"
    recipe.write_text((REPO / "pipelines" / "medc-k.toml").read_text().replace("files_per_shard = 16 ", "files_per_shard = 2 "))
    args = ["--sources", str(sources), "--recipe", str(recipe)]
    first = run_build("medc-k", *args, "--out", str(tmp_path / "out"))
    assert first.returncode == 0, first.stderr
    n = int(re.search(r"shards: 0 reused, 0 keys rewritten, 0 signatures recomputed, 0 signatures restored, (\d+) recomputed", first.stdout).group(1))
    raw = (SAMPLES / "pmc_jats" / "mds526.nxml").read_text(encoding="utf-8")
    names = (f"pmc_jats/0000-new-{i}.nxml" for i in range(100))  # sorts before every sample
    added = next(name for name in names if len(shard_groups(["first", name], 2)) == 2)  # starts a shard
    (sources / added).write_text(raw.replace('pub-id-type="pmc">3574550', 'pub-id-type="pmc">9999999', 1)
                                 .replace("Socio-demographic inequalities", "New: socio-demographic inequalities", 1), encoding="utf-8")
    second = run_build("medc-k", *args, "--out", str(tmp_path / "out"))
    assert second.returncode == 0, second.stderr
    counts = re.search(r"shards: (\d+) reused, (\d+) keys rewritten, 0 signatures recomputed, 0 signatures restored, 1 recomputed", second.stdout)
    assert counts and int(counts.group(2)) >= 1 and int(counts.group(1)) + int(counts.group(2)) == n
    fresh = run_build("medc-k", *args, "--out", str(tmp_path / "fresh"))
    assert fresh.returncode == 0, fresh.stderr
    for path in sorted((tmp_path / "fresh" / "medc-k").rglob("*")):
        if path.is_file() and path.name != "build_manifest.json":
            assert path.read_bytes() == (tmp_path / "out" / "medc-k" / path.relative_to(tmp_path / "fresh" / "medc-k")).read_bytes()
