"""Training on the default build: packing, SFT masks, 2-process FSDP on CPU, resume, export."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data import (DEFAULT_CHAT_TEMPLATE, IGNORE, StreamingPacker, load_released, manifest_weights, pretrain_sequences,
                           render_example, sft_sequences)
from tests.conftest import REPO


@pytest.fixture(scope="module")
def workdir(default_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the default build's medc-k and medc-i, where training runs."""
    wd = tmp_path_factory.mktemp("train")
    for name in ("medc-k", "medc-i"):
        shutil.copytree(default_build / name, wd / name)
    return wd


@pytest.fixture(scope="module")
def tokenizer(workdir: Path):
    from training.tiny import train_tokenizer

    tok = train_tokenizer(load_released(str(workdir / "medc-k"))["text"], 2048)
    tok.chat_template = DEFAULT_CHAT_TEMPLATE
    return tok


def test_pretraining_packing_keeps_every_token_in_order(workdir: Path, tokenizer) -> None:
    ds = load_released(str(workdir / "medc-k"))
    packed = pretrain_sequences(ds, tokenizer, 256, {}, 20, seed=0)
    assert packed.efficiency >= 0.99 and packed.input_ids.shape == (20, 256)
    windows = set()
    for source in set(ds["source"]):  # each source is packed as its own EOS-joined stream
        texts = [r["text"] for r in ds if r["source"] == source]
        joined = np.array([t for text in texts for t in (*tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id)])
        windows |= {tuple(joined[i : i + 256]) for i in range(0, len(joined) - 255, 256)}
    assert all(tuple(row) in windows for row in packed.input_ids)
    assert (packed.labels == packed.input_ids).all()


