#!/usr/bin/env bash
# The training module for real on CUDA: a ~1.1B Llama (training/configs/llama_1b_gpu.toml)
# with FSDP2 over NCCL under torchrun and bf16 mixed precision: streamed pretraining on a
# built MedC-K, then SFT on MedC-I, each saving a sharded checkpoint and exporting a Hugging
# Face checkpoint. Prints tokens/s and MFU per logged step and the steady rate per stage.
#
#   bash benchmarks/train_gpu.sh MEDC_K MEDC_I OUT [section.key=value ...]
#
# NPROC (default 1) sets the GPUs; extra arguments are config overrides. Logs: OUT/*/log.jsonl.
# The tokenizer is trained on MEDC_K unless OUT/tokenizer/ already holds one.
set -euo pipefail
K=${1:?MEDC_K folder}; I=${2:?MEDC_I folder}; OUT=${3:?output folder}; shift 3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'nccl', torch.cuda.nccl.version(), 'transformers', transformers.__version__)"
start=$(date +%s)
torchrun --nproc-per-node "${NPROC:-1}" -m training.run --config training/configs/llama_1b_gpu.toml --stage all \
    "data.pretrain=\"$K\"" "data.sft=\"$I\"" data.streaming=true "train.out=\"$OUT\"" "$@"
echo "wall: $(( $(date +%s) - start )) s (both stages, with checkpoints and exports)"
