"""Rationale generator: HTTP backend against a real local server, cache and resume, builder use."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from builders.exam_qa import MedQABuilder
from medc.ingest.builder import FileReport
from medc.ingest.testsets import medqa_id
from tests.conftest import REPO, SAMPLES

MEDQA_TEST = SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl"


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Real MedQA questions, saved under a training name for this test (the test split itself is refused).
    folder = tmp_path_factory.mktemp("medqa")
    path = folder / "medqa" / "mini_train.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(MEDQA_TEST.read_text().splitlines()[:6]) + "\n")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from tests.aids.tiny_checkpoint import make_tiny_checkpoint

    texts = [json.loads(l)["question"] for l in MEDQA_TEST.read_text().splitlines()[:300]]
    model = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "m", texts, vocab_size=512, context=2048)
    proc = subprocess.Popen([sys.executable, "-m", "tests.aids.openai_server", "--model", str(model), "--fail-first", "2"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on"), proc.stderr.read()
    port = int(line.split()[-1])
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as r:
        return json.loads(r.read())


def rationale(url: str, train: Path, out: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medc.rationale", "--input", str(train), "--out", str(out), "--backend", "http",
         "--base-url", f"{url}/v1", "--model", "tiny", "--cache", str(cache), "--concurrency", "2", "--timeout", "60", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )


def test_http_backend_retries_caches_and_resumes(server: str, train_file: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "rationales.jsonl", tmp_path / "cache"
    first = rationale(server, train_file, out, cache, "--limit", "3")  # an interrupted run: 3 of 6 asked
    assert first.returncode == 0, first.stderr
    assert "3 asked" in first.stdout and "3 still missing" in first.stdout
    s1 = stats(server)
    assert s1["completions"] == 3 and s1["requests"] == 5  # the first two got HTTP 503 and were retried
    second = rationale(server, train_file, out, cache)
    assert second.returncode == 0, second.stderr
    assert "3 from the cache, 3 asked, 0 still missing" in second.stdout
    assert stats(server)["completions"] == 6  # only the remaining three were asked
    third = rationale(server, train_file, out, cache)
    assert "6 from the cache, 0 asked" in third.stdout and stats(server)["completions"] == 6
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    questions = [json.loads(line) for line in train_file.read_text().splitlines() if line.strip()]
    assert [r["id"] for r in rows] == [medqa_id(q["question"], q["options"]) for q in questions] and len({r["id"] for r in rows}) == 6
    assert all(r["generated"] and r["model"] == "tiny" for r in rows)

    # The MedQA builder puts them in front of the answer and marks the rows as generated.
    root = train_file.parent.parent
    rel = out.relative_to(tmp_path)
    (root / rel).write_text(out.read_text())
    builder = MedQABuilder("medqa", {"rationales": str(rel)}, root)
    built = list(builder.parse(train_file, FileReport(train_file.name)))
    assert [r["id"] for r in built] == [r["id"] for r in rows]  # the same ids: every rationale found its question
    assert all(r["meta"]["rationale"] == "generated" and r["meta"]["rationale_model"] == "tiny" for r in built)
    for row, rec in zip(built, rows):
        assert row["output"].startswith(" ".join(rec["text"].split())[:20]) or not rec["text"].strip()
        assert "The answer is" in row["output"]


def test_unreachable_endpoint_fails_after_retries(train_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "medc.rationale", "--input", str(train_file), "--out", str(tmp_path / "o.jsonl"), "--backend", "http",
         "--base-url", "http://127.0.0.1:9/v1", "--model", "x", "--cache", str(tmp_path / "c"), "--retries", "1", "--limit", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0 and "no answer after 2 attempts" in proc.stderr
