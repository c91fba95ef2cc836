"""MinHash near-duplicate detection on real article text with planted edits."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import polars as pl
from datasets import load_dataset

from medc.text.minhash import jaccard, optimal_bands, shingle_sets, signatures
from tests.conftest import SAMPLES, run_build


def test_banding_is_weighted_toward_recall() -> None:
    bands, rows = optimal_bands(0.8, 128)
    assert bands * rows <= 128
    p = lambda j: 1 - (1 - j**rows) ** bands  # noqa: E731
    assert p(0.8) >= 0.95  # a pair at the threshold almost always becomes a candidate
    assert p(0.3) < 0.01  # dissimilar pairs rarely do


def test_signature_agreement_estimates_jaccard() -> None:
    pqal = json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text())
    base = " ".join(next(iter(pqal.values()))["CONTEXTS"])
    words = base.split()
    rng = random.Random(0)
    edited = list(words)
    for i in rng.sample(range(len(words)), len(words) // 20):
        edited[i] = "CHANGED"
    texts = pl.Series([base, " ".join(edited)])
    sig = signatures(texts, 5, 256, 7)
    estimate = float((sig[0] == sig[1]).mean())
    sets = shingle_sets(texts, 5)
    exact = jaccard(sets[0], sets[1])
    assert 0.3 < exact < 0.9
    assert abs(estimate - exact) < 0.08
    same = signatures(pl.Series([base, base.upper()]), 5, 64, 7)
    assert (same[0] == same[1]).all()


def planted_pqaa(src: Path, n: int = 60) -> list[str]:
    """`n` real PubMedQA abstracts as PQA-A rows, plus edited copies of the first two."""
    src.mkdir(parents=True)
    shutil.copy(SAMPLES / "pubmedqa" / "test_ground_truth.json", src)
    test = set(json.loads((SAMPLES / "pubmedqa" / "test_ground_truth.json").read_text()))
    pqal = json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text())
    train = {k: v for k, v in pqal.items() if k not in test}
    keys = sorted(train, key=int)[:n]
    records = {k: train[k] for k in keys}
    # near-duplicate 1: one word changed in the contexts (same question/answer)
    dup = json.loads(json.dumps(train[keys[0]]))
    dup["CONTEXTS"][0] = dup["CONTEXTS"][0].replace(" the ", " a ", 1)
    records["90000001"] = dup
    # near-duplicate 2: one sentence more (the longer copy is the one kept)
    dup2 = json.loads(json.dumps(train[keys[1]]))
    dup2["CONTEXTS"] = dup2["CONTEXTS"] + ["Additional note."]
    records["90000002"] = dup2
    (src / "ori_pqaa.json").write_text(json.dumps(records))
    return keys


def test_planted_near_duplicates_removed_and_distinct_kept(tmp_path: Path) -> None:
    """Real PubMedQA abstracts as PQA-A rows; two get lightly edited copies."""
    keys = planted_pqaa(tmp_path / "sources" / "pubmedqa")
    out = tmp_path / "out"
    proc = run_build("medc-i", "--sources", str(tmp_path / "sources"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "medc-i" / "build_manifest.json").read_text())
    near = next(g for g in m["global_steps"] if g["step"] == "near_dedup")
    assert near["dropped"] == {"pubmedqa": {"near duplicate": 2}}
    assert near["report"]["clusters"] == 2 and near["report"]["verified_pairs"] == 2
    ids = set(load_dataset(str(out / "medc-i"))["train"]["id"])
    assert len(ids) == 60
    kept = {f"pubmedqa:pqaa:{keys[0]}", "pubmedqa:pqaa:90000002"}  # same length: smaller id; else longer
    assert kept <= ids and f"pubmedqa:pqaa:{keys[1]}" not in ids and "pubmedqa:pqaa:90000001" not in ids
    table = pl.read_parquet(out / ".medc-cache" / "medc-i" / "near_dedup_clusters.parquet")
    assert table.height == 4 and set(table["cluster_size"].to_list()) == {2}
    assert set(table.filter("kept")["id"].to_list()) == kept
