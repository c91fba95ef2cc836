#!/usr/bin/env bash
# Resume on CUDA: the llama_1b_gpu config for 15 streamed pretraining steps (checkpoints every 5,
# the newest 2 kept), killed after step 11 (tests/aids/crash_run.py), resumed with --resume, and the
# same 15 steps run uninterrupted; prints the largest loss difference between the two logs.
#
#   bash benchmarks/train_gpu_resume.sh MEDC_K WORK [section.key=value ...]
#
# WORK/tokenizer/ (copied into both runs) saves training a tokenizer twice. On GPU, bf16 kernels
# are not bit-reproducible: expect differences of about 1e-3, not the CPU test's exact equality.
set -u
K=${1:?MEDC_K folder}; WORK=${2:?work folder}; shift 2
run() { out=$1; module=$2; shift 2; mkdir -p "$out" && { [ -d "$WORK/tokenizer" ] && cp -r "$WORK/tokenizer" "$out/" || true; }
  torchrun --nproc-per-node 1 -m $module --config training/configs/llama_1b_gpu.toml --stage pretrain "$@" \
    "data.pretrain=\"$K\"" data.streaming=true "train.out=\"$out\"" train.pretrain_steps=15 train.save_every=5 \
    train.keep_checkpoints=2 train.log_every=1 "${EXTRA[@]}"; }
EXTRA=("$@")
run "$WORK/resumed" "tests.aids.crash_run 11"
echo "killed after step 11; checkpoints: $(ls "$WORK/resumed/pretrain/checkpoints" | tr '\n' ' ')"
run "$WORK/resumed" training.run --resume
rm -rf "$WORK/resumed/pretrain/checkpoints"  # (disk: each is 13 GB)
run "$WORK/uninterrupted" training.run
rm -rf "$WORK/uninterrupted/pretrain/checkpoints"
python3 - "$WORK" <<'PY'
import json, sys
logs = [[json.loads(line) for line in open(f"{sys.argv[1]}/{name}/pretrain/log.jsonl")] for name in ("resumed", "uninterrupted")]
print("steps", [r["step"] for r in logs[0]], [r["step"] for r in logs[1]])
print("largest |loss difference|:", max(abs(a["loss"] - b["loss"]) for a, b in zip(*logs)))
PY
