"""Evaluation speed: items/s of `training.eval --prompt-style lm-eval` against lm-evaluation-harness
itself, in one run, on the same model, items, device and batch size, and their agreement.

Both score the same benchmarks from the same files (the bundled MedQA, MedMCQA, PubMedQA and
MMLU samples written in the layouts lm-eval's tasks load from the Hub; lm-eval runs its own
task configs, only their data files swapped, as tests/test_lm_eval_parity.py does). The model
is a randomly initialised Llama made locally (nothing is downloaded): `--hidden` / `--layers`
set its size. Timed: lm-eval's `simple_evaluate` and medc's `evaluate` over all tasks, model
loading excluded from both (each loads it once before the clock starts: lm-eval through a
pre-built `HFLM`). The ratio is medc items/s over lm-eval items/s.

    uv run --group bench python benchmarks/eval_vs_lm_eval.py [--items 200] [--hidden 256 --layers 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tests.test_lm_eval_parity as parity  # noqa: E402
from tests.aids.tiny_checkpoint import make_tiny_checkpoint  # noqa: E402
from tests.conftest import SAMPLES  # noqa: E402
from training.eval import Scorer, evaluate, load_questions  # noqa: E402

TASKS = {"medqa": "parity_medqa_4options", "medmcqa": "parity_medmcqa", "pubmedqa": "parity_pubmedqa",
         "mmlu_anatomy": "parity_mmlu_anatomy", "mmlu_clinical_knowledge": "parity_mmlu_clinical_knowledge"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200, help="items per benchmark (MMLU samples have 14 and 12)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    parity.ITEMS = args.items
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        texts = [" ".join(v["CONTEXTS"]) for v in json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text()).values()]
        model = make_tiny_checkpoint(root / "model", texts, vocab_size=4096, hidden=args.hidden, layers=args.layers,
                                     heads=max(args.hidden // 64, 1), context=2048)
        files = parity.hub_layout_data(root)
        parity.task_configs(root, files)
        questions = {name: load_questions(name, root, None, style="lm-eval") for name in TASKS}
        items = sum(len(q) for q in questions.values())
        print(f"corpus: {items} items ({', '.join(f'{k} {len(v)}' for k, v in questions.items())}); model: Llama "
              f"hidden {args.hidden}, {args.layers} layers, vocab 4096; device {args.device}; batch {args.batch_size}")

        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager

        lm = HFLM(pretrained=str(model), dtype="float32", device=args.device, batch_size=args.batch_size)
        manager = TaskManager(include_path=str(root), include_defaults=False)
        start = time.perf_counter()
        theirs = simple_evaluate(model=lm, tasks=list(TASKS.values()), num_fewshot=0, task_manager=manager, log_samples=True)
        lm_eval_seconds = time.perf_counter() - start

        scorer = Scorer(str(model), args.device, args.batch_size)
        start = time.perf_counter()
        ours = {name: evaluate(scorer, name, qs, "loglik", "lm-eval") for name, qs in questions.items()}
        medc_seconds = time.perf_counter() - start

    agree = total = 0
    for name, task in TASKS.items():
        samples = sorted(theirs["samples"][task], key=lambda s: s["doc_id"])
        for sample, pred in zip(samples, ours[name]["predictions"]):
            total += 1
            agree += (pred["acc"] == pred["gold"]) == bool(sample["acc"])
    rate_medc, rate_lm = items / medc_seconds, items / lm_eval_seconds
    print(f"lm-eval  {lm_eval_seconds:8.1f} s  {rate_lm:8.1f} items/s")
    print(f"medc     {medc_seconds:8.1f} s  {rate_medc:8.1f} items/s")
    print(f"ratio (medc / lm-eval items/s): {rate_medc / rate_lm:.2f}x; same acc decision on {agree}/{total} items")
    for name, task in TASKS.items():
        print(f"  {name:26} acc medc {ours[name]['metrics']['acc']['accuracy']:.4f}  lm-eval {theirs['results'][task]['acc,none']:.4f}")


if __name__ == "__main__":
    main()
