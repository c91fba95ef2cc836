"""Faults and hostile input (issue "Trust under faults and hostile input"): one test per
finding. Builds here use small recipes of their own, in this process, so they are fast."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medc.build import main as build
from tests.conftest import REPO, SAMPLES

HEADER = "[dataset]\nname = \"{name}\"\nkind = \"{kind}\"\ntask_categories = [\"text-generation\"]\n[build]\nerror_budget = {budget}\n{build}\n"


def recipe(tmp: Path, sources: str, steps: str = "", name: str = "medc-k", kind: str = "knowledge", budget: float = 0.5,
           build: str = "") -> Path:
    """A recipe file of the given `[[sources]]` and `[[steps]]` TOML (and `[build]` lines)."""
    path = tmp / f"recipe-{abs(hash((name, sources, steps, build))) % 10**8}.toml"
    path.write_text(HEADER.format(name=name, kind=kind, budget=budget, build=build) + sources + "\n" + steps)
    return path


def py(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


# ---------------------------------------------------------------- 1. clinical text never in reports
NOTE_TEXT = "Patient Jonathan Q Smithfield reports crushing substernal chest pain radiating to the jaw"
NOTES_HEADER = '"row_id","subject_id","hadm_id","chartdate","category","description","iserror","text"\n'


def test_clinical_note_text_never_reaches_manifest_card_or_console(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    (src / "notes").mkdir(parents=True)
    # An unterminated quote: the CSV parser's own message quotes the note.
    (src / "notes" / "NOTEEVENTS.csv").write_text(NOTES_HEADER + f'1,10,100,2101-01-01,Discharge summary,x,,"{NOTE_TEXT}\n')
    shutil.copytree(SAMPLES / "pmc_jats", src / "pmc_jats")
    r = recipe(tmp_path, '[[sources]]\nname = "clinical_notes"\nbuilder = "clinical_notes"\ndir = "notes"\n'
                         '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n')
    assert build(["medc-k", "--sources", str(src), "--out", str(tmp_path / "out"), "--recipe", str(r), "--quiet"]) == 0
    console = capsys.readouterr()
    repo = tmp_path / "out" / "medc-k"
    manifest = json.loads((repo / "build_manifest.json").read_text())
    (error,) = manifest["errors"]
    assert error["source"] == "clinical_notes" and error["reason"] == "malformed CSV (details withheld: confidential source)"
    for text in ((repo / "build_manifest.json").read_text(), (repo / "README.md").read_text(), console.out, console.err):
        assert "Smithfield" not in text and "substernal" not in text

    # A report that quotes a confidential source (an older build, or an edited manifest) is never published.
    error["reason"] = f"malformed CSV: could not parse `\"{NOTE_TEXT}`"
    (repo / "build_manifest.json").write_text(json.dumps(manifest, indent=2))
    refused = py("medc.publish", "medc-k", "--repo-id", "me/x", "--dry-run", "--allow-license", "physionet-restricted",
                 "--allow-license", "unknown", cwd=tmp_path / "out")
    assert refused.returncode == 2 and "may quote a confidential source (clinical_notes: notes/NOTEEVENTS.csv)" in refused.stderr


# ---------------------------------------------------------------- 2. what a shard reads besides its inputs
def rows_by_id(repo: Path, config: str) -> dict[str, dict]:
    import polars as pl

    files = sorted((repo / "data" / config).glob("*.parquet"))
    return {r["id"]: r for r in pl.read_parquet(files).to_dicts()} if files else {}


def test_changed_companion_file_or_in_place_edit_rebuilds_the_shard(tmp_path: Path) -> None:
    import os

    from tests.test_pmc_bulk import make_package

    src = tmp_path / "src"
    make_package(src / "pmc_jats")
    single = src / "pmc_jats" / "single" / "pntd.0002065.nxml"
    single.parent.mkdir()
    shutil.copy(SAMPLES / "pmc_jats" / "pntd.0002065.nxml", single)
    r = recipe(tmp_path, '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n')
    args = ["medc-k", "--sources", str(src), "--out", str(tmp_path / "out"), "--recipe", str(r), "--quiet", "--workers", "1"]
    assert build(args) == 0
    repo = tmp_path / "out" / "medc-k"
    assert {"pmc:PMC3166277", "pmc:PMC3574550"} <= set(rows_by_id(repo, "pmc_jats"))
    assert "pmc:PMC3166277" in rows_by_id(repo, "commercial")

    # The OA file list now says PMC3166277 is CC BY-NC and PMC3574550 is retracted.
    file_list = next((src / "pmc_jats").glob("*.filelist.csv"))
    text = file_list.read_text()
    text = text.replace("21813003,CC BY,no", "21813003,CC BY-NC,no").replace("23149571,CC BY-NC,no", "23149571,CC BY-NC,yes")
    file_list.write_text(text)
    # An input edited in place: same size, modification time put back.
    st = single.stat()
    data = single.read_bytes()
    assert data.count(b"Sheep and Goats") == 1
    single.write_bytes(data.replace(b"Sheep and Goats", b"Sheep and Boats"))
    os.utime(single, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert single.stat().st_size == st.st_size and single.stat().st_mtime_ns == st.st_mtime_ns

    assert build(args) == 0
    rows = rows_by_id(repo, "pmc_jats")
    assert "pmc:PMC3574550" not in rows and rows["pmc:PMC3166277"]["license"] == "cc-by-nc"
    assert "pmc:PMC3166277" not in rows_by_id(repo, "commercial")
    assert rows["pmc:PMC3585041"]["title"].startswith("Serological Evidence of Rift Valley Fever Virus Circulation in Sheep and Boats")


# ---------------------------------------------------------------- 3. the licence gate
def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def paragraph(i: int, topic: str = "cardiology") -> str:
    return f"Record {i} about {topic}: " + " ".join(f"the {topic} finding number {i} was reviewed with care" for _ in range(8))


@pytest.fixture(scope="module")
def replay_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Replay sources whose files share stems and ids, under licences that look permissive."""
    tmp = tmp_path_factory.mktemp("replay")
    src = tmp / "src"
    for rel, topic in (("books/book.part1.jsonl", "anatomy"), ("books/book.part2.jsonl", "physiology"),
                       ("a/same.jsonl", "renal"), ("b/same.jsonl", "hepatic")):
        write_jsonl(src / "open" / rel, [{"id": i, "text": paragraph(i, topic)} for i in range(3)])
    write_jsonl(src / "open" / "dup.jsonl", [{"id": 7, "text": paragraph(7, "lung")}, {"id": 7, "text": paragraph(8, "lung")}])
    write_jsonl(src / "closed" / "x.jsonl", [{"id": i, "text": paragraph(i, "gastric")} for i in range(2)])
    write_jsonl(src / "nc" / "x.jsonl", [{"id": i, "text": paragraph(i, "dermal")} for i in range(2)])
    r = recipe(tmp, '[[sources]]\nname = "open"\nbuilder = "replay"\n[sources.options]\nlicense = "cc-by-4.0"\n'
                    '[[sources]]\nname = "closed"\nbuilder = "replay"\n[sources.options]\nlicense = "Research-Only"\n'
                    '[[sources]]\nname = "nc"\nbuilder = "replay"\n[sources.options]\nlicense = "mit-no-commercial-use"\n')
    assert build(["medc-k", "--sources", str(src), "--out", str(tmp / "out"), "--recipe", str(r), "--quiet", "--workers", "1"]) == 0
    return tmp / "out"


