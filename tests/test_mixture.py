"""Across sources: one row per article (JATS > S2ORC > abstract, by PMCID / PMID / DOI),
general replay (JSONL, parquet, a dataset named in a *.hf.toml file) sampled to a token
budget, token counts with a real tokenizer, and the recipe's declared mixture in the
manifest, the card and the training loader's weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from medc.errors import UserError
from medc.recipes.recipe import load_recipe
from tests.conftest import REPO, SAMPLES, run_build
from training.data import manifest_weights


def make_sources(root: Path) -> None:
    (root / "pmc_jats").mkdir(parents=True)
    shutil.copy(SAMPLES / "pmc_jats" / "mds526.nxml", root / "pmc_jats")  # PMC3574550, PMID 23149571
    shutil.copy(SAMPLES / "pmc_jats" / "ehp-116-1694.nxml", root / "pmc_jats")
    # The same paper in S2ORC (2019 shape, real body text of another record) and as a PubMed abstract.
    s2 = json.loads((SAMPLES / "s2orc" / "s2orc_example_paper.json").read_text())
    s2["paper_id"] = "999"
    s2["metadata"].update(pmc_id="PMC3574550", pubmed_id=None, doi=None)
    (root / "s2orc").mkdir()
    (root / "s2orc" / "dup.json").write_text(json.dumps(s2))
    shutil.copy(SAMPLES / "s2orc" / "s2orc_example_paper.json", root / "s2orc")  # PMC355891: no other copy
    medline = (SAMPLES / "medline" / "pubmed-29768149.xml").read_text()
    (root / "medline").mkdir()
    (root / "medline" / "same.xml").write_text(medline.replace("<PMID Version=\"1\">29768149</PMID>", "<PMID Version=\"1\">23149571</PMID>", 1))
    shutil.copy(SAMPLES / "medline" / "biopython_pubmed4.xml", root / "medline")
    # General replay text: sentences of the PubMedQA contexts, as JSONL, parquet and a local "hub" dataset.
    pqal = json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text())
    texts = [" ".join(r["CONTEXTS"]) for r in list(pqal.values())[:90]]
    gen = root / "general"
    gen.mkdir()
    (gen / "a.jsonl").write_text("\n".join(json.dumps({"id": f"a{i}", "text": t}) for i, t in enumerate(texts[:30])))
    pl.DataFrame({"id": [f"b{i}" for i in range(30)], "text": texts[30:60]}).write_parquet(gen / "b.parquet")
    hub = root.parent / "local-hub-dataset" / "data"
    hub.mkdir(parents=True)
    pl.DataFrame({"id": [f"c{i}" for i in range(30)], "text": texts[60:90]}).write_parquet(hub / "train-00000-of-00001.parquet")
    (gen / "fineweb.hf.toml").write_text(f'dataset = "{hub.parent.as_posix()}"\nsplit = "train"\nmax_rows = 20\n')


def make_tokenizer(folder: Path) -> Path:
    from training.tiny import train_tokenizer

    texts = [p.read_text(encoding="utf-8") for p in sorted((SAMPLES / "pmc_jats").glob("*.nxml"))]
    train_tokenizer(texts, vocab_size=512).save_pretrained(str(folder))
    return folder


def test_same_article_budget_tokens_and_mixture(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    make_sources(sources)
    tok = make_tokenizer(tmp_path / "tokenizer")
    recipe = (REPO / "pipelines" / "medc-k.toml").read_text()
    recipe = recipe.replace('unit = "words"', 'unit = "tokens"')
    recipe = recipe.replace("{ words = 50000000 }", "{ tokens = 20000 }")
    recipe = recipe.replace('[[steps]]\nstep = "min_length"', f'[[steps]]\nstep = "count_tokens"\ntokenizer = "{tok.as_posix()}"\n\n[[steps]]\nstep = "min_length"', 1)
    recipe = recipe.replace("min_words = 50\n", "min_words = 20\n", 1)
    path = tmp_path / "medc-k.toml"
    path.write_text(recipe)
    out = tmp_path / "out"
    proc = run_build("medc-k", "--sources", str(sources), "--recipe", str(path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    m = json.loads((out / "medc-k" / "build_manifest.json").read_text())

    same = next(g for g in m["global_steps"] if g["step"] == "same_article")
    assert same["dropped"] == {"s2orc": {"same article kept from pmc_jats": 1}, "pubmed_abstracts": {"same article kept from pmc_jats": 1}}
    assert same["report"] == {"articles_seen_in_several_rows": 1, "rows_dropped": 2}
    released = pl.concat([pl.read_parquet(p) for p in sorted((out / "medc-k" / "data").rglob("*.parquet")) if "commercial" not in p.parts])
    ids = set(released["id"].to_list())
    assert "pmc:PMC3574550" in ids and "s2orc:999" not in ids and "pmid:23149571" not in ids
    assert "s2orc:15772371" in ids and any(i.startswith("pmid:") for i in ids)  # papers with no other copy stay

    # Replay: 30 JSONL + 30 parquet + 20 (max_rows) from the local "hub" dataset read, then sampled to 20k tokens.
    replay = m["sources"]["general_replay"]
    assert replay["records"] == 80 and replay["record_errors"] == 0
    budget = next(g for g in m["global_steps"] if g["step"] == "sample_budget")["report"]["general_replay"]
    assert budget["rows_in"] > budget["rows_kept"] > 0 and budget["tokens_kept"] <= 20000
    assert replay["rows"] == budget["rows_kept"] and replay["tokens"] == budget["tokens_kept"]

    # Token counts: per source, the tokenizer's count of the released text.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tok))
    for source in ("pmc_jats", "s2orc", "general_replay"):
        texts = released.filter(pl.col("source") == source)["text"].to_list()
        assert m["sources"][source]["tokens"] == sum(len(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"])

    mix = m["mixture"]
    assert mix["unit"] == "tokens" and mix["missing_groups"] == ["books", "clinical"]
    assert mix["groups"]["papers"]["documents"] == m["sources"]["pmc_jats"]["rows"] + m["sources"]["s2orc"]["rows"] + m["sources"]["pubmed_abstracts"]["rows"]
    assert mix["groups"]["papers"]["effective_share"] == pytest.approx(15 / 16, abs=1e-6)
    weights = mix["source_weights"]
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert weights["general_replay"] == pytest.approx(1 / 16, abs=1e-6)
    papers = {s: m["sources"][s]["tokens"] for s in ("pmc_jats", "s2orc", "pubmed_abstracts")}
    assert weights["pmc_jats"] == pytest.approx(15 / 16 * papers["pmc_jats"] / sum(papers.values()), abs=1e-5)
    assert manifest_weights(str(out / "medc-k")) == weights  # what training samples by
    card = (out / "medc-k" / "README.md").read_text()
    assert "### Mixture" in card and "| `papers` | `pmc_jats`, `s2orc`, `pubmed_abstracts` | 15 | 71.4% | 93.8% |" in card


def test_mixture_recipe_errors(tmp_path: Path) -> None:
    base = (REPO / "pipelines" / "medc-k.toml").read_text()
    cases = {
        'general = ["general_replay"] }': ("general = [\"general_replay\", \"pmc_jats\"] }", "is in mixture groups"),
        'unit = "words"': ('unit = "tokens"', "needs a count_tokens step"),
        "clinical = 1, ": ("", "needs both a member list and a weight"),
    }
    for old, (new, message) in cases.items():
        path = tmp_path / "r.toml"
        path.write_text(base.replace(old, new, 1))
        with pytest.raises(UserError, match=message):
            load_recipe(path)
