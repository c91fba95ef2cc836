"""The training configuration: `[model]`, `[data]` and `[train]` of a TOML file in
`training/configs/`, then `section.key=value` overrides from the command line, as typed
dataclasses. An unknown section or key, a value of the wrong type, NaN or infinity, or a
value out of range is a one-line `UserError`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from medc.errors import UserError
from medc.files.typed_values import conforms, describe

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
STAGES = ("pretrain", "sft")


@dataclass
class ModelConfig:
    path: str = ""  # a causal LM folder or Hub id; empty: initialise the small Llama below
    hidden_size: int = 128
    layers: int = 2
    heads: int = 4
    vocab_size: int = 2048
    context: int = 512


@dataclass
class DataConfig:
    pretrain: str = "medc-k"  # a repo folder written by `python -m medc.build`, or a Hub id
    sft: str = "medc-i"
    seq_len: int = 256  # pretraining sequence length
    sft_seq_len: int = 1024
    mixture: dict[str, float] = field(default_factory=dict)  # source -> weight; empty: the manifest's
    sft_format: str = "chat"  # chat | alpaca
    streaming: bool = False
    shuffle_buffer: int = 10000


@dataclass
class TrainConfig:
    stage: str = "all"  # pretrain | sft | all
    pretrain_steps: int = 40
    sft_steps: int = 20
    batch_size: int = 4  # sequences per device per micro-step
    grad_accum: int = 1
    lr: float = 3e-3
    sft_lr: float = 1e-3
    warmup: float = 0.1  # fraction of the steps
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    clip: float = 1.0
    seed: int = 0
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32
    activation_checkpointing: bool = False
    save_every: int = 10
    keep_checkpoints: int = 0  # complete checkpoints kept per stage, newest first; 0: all
    log_every: int = 1
    out: str = "runs/tiny"
    peak_tflops: float = 0.0  # per device, for MFU; 0: not reported

    def steps(self, stage: str) -> int:
        return self.pretrain_steps if stage == "pretrain" else self.sft_steps

    def stage_lr(self, stage: str) -> float:
        return self.lr if stage == "pretrain" else self.sft_lr

    def stages(self) -> tuple[str, ...]:
        return STAGES if self.stage == "all" else (self.stage,)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def sections(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Range rules: (section, keys, test, what the value must be).
RANGES: list[tuple[str, tuple[str, ...], Any, str]] = [
    ("model", ("hidden_size", "layers", "heads", "vocab_size", "context"), lambda v: v >= 1, "at least 1"),
    ("data", ("seq_len", "sft_seq_len"), lambda v: v >= 2, "at least 2"),
    ("data", ("shuffle_buffer",), lambda v: v >= 0, "at least 0"),
    ("data", ("sft_format",), lambda v: v in ("chat", "alpaca"), "chat or alpaca"),
    ("data", ("mixture",), lambda v: all(w >= 0 for w in v.values()), "a table of weights >= 0"),
    ("train", ("stage",), lambda v: v in ("pretrain", "sft", "all"), "pretrain, sft or all"),
    ("train", ("pretrain_steps", "sft_steps", "seed", "weight_decay", "peak_tflops", "keep_checkpoints"), lambda v: v >= 0, "at least 0"),
    ("train", ("batch_size", "grad_accum", "save_every", "log_every"), lambda v: v >= 1, "at least 1"),
    ("train", ("lr", "sft_lr", "clip"), lambda v: v > 0, "above 0"),
    ("train", ("warmup", "min_lr_ratio"), lambda v: 0 <= v <= 1, "a fraction in [0, 1]"),
    ("train", ("precision",), lambda v: v in ("auto", "bf16", "fp32"), "auto, bf16 or fp32"),
]


def set_value(cfg: Config, section: str, key: str, value: Any, where: str) -> None:
    """Set `section.key` after checking its type (an int where a float is expected is taken)."""
    hint = get_type_hints(type(getattr(cfg, section)))[key]
    if not conforms(value, hint):
        raise UserError(f"{where}: {section}.{key} must be {describe(hint)}, not {value!r}")
    setattr(getattr(cfg, section), key, float(value) if hint is float else value)


def check_ranges(cfg: Config, where: str) -> None:
    for section, keys, ok, what in RANGES:
        for key in keys:
            value = getattr(getattr(cfg, section), key)
            if not ok(value):
                raise UserError(f"{where}: {section}.{key} must be {what}, not {value!r}")


def parse_override(text: str) -> Any:
    """A command-line value as TOML (`1e-4`, `true`, `"x"`), or else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path: Path | None, overrides: list[str]) -> Config:
    cfg = Config()
    sections = cfg.sections()
    where = "defaults"
    if path is not None:
        where = f"config {path}"
        if not path.is_file():
            raise UserError(f"config {path} not found (configs: {', '.join(p.stem for p in sorted(CONFIG_DIR.glob('*.toml')))})")
        try:
            raw = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"config {path}: invalid TOML ({exc})") from None
        for section, values in raw.items():
            if section not in sections or not isinstance(values, dict):
                raise UserError(f"config {path}: unknown section [{section}] (known: {', '.join(sections)})")
            for key, value in values.items():
                if not hasattr(sections[section], key):
                    raise UserError(f"config {path}: unknown key {section}.{key}")
                set_value(cfg, section, key, value, where)
    for item in overrides:
        key, sep, value = item.partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in sections or not hasattr(sections[section], name):
            raise UserError(f"override {item!r}: expected section.key=value with a known key (e.g. train.lr=1e-4)")
        set_value(cfg, section, name, parse_override(value), f"override {item!r}")
        where = f"{where} with overrides"
    check_ranges(cfg, where)
    return cfg