def test_replay_ids_are_unique_by_path_and_real_duplicates_counted(replay_build: Path) -> None:
    repo = replay_build / "medc-k"
    ids = set(rows_by_id(repo, "open"))
    assert len(ids) == 4 * 3 + 1  # every row of files that share stems and ids; one of the two real duplicates
    assert "replay:open/books/book.part1:0" in ids and "replay:open/b/same:2" in ids
    manifest = json.loads((repo / "build_manifest.json").read_text())
    assert manifest["sources"]["open"]["steps"][-1] == {"step": "unique_ids", "in": 14, "out": 13, "dropped": {"duplicate id": 1}}


def test_licence_gate_allows_only_known_licences_read_from_the_data(replay_build: Path, tmp_path: Path) -> None:
    repo = tmp_path / "medc-k"
    shutil.copytree(replay_build / "medc-k", repo)
    commercial = rows_by_id(repo, "commercial")
    assert commercial and {r["license"] for r in commercial.values()} == {"cc-by-4.0"}  # no "mit-..." prefix match
    refused = py("medc.publish", str(repo), "--repo-id", "me/x", "--dry-run", cwd=tmp_path)
    assert refused.returncode == 2
    assert "'Research-Only'" in refused.stderr and "'mit-no-commercial-use'" in refused.stderr

    # The manifest's licence table no longer says what the data holds: verify and publish notice.
    manifest = json.loads((repo / "build_manifest.json").read_text())
    del manifest["licenses"]["closed"], manifest["licenses"]["nc"]
    (repo / "build_manifest.json").write_text(json.dumps(manifest, indent=2))
    checked = py("medc.verify", str(repo), cwd=tmp_path)
    assert checked.returncode == 1 and "licence table" in checked.stdout
    assert py("medc.publish", str(repo), "--repo-id", "me/x", "--dry-run", cwd=tmp_path).returncode == 2

    # A card whose licence was changed by hand.
    shutil.rmtree(repo)
    shutil.copytree(replay_build / "medc-k", repo)
    card = (repo / "README.md").read_text()
    (repo / "README.md").write_text(card.replace("license: other", "license: cc-by-4.0", 1))
    checked = py("medc.verify", str(repo), cwd=tmp_path)
    assert checked.returncode == 1 and "the card's licence 'cc-by-4.0' does not match the data ('other')" in checked.stdout