def test_streaming_packer_order_mixture_and_exact_resume(workdir: Path, tokenizer) -> None:
    repo = str(workdir / "medc-k")
    ds = load_released(repo)
    eos = tokenizer.eos_token_id
    # Unshuffled, one source: the sequences are that source's EOS-joined stream, cut in order,
    # and a source that runs out starts again (epochs).
    texts = [r["text"] for r in ds if r["source"] == "pmc_jats"]
    joined = [t for text in texts for t in (*tokenizer(text, add_special_tokens=False)["input_ids"], eos)]
    n = len(joined) // 64 + 3
    packer = StreamingPacker(repo, tokenizer, 64, {"pmc_jats": 1.0}, seed=0, batch=2, shuffle_buffer=0)
    rows = packer.next_batch(n)
    assert rows.shape == (n, 64)
    stream = rows.reshape(-1).tolist()
    assert stream[: len(joined) // 64 * 64] == joined[: len(joined) // 64 * 64]
    assert stream[len(joined):] == joined[: len(stream) - len(joined)] and packer.state["pmc_jats"]["epoch"] == 1

    # Mixture of every source by the manifest weights, shuffled: a packer restored from a
    # state saved mid-document continues with exactly the sequences of an uninterrupted one.
    weights = manifest_weights(repo)
    a = StreamingPacker(repo, tokenizer, 128, weights, seed=3, batch=4, shuffle_buffer=50)
    assert a.names == sorted(weights)
    a.next_batch(7)
    state = json.loads(json.dumps(a.state_dict()))  # what a checkpoint stores
    assert any(v["offset"] for v in state["sources"].values())  # saved mid-document
    expected = a.next_batch(9)
    b = StreamingPacker(repo, tokenizer, 128, weights, seed=3, batch=4, shuffle_buffer=50)
    b.load_state_dict(state)
    assert (b.next_batch(9) == expected).all()
    c = StreamingPacker(repo, tokenizer, 128, weights, seed=4, batch=4, shuffle_buffer=50)
    assert not (c.next_batch(16)[7:] == expected).all()  # the seed matters


def test_streamed_pretraining_resumes_to_the_same_losses(workdir: Path) -> None:
    """`data.streaming = true`: a run cut after its step-2 checkpoint and resumed logs the
    same losses as the uninterrupted run (data position restored from the checkpoint)."""
    args = [sys.executable, "-m", "training.run", "--stage", "pretrain", "train.out=\"runs/stream\"", "data.streaming=true",
            "train.pretrain_steps=4", "train.save_every=2", "train.batch_size=2", "data.seq_len=128"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    full = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=600, env=env)
    assert full.returncode == 0, full.stderr[-3000:]
    assert "streamed from" in full.stdout
    stage = workdir / "runs/stream/pretrain"
    log = read_log(stage / "log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4] and (stage / "checkpoints/step-2/data-state.json").is_file()
    # Leave what a job killed after step 2 leaves behind, then resume.
    shutil.rmtree(stage / "checkpoints/step-4")
    shutil.rmtree(stage / "final")
    (stage / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log[:2]))
    resumed = subprocess.run([*args, "--resume"], cwd=workdir, capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "at step 2" in resumed.stdout
    again = read_log(stage / "log.jsonl")
    assert [r["loss"] for r in again] == pytest.approx([r["loss"] for r in log], abs=1e-6)


def test_sft_labels_only_on_responses(workdir: Path, tokenizer) -> None:
    ds = load_released(str(workdir / "medc-i"))
    row = ds[0]
    ids, labels = render_example(row, tokenizer, "chat")
    learned = [t for t, l in zip(ids, labels) if l != IGNORE]
    assert tokenizer.decode(learned) == row["messages"][1]["content"] + tokenizer.eos_token
    prompt_text = tokenizer.decode([t for t, l in zip(ids, labels) if l == IGNORE])
    assert row["messages"][0]["content"][:200] in prompt_text and row["output"][:50] not in prompt_text
    ids_a, labels_a = render_example(row, tokenizer, "alpaca")
    assert tokenizer.decode([t for t, l in zip(ids_a, labels_a) if l != IGNORE]) == row["output"] + tokenizer.eos_token
    assert "### Response:" in tokenizer.decode(ids_a)

    packed = sft_sequences(ds.select(range(40)), tokenizer, 2048, "chat", seed=0)
    pad = tokenizer.pad_token_id
    for ids_row, lab_row, pos_row in zip(packed.input_ids, packed.labels, packed.position_ids):
        starts = np.flatnonzero(pos_row == 0)
        for a, b in zip(starts, list(starts[1:]) + [len(pos_row)]):
            seg_ids, seg_labels = ids_row[a:b], lab_row[a:b]
            if (seg_ids == pad).all():
                assert (seg_labels == IGNORE).all()  # padding never carries loss
            else:
                assert seg_labels[0] == IGNORE  # a row's first token is never predicted from another row
                assert (pos_row[a:b] == np.arange(b - a)).all()
    assert packed.real_tokens == int((packed.input_ids != pad).sum())


def test_packed_rows_do_not_attend_to_each_other(tokenizer) -> None:
    from training.tiny import tiny_llama

    model = tiny_llama(len(tokenizer), hidden=32, layers=2, heads=2, seed=0).eval()
    a = tokenizer("The patient had a fever.", add_special_tokens=False)["input_ids"]
    b = tokenizer("Aspirin inhibits platelet aggregation.", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([b]), use_cache=False).logits[0]
        positions = torch.tensor([list(range(len(a))) + list(range(len(b)))])
        packed = model(input_ids=torch.tensor([a + b]), position_ids=positions, use_cache=False).logits[0]
        leaky = model(input_ids=torch.tensor([a + b]), position_ids=positions).logits[0]  # with a cache: no block mask
    assert torch.allclose(packed[len(a):], alone, atol=1e-5)
    assert not torch.allclose(leaky[len(a):], alone, atol=1e-3)  # why training passes use_cache=False


def torchrun(workdir: Path, out: str, *extra: str, module: tuple[str, ...] = ("training.run",)) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(29500 + (os.getpid() % 1000)),
           "-m", *module, f"train.out={json.dumps(out)}", "train.pretrain_steps=8", "train.sft_steps=4",
           "train.save_every=3", "train.batch_size=2", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600, env=env)


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_process_fsdp_run_resume_and_export(workdir: Path) -> None:
    full = torchrun(workdir, "runs/full")
    assert full.returncode == 0, full.stderr[-3000:]
    assert "world size 2" in full.stdout
    log = read_log(workdir / "runs/full/pretrain/log.jsonl")
    assert [r["step"] for r in log] == list(range(1, 9))
    assert log[-1]["loss"] < log[0]["loss"] - 0.3  # it learns
    sft_log = read_log(workdir / "runs/full/sft/log.jsonl")
    assert len(sft_log) == 4 and sft_log[-1]["loss"] < sft_log[0]["loss"]

    crashed = torchrun(workdir, "runs/resumed", module=("tests.aids.crash_run", "7"))  # dies after step 7
    assert crashed.returncode != 0
    ckpts = sorted(p.name for p in (workdir / "runs/resumed/pretrain/checkpoints").iterdir())
    assert ckpts == ["step-3", "step-6"]
    resumed = torchrun(workdir, "runs/resumed", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout and "at step 6" in resumed.stdout
    again = read_log(workdir / "runs/resumed/pretrain/log.jsonl")
    assert [r["step"] for r in again] == list(range(1, 9))
    for a, b in zip(log, again):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5), (a, b)
        assert a["lr"] == pytest.approx(b["lr"])
    assert [r["loss"] for r in read_log(workdir / "runs/resumed/sft/log.jsonl")] == pytest.approx([r["loss"] for r in sft_log], abs=1e-5)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = workdir / "runs/full/sft/final"
    assert (final / "model.safetensors").is_file()
    tok = AutoTokenizer.from_pretrained(final)
    model = AutoModelForCausalLM.from_pretrained(final)
    out = model.generate(**tok("The patient", return_tensors="pt"), max_new_tokens=5, do_sample=False)
    assert out.shape[1] > len(tok("The patient")["input_ids"])


def test_config_errors_are_one_line(workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.run import main as train  # config errors come before any training state: run them in this process

    assert train(["train.learning_rate=1"]) == 2
    err = capsys.readouterr().err
    assert "override 'train.learning_rate=1'" in err and "Traceback" not in err and err.count("\n") == 1
    assert train(["train.learning_rate=1", "--stage", "pretrain"]) == 2  # an option after an override is read
    assert "override 'train.learning_rate=1'" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochs = 3\n")
    assert train(["--config", str(bad)]) == 2
    assert "unknown key train.epochs" in capsys.readouterr().err
    run = lambda *a: subprocess.run([sys.executable, "-m", "training.run", *a], cwd=tmp_path, capture_output=True, text=True,  # noqa: E731
                                    env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    proc = run("train.pretrain_steps=1")  # no medc-k in this folder
    assert proc.returncode == 2 and "run `python -m medc.build all` first" in proc.stderr


def test_throughput_log_counts_every_step_of_a_window_and_model_flops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tokens/s of a logged step covers every step since the previous logged one; MFU uses
    6 x the matrix-product parameters + attention, counted here from the architecture by hand."""
    from training.config import Config
    from training.run import Dist, StepLog, flops_per_token
    from training.tiny import tiny_llama

    h, layers, vocab, seq = 64, 2, 1000, 128
    per_layer = 4 * h * h + 3 * h * (4 * h) + 2 * h  # q k v o, gate up down, two RMSNorms
    params = layers * per_layer + h + vocab * h  # final norm, the embedding tied to the output
    tied = tiny_llama(vocab, hidden=h, layers=layers, heads=4)
    assert flops_per_token(tied, seq) == 6 * params + 12 * layers * h * seq
    tied.config.tie_word_embeddings = False  # an untied model's input embedding is a lookup: not counted
    assert flops_per_token(tied, seq) == 6 * (params - vocab * h) + 12 * layers * h * seq

    cfg = Config()
    cfg.train.log_every, cfg.train.peak_tflops = 2, 1e-6  # 1 MFLOP/s peak
    d = Dist(rank=0, world=1, local_rank=0, device=torch.device("cpu"), mesh=None)
    log = StepLog(tmp_path / "log.jsonl", "pretrain", 6, flops=20.0, cfg=cfg, d=d)
    for step, seconds in enumerate([4.0, 4.0, 0.5, 0.5, 1.0, 1.0]):
        log(step, 1.0, 1.0, 100, seconds, 1e-3)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["tokens_per_s"] for r in records] == [25.0, 200.0, 100.0]
    assert [r["mfu"] for r in records] == [0.0005, 0.004, 0.002]
    log.summary()  # the steady rate leaves out the first window (start-up): 400 tokens in 3 s
    assert "133 tok/s over 3.0 s" in capsys.readouterr().out


def test_old_checkpoints_pruned_and_an_unwritable_checkpoint_is_one_line(workdir: Path) -> None:
    """`train.keep_checkpoints = 2` leaves the newest two complete checkpoints; a checkpoint that
    cannot be written (here its folder's place is taken by a file, as a full disk also fails a
    save) stops the run with one line naming the folder and the free space, no traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "training.run", "--stage", "pretrain", "train.pretrain_steps=4", "train.save_every=1",
            "train.batch_size=2", "data.seq_len=64"]
    kept = subprocess.run([*base, 'train.out="runs/keep"', "train.keep_checkpoints=2"], cwd=workdir, capture_output=True,
                          text=True, timeout=600, env=env)
    assert kept.returncode == 0, kept.stderr[-3000:]
    assert sorted(p.name for p in (workdir / "runs/keep/pretrain/checkpoints").iterdir()) == ["step-3", "step-4"]
    (workdir / "runs/full-disk/pretrain").mkdir(parents=True)
    (workdir / "runs/full-disk/pretrain/checkpoints").write_text("not a folder")
    failed = subprocess.run([*base, 'train.out="runs/full-disk"'], cwd=workdir, capture_output=True, text=True, timeout=600, env=env)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    (line,) = [ln for ln in failed.stderr.splitlines() if ln.startswith("error:")]
    assert "checkpoint runs/full-disk/pretrain/checkpoints/step-1 cannot be written" in line and "GiB free there" in line
