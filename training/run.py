"""`python -m training.run`: continued pretraining on MedC-K, then SFT on MedC-I, with FSDP2.

Read it top to bottom: config → distributed setup → tokenizer and model → data → FSDP2
(`fully_shard` per decoder layer, then the root) → the loop (AdamW, warmup + cosine,
clipping, accumulation) → sharded checkpoints (`torch.distributed.checkpoint`) and resume
→ export as a Hugging Face checkpoint. Runs plain (one process) or under `torchrun`
(NCCL on GPU, gloo on CPU). With no `model.path`, a small Llama is initialised and a
byte-level BPE tokenizer is trained on MedC-K, and both are saved with the checkpoints.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medc.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"path": "", "hidden_size": 128, "layers": 2, "heads": 4, "vocab_size": 2048, "context": 512},
    "data": {"pretrain": "medc-k", "sft": "medc-i", "seq_len": 256, "sft_seq_len": 1024, "mixture": {}, "sft_format": "chat", "streaming": False,
             "shuffle_buffer": 10000},
    "train": {
        "stage": "all", "pretrain_steps": 40, "sft_steps": 20, "batch_size": 4, "grad_accum": 1, "lr": 3e-3, "sft_lr": 1e-3,
        "warmup": 0.1, "min_lr_ratio": 0.1, "weight_decay": 0.1, "clip": 1.0, "seed": 0, "precision": "auto",
        "activation_checkpointing": False, "save_every": 10, "log_every": 1, "out": "runs/tiny", "peak_tflops": 0.0,
    },
}


# ---------------------------------------------------------------------------- config
def load_config(path: Path | None, overrides: list[str]) -> dict[str, dict[str, Any]]:
    cfg = {k: dict(v) for k, v in DEFAULTS.items()}
    if path is not None:
        if not path.is_file():
            raise UserError(f"config {path} not found (configs: {', '.join(p.stem for p in sorted(CONFIG_DIR.glob('*.toml')))})")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"config {path}: invalid TOML ({exc})") from None
        for section, values in raw.items():
            if section not in cfg or not isinstance(values, dict):
                raise UserError(f"config {path}: unknown section [{section}] (known: {', '.join(cfg)})")
            for key, value in values.items():
                if key not in cfg[section]:
                    raise UserError(f"config {path}: unknown key {section}.{key}")
                cfg[section][key] = value
    for item in overrides:
        key, sep, value = item.partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in cfg or name not in cfg[section]:
            raise UserError(f"override {item!r}: expected section.key=value with a known key (e.g. train.lr=1e-4)")
        try:
            cfg[section][name] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            cfg[section][name] = value  # a bare string
    return cfg


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


def setup_distributed() -> Dist:
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    mesh = None
    if world > 1:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh("cuda" if cuda else "cpu", (world,))
    return Dist(rank, world, local_rank, device, mesh)


def barrier(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()


# ---------------------------------------------------------------------------- model
def tokenizer_and_model(cfg: dict[str, Any], d: Dist, out: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.data import DEFAULT_CHAT_TEMPLATE, load_released
    from training.tiny import tiny_llama, train_tokenizer

    m = cfg["model"]
    if m["path"]:
        try:
            tok = AutoTokenizer.from_pretrained(m["path"])
            model = AutoModelForCausalLM.from_pretrained(m["path"], dtype="auto")
        except OSError as exc:
            raise UserError(f"model.path {m['path']}: cannot load ({str(exc).splitlines()[0]})") from None
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return tok, model
    tok_dir = out / "tokenizer"
    if d.main and not (tok_dir / "tokenizer.json").is_file():
        texts = load_released(cfg["data"]["pretrain"])["text"]
        tok = train_tokenizer(texts, m["vocab_size"])
        tok.chat_template = DEFAULT_CHAT_TEMPLATE
        tok.save_pretrained(tok_dir)
    barrier(d)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    model = tiny_llama(len(tok), hidden=m["hidden_size"], layers=m["layers"], heads=m["heads"], context=m["context"],
                       seed=cfg["train"]["seed"])
    return tok, model


def shard_model(model: Any, d: Dist, precision: str, activation_checkpointing: bool) -> Any:
    """FSDP2: `fully_shard` each decoder layer, then the root (bf16 params on GPU)."""
    import torch

    if activation_checkpointing:
        model.gradient_checkpointing_enable()
    model.to(d.device)
    if d.world == 1:
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
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, optim)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(folder))
    torch.save({"rng": torch.get_rng_state(), "sched": sched.state_dict(), "step": step}, folder / f"extra-rank{d.rank}.pt")
    if data_state is not None and d.main:  # the streamed data position (the same on every rank)
        (folder / "data-state.json").write_text(json.dumps(data_state))
    barrier(d)
    if d.main:
        (folder / "COMPLETE").write_text(str(step))


def latest_checkpoint(stage_dir: Path) -> Path | None:
    done = [p for p in (stage_dir / "checkpoints").glob("step-*") if (p / "COMPLETE").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1])) if done else None


def load_checkpoint(folder: Path, model: Any, optim: Any, sched: Any, d: Dist) -> int:
    import torch
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
def train_stage(stage: str, cfg: dict[str, Any], model: Any, tokenizer: Any, d: Dist, out: Path, resume: bool,
                crash_at_step: int | None) -> Path:
    import numpy as np
    import torch

    from training.data import StreamingPacker, load_released, manifest_weights, pretrain_sequences, sft_sequences

    t, data_cfg = cfg["train"], cfg["data"]
    steps = int(t["pretrain_steps"] if stage == "pretrain" else t["sft_steps"])
    micro, accum = int(t["batch_size"]), int(t["grad_accum"])
    global_batch = micro * accum * d.world
    seq_len = int(data_cfg["seq_len"] if stage == "pretrain" else data_cfg["sft_seq_len"])
    stage_dir = out / stage
    log_path = stage_dir / "log.jsonl"

    streamer = None
    if stage == "pretrain" and data_cfg["streaming"]:
        weights = dict(data_cfg["mixture"]) or manifest_weights(data_cfg["pretrain"])
        streamer = StreamingPacker(data_cfg["pretrain"], tokenizer, seq_len, weights, int(t["seed"]),
                                   shuffle_buffer=int(data_cfg["shuffle_buffer"]))
        packed = None
    elif stage == "pretrain":
        dataset = load_released(data_cfg["pretrain"])
        weights = dict(data_cfg["mixture"]) or manifest_weights(data_cfg["pretrain"])
        packed = pretrain_sequences(dataset, tokenizer, seq_len, weights, steps * global_batch, int(t["seed"]))
    else:  # SFT rows are rendered in memory (instruction sets are small), streamed from the Hub if asked
        dataset = load_released(data_cfg["sft"], streaming=bool(data_cfg["streaming"]))
        packed = sft_sequences(dataset, tokenizer, seq_len, data_cfg["sft_format"], int(t["seed"]))
    n = len(packed.input_ids) if packed is not None else 0

    lr = float(t["lr"] if stage == "pretrain" else t["sft_lr"])
    decay = [p for name, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for name, p in model.named_parameters() if p.ndim < 2]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": float(t["weight_decay"])}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=lr, betas=(0.9, 0.95), fused=d.device.type == "cuda")
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(steps, float(t["warmup"]), float(t["min_lr_ratio"])))

    start = 0
    if resume and (ckpt := latest_checkpoint(stage_dir)) is not None:
        start = load_checkpoint(ckpt, model, optim, sched, d)
        if streamer is not None:
            streamer.load_state_dict(json.loads((ckpt / "data-state.json").read_text()))
        if d.main:
            print(f"{stage}: resumed from {ckpt} at step {start}", flush=True)
    elif d.main and log_path.exists():
        log_path.unlink()
    stage_dir.mkdir(parents=True, exist_ok=True)

    n_params = sum(p.numel() for p in model.parameters())
    if d.main:
        what = (f"{n:,} sequences of {seq_len} tokens (packing efficiency {packed.efficiency:.2%})" if packed is not None
                else f"sequences of {seq_len} tokens streamed from {', '.join(streamer.names)} (every token real)")
        print(f"{stage}: {what}, "
              f"{steps} steps x {global_batch} sequences, {n_params:,} parameters, world size {d.world}", flush=True)
    model.train()
    t_last = time.perf_counter()
    for step in range(start, steps):
        loss_sum = torch.zeros((), device=d.device)
        tokens = 0
        if streamer is not None:  # this step's global batch, the same on every rank
            step_ids = streamer.next_batch(global_batch)
        for a in range(accum):
            # This rank's micro-batch within the step's global batch: a deterministic function of the step.
            offset = (a * d.world + d.rank) * micro
            if streamer is not None:
                ids = torch.from_numpy(step_ids[offset : offset + micro]).to(d.device)
                labels = ids.clone()
                pos = torch.arange(seq_len, device=d.device).expand(micro, seq_len)
            else:
                base = step * global_batch + offset
                idx = np.arange(base, base + micro) % n
                ids = torch.from_numpy(packed.input_ids[idx]).to(d.device)
                labels = torch.from_numpy(packed.labels[idx]).to(d.device)
                pos = torch.from_numpy(packed.position_ids[idx]).to(d.device)
            with torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=t["precision"] == "bf16" and d.world == 1):
                # use_cache=False matters: with a cache, transformers ignores the restarting
                # position ids and packed SFT rows would attend to each other.
                out_ = model(input_ids=ids, labels=labels, position_ids=pos, use_cache=False)
            (out_.loss / accum).backward()
            loss_sum += out_.loss.detach() / accum
            tokens += int((labels != -100).sum())
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(t["clip"]))
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        if d.world > 1:
            import torch.distributed as dist

            dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)
        if crash_at_step is not None and step + 1 == crash_at_step:
            os._exit(17)  # testing aid: die abruptly, as a killed job would
        if (step + 1) % int(t["save_every"]) == 0 or step + 1 == steps:
            data_state = streamer.state_dict() if streamer is not None else None
            save_checkpoint(stage_dir / "checkpoints" / f"step-{step + 1}", model, optim, sched, step + 1, d, data_state)
        if d.main and ((step + 1) % int(t["log_every"]) == 0 or step + 1 == steps):
            now = time.perf_counter()
            tok_s = tokens * d.world / max(now - t_last, 1e-9)
            t_last = now
            peak = float(t["peak_tflops"]) * 1e12 * d.world
            record = {"stage": stage, "step": step + 1, "loss": round(float(loss_sum), 6), "lr": sched.get_last_lr()[0],
                      "grad_norm": round(float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm), 6),
                      "tokens_per_s": round(tok_s, 1), "mfu": round(6 * n_params * tok_s / peak, 4) if peak else None}
            with open(log_path, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            print(f"{stage} step {step + 1}/{steps} loss {record['loss']:.4f} lr {record['lr']:.2e} "
                  f"{tok_s:,.0f} tok/s" + (f" mfu {record['mfu']:.1%}" if record["mfu"] is not None else ""), flush=True)
    final = stage_dir / "final"
    export(model, tokenizer, final, d)
    if d.main:
        print(f"{stage}: exported {final}", flush=True)
    return final


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.run", description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG_DIR / "tiny.toml", help="training/configs/NAME.toml (default: tiny)")
    ap.add_argument("--stage", choices=("pretrain", "sft", "all"), default=None, help="default: the config's train.stage")
    ap.add_argument("--model", default=None, help="a causal LM folder or Hub id (overrides model.path)")
    ap.add_argument("--resume", action="store_true", help="continue each stage from its latest complete checkpoint")
    ap.add_argument("--crash-at-step", type=int, default=None, help=argparse.SUPPRESS)  # for the resume test
    ap.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.pretrain_steps=100 data.seq_len=512")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        if args.model:
            cfg["model"]["path"] = args.model
        stage = args.stage or cfg["train"]["stage"]
        if stage not in ("pretrain", "sft", "all"):
            raise UserError(f"train.stage must be pretrain, sft or all, not {stage!r}")
        import torch

        d = setup_distributed()
        if cfg["train"]["precision"] == "auto":
            cfg["train"]["precision"] = "bf16" if d.device.type == "cuda" else "fp32"
        torch.manual_seed(int(cfg["train"]["seed"]) + d.rank)
        torch.use_deterministic_algorithms(d.device.type == "cpu")
        out = Path(cfg["train"]["out"])
        out.mkdir(parents=True, exist_ok=True)
        tokenizer, model = tokenizer_and_model(cfg, d, out)
        model = shard_model(model, d, cfg["train"]["precision"], bool(cfg["train"]["activation_checkpointing"]))
        for s in (("pretrain", "sft") if stage == "all" else (stage,)):
            train_stage(s, cfg, model, tokenizer, d, out, args.resume, args.crash_at_step if s == "pretrain" or stage == "sft" else None)
        if d.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