# ---------------------------------------------------------------- 4. recipes stay inside their roots
@pytest.mark.parametrize(("edit", "message"), [
    ('config = "/srv/somewhere"', "sources[0].config must be a plain name"),
    ('config = "../x"', "sources[0].config must be a plain name"),
    ('dir = "../../x"', "sources[0].dir must be a path under the sources root"),
    ('dir = "/etc"', "sources[0].dir must be a path under the sources root"),
    ('patterns = ["../../**/*.nxml"]', "sources[0].patterns must be a path under the sources root"),
])
def test_recipe_paths_and_names_stay_inside_their_roots(tmp_path: Path, edit: str, message: str) -> None:
    from medc.errors import UserError
    from medc.recipes.recipe import load_recipe

    r = recipe(tmp_path, f'[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n{edit}\n')
    with pytest.raises(UserError, match=re.escape(message)):
        load_recipe(r)
    evil = recipe(tmp_path, '[[sources]]\nname = "../../escape"\nbuilder = "pmc_jats"\n')
    with pytest.raises(UserError, match="must be a plain name"):
        load_recipe(evil)
    with pytest.raises(UserError, match="dataset.name must be a plain name"):
        load_recipe(recipe(tmp_path, '[[sources]]\nname = "x"\nbuilder = "pmc_jats"\n', name="../evil"))


