"""End to end: `python -m medc.build` on real sample files, then `load_dataset` on the repos."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from datasets import load_dataset

from medc.engine.global_stage import global_decisions
from medc.recipes.recipe import load_recipe
from tests.conftest import REPO, SAMPLES, run_build

PQAL_TRAIN = 500  # 1000 PQA-L questions minus the 500 test PMIDs
MEDC_I_CONFIGS = {"rationale_qa", "dialogue", "knowledge_graph"}


def files_by_relpath(root: Path, pattern: str = "**/*.parquet") -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob(pattern)) if p.is_file() and ".medc-cache" not in p.parts}


def front_matter(card: Path) -> dict:
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_default_build_loads_with_datasets(default_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(default_build)
    k = load_dataset("medc-k")
    i = load_dataset("medc-i")
    assert k["train"].num_rows == 17  # 6 articles, 3 abstracts, 2 S2ORC papers, 6 textbook pieces
    assert set(i["train"]["task"]) == MEDC_I_CONFIGS
    assert i["train"].num_rows == sum(load_dataset("medc-i", c)["train"].num_rows for c in MEDC_I_CONFIGS)
    assert load_dataset("medc-i", "rationale_qa")["train"].num_rows == PQAL_TRAIN
    assert set(k["train"]["source"]) == {"pmc_jats", "pubmed_abstracts", "s2orc", "textbooks"}
    assert k["train"].column_names == ["id", "source", "title", "text", "license", "meta"]
    assert i["train"].column_names == ["id", "source", "task", "instruction", "input", "output", "messages", "license", "meta"]
    by_id = {r["id"]: r for r in k["train"]}
    assert by_id["pmc:PMC3574550"]["license"] == "cc-by-nc-3.0"
    assert json.loads(by_id["pmc:PMC3574550"]["meta"])["pmid"] == "23149571"
    # Per-source configs load too.
    assert load_dataset("medc-k", "pmc_jats")["train"].num_rows == 6
    msgs = load_dataset("medc-i", "rationale_qa")["train"][0]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert "umls" in set(load_dataset("medc-i", "knowledge_graph")["train"]["license"])


def test_repo_layout_card_and_manifest(default_build: Path) -> None:
    repo = default_build / "medc-k"
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()) == [
        "README.md", "build_manifest.json", "data/commercial/train-00000-of-00001.parquet",
        "data/pmc_jats/train-00000-of-00001.parquet", "data/pubmed_abstracts/train-00000-of-00001.parquet",
        "data/s2orc/train-00000-of-00001.parquet", "data/textbooks/train-00000-of-00001.parquet",
        "length_distribution.png",
    ]
    fm = front_matter(repo / "README.md")
    configs = {c["config_name"]: c for c in fm["configs"]}
    assert configs["default"]["default"] is True
    assert configs["pmc_jats"]["data_files"] == [{"split": "train", "path": "data/pmc_jats/train-*.parquet"}]
    assert fm["license"] == "other"  # several licences; each row carries its own

    m = json.loads((repo / "build_manifest.json").read_text())
    assert m["recipe"]["file"] == "medc-k.toml"
    assert len(m["recipe"]["sha256"]) == 64
    assert m["medc_version"]
    inputs = {x["path"]: x for x in m["inputs"]}
    knowledge_dirs = ("pmc_jats", "medline", "s2orc", "textbooks", "clinical_notes")
    assert set(inputs) == {p.relative_to(SAMPLES).as_posix() for d in knowledge_dirs for p in (SAMPLES / d).rglob("*")
                           if p.is_file() and not p.name.endswith(".txt")}  # every bundled knowledge file but licence texts
    for rel, entry in inputs.items():
        assert entry["sha256"] == hashlib.sha256((SAMPLES / rel).read_bytes()).hexdigest()
        if rel.startswith(("pmc_jats/", "medline/")):
            assert entry["rows"] == 1
    src = m["sources"]["pmc_jats"]
    assert [s["step"] for s in src["steps"]] == ["quality_signals", "weight", "min_length", "quality_filter", "unique_ids", "retractions", "select",
                                                   "decontaminate", "same_article",
                                                   "sample_budget", "exact_dedup", "near_dedup"]
    assert all({"in", "out", "dropped"} <= set(s) for s in src["steps"])
    out = m["configs"]["pmc_jats"]["outputs"][0]
    assert out["sha256"] == hashlib.sha256((repo / out["path"]).read_bytes()).hexdigest()
    assert m["errors"] == [] and m["error_budget"]["exceeded"] is False
    assert set(m["timings"]) >= {"map_seconds", "global_seconds", "write_seconds", "total_seconds"}
    # Throughput per source and stage (per core, summed over shards): parse counts the rows built
    # and the input files' bytes, a map step the rows it received and the text built.
    jats = m["throughput"]["pmc_jats"]
    assert {"parse", "quality_signals", "signatures:near_dedup", "signatures:decontaminate"} <= set(jats)
    built = m["sources"]["pmc_jats"]["rows_built"]
    assert jats["parse"]["docs"] == built and jats["parse"]["megabytes"] * 1e6 == pytest.approx(
        sum(f["bytes"] for f in m["inputs"] if f["source"] == "pmc_jats"), abs=1e3)
    quality_in = next(st["in"] for st in m["sources"]["pmc_jats"]["steps"] if st["step"] == "quality_signals")
    assert jats["quality_signals"]["docs"] == quality_in
    assert jats["parse"]["seconds"] > 0 and jats["quality_signals"]["seconds"] > 0
    for t in jats.values():  # seconds are rounded: the rate is checked where they are not tiny; the rate to 0.1
        assert t["seconds"] >= 0 and (t["seconds"] < 0.01 or t["docs_per_s"] == pytest.approx(t["docs"] / t["seconds"], rel=0.05, abs=0.051))
    assert all(m["timings"][f"global_step:{g['step']}_seconds"] >= 0 for g in m["global_steps"])
    # No path of the build machine leaks into what gets published.
    blob = (repo / "build_manifest.json").read_text() + (repo / "README.md").read_text()
    assert str(SAMPLES) not in blob and str(default_build) not in blob

    mi = json.loads((default_build / "medc-i" / "build_manifest.json").read_text())
    assert mi["sources"]["pubmedqa"]["skipped"] == {"benchmark test set (PubMedQA PQA-L test)": 500}
    card_i = (default_build / "medc-i" / "README.md").read_text()
    assert "benchmark test set (PubMedQA PQA-L test): 500" in card_i

    # The card says what this build holds, from its manifest, and cites the sources that gave rows.
    card = (repo / "README.md").read_text()
    shares = {name: s["words"] for name, s in m["sources"].items() if s["status"] == "ok" and s["rows"]}
    first = max(shares, key=shares.get)
    assert f"This build holds `{first}` ({shares[first] / sum(shares.values()):.0%} of the words" in card
    assert "Not in this build (no input, or no row left): `clinical_notes`, `general_replay`." in card
    assert "@inproceedings{lo2020s2orc," in card and "johnson2016mimic" not in card  # S2ORC gave rows, MIMIC none
    assert "read into other rows, not lost: metadata row (joined to its pdf_parse): 1000" in card
    assert "`medqa` | medqa | - | not built (benchmark test files only)" in card_i
    # An example row per config and the meta keys of each source, read from the released files.
    assert card.count("```json") == sum(1 for c in m["configs"].values() if c["rows"]) == 4
    assert "| `pmc_jats` | `article_type`, `doi`, `journal`, `journal_iso`, `journal_nlm_id`" in card and '"source": "pubmedqa"' in card_i
    # What a demanding reader asks of a card: the curation policy with its counts, retractions,
    # personal information, known limitations, what the figure plots, and for rationale_qa
    # how many rows carry a rationale.
    assert "### Curation policy" in card and "**guidelines**: x3.0 for publication_types" in card
    assert "**pubmed notices and comments** drops rows with publication_types" in card
    assert "rows removed by the `retractions` step" in card and "## Personal and sensitive information" in card
    assert "## Known limitations" in card and "## Known limitations" in card_i
    assert "both axes are logarithmic" in card
    rationale = m_i_rationale_counts(default_build / "medc-i")
    assert rationale and all(f"| `{src}` | {d:,} | 0 | {a:,} |" in card_i for src, (d, a) in rationale.items())


def m_i_rationale_counts(repo: Path) -> dict[str, tuple[int, int]]:
    """Per source of rationale_qa: rows whose output explains the answer (a PubMedQA long
    answer, a MedMCQA `exp`), and answer-only rows (MedQA), read with the row's own fields."""
    rows = pl.read_parquet(sorted((repo / "data" / "rationale_qa").glob("*.parquet")))
    out: dict[str, list[int]] = {}
    for source, output, meta in zip(rows["source"], rows["output"], rows["meta"]):
        answer_only = source == "medqa" or (source == "medmcqa" and output.count("\n\n") == 0)
        out.setdefault(source, [0, 0])[1 if answer_only else 0] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_two_builds_give_identical_bytes(default_build: Path, tmp_path: Path) -> None:
    """Another build, one worker instead of two, in another folder: the same parquet and cards."""
    proc = run_build("all", "--out", str(tmp_path), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    first = files_by_relpath(default_build, "medc-*/**/*")
    second = files_by_relpath(tmp_path, "medc-*/**/*")
    first = {k: v for k, v in first.items() if not k.endswith("build_manifest.json")}
    second = {k: v for k, v in second.items() if not k.endswith("build_manifest.json")}
    assert first.keys() == second.keys()
    assert any(k.endswith(".parquet") for k in first)
    for key in first:
        assert first[key] == second[key], f"{key} differs between two builds"


def test_global_steps_decide_the_same_in_hash_partitions(default_build: Path, tmp_path: Path) -> None:
    """The global stage on the default build's shards, holding every row at once and in hash
    partitions spilled to disk (at least five of the rows; many more of the LSH band entries),
    near-duplicate candidates verified in many small chunks: the same drops, reasons and step
    reports."""
    steps_seen: set[str] = set()
    candidates = 0
    for name, partition_rows in (("medc-k", 3), ("medc-i", 100)):
        recipe = load_recipe(REPO / "pipelines" / f"{name}.toml")
        shards = sorted((default_build / ".medc-cache" / name).rglob("shard-*.parquet"))
        rows = sum(pl.scan_parquet(s).select(pl.len()).collect().item() for s in shards)
        assert rows >= 5 * partition_rows
        whole = global_decisions(recipe, shards, SAMPLES, tmp_path / name / "whole")
        # ... and near-duplicate candidates verified in chunks of at most 3 pairs and 500 words
        steps = tuple(dataclasses.replace(s, params={**s.params, "verify_chunk": 3, "verify_words": 500}) if s.step == "near_dedup" else s
                      for s in recipe.steps)
        parted = global_decisions(dataclasses.replace(recipe, partition_rows=partition_rows, steps=steps), shards, SAMPLES,
                                  tmp_path / name / "parted")
        assert whole[0].sort("_key").equals(parted[0].sort("_key"))
        assert whole[1] == parted[1]
        assert not list((tmp_path / name / "parted" / "spill").iterdir())  # spilled partitions removed
        steps_seen |= set(whole[0]["step"].to_list())
        candidates = max(candidates, next(r.report or {} for r in whole[1] if r.step == "near_dedup").get("candidate_pairs", 0))
    assert candidates > 3  # so verification ran in several chunks
    # the grouping steps dropped rows here, so their partitioned path decided something
    assert {"unique_ids", "exact_dedup", "near_dedup"} <= steps_seen, steps_seen


def make_many_articles(root: Path, n: int) -> None:
    """`n` distinct JATS articles made from one real sample (new PMCID and title each)."""
    raw = (SAMPLES / "pmc_jats" / "mds526.nxml").read_text(encoding="utf-8")
    folder = root / "pmc_jats"
    folder.mkdir(parents=True)
    for i in range(n):
        doc = raw.replace('<article-id pub-id-type="pmc">3574550', f'<article-id pub-id-type="pmc">{9000000 + i}', 1)
        doc = doc.replace("Socio-demographic inequalities in stage", f"Copy {i}: socio-demographic inequalities in stage", 1)
        (folder / f"a{i:04d}.nxml").write_text(doc, encoding="utf-8")


def one_file_per_shard_recipe(tmp_path: Path) -> Path:
    """The default MedC-K recipe cut down to what resuming is about: one file per shard,
    small output files, and only cheap steps (the copies are near-duplicates by design)."""
    text = (REPO / "pipelines" / "medc-k.toml").read_text()
    text = text[: text.index("[[steps]]")]
    text = text.replace("files_per_shard = 16", "files_per_shard = 1").replace("rows_per_file = 100000", "rows_per_file = 25")
    text += '[[steps]]\nstep = "min_length"\nmin_words = 50\n\n[[steps]]\nstep = "exact_dedup"\n'
    path = tmp_path / "medc-k.toml"
    path.write_text(text)
    return path


def test_killed_build_resumes_to_identical_output(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    make_many_articles(sources, 120)
    recipe = one_file_per_shard_recipe(tmp_path)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    args = ["medc-k", "--sources", str(sources), "--recipe", str(recipe), "--workers", "1", "--quiet"]

    proc = subprocess.Popen([sys.executable, "-m", "medc.build", *args, "--out", str(killed)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cache = killed / ".medc-cache" / "medc-k" / "pmc_jats"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cache.glob("shard-*.json"))) < 10:
        assert proc.poll() is None, f"the build ended before it could be killed: {proc.stderr.read().decode()}"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Completed = its JSON marker was written (a parquet without one was cut short and is redone).
    done_before = {p.with_suffix(".parquet").name: p.with_suffix(".parquet").stat().st_mtime_ns for p in cache.glob("shard-*.json")}
    assert 10 <= len(done_before) < 120, "the build should have been killed part-way"
    assert not (killed / "medc-k" / "build_manifest.json").exists()

    resumed = run_build(*args[:-1], "--out", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    for name, mtime in done_before.items():
        marker = cache / name.replace(".parquet", ".json")
        if marker.exists() and (cache / name).stat().st_mtime_ns == mtime:
            continue
        raise AssertionError(f"completed shard {name} was redone")

    full = run_build(*args[:-1], "--out", str(clean))
    assert full.returncode == 0, full.stderr
    a, b = files_by_relpath(killed / "medc-k"), files_by_relpath(clean / "medc-k")
    assert len(a) == 5  # 120 rows in files of 25
    assert a == b
    m = json.loads((killed / "medc-k" / "build_manifest.json").read_text())
    assert m["totals"]["rows"] == 120


def hostile_sources(root: Path) -> None:
    jats = root / "pmc_jats"
    jats.mkdir(parents=True)
    for name in ("mds526.nxml", "ehp-116-1694.nxml"):
        shutil.copy(SAMPLES / "pmc_jats" / name, jats / name)
    from tests.test_xmlsafe import BILLION_LAUGHS, xxe

    (jats / "bomb.nxml").write_bytes(BILLION_LAUGHS)
    (jats / "xxe.nxml").write_bytes(xxe(root / "secret.txt"))
    (root / "secret.txt").write_text("TOP-SECRET")
    raw = (SAMPLES / "pmc_jats" / "pntd.0002065.nxml").read_bytes()
    (jats / "truncated.nxml").write_bytes(raw[: len(raw) // 2])
    (jats / "not-gzip.nxml.gz").write_bytes(b"this is not gzip data")
    (jats / "other-root.xml").write_bytes(b"<html><body><p>hello</p></body></html>")
    qa = root / "pubmedqa"
    qa.mkdir()
    shutil.copy(SAMPLES / "pubmedqa" / "test_ground_truth.json", qa)
    pqal = (SAMPLES / "pubmedqa" / "ori_pqal.json").read_bytes()
    (qa / "ori_pqal.json").write_bytes(pqal[: len(pqal) // 3])
    # A well-formed PQA-A file with one record missing its question: a record error, the other row is built.
    good = {"QUESTION": "Is it?", "CONTEXTS": ["Some context."], "LABELS": ["BACKGROUND"], "LONG_ANSWER": "It is.", "final_decision": "yes"}
    (qa / "ori_pqaa.json").write_text(json.dumps({"111": good, "222": {**good, "QUESTION": None}}))


def test_malformed_and_hostile_inputs_are_reported_and_the_build_goes_on(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    hostile_sources(sources)
    out = tmp_path / "out"
    proc = run_build("all", "--sources", str(sources), "--out", str(out), "--workers", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # error budget exceeded
    assert "Traceback" not in proc.stderr
    bad = {
        "pmc_jats/bomb.nxml": "declares its own entities",
        "pmc_jats/xxe.nxml": "declares its own entities",
        "pmc_jats/truncated.nxml": "malformed XML",
        "pmc_jats/not-gzip.nxml.gz": "gzip",
        "pmc_jats/other-root.xml": "not a JATS <article>",
        "pubmedqa/ori_pqal.json": "malformed JSON",
        "pubmedqa/ori_pqaa.json": "missing required field(s) QUESTION",
    }
    for file in bad:
        assert file in proc.stdout, f"summary does not name {file}"
    errors = json.loads((out / "medc-k" / "build_manifest.json").read_text())["errors"]
    errors += json.loads((out / "medc-i" / "build_manifest.json").read_text())["errors"]
    # The truncated PQA-L file is also the PubMedQA test set: decontamination says it could not check it.
    assert {"source": "(decontaminate)", "file": "pubmedqa/ori_pqal.json", "record": "",
            "reason": "benchmark 'pubmedqa' not checked: ori_pqal.json: malformed JSON: Expecting value: line 11751 column 4 (char 861595)"} in errors
    errors = [e for e in errors if e["source"] != "(decontaminate)"]
    by_file = {e["file"]: e["reason"] for e in errors}
    assert set(by_file) == set(bad)
    assert {"source": "pubmedqa", "file": "pubmedqa/ori_pqaa.json", "record": "PMID 222",
            "reason": "missing required field(s) QUESTION"} in errors
    assert [i for i in load_dataset(str(out / "medc-i"))["train"]["id"] if not i.startswith("abbr:")] == ["pubmedqa:pqaa:111"]
    for file, reason in bad.items():
        assert reason in by_file[file], (file, by_file[file])
    for repo in ("medc-k", "medc-i"):
        text = "".join(p.read_text(errors="replace") for p in (out / repo).rglob("*") if p.is_file() and p.suffix in (".json", ".md"))
        assert "TOP-SECRET" not in text
    # The good articles were still built and load.
    k = load_dataset(str(out / "medc-k"))["train"]
    assert sorted(k["id"]) == ["pmc:PMC2599765", "pmc:PMC3574550"]
    assert "lol" not in "".join(k["text"])

    # The same build with a lenient budget (its shards are reused: only the budget decision differs).
    lenient = run_build("all", "--sources", str(sources), "--out", str(out), "--error-budget", "1")
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "errors" in lenient.stdout and "pmc_jats/bomb.nxml" in lenient.stdout  # still reported


def test_absent_and_empty_source_folders(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    (sources / "pmc_jats").mkdir(parents=True)
    (sources / "pmc_jats" / "notes.txt").write_text("no articles here")
    qa = sources / "pubmedqa"
    qa.mkdir()
    for name in ("ori_pqal.json", "test_ground_truth.json"):
        shutil.copy(SAMPLES / "pubmedqa" / name, qa)
    proc = run_build("all", "--sources", str(sources), "--out", str(tmp_path / "out"))
    # medc-k has no input at all: not built, with a notice; medc-i is built.
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: medc-k: source 'pmc_jats': folder pmc_jats/ exists but holds no file matching **/*.nxml" in proc.stderr
    assert "medc-k not built" in proc.stderr
    assert not (tmp_path / "out" / "medc-k").exists()
    assert (tmp_path / "out" / "medc-i" / "data" / "rationale_qa").is_dir()

    only_k = run_build("medc-i", "--sources", str(SAMPLES / "pmc_jats"), "--out", str(tmp_path / "out3"))
    assert only_k.returncode == 2
    assert only_k.stderr.strip().splitlines()[-1].startswith("error: medc-i: none of the sources")


def test_exact_duplicates_and_duplicate_ids_are_dropped_and_counted(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    jats = sources / "pmc_jats"
    jats.mkdir(parents=True)
    raw = (SAMPLES / "pmc_jats" / "mds526.nxml").read_text(encoding="utf-8")
    (jats / "a.nxml").write_text(raw)
    (jats / "b-same-id.nxml").write_text(raw)  # the same article twice
    other = raw.replace('<article-id pub-id-type="pmc">3574550', '<article-id pub-id-type="pmc">1', 1)
    other = other.replace('<article-id pub-id-type="pmid">23149571', '<article-id pub-id-type="pmid">1', 1)
    other = other.replace('<article-id pub-id-type="doi">10.1093/annonc/mds526', '<article-id pub-id-type="doi">10.1/x', 1)
    (jats / "c-other-id.nxml").write_text(other)  # other ids (not the same article), same text
    shutil.copy(SAMPLES / "pmc_jats" / "ehp-116-1694.nxml", jats)
    proc = run_build("medc-k", "--sources", str(sources), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "out" / "medc-k" / "build_manifest.json").read_text())
    steps = {s["step"]: s for s in m["sources"]["pmc_jats"]["steps"]}
    assert steps["unique_ids"]["dropped"] == {"duplicate id": 1}
    assert steps["exact_dedup"]["dropped"] == {"exact duplicate": 1}
    rows = load_dataset(str(tmp_path / "out" / "medc-k"))["train"]
    assert sorted(rows["id"]) == ["pmc:PMC2599765", "pmc:PMC3574550"]


def test_profile_writes_the_map_stage_profile(tmp_path: Path) -> None:
    """`--profile DIR`: one cProfile per shard computed, and a summary of the costliest functions."""
    sources = tmp_path / "sources" / "pmc_jats"
    sources.mkdir(parents=True)
    for name in ("1471-2180-11-174.nxml", "ehp-116-1694.nxml"):
        shutil.copy(SAMPLES / "pmc_jats" / name, sources / name)
    proc = run_build("medc-k", "--sources", str(tmp_path / "sources"), "--out", str(tmp_path / "out"), "--workers", "1",
                     "--profile", str(tmp_path / "prof"))
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "prof" / "medc-k"
    shards = sorted(folder.glob("pmc_jats-shard-*.prof"))
    markers = sorted((tmp_path / "out" / ".medc-cache" / "medc-k" / "pmc_jats").glob("shard-*.json"))
    assert len(shards) == len(markers) >= 1
    summary = (folder / "map_profile.txt").read_text()
    assert "by cumulative time" in summary and "by own time" in summary and "compute_signals" in summary
    assert f"map-stage profile in {folder / 'map_profile.txt'}" in proc.stderr + proc.stdout


def test_rows_in_batches_give_the_same_build(tmp_path: Path) -> None:
    """A worker parses and runs the map steps on `batch_rows` rows at a time (its memory
    follows that, not the shard's size): small batches (whole files of about 7 rows) give the
    same release, the same row keys (a step that adds rows included) and the same counts as
    whole shards."""
    text = (REPO / "pipelines" / "medc-k.toml").read_text()
    # The default sources; split_long first (it adds rows: their keys must continue from one
    # batch to the next), then steps that compute columns, filter and dedup.
    text = text[: text.index("[[steps]]")] + "".join(
        f'[[steps]]\nstep = "{step}"\n{extra}\n' for step, extra in (
            ("split_long", "max_words = 300"), ("quality_signals", ""), ("quality_filter", ""), ("decontaminate", ""),
            ("exact_dedup", ""), ("near_dedup", "")))
    outputs = {}
    for batch in (7, 100_000):
        recipe = tmp_path / f"medc-k-{batch}.toml"
        recipe.write_text(text.replace("error_budget = 0.01", f"error_budget = 0.01\nbatch_rows = {batch}"))
        out = tmp_path / f"out-{batch}"
        proc = run_build("medc-k", "--recipe", str(recipe), "--out", str(out), "--workers", "2")
        assert proc.returncode == 0, proc.stderr
        outputs[batch] = out
    small, whole = (files_by_relpath(outputs[b], "medc-k/**/*") for b in (7, 100_000))
    assert small.keys() == whole.keys() and any(k.endswith(".parquet") for k in small)
    for key in small:
        if not key.endswith(("build_manifest.json", "README.md")):  # they name the recipe's hash
            assert small[key] == whole[key], f"{key} differs between small batches and whole shards"
    manifests = [json.loads((outputs[b] / "medc-k" / "build_manifest.json").read_text()) for b in (7, 100_000)]
    assert manifests[0]["sources"] == manifests[1]["sources"]
    split = [s for s in manifests[0]["sources"]["pmc_jats"]["steps"] if s["step"] == "split_long"]
    assert split and split[0]["out"] > split[0]["in"]  # rows were added, across batches
    shards = [pl.concat([pl.read_parquet(p) for p in sorted((outputs[b] / ".medc-cache").rglob("*.parquet"))],
                        how="diagonal_relaxed").sort("_key") for b in (7, 100_000)]
    assert shards[0].equals(shards[1]) and shards[0]["_key"].is_unique().all()
