"""Shared fixtures: the bundled samples and one default build of both repos, made once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def run_build(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run `python -m medc.build ...` as a user would, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "medc.build", *args, "--quiet"],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def default_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("default-build")
    proc = run_build("all", "--out", str(out), "--workers", "2")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tokenizer (trained on the PubMedQA abstracts) + randomly initialised tiny Llama,
    shared by the evaluation tests."""
    import json

    from tests.aids.tiny_checkpoint import make_tiny_checkpoint

    texts = [" ".join(v["CONTEXTS"]) for v in json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text()).values()]
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model", texts, vocab_size=512)
