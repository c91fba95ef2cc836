"""User mistakes get one-line errors naming the key, file or option; no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from medc.errors import UserError
from medc.recipes.recipe import load_recipe
from tests.conftest import REPO, run_build

BASE = (REPO / "pipelines" / "medc-k.toml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "medc-k.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("[build]", "[build]\nshards = 3"), "unknown key 'shards' in [build]"),
        (lambda t: t.replace('builder = "pmc_jats"', 'builder = "pmc_jats"\nfolder = "x"'), "unknown key 'folder' in sources[0]"),
        (lambda t: t.replace('builder = "pmc_jats"', 'builder = "pmc_xml"'), "unknown builder 'pmc_xml'"),
        (lambda t: t.replace('tables = "full"', 'table = "full"'), "unknown option 'table'"),
        (lambda t: t.replace('tables = "full"', 'tables = "some"'), "option 'tables' must be drop, caption or full"),
        (lambda t: t.replace("min_words = 50", "min_word = 50"), "unknown parameter 'min_word' for step 'min_length'"),
        (lambda t: t.replace('step = "exact_dedup"', 'step = "fuzzy"'), "unknown step 'fuzzy'"),
        (lambda t: t.replace("min_doc_words = 30", "min_doc_word = 30"),
         "unknown threshold 'min_doc_word' for source 'pubmed_abstracts' (did you mean 'min_doc_words'"),
        (lambda t: t.replace('kind = "knowledge"', 'kind = "instruction"'), "builder 'pmc_jats' makes knowledge rows"),
        (lambda t: t.replace("files_per_shard = 16", "files_per_shard = 0"), "build.files_per_shard must be at least 1"),
        (lambda t: t.replace("error_budget = 0.01", 'error_budget = "low"'), "build.error_budget must be a int or float"),
        (lambda t: t + "\n[[sources]]\nname = \"pmc_jats\"\nbuilder = \"pmc_jats\"\n", "source name 'pmc_jats' is used twice"),
        (lambda t: t.replace("[dataset]", "[dataset"), "invalid TOML"),
    ],
)
def test_recipe_errors_name_the_key(tmp_path: Path, edit, message: str) -> None:
    path = write(tmp_path, edit(BASE))
    with pytest.raises(UserError) as exc:
        load_recipe(path)
    assert message in str(exc.value)
    assert str(exc.value).startswith(f"recipe {path}: ")


def test_default_recipes_load() -> None:
    k = load_recipe(REPO / "pipelines" / "medc-k.toml")
    i = load_recipe(REPO / "pipelines" / "medc-i.toml")
    assert [s.name for s in k.sources] == ["pmc_jats", "pubmed_abstracts", "s2orc", "textbooks", "clinical_notes", "general_replay"]
    assert k.kind == "knowledge" and set(k.mixture.groups) == {"papers", "books", "clinical", "general"}
    assert [s.name for s in i.sources] == ["pubmedqa", "medqa", "medmcqa", "chatdoctor", "medalpaca", "meddialog", "umls", "abbreviations"]
    assert {s.config for s in i.sources} == {"rationale_qa", "dialogue", "knowledge_graph"} and i.kind == "instruction"
    assert k.sha256 != i.sha256 and len(k.sha256) == 64


def one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_cli_bad_recipe_key(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("[build]", "[build]\nshards = 3"))
    line = one_line_error(run_build("medc-k", "--recipe", str(path), "--out", str(tmp_path)))
    assert "unknown key 'shards'" in line


def test_cli_missing_sources_folder(tmp_path: Path) -> None:
    line = one_line_error(run_build("all", "--sources", str(tmp_path / "nope"), "--out", str(tmp_path)))
    assert "nope" in line and "no such folder" in line


def test_cli_recipe_for_the_wrong_target(tmp_path: Path) -> None:
    line = one_line_error(run_build("medc-i", "--recipe", str(REPO / "pipelines" / "medc-k.toml"), "--out", str(tmp_path)))
    assert "builds 'medc-k', which is not part of target 'medc-i'" in line


def test_cli_missing_recipe_file(tmp_path: Path) -> None:
    line = one_line_error(run_build("medc-k", "--recipe", str(tmp_path / "none.toml"), "--out", str(tmp_path)))
    assert "none.toml not found" in line


def test_cli_help_lists_options() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "medc.build", "--help"], cwd=REPO, capture_output=True, text=True).stdout
    for opt in ("--sources", "--out", "--workers", "--recipe", "--error-budget", "all", "medc-k", "medc-i"):
        assert opt in out
