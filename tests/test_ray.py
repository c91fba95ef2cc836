"""`--executor ray` on a local Ray cluster started here (`ray.init(num_cpus=2)`): the same
bytes as the local executor, completed shards skipped on rerun, a killed task retried."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from medc.build import main
from tests.conftest import REPO
from tests.test_build import files_by_relpath
from tests.test_near_dedup import planted_pqaa

KILLER = "tests.aids.faults:KillOnceJats"
ray = pytest.importorskip("ray")  # in the test environment (dev group); `pip install 'medc[ray]'` for users


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    # Workers inherit the driver's environment when they start: the kill hook's flag file is
    # created here (disarmed); a test arms it by deleting the file.
    flag = tmp_path_factory.mktemp("ray-kill") / "killed"
    flag.write_text("disarmed\n")
    os.environ["MEDC_TEST_KILL_ONCE"] = str(flag)
    os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    os.environ["MEDC_STAGE_DIR"] = str(tmp_path_factory.mktemp("stage"))  # where tasks stage remote inputs
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield flag
    ray.shutdown()
    del os.environ["MEDC_TEST_KILL_ONCE"], os.environ["MEDC_STAGE_DIR"]


def test_ray_build_equals_local_build_and_retries_a_killed_task(cluster: Path, default_build: Path, tmp_path: Path) -> None:
    # The JATS source is parsed by a builder that kills its Ray worker once (tests/aids/faults.py).
    recipe = tmp_path / "medc-k.toml"
    recipe.write_text((REPO / "pipelines" / "medc-k.toml").read_text().replace('builder = "pmc_jats"', f'builder = "{KILLER}"', 1))
    cluster.unlink()  # arm: the first shard task to finish parsing a file dies before writing its output
    out = tmp_path / "ray"
    assert main(["all", "--out", str(out), "--executor", "ray", "--quiet", "--recipe", str(recipe)]) == 0
    killed_file, pid = cluster.read_text().split()
    assert killed_file.endswith(".nxml") and int(pid) != os.getpid()  # a Ray worker died, once
    ray_files = files_by_relpath(out, "medc-*/**/*")
    local_files = files_by_relpath(default_build, "medc-*/**/*")
    # The card names the builder and the recipe's hash: those are the test's, the rest must be the same.
    recipe_sha = {p: json.loads((p / "medc-k" / "build_manifest.json").read_text())["recipe"]["sha256"] for p in (out, default_build)}
    ray_files["medc-k/README.md"] = (ray_files["medc-k/README.md"].decode().replace(KILLER, "pmc_jats")
                                     .replace(recipe_sha[out], recipe_sha[default_build]).encode())
    ray_files = {k: v for k, v in ray_files.items() if not k.endswith("build_manifest.json")}
    local_files = {k: v for k, v in local_files.items() if not k.endswith("build_manifest.json")}
    assert ray_files.keys() == local_files.keys() and any(k.endswith(".parquet") for k in ray_files)
    for key in local_files:
        assert ray_files[key] == local_files[key], f"{key} differs between the Ray and the local build"
    for name in ("medc-k", "medc-i"):
        a = json.loads((out / name / "build_manifest.json").read_text())
        b = json.loads((default_build / name / "build_manifest.json").read_text())
        assert a["totals"] == b["totals"] and a["global_steps"] == b["global_steps"]
        assert a["executor"]["kind"] == "ray" and b["executor"]["kind"] == "local"

    # Rerun: every shard is complete, none is rewritten; the output stays the same.
    shards = sorted((out / ".medc-cache" / "medc-k").glob("*/shard-*.parquet"))
    before = {p: p.stat().st_mtime_ns for p in shards}
    assert main(["medc-k", "--out", str(out), "--executor", "ray", "--quiet", "--recipe", str(recipe)]) == 0
    assert {p: p.stat().st_mtime_ns for p in shards} == before
    assert files_by_relpath(out / "medc-k") == files_by_relpath(default_build / "medc-k")


def test_near_dedup_verification_spread_over_ray_tasks_with_fsspec_urls(cluster: Path, tmp_path: Path) -> None:
    """Candidate pairs checked in chunks of 1 pair per Ray task decide exactly as one pass does.
    The Ray build reads and writes through fsspec (`file://` URLs): tasks stage their inputs
    and the benchmark test sets, write shards through fsspec, and the verification tasks read
    the shards from the output URL, as on a cluster with an object store."""
    planted_pqaa(tmp_path / "sources" / "pubmedqa", n=40)
    recipe = (REPO / "pipelines" / "medc-i.toml").read_text()
    assert '\nstep = "near_dedup"\n' in recipe
    chunked = tmp_path / "medc-i.toml"
    chunked.write_text(recipe.replace('\nstep = "near_dedup"\n', '\nstep = "near_dedup"\nverify_chunk = 1\n'))
    assert main(["medc-i", "--sources", f"file://{tmp_path}/sources", "--out", f"file://{tmp_path}/ray", "--quiet",
                 "--executor", "ray", "--recipe", str(chunked)]) == 0
    assert main(["medc-i", "--sources", str(tmp_path / "sources"), "--quiet", "--out", str(tmp_path / "local"), "--workers", "1"]) == 0
    (marker,) = (tmp_path / "ray" / ".medc-cache" / "medc-i" / "pubmedqa").glob("shard-*.json")
    assert sorted(p.name for p in marker.parent.iterdir()) == [marker.name, marker.with_suffix(".parquet").name]
    assert not list(Path(os.environ["MEDC_STAGE_DIR"]).glob("task-*"))  # per-task staging folders are removed
    reports = []
    for name in ("ray", "local"):
        m = json.loads((tmp_path / name / "medc-i" / "build_manifest.json").read_text())
        reports.append(next(g for g in m["global_steps"] if g["step"] == "near_dedup"))
    assert reports[0]["report"]["verified_pairs"] == 2 and reports[0]["dropped"] == {"pubmedqa": {"near duplicate": 2}}
    assert reports[0] == reports[1]
    a = files_by_relpath(tmp_path / "ray" / "medc-i", "data/**/*.parquet")
    assert a and a == files_by_relpath(tmp_path / "local" / "medc-i", "data/**/*.parquet")
