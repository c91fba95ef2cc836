"""Training throughput: medc's loop (`training.run`) vs Hugging Face `Trainer`, same CPU run.

    uv run python benchmarks/train_vs_hf_trainer.py [--steps 30] [--medc-k DIR]

Same tiny Llama initialisation (seeded), same tokenizer, same packed pretraining
sequences, same micro-batch, AdamW + warmup/cosine, fp32, one process. Tokens/s is
measured over the steps after the first (the first includes one-off set-up in both).
Builds the default MedC-K into a temporary folder unless `--medc-k` is given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent


def medc_tokens_per_s(work: Path, steps: int, batch: int, seq_len: int) -> float:
    proc = subprocess.run(
        [sys.executable, "-m", "training.run", "--stage", "pretrain", f"train.pretrain_steps={steps}", f"train.batch_size={batch}",
         f"data.seq_len={seq_len}", f"train.save_every={steps}", 'train.out="runs/bench"'],
        cwd=work, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"},
    )
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    log = [json.loads(line) for line in (work / "runs/bench/pretrain/log.jsonl").read_text().splitlines()]
    # tokens_per_s of a logged step is its own training time; skip the first (start-up).
    rates = [r["tokens_per_s"] for r in log[1:]]
    return sum(rates) / len(rates)


def trainer_tokens_per_s(work: Path, steps: int, batch: int, seq_len: int) -> float:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from training.data import load_released, manifest_weights, pretrain_sequences
    from training.tiny import tiny_llama

    tok = AutoTokenizer.from_pretrained(work / "runs/bench/tokenizer")
    cfg = {"hidden_size": 128, "layers": 2, "heads": 4, "context": 1024}
    model = tiny_llama(len(tok), hidden=cfg["hidden_size"], layers=cfg["layers"], heads=cfg["heads"], context=cfg["context"], seed=0)
    packed = pretrain_sequences(load_released(str(work / "medc-k")), tok, seq_len, manifest_weights(str(work / "medc-k")), steps * batch, 0)
    ds = Dataset.from_dict({"input_ids": packed.input_ids.tolist(), "labels": packed.labels.tolist()})
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
            times.append(time.perf_counter())

    args = TrainingArguments(
        output_dir=str(work / "hf"), per_device_train_batch_size=batch, max_steps=steps, learning_rate=3e-3,
        warmup_steps=max(1, steps // 10), lr_scheduler_type="cosine", weight_decay=0.1, max_grad_norm=1.0, logging_steps=10**6,
        save_strategy="no", report_to=[], seed=0, dataloader_num_workers=0, use_cpu=True, adam_beta2=0.95,
    )
    torch.set_num_threads(2)
    Trainer(model=model, args=args, train_dataset=ds, callbacks=[Clock()]).train()
    tokens = batch * seq_len
    return tokens * (len(times) - 1) / (times[-1] - times[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--medc-k", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.medc_k:
            (work / "medc-k").symlink_to(args.medc_k.resolve())
        else:
            subprocess.run([sys.executable, "-m", "medc.build", "medc-k", "--out", str(work), "--quiet"], cwd=REPO, check=True,
                           capture_output=True)
        ours = medc_tokens_per_s(work, args.steps, args.batch, args.seq_len)
        theirs = trainer_tokens_per_s(work, args.steps, args.batch, args.seq_len)
    print(f"tiny Llama, {args.steps} steps x {args.batch} x {args.seq_len} tokens, CPU, one process")
    print(f"medc training.run: {ours:,.0f} tokens/s")
    print(f"HF Trainer:        {theirs:,.0f} tokens/s")
    print(f"ratio medc / Trainer: {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
