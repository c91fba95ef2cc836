"""`python -m training.run`: continued pretraining on MedC-K, then SFT on MedC-I, with FSDP2.

Read it top to bottom: config (`training.config`) → distributed setup → tokenizer and model
→ FSDP2 (`fully_shard` per decoder layer, then the root) → per stage: its data, the
optimiser (AdamW, warmup + cosine), resume, the loop of `train_step`s (clipping,
accumulation), sharded checkpoints (`torch.distributed.checkpoint`) → export as a Hugging
Face checkpoint. Runs plain (one process) or under `torchrun` (NCCL on GPU, gloo on CPU).
With no `model.path`, a small Llama is initialised and a byte-level BPE tokenizer is
trained on MedC-K, and both are saved with the checkpoints.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.distributed.checkpoint.api import CheckpointException

from medc.cli import command
from medc.errors import UserError
from training.config import CONFIG_DIR, Config, load_config
from training.data import (DEFAULT_CHAT_TEMPLATE, Packed, StreamingPacker, load_released, manifest_weights, pretrain_sequences,
                           sft_sequences)
from training.tiny import tiny_llama, train_tokenizer


# ---------------------------------------------------------------------------- distributed
@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int
    device: Any
    mesh: Any

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        """A process group and device mesh exist: the model is wrapped with FSDP2."""
        return self.mesh is not None


def setup_distributed() -> Dist:
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    mesh = None
    # Under torchrun (which sets TORCHELASTIC_RUN_ID) the model is sharded with FSDP2 even on
    # one device, so a one-GPU run exercises the same NCCL / FSDP2 / bf16 path as a cluster.
    if world > 1 or "TORCHELASTIC_RUN_ID" in os.environ:
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh("cuda" if cuda else "cpu", (world,))
    return Dist(rank, world, local_rank, device, mesh)


def barrier(d: Dist) -> None:
    if d.sharded:
        import torch.distributed as dist

        dist.barrier()


# ---------------------------------------------------------------------------- model
def tokenizer_and_model(cfg: Config, d: Dist, out: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = cfg.model
    if m.path:
        try:
            tok = AutoTokenizer.from_pretrained(m.path)
            model = AutoModelForCausalLM.from_pretrained(m.path, dtype="auto")
        except OSError as exc:
            raise UserError(f"model.path {m.path}: cannot load ({str(exc).splitlines()[0]})") from None
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return tok, model
    tok_dir = out / "tokenizer"
    if d.main and not (tok_dir / "tokenizer.json").is_file():
        texts = load_released(cfg.data.pretrain)["text"]
        tok = train_tokenizer(texts, m.vocab_size)
        tok.chat_template = DEFAULT_CHAT_TEMPLATE
        tok.save_pretrained(tok_dir)
    barrier(d)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    model = tiny_llama(len(tok), hidden=m.hidden_size, layers=m.layers, heads=m.heads, context=m.context, seed=cfg.train.seed)
    return tok, model


def shard_model(model: Any, d: Dist, precision: str, activation_checkpointing: bool) -> Any:
    """FSDP2: `fully_shard` each decoder layer, then the root (bf16 params on GPU)."""
    if activation_checkpointing:
        model.gradient_checkpointing_enable()
    model.to(d.device)
    if not d.sharded:
        return model
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if precision == "bf16" else MixedPrecisionPolicy()
    for layer in model.model.layers:
        fully_shard(layer, mesh=d.mesh, mp_policy=mp)
    fully_shard(model, mesh=d.mesh, mp_policy=mp)
    return model


def lr_lambda(total: int, warmup: float, min_ratio: float) -> Any:
    warm = max(1, int(round(total * warmup)))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


# ---------------------------------------------------------------------------- checkpoints
def save_checkpoint(folder: Path, model: Any, optim: Any, sched: Any, step: int, d: Dist,
                    data_state: dict[str, Any] | None = None) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, optim)
    try:
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(folder))
        torch.save({"rng": torch.get_rng_state(), "sched": sched.state_dict(), "step": step}, folder / f"extra-rank{d.rank}.pt")
        if data_state is not None and d.main:  # the streamed data position (the same on every rank)
            (folder / "data-state.json").write_text(json.dumps(data_state))
    except (OSError, RuntimeError, CheckpointException) as exc:  # a full disk surfaces as torch's RuntimeError
        free = shutil.disk_usage(next(p for p in (folder, *folder.parents) if p.exists())).free / 2**30
        raise UserError(f"checkpoint {folder} cannot be written ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
                        f"{free:.1f} GiB free there: free space, or set train.keep_checkpoints") from None
    barrier(d)
    if d.main:
        (folder / "COMPLETE").write_text(str(step))


def prune_checkpoints(stage_dir: Path, keep: int) -> None:
    """Remove the complete checkpoints older than the newest `keep` (0: keep all), on rank 0
    after a new one is complete; an incomplete one (a save cut short) is left for `--resume`
    to skip."""
    if keep:
        for old in complete_checkpoints(stage_dir)[keep:]:
            shutil.rmtree(old, ignore_errors=True)


def complete_checkpoints(stage_dir: Path) -> list[Path]:
    """The stage's complete checkpoints, newest first."""
    done = [p for p in (stage_dir / "checkpoints").glob("step-*") if (p / "COMPLETE").is_file() and p.name[5:].isdigit()]
    return sorted(done, key=lambda p: int(p.name[5:]), reverse=True)


