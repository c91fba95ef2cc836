"""Sources and outputs on an fsspec filesystem instead of a local folder.

`memory://` is fsspec's in-process filesystem: a real filesystem implementation with no
local path behind it, so every read and write of the build must go through the staging
and upload code (the cross-process case, `file://` URLs under Ray, is in test_ray.py)."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pytest

from medc.build import main
from medc.files.storage import Tree, glob_regex
from tests.conftest import REPO, SAMPLES
from tests.test_build import files_by_relpath


@pytest.fixture()
def memfs():
    fs = fsspec.filesystem("memory")
    fs.rm("/", recursive=True) if fs.ls("/") else None
    yield fs
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")


def remote_files(fs, root: str) -> dict[str, bytes]:
    return {name[len(root) + 1:]: fs.cat_file(name) for name in sorted(fs.find(root)) if "/.medc-cache/" not in name}


def test_remote_glob_matches_local_glob_for_every_builder_pattern(memfs) -> None:
    from medc.ingest.builder import available, builder_class

    memfs.put(str(SAMPLES) + "/", "/src/", recursive=True)
    local, remote = Tree(SAMPLES), Tree("memory://src")
    patterns = sorted({p for name in available() for p in builder_class(name).patterns} | {"medqa/**/*test*.jsonl", "pubmedqa/**/ori_pqal.json"})
    for pattern in patterns:
        for under in ("", "pmc_jats", "textbooks"):
            assert remote.glob([pattern], under) == local.glob([pattern], under), (pattern, under)
    assert local.glob(["**/*.nxml"]) and remote.is_dir("pmc_jats") and not remote.is_dir("pmc")
    assert glob_regex("**/*.xml").match("a.xml") and glob_regex("**/*.xml").match("a/b/c.xml")
    assert not glob_regex("*.xml").match("a/b.xml") and glob_regex("d?[!x].txt").match("dab.txt")


def test_build_from_and_to_an_fsspec_filesystem_equals_the_local_build(memfs, default_build: Path, tmp_path: Path) -> None:
    memfs.put(str(SAMPLES) + "/", "/src/", recursive=True)
    args = ["medc-k", "--sources", "memory://src", "--out", "memory://out", "--workers", "1", "--quiet",
            "--work-dir", str(tmp_path / "work")]
    assert main(args) == 0

    # The released repo is uploaded; its bytes are the local build's (parquet, card, plot).
    remote = remote_files(memfs, "/out")
    local = files_by_relpath(default_build, "medc-k/**/*")
    assert remote.keys() == local.keys() and any(k.endswith(".parquet") for k in remote)
    for key in local:
        if not key.endswith("build_manifest.json"):
            assert remote[key] == local[key], f"{key} differs between the memory:// and the local build"
    a = json.loads(remote["medc-k/build_manifest.json"])
    b = json.loads(local["medc-k/build_manifest.json"])
    assert a["totals"] == b["totals"] and a["sources"] == b["sources"] and a["global_steps"] == b["global_steps"]
    # Shards and their completion markers live beside the output, where every node sees them.
    shards = sorted(memfs.glob("/out/.medc-cache/medc-k/*/shard-*.parquet"))
    assert len(shards) >= 5 and all(memfs.exists(s.removesuffix(".parquet") + ".json") for s in shards)

    # Rerun: no shard is rewritten; a stale config left on the remote repo is removed.
    memfs.pipe_file("/out/medc-k/data/old_source/train-00000-of-00001.parquet", b"stale")
    before = {s: memfs.info(s)["created"] for s in shards}
    assert main(args) == 0
    assert {s: memfs.info(s)["created"] for s in shards} == before
    assert remote_files(memfs, "/out").keys() == local.keys()

    # A changed input file rebuilds its own shard only.
    abstracts = "/src/medline/" + Path(memfs.find("/src/medline")[0]).name
    memfs.pipe_file(abstracts, memfs.cat_file(abstracts))
    assert main(args) == 0
    after = {s: memfs.info(s)["created"] for s in shards}
    assert [s.split("/")[-2] for s in shards if after[s] != before[s]] == ["pubmed_abstracts"]
    assert remote_files(memfs, "/out")["medc-k/data/pubmed_abstracts/train-00000-of-00001.parquet"] == \
        local["medc-k/data/pubmed_abstracts/train-00000-of-00001.parquet"]

    # A global step's parameter there and back: re-signed in place, then restored from the
    # signature columns kept beside each remote shard; the release is the local build's again.
    recipe = tmp_path / "medc-k.toml"
    base = (REPO / "pipelines" / "medc-k.toml").read_text()
    recipe.write_text(base.replace("threshold = 0.8", "threshold = 0.7"))
    assert main([*args, "--recipe", str(recipe)]) == 0
    recipe.write_text(base)
    assert main([*args, "--recipe", str(recipe)]) == 0
    markers = [json.loads(memfs.cat_file(s.removesuffix(".parquet") + ".json")) for s in shards]
    assert all(m["signatures_restored"] == ["near_dedup"] for m in markers)
    assert all(memfs.exists(f"{s.removesuffix('.parquet')}.signatures") for s in shards)
    released = remote_files(memfs, "/out")
    assert all(released[k] == local[k] for k in local if not k.endswith("build_manifest.json"))


def test_bad_remote_locations_are_usage_errors(memfs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["medc-k", "--sources", "memory://nothing-here", "--out", "memory://out", "--quiet"]) == 2
    assert "--sources memory://nothing-here: no such folder" in capsys.readouterr().err
    assert main(["medc-k", "--sources", "nosuchfs://bucket/x", "--quiet"]) == 2
    assert "no filesystem for nosuchfs://" in capsys.readouterr().err
    assert main(["medc-k", "--work-dir", "w", "--quiet"]) == 2
    assert "--work-dir is for a URL --out" in capsys.readouterr().err
