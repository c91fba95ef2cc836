"""A minimal OpenAI-compatible chat server around a local transformers model.

    python -m tests.aids.openai_server --model PATH [--port 8000] [--fail-first N]

Serves `POST /v1/chat/completions` (greedy decoding) and `GET /stats` (requests served),
on 127.0.0.1 only. Meant for testing the rationale generator's HTTP backend and for
small local runs; `--fail-first N` answers the first N requests with HTTP 503 so that
retries can be exercised. Prints `listening on PORT` once ready.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from medc.rationale import TransformersBackend


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.aids.openai_server")
    ap.add_argument("--model", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args(argv)
    backend = TransformersBackend(args.model)
    lock = threading.Lock()
    state = {"requests": 0, "completions": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:  # quiet
            pass

        def reply(self, code: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self.reply(200, state) if self.path == "/stats" else self.reply(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self.reply(404, {"error": "not found"})
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with lock:
                state["requests"] += 1
                failing = state["requests"] <= args.fail_first
            if failing:
                return self.reply(503, {"error": "warming up"})
            with lock:  # one generation at a time: the model is not thread-safe
                text = backend.chat(body["messages"], int(body.get("max_tokens", 64)))
                state["completions"] += 1
            self.reply(200, {"object": "chat.completion", "model": body.get("model"),
                             "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]})

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