def test_links_out_of_the_sources_root_are_refused_and_counted(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(SAMPLES / "pmc_jats" / "mds526.nxml", outside / "secret.nxml")
    src = tmp_path / "src" / "pmc_jats"
    src.mkdir(parents=True)
    shutil.copy(SAMPLES / "pmc_jats" / "pntd.0002065.nxml", src / "inside.nxml")
    (src / "inside-link.nxml").symlink_to(src / "inside.nxml")  # followed: it stays inside
    (src / "leak.nxml").symlink_to(outside / "secret.nxml")  # refused
    r = recipe(tmp_path, '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n')
    assert build(["medc-k", "--sources", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--recipe", str(r), "--quiet"]) == 0
    manifest = json.loads((tmp_path / "out" / "medc-k" / "build_manifest.json").read_text())
    assert [e["file"] for e in manifest["errors"]] == ["pmc_jats/leak.nxml"]
    assert "leads out of the sources root" in manifest["errors"][0]["reason"]
    assert manifest["sources"]["pmc_jats"]["files"] == 3 and manifest["sources"]["pmc_jats"]["failed_files"] == 1
    assert [i["path"] for i in manifest["inputs"]] == ["pmc_jats/inside-link.nxml", "pmc_jats/inside.nxml"]


# ---------------------------------------------------------------- 5. the shard cache is checked before use
def jats_build(tmp: Path) -> tuple[list[str], Path]:
    r = recipe(tmp, '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n', build="files_per_shard = 2")
    return ["medc-k", "--out", str(tmp / "out"), "--recipe", str(r), "--workers", "1"], tmp / "out" / "medc-k"


def test_damaged_or_swapped_shards_are_recomputed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args, repo = jats_build(tmp_path)
    assert build(args) == 0
    before = rows_by_id(repo, "pmc_jats")
    cache = tmp_path / "out" / ".medc-cache" / "medc-k" / "pmc_jats"
    # In the order of their numbers (their file names come from their first input file).
    shards = sorted(cache.glob("shard-*.parquet"), key=lambda p: json.loads(p.with_suffix(".json").read_text())["shard"])
    assert len(shards) >= 2
    capsys.readouterr()
    # Truncated: the shard is cut short, its marker left as it was.
    shards[0].write_bytes(shards[0].read_bytes()[:100])
    assert build(args) == 0
    assert "shard 0 of source 'pmc_jats' in the cache is damaged (its sha256 differs from its marker's): recomputed" in capsys.readouterr().err
    assert rows_by_id(repo, "pmc_jats") == before
    # Swapped: two shards trade places (each a valid parquet file, with the other's rows).
    a, b = shards[0].read_bytes(), shards[1].read_bytes()
    shards[0].write_bytes(b)
    shards[1].write_bytes(a)
    assert build(args) == 0
    err = capsys.readouterr().err
    assert "shard 0 of source 'pmc_jats'" in err and "shard 1 of source 'pmc_jats'" in err
    assert rows_by_id(repo, "pmc_jats") == before
    # A marker edited to claim other inputs (its counts and hashes go into the manifest).
    marker_path = shards[0].with_suffix(".json")
    marker = json.loads(marker_path.read_text())
    marker["files"][0]["sha256"] = "0" * 64
    marker_path.write_text(json.dumps(marker))
    assert build(args) == 0
    assert "its marker's input hashes are not those of its input files" in capsys.readouterr().err
    manifest = json.loads((repo / "build_manifest.json").read_text())
    assert all(i["sha256"] != "0" * 64 for i in manifest["inputs"])


# ---------------------------------------------------------------- 6. one build at a time per output folder
def test_a_second_build_into_the_same_output_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import fcntl

    args, repo = jats_build(tmp_path)
    lock = tmp_path / "out" / ".medc-cache" / "medc-k" / "build.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a+") as held:  # another build holds the lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        assert build(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "another build (pid 4242) is writing there now" in err
        assert not repo.exists()
    assert build(args) == 0  # released when the holder ends


# ---------------------------------------------------------------- 10. values that are not valid rows
def test_nan_and_non_text_values_are_refused_per_record(tmp_path: Path) -> None:
    src = tmp_path / "src"
    records = [
        {"instruction": "Answer.", "input": "I have a headache since yesterday.", "output": "Rest and drink water."},
        {"instruction": "Answer.", "input": {"text": "a dict"}, "output": "Rest."},
        {"instruction": "Answer.", "input": "My knee hurts.", "output": 42},
        {"instruction": "Answer.", "input": "My back hurts.", "output": ["a", "list"]},
    ]
    (src / "dialogues" / "chat").mkdir(parents=True)
    (src / "dialogues" / "chat" / "chat.json").write_text(json.dumps(records))
    (src / "medqa").mkdir()
    good = {"question": "Which vitamin deficiency causes scurvy in adults?", "options": {"A": "C", "B": "D"}, "answer_idx": "A"}
    (src / "medqa" / "train.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, "question": "Which ion?", "meta_info": "x"})
                                               .replace('"x"', "NaN") + "\n")
    r = recipe(tmp_path, '[[sources]]\nname = "chat"\nbuilder = "dialogues"\ndir = "dialogues/chat"\n'
                         '[[sources]]\nname = "medqa"\nbuilder = "medqa"\n', name="medc-i", kind="instruction", budget=0.9)
    assert build(["medc-i", "--sources", str(src), "--out", str(tmp_path / "out"), "--recipe", str(r), "--quiet"]) == 0
    repo = tmp_path / "out" / "medc-i"
    manifest = json.loads((repo / "build_manifest.json").read_text())
    reasons = sorted(e["reason"] for e in manifest["errors"])
    assert reasons == ["field 'input' is a dict, not text", "field 'output' is a int, not text", "field 'output' is a list, not text",
                       "meta holds a value that is not valid JSON (NaN, infinity or a non-JSON type)"]
    import polars as pl

    rows = pl.read_parquet(sorted(p for p in repo.glob("data/*/*.parquet") if p.parent.name != "commercial")).to_dicts()
    assert len(rows) == 2 and all(json.loads(r["meta"]) is not None for r in rows)
    assert "NaN" not in (repo / "build_manifest.json").read_text().replace("(NaN,", "")


# ---------------------------------------------------------------- 8. a benchmark that cannot be read is said out loud
def test_unreadable_benchmark_file_is_loud_and_blocks_publish(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    shutil.copytree(SAMPLES / "pmc_jats", src / "pmc_jats")
    (src / "medqa").mkdir()
    lines = (SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl").read_text().splitlines()
    (src / "medqa" / "test.jsonl").write_text("\n".join([*lines[:3], "{not json", *lines[3:]]) + "\n")
    r = recipe(tmp_path, '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n', steps='[[steps]]\nstep = "decontaminate"\n')
    assert build(["medc-k", "--sources", str(src), "--out", str(tmp_path / "out"), "--recipe", str(r)]) == 0
    out = capsys.readouterr().out
    assert "WARNING: decontamination against medqa NOT CHECKED: benchmark 'medqa' not checked: test.jsonl: line 4: malformed JSON" in out
    assert "note: decontamination against medmcqa NOT CHECKED: no test file under the sources root" in out
    publish = ("medc.publish", "medc-k", "--repo-id", "me/x", "--dry-run", "--allow-license", "unknown")
    refused = py(*publish, cwd=tmp_path / "out")
    assert refused.returncode == 2 and "decontamination against medqa was not checked" in refused.stderr
    allowed = py(*publish, "--allow-unchecked", cwd=tmp_path / "out")
    assert allowed.returncode == 0, allowed.stderr
    assert "not decontaminated against medmcqa: no test file" in allowed.stderr


# ---------------------------------------------------------------- 9. bad parameters are refused, not obeyed
@pytest.mark.parametrize(("steps", "message"), [
    ('[[steps]]\nstep = "near_dedup"\nngram = 0\n', "step 'near_dedup': ngram must be a positive integer"),
    ('[[steps]]\nstep = "near_dedup"\nthreshold = "0.8"\n', "step 'near_dedup': threshold must be a number, not '0.8'"),
    ('[[steps]]\nstep = "min_length"\nmin_words = nan\n', "step 'min_length': min_words must be an integer, not nan"),
    ('[[steps]]\nstep = "quality_signals"\n[[steps]]\nstep = "quality_filter"\nmax_doc_words = inf\n',
     "step 'quality_filter': max_doc_words must be an integer, not inf"),
    ('[[steps]]\nstep = "quality_signals"\n[[steps]]\nstep = "quality_filter"\ndup_line_frac = 3\n',
     "dup_line_frac must be a fraction in [0, 1], not 3"),
    ('[[steps]]\nstep = "decontaminate"\nbenchmarks = "medqa"\n', "benchmarks must be a list of tables"),
    ('[mixture]\ngroups = { a = ["pmc_jats"] }\nweights = { a = nan }\n', "mixture.weights.a must be a number >= 0"),
    ('[mixture]\ngroups = { a = ["pmc_jats"] }\nweights = { a = inf }\n', "mixture.weights.a must be a number >= 0"),
])
def test_bad_parameters_are_one_line_recipe_errors(tmp_path: Path, steps: str, message: str) -> None:
    from medc.errors import UserError
    from medc.recipes.recipe import load_recipe

    with pytest.raises(UserError, match=re.escape(message)):
        load_recipe(recipe(tmp_path, '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n', steps=steps))
    with pytest.raises(UserError, match="patterns must be a list of strings"):
        load_recipe(recipe(tmp_path, '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\npatterns = [1]\n'))


@pytest.mark.parametrize(("override", "message"), [
    ("train.lr=abc", "train.lr must be a number, not 'abc'"),
    ("train.batch_size=0", "train.batch_size must be at least 1, not 0"),
    ("train.lr=nan", "train.lr must be a number, not nan"),
    ("data.seq_len=1.5", "data.seq_len must be an integer, not 1.5"),
])
def test_bad_training_overrides_are_one_line_errors(override: str, message: str) -> None:
    from medc.errors import UserError
    from training.config import CONFIG_DIR, load_config

    with pytest.raises(UserError, match=re.escape(message)):
        load_config(CONFIG_DIR / "tiny.toml", [override])


# ---------------------------------------------------------------- 11. a failed build leaves the last release whole
def test_undecodable_file_name_is_refused_and_the_release_stays_whole(tmp_path: Path) -> None:
    import os

    src = tmp_path / "src" / "pmc_jats"
    src.mkdir(parents=True)
    shutil.copy(SAMPLES / "pmc_jats" / "pntd.0002065.nxml", src / "good.nxml")
    bad_name = os.fsencode(str(src)) + b"/caf\xe9.nxml"  # Latin-1 bytes: not a UTF-8 name
    with open(bad_name, "wb") as fh:
        fh.write((SAMPLES / "pmc_jats" / "mds526.nxml").read_bytes())
    r = recipe(tmp_path, '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n')
    args = ["medc-k", "--sources", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--recipe", str(r), "--quiet"]
    assert build(args) == 0
    manifest = json.loads((tmp_path / "out" / "medc-k" / "build_manifest.json").read_text())
    assert [(e["file"], e["reason"]) for e in manifest["errors"]] == [
        ("pmc_jats/caf\\xe9.nxml", "a file name that is not valid UTF-8: not read (rename it)")]

    # A build that fails while writing leaves the previous release as it was.
    repo = tmp_path / "out" / "medc-k"
    before = {p.relative_to(repo): p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    shutil.copy(SAMPLES / "pmc_jats" / "mds526.nxml", src / "more.nxml")
    card = REPO / "cards" / f"test-latin1-{os.getpid()}.md"  # a card template that is not UTF-8: fails at the very end
    card.write_bytes(b"# caf\xe9 $summary\n")
    try:
        r.write_text(r.read_text().replace('kind = "knowledge"', f'kind = "knowledge"\ncard = "{card.name}"'))
        assert build(args) == 2
    finally:
        card.unlink()
    assert {p.relative_to(repo): p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------- 12. the lesser findings
def test_doctype_comment_does_not_hide_entities() -> None:
    from medc.files.xmlsafe import UnsafeXMLError, parse_xml

    sneaky = (b'<?xml version="1.0"?>\n<!DOCTYPE article [\n <!-- ] <a -->\n <!ENTITY x "xx">\n <!ENTITY y "&x;&x;&x;">\n]>\n'
              b"<article><p>&y;</p></article>")
    with pytest.raises(UnsafeXMLError, match="declares its own entities"):
        parse_xml(sneaky)


def test_epub_member_size_is_capped(tmp_path: Path) -> None:
    import zipfile

    from builders.textbooks.epub import epub_chapters

    path = tmp_path / "bomb.epub"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path="c.opf"/></rootfiles></container>')
        zf.writestr("c.opf", '<package><manifest><item id="a" href="a.xhtml"/></manifest><spine><itemref idref="a"/></spine></package>')
        zf.writestr("a.xhtml", "<html><body><p>" + "x" * (65 << 20) + "</p></body></html>")
    assert path.stat().st_size < 1 << 20  # a small file that would inflate to 65 MB
    with pytest.raises(ValueError, match="a.xhtml is larger than"):
        epub_chapters(path)


def test_non_regular_tar_members_are_counted(tmp_path: Path) -> None:
    import io
    import tarfile

    from builders.pmc_jats import PMCJatsBuilder
    from medc.ingest.builder import FileReport

    path = tmp_path / "pkg.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = (SAMPLES / "pmc_jats" / "mds526.nxml").read_bytes()
        info = tarfile.TarInfo("a/PMC1.nxml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("a/PMC2.nxml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    report = FileReport(path.name)
    rows = list(PMCJatsBuilder("pmc_jats", {}, tmp_path).parse(path, report))
    assert len(rows) == 1 and report.skipped == {"package member that is not a regular file": 1}


def test_publish_refuses_a_build_over_its_error_budget_and_out_must_be_a_folder(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src" / "pmc_jats"
    src.mkdir(parents=True)
    shutil.copy(SAMPLES / "pmc_jats" / "mds526.nxml", src / "good.nxml")
    (src / "bad.nxml").write_text("<article><front>")
    r = recipe(tmp_path, '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n', budget=0.1)
    assert build(["medc-k", "--sources", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--recipe", str(r), "--quiet"]) == 1
    refused = py("medc.publish", "medc-k", "--repo-id", "me/x", "--dry-run", cwd=tmp_path / "out")
    assert refused.returncode == 2 and "exceeded its error budget" in refused.stderr
    (tmp_path / "a-file").write_text("x")
    capsys.readouterr()
    assert build(["medc-k", "--out", str(tmp_path / "a-file"), "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err and "a file, not a folder"


def test_a_killed_local_worker_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "killed"
    monkeypatch.setenv("MEDC_TEST_KILL_ONCE", str(flag))
    src = tmp_path / "src"
    shutil.copytree(SAMPLES / "pmc_jats", src / "pmc_jats")
    r = recipe(tmp_path, '[[sources]]\nname = "pmc_jats"\nbuilder = "tests.aids.faults:KillOnceJats"\n', build="files_per_shard = 2")
    assert build(["medc-k", "--sources", str(src), "--out", str(tmp_path / "out"), "--recipe", str(r), "--quiet", "--workers", "2"]) == 0
    assert flag.read_text().split()[0].endswith(".nxml")  # a worker died once
    assert len(rows_by_id(tmp_path / "out" / "medc-k", "pmc_jats")) == len(list((SAMPLES / "pmc_jats").glob("*.nxml")))


def test_hub_and_network_failures_are_one_line_without_the_token(replay_build: Path, tmp_path: Path) -> None:
    import os

    repo = tmp_path / "medc-k"
    shutil.copytree(replay_build / "medc-k", repo)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9",
           "HF_TOKEN": "hf_SECRETtoken123"}
    args = ["medc.publish", str(repo), "--repo-id", "me/x", "--allow-license", "Research-Only", "--allow-license", "mit-no-commercial-use"]
    proc = subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "SECRET" not in proc.stderr + proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("error: upload to datasets/me/x failed: ")
    offline = py("medc.verify", "someone/not-here", cwd=tmp_path)
    assert offline.returncode == 2 and "Traceback" not in offline.stderr
    assert offline.stderr.strip().startswith("error: someone/not-here: cannot download the dataset repo")


def test_training_resumes_from_the_newest_readable_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from training.config import Config
    from training.run import Dist, StageData, make_optimizer, resume_from, save_checkpoint
    from training.tiny import tiny_llama

    d = Dist(0, 1, 0, torch.device("cpu"), None)
    model = tiny_llama(64, hidden=16, layers=1, heads=2, seed=0)
    optim, sched = make_optimizer("pretrain", Config(), model, d)
    stage_dir = tmp_path / "pretrain"
    for step in (1, 2):
        save_checkpoint(stage_dir / "checkpoints" / f"step-{step}", model, optim, sched, step, d)
    for f in (stage_dir / "checkpoints" / "step-2").iterdir():  # the newest is damaged (a disk error, a cut copy)
        if f.name != "COMPLETE":
            f.write_bytes(b"\0" * 16)
    assert resume_from("pretrain", stage_dir, StageData(8, 1), model, optim, sched, d) == 1
    out = capsys.readouterr().out
    assert "step-2 cannot be read" in out and f"resumed from {stage_dir / 'checkpoints' / 'step-1'} at step 1" in out


def test_truncated_manifest_and_broken_card_yaml_are_one_line_findings(replay_build: Path, tmp_path: Path) -> None:
    repo = tmp_path / "medc-k"
    shutil.copytree(replay_build / "medc-k", repo)
    card = (repo / "README.md").read_text()
    (repo / "README.md").write_text(card.replace("configs:", "configs: [unclosed", 1))
    broken = py("medc.verify", str(repo), cwd=tmp_path)
    assert broken.returncode == 1 and "README.md: unreadable card metadata" in broken.stdout and "Traceback" not in broken.stderr
    manifest = (repo / "build_manifest.json").read_text()
    (repo / "build_manifest.json").write_text(manifest[: len(manifest) // 2])
    for args in (("medc.verify", str(repo)), ("medc.publish", str(repo), "--repo-id", "me/x", "--dry-run")):
        proc = py(*args, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip() .startswith(f"error: {repo / 'build_manifest.json'}: not a readable build manifest")


def test_a_card_never_shows_a_clinical_note_as_its_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The card's example instances come from the released files: a config of clinical notes
    gets no example (its meta keys are listed), the others get theirs."""
    src = tmp_path / "src"
    (src / "notes").mkdir(parents=True)
    note = " ".join([NOTE_TEXT] + ["The troponin was normal and the chest pain settled with rest overnight."] * 8)
    (src / "notes" / "NOTEEVENTS.csv").write_text(NOTES_HEADER + f'1,10,100,2101-01-01,Discharge summary,x,,"{note}"\n')
    shutil.copytree(SAMPLES / "pmc_jats", src / "pmc_jats")
    r = recipe(tmp_path, '[[sources]]\nname = "clinical_notes"\nbuilder = "clinical_notes"\ndir = "notes"\n'
                         '[[sources]]\nname = "pmc_jats"\nbuilder = "pmc_jats"\n')
    assert build(["medc-k", "--sources", str(src), "--out", str(tmp_path / "out"), "--recipe", str(r), "--quiet"]) == 0
    capsys.readouterr()
    repo = tmp_path / "out" / "medc-k"
    assert json.loads((repo / "build_manifest.json").read_text())["configs"]["clinical_notes"]["rows"] == 1
    card = (repo / "README.md").read_text()
    assert "**`clinical_notes`**: no example shown (a confidential source)" in card and "**`pmc_jats`**" in card
    assert "Smithfield" not in card and "troponin" not in card and "| `clinical_notes` | `category`" in card