def load_checkpoint(folder: Path, model: Any, optim: Any, sched: Any, d: Dist) -> int:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_sd, optim_sd = get_state_dict(model, optim)
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=str(folder))
    set_state_dict(model, optim, model_state_dict=state["model"], optim_state_dict=state["optim"])
    extra = torch.load(folder / f"extra-rank{d.rank}.pt", weights_only=False)
    torch.set_rng_state(extra["rng"])
    sched.load_state_dict(extra["sched"])
    return int(extra["step"])


def export(model: Any, tokenizer: Any, folder: Path, d: Dist) -> None:
    """Gather the full weights and save a Hugging Face checkpoint (safetensors + tokenizer)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if d.main:
        from transformers import AutoModelForCausalLM

        fresh = AutoModelForCausalLM.from_config(model.config)
        fresh.load_state_dict(state)
        fresh.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    barrier(d)


# ---------------------------------------------------------------------------- the loop
@dataclass
class StageData:
    """What one stage trains on: packed sequences in memory, or a streaming packer."""

    seq_len: int
    global_batch: int  # sequences per optimizer step, over all ranks
    packed: Packed | None = None
    streamer: StreamingPacker | None = None

    def describe(self) -> str:
        if self.packed is not None:
            return (f"{len(self.packed.input_ids):,} sequences of {self.seq_len} tokens "
                    f"(packing efficiency {self.packed.efficiency:.2%})")
        assert self.streamer is not None
        return f"sequences of {self.seq_len} tokens streamed from {', '.join(self.streamer.names)} (every token real)"


def stage_data(stage: str, cfg: Config, tokenizer: Any, d: Dist) -> StageData:
    data, t = cfg.data, cfg.train
    global_batch = t.batch_size * t.grad_accum * d.world
    if stage == "sft":  # SFT rows are rendered in memory (instruction sets are small), streamed from the Hub if asked
        dataset = load_released(data.sft, streaming=data.streaming)
        return StageData(data.sft_seq_len, global_batch, packed=sft_sequences(dataset, tokenizer, data.sft_seq_len, data.sft_format, t.seed))
    weights = dict(data.mixture) or manifest_weights(data.pretrain)
    if data.streaming:
        streamer = StreamingPacker(data.pretrain, tokenizer, data.seq_len, weights, t.seed, shuffle_buffer=data.shuffle_buffer)
        return StageData(data.seq_len, global_batch, streamer=streamer)
    packed = pretrain_sequences(load_released(data.pretrain), tokenizer, data.seq_len, weights, t.steps(stage) * global_batch, t.seed)
    return StageData(data.seq_len, global_batch, packed=packed)


def make_optimizer(stage: str, cfg: Config, model: Any, d: Dist) -> tuple[Any, Any]:
    """AdamW (no weight decay on biases and norms) with linear warmup and cosine decay."""
    t = cfg.train
    decay = [p for _, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.ndim < 2]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=t.stage_lr(stage), betas=(0.9, 0.95), fused=d.device.type == "cuda")
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(t.steps(stage), t.warmup, t.min_lr_ratio))
    return optim, sched


def micro_batch(data: StageData, step: int, offset: int, micro: int, step_ids: np.ndarray | None, d: Dist) -> tuple[Any, Any, Any]:
    """(input ids, labels, position ids) of this rank's micro-batch at `offset` in the step's global batch."""
    if step_ids is not None:
        ids = torch.from_numpy(step_ids[offset : offset + micro]).to(d.device)
        return ids, ids.clone(), torch.arange(data.seq_len, device=d.device).expand(micro, data.seq_len)
    assert data.packed is not None
    base = step * data.global_batch + offset
    idx = np.arange(base, base + micro) % len(data.packed.input_ids)
    return (torch.from_numpy(data.packed.input_ids[idx]).to(d.device), torch.from_numpy(data.packed.labels[idx]).to(d.device),
            torch.from_numpy(data.packed.position_ids[idx]).to(d.device))


def train_step(step: int, data: StageData, model: Any, optim: Any, sched: Any, cfg: Config, d: Dist) -> tuple[float, float, int]:
    """One optimizer step over the step's global batch, a deterministic function of the step:
    (mean loss over ranks, gradient norm, tokens this rank computed)."""
    t = cfg.train
    micro, accum = t.batch_size, t.grad_accum
    loss_sum = torch.zeros((), device=d.device)
    tokens = 0
    step_ids = data.streamer.next_batch(data.global_batch) if data.streamer is not None else None  # the same on every rank
    for a in range(accum):
        ids, labels, pos = micro_batch(data, step, (a * d.world + d.rank) * micro, micro, step_ids, d)
        with torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16" and not d.sharded):
            # use_cache=False matters: with a cache, transformers ignores the restarting
            # position ids and packed SFT rows would attend to each other.
            out = model(input_ids=ids, labels=labels, position_ids=pos, use_cache=False)
        (out.loss / accum).backward()
        loss_sum += out.loss.detach() / accum
        tokens += ids.numel()  # every position is computed, padding and prompt tokens too
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip)
    optim.step()
    sched.step()
    optim.zero_grad(set_to_none=True)
    if d.sharded:
        import torch.distributed as dist

        dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)
    return float(loss_sum), float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm), tokens


def flops_per_token(model: Any, seq_len: int) -> float:
    """Training FLOPs per token, by torchtitan's convention: 6 x the parameters that take part
    in matrix products (the input embedding is a lookup and is left out, unless it is tied to
    the output projection) + 12 x layers x hidden size x sequence length for attention."""
    n = sum(p.numel() for p in model.parameters())
    if not getattr(model.config, "tie_word_embeddings", False):
        n -= model.get_input_embeddings().weight.numel()
    return 6.0 * n + 12.0 * model.config.num_hidden_layers * model.config.hidden_size * seq_len


class StepLog:
    """`log.jsonl` of a stage (on rank 0): loss, lr, gradient norm, tokens/s and MFU per logged
    step. Tokens/s is over the training steps since the previous logged one (the time of
    checkpoint saves is not counted); MFU = `flops_per_token` x tokens/s / the devices' peak.
    `summary` gives the steady rate: every logged window but the first (which holds start-up)."""

    def __init__(self, path: Path, stage: str, steps: int, flops: float, cfg: Config, d: Dist):
        self.path, self.stage, self.steps, self.flops, self.d = path, stage, steps, flops, d
        self.every = cfg.train.log_every
        self.peak = cfg.train.peak_tflops * 1e12 * d.world
        self.tokens, self.seconds, self.windows = 0, 0.0, 0
        self.steady_tokens, self.steady_seconds = 0, 0.0

    def mfu(self, tok_s: float) -> float | None:
        return round(self.flops * tok_s / self.peak, 4) if self.peak else None

    def __call__(self, step: int, loss: float, norm: float, tokens: int, seconds: float, lr: float) -> None:
        self.tokens += tokens * self.d.world
        self.seconds += seconds
        if not ((step + 1) % self.every == 0 or step + 1 == self.steps):
            return
        tok_s = self.tokens / max(self.seconds, 1e-9)
        if self.windows:
            self.steady_tokens += self.tokens
            self.steady_seconds += self.seconds
        self.windows += 1
        self.tokens, self.seconds = 0, 0.0
        if not self.d.main:
            return
        record = {"stage": self.stage, "step": step + 1, "loss": round(loss, 6), "lr": lr, "grad_norm": round(norm, 6),
                  "tokens_per_s": round(tok_s, 1), "mfu": self.mfu(tok_s)}
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(f"{self.stage} step {step + 1}/{self.steps} loss {record['loss']:.4f} lr {record['lr']:.2e} "
              f"{tok_s:,.0f} tok/s" + (f" mfu {record['mfu']:.1%}" if record["mfu"] is not None else ""), flush=True)

    def summary(self) -> None:
        if not self.d.main or not self.steady_seconds:
            return
        tok_s = self.steady_tokens / self.steady_seconds
        mfu = self.mfu(tok_s)
        print(f"{self.stage}: steady rate after the first logged window: {tok_s:,.0f} tok/s over {self.steady_seconds:.1f} s"
              + (f", mfu {mfu:.1%} ({self.flops / 1e9:.2f} GFLOP per token)" if mfu is not None else "")
              + (f", peak GPU memory {torch.cuda.max_memory_allocated(self.d.device) / 2**30:.1f} GiB" if self.d.device.type == "cuda" else ""),
              flush=True)


def resume_from(stage: str, stage_dir: Path, data: StageData, model: Any, optim: Any, sched: Any, d: Dist) -> int:
    """Load the newest complete checkpoint that can be read (a damaged one is skipped, said
    on the console) and return its step; 0 when there is none."""
    for ckpt in complete_checkpoints(stage_dir):
        try:
            start = load_checkpoint(ckpt, model, optim, sched, d)
            if data.streamer is not None:
                data.streamer.load_state_dict(json.loads((ckpt / "data-state.json").read_text()))
        except (Exception, CheckpointException) as exc:  # torch / DCP raise many types (DCP's is a BaseException)
            if d.main:
                print(f"{stage}: checkpoint {ckpt} cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                      "trying the one before", flush=True)
            continue
        if d.main:
            print(f"{stage}: resumed from {ckpt} at step {start}", flush=True)
        return start
    return 0


def train_stage(stage: str, cfg: Config, model: Any, tokenizer: Any, d: Dist, out: Path, resume: bool) -> Path:
    """Train one stage (pretrain or sft) from its start or its latest complete checkpoint, export it."""
    steps = cfg.train.steps(stage)
    stage_dir = out / stage
    log_path = stage_dir / "log.jsonl"
    data = stage_data(stage, cfg, tokenizer, d)
    optim, sched = make_optimizer(stage, cfg, model, d)
    start = resume_from(stage, stage_dir, data, model, optim, sched, d) if resume else 0
    if not start and d.main and log_path.exists():
        log_path.unlink()
    stage_dir.mkdir(parents=True, exist_ok=True)

    n_params = sum(p.numel() for p in model.parameters())
    if d.main:
        print(f"{stage}: {data.describe()}, {steps} steps x {data.global_batch} sequences, {n_params:,} parameters, "
              f"world size {d.world}", flush=True)
    log = StepLog(log_path, stage, steps, flops_per_token(model, data.seq_len), cfg, d)
    model.train()
    for step in range(start, steps):
        began = time.perf_counter()
        loss, norm, tokens = train_step(step, data, model, optim, sched, cfg, d)  # returns synchronised floats
        seconds = time.perf_counter() - began
        if (step + 1) % cfg.train.save_every == 0 or step + 1 == steps:
            data_state = data.streamer.state_dict() if data.streamer is not None else None
            save_checkpoint(stage_dir / "checkpoints" / f"step-{step + 1}", model, optim, sched, step + 1, d, data_state)
            if d.main:
                prune_checkpoints(stage_dir, cfg.train.keep_checkpoints)
        log(step, loss, norm, tokens, seconds, sched.get_last_lr()[0])
    log.summary()
    final = stage_dir / "final"
    export(model, tokenizer, final, d)
    if d.main:
        print(f"{stage}: exported {final}", flush=True)
    return final


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.run", description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG_DIR / "tiny.toml", help="training/configs/NAME.toml (default: tiny)")
    ap.add_argument("--stage", choices=("pretrain", "sft", "all"), default=None, help="default: the config's train.stage")
    ap.add_argument("--model", default=None, help="a causal LM folder or Hub id (overrides model.path)")
    ap.add_argument("--resume", action="store_true", help="continue each stage from its latest complete checkpoint")
    ap.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.pretrain_steps=100 data.seq_len=512")
    args = ap.parse_intermixed_args(argv)  # options may follow the overrides
    cfg = load_config(args.config, args.overrides)
    if args.model:
        cfg.model.path = args.model
    if args.stage:
        cfg.train.stage = args.stage
    d = setup_distributed()
    if cfg.train.precision == "auto":
        cfg.train.precision = "bf16" if d.device.type == "cuda" else "fp32"
    torch.manual_seed(cfg.train.seed + d.rank)
    torch.use_deterministic_algorithms(d.device.type == "cpu")
    out = Path(cfg.train.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer, model = tokenizer_and_model(cfg, d, out)
    model = shard_model(model, d, cfg.train.precision, cfg.train.activation_checkpointing)
    for stage in cfg.train.stages():
        train_stage(stage, cfg, model, tokenizer, d, out, args.resume)
    if d.sharded:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
