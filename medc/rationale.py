"""Rationale generator: fill missing rationales of exam questions (e.g. MedQA) with an LLM.

    python -m medc.rationale --input samples/medqa/..._train.jsonl --out rationales.jsonl \\
        --backend http --base-url http://127.0.0.1:8000/v1 --model NAME [--concurrency 8]
    python -m medc.rationale --input ... --out ... --backend transformers --model PATH_OR_HUB_ID

Given the question, the options and the gold answer, the model is asked to explain why the
answer is right. Two backends: any OpenAI-compatible HTTP endpoint (`/chat/completions`;
key from the environment variable named by `--api-key-env`, default OPENAI_API_KEY;
concurrency, retries with exponential backoff on 429/5xx/timeouts, per-request timeout)
and a local transformers model. Every answer is cached on disk under a key that hashes the
prompt and the model, so an interrupted run resumes without asking again. The output is a
JSONL of `{id, text, model}` that the MedQA builder reads through its `rationales` option;
such rows are marked `"rationale": "generated"` in `meta`. The default build never calls it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from medc.cli import command
from medc.errors import UserError
from medc.files.atomic import atomic_write_text
from medc.ingest.testsets import medqa_id, read_records
from medc.model_reference import checked_model_reference, model_load_error

SYSTEM = "You are a medical educator who explains exam answers clearly and accurately."
PROMPT = (
    "Question: {question}\nOptions:\n{options}\n\nThe correct answer is {letter}. {answer}\n\n"
    "Explain step by step why this answer is correct and why the other options are not. "
    "Do not repeat the options; be concise (at most 150 words)."
)


def build_prompt(rec: dict[str, Any]) -> str:
    options = rec["options"]
    letter = rec["answer_idx"]
    return PROMPT.format(question=rec["question"].strip(), options="\n".join(f"{k}. {v}" for k, v in sorted(options.items())),
                         letter=letter, answer=options[letter])


class Cache:
    """One JSON file per (prompt, model) hash; writes are atomic, so a kill loses nothing done."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(prompt: str, model: str) -> str:
        return hashlib.sha256(f"{model}\x1f{SYSTEM}\x1f{prompt}".encode()).hexdigest()

    def get(self, key: str) -> str | None:
        path = self.folder / key[:2] / f"{key}.json"
        return json.loads(path.read_text())["text"] if path.is_file() else None

    def put(self, key: str, text: str, model: str) -> None:
        path = self.folder / key[:2] / f"{key}.json"
        path.parent.mkdir(exist_ok=True)
        atomic_write_text(path, json.dumps({"text": text, "model": model}))


class HTTPBackend:
    """OpenAI-compatible chat completions, with retries and exponential backoff."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float = 60.0, retries: int = 5,
                 backoff: float = 1.0, max_tokens: int = 256):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.timeout = model, api_key, timeout
        self.retries, self.backoff, self.max_tokens = retries, backoff, max_tokens

    def __call__(self, prompt: str) -> str:
        return self.chat([{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}])

    def chat(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        """The assistant's reply to `messages` (greedy: temperature 0)."""
        import urllib.error
        import urllib.request

        body = json.dumps({"model": self.model, "temperature": 0, "max_tokens": max_tokens or self.max_tokens,
                           "messages": messages}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    data = json.loads(resp.read())
                return str(data["choices"][0]["message"]["content"]).strip()
            except urllib.error.HTTPError as exc:
                if exc.code not in (408, 409, 429) and exc.code < 500:
                    raise RuntimeError(f"{self.url}: HTTP {exc.code}: {exc.read()[:200]!r}") from None
                last = exc
            except (urllib.error.URLError, TimeoutError, OSError, KeyError, ValueError) as exc:
                last = exc
            time.sleep(self.backoff * (2**attempt))
        raise RuntimeError(f"{self.url}: no answer after {self.retries + 1} attempts ({last})")


class TransformersBackend:
    """A local causal LM (chat template when it has one), greedy decoding."""

    def __init__(self, model: str, max_tokens: int = 256):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        model = checked_model_reference(model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForCausalLM.from_pretrained(model).eval()
        except (OSError, ValueError, ImportError) as exc:
            raise model_load_error(model, exc) from None
        self.max_tokens = max_tokens

    def chat(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        tok = self.tokenizer
        if tok.chat_template:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        ids = tok(text, return_tensors="pt", add_special_tokens=False)
        limit = int(getattr(self.model.config, "max_position_embeddings", 2048)) - (max_tokens or self.max_tokens)
        ids = {k: v[:, -limit:] for k, v in ids.items()}
        with self.torch.inference_mode():
            out = self.model.generate(**ids, max_new_tokens=max_tokens or self.max_tokens, do_sample=False,
                                      pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        return tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()

    def __call__(self, prompt: str) -> str:
        return self.chat([{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}])


def generate(records: list[tuple[str, dict[str, Any]]], ask: Callable[[str], str], model: str, cache: Cache,
             concurrency: int = 4, limit: int | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rationales for (id, record) pairs; cached answers are reused, new ones cached as they come."""
    todo, done = [], {}
    for rid, rec in records:
        key = Cache.key(build_prompt(rec), model)
        cached = cache.get(key)
        if cached is not None:
            done[rid] = cached
        else:
            todo.append((rid, rec, key))
    if limit is not None:
        todo = todo[:limit]

    def work(item: tuple[str, dict[str, Any], str]) -> tuple[str, str]:
        rid, rec, key = item
        text = ask(build_prompt(rec))
        cache.put(key, text, model)
        return rid, text

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for rid, text in pool.map(work, todo):
            done[rid] = text
    out = [{"id": rid, "text": done[rid], "model": model, "generated": True} for rid, _ in records if rid in done]
    return out, {"cached": len(done) - len(todo), "asked": len(todo), "missing": len(records) - len(done)}


def medqa_questions(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """MedQA-layout records with the ids the MedQA builder gives them (`testsets.medqa_id`)."""
    records = read_records(path)
    return [(medqa_id(r["question"], r["options"]), r) for r in records
            if r.get("question") and isinstance(r.get("options"), dict) and r.get("answer_idx") in r["options"]]


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medc.rationale", description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, required=True, help="MedQA-layout JSONL (training split)")
    ap.add_argument("--out", type=Path, required=True, help="JSONL of {id, text, model} for the MedQA builder's `rationales` option")
    ap.add_argument("--backend", choices=("http", "transformers"), required=True)
    ap.add_argument("--model", required=True, help="model name at the endpoint, or a local path / Hub id for transformers")
    ap.add_argument("--base-url", default=None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    ap.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--retries", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--cache", type=Path, default=Path(".medc-cache/rationales"))
    ap.add_argument("--limit", type=int, default=None, help="ask at most N new questions in this run")
    args = ap.parse_args(argv)
    try:
        if not args.input.is_file():
            raise UserError(f"--input {args.input}: no such file")
        if args.backend == "http":
            if not args.base_url:
                raise UserError("--backend http needs --base-url")
            ask: Callable[[str], str] = HTTPBackend(args.base_url, args.model, os.environ.get(args.api_key_env),
                                                    timeout=args.timeout, retries=args.retries)
        else:
            ask = TransformersBackend(args.model)
        records = medqa_questions(args.input)
        rows, stats = generate(records, ask, args.model, Cache(args.cache), args.concurrency, args.limit)
    except RuntimeError as exc:  # the endpoint kept failing: what was answered is in the cache
        print(f"error: {exc}; answers received so far are cached, rerun to resume", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} rationales in {args.out} ({stats['cached']} from the cache, {stats['asked']} asked, "
          f"{stats['missing']} still missing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
