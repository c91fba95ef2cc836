"""The evaluator: scoring math, gold mapping per layout, answer parsing, an end-to-end run."""

from __future__ import annotations

from collections import Counter

import json
import subprocess
import sys
import shutil
from pathlib import Path

import pytest

from medc.ingest.testsets import BenchmarkItem, read_medmcqa, read_medqa, read_pubmedqa_test
from training.eval import build_question, extract_cot_answer, main as eval_main, parse_answer, predict, wilson_interval
from medc.model_reference import model_load_error
from tests.conftest import REPO, SAMPLES


def test_prediction_from_hand_computed_log_probabilities() -> None:
    # letters: B is most likely; option texts: A has the best log-likelihood per character
    letter = [-2.0, -0.5, -3.0, -1.0]
    text_ll = [-6.0, -9.0, -4.0, -20.0]
    chars = [12, 10, 2, 40]  # per char: -0.5, -0.9, -2.0, -0.5 -> first of the tie (A)
    assert predict(letter, None) == 1 and predict(text_ll, tuple(chars)) == 0
    assert predict([-1.0, -1.0], None) == 0 and predict([-1.0, -2.0], (1, 1)) == 0  # ties go to the first option


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_gold_mapping_for_every_layout(tmp_path: Path) -> None:
    row = json.loads((SAMPLES.parent / "tests" / "fixtures" / "medmcqa_readme_example_row.json").read_text())
    (tmp_path / "orig.jsonl").write_text("\n".join(json.dumps(dict(row, cop=c)) for c in (1, 4)))  # 1-based
    (tmp_path / "hf.jsonl").write_text("\n".join(json.dumps(dict(row, cop=c)) for c in (0, 3, -1)))  # 0-based, -1 unlabelled
    orig = [build_question(i) for i in read_medmcqa(tmp_path / "orig.jsonl")]
    hf_items = read_medmcqa(tmp_path / "hf.jsonl")
    hf = [build_question(i) for i in hf_items if i.answer is not None]
    assert [q.labels[q.gold] for q in orig] == ["A", "D"] == [q.labels[q.gold] for q in hf]
    assert "A. Leukemoid reaction" in orig[0].prompt and hf_items[2].answer is None
    medqa = build_question(read_medqa(SAMPLES / "medqa" / "medqa_us_4options_phrases_no_exclude_test.jsonl")[0])
    assert medqa.labels[medqa.gold] == "B" and medqa.scorings[1].continuations[1].startswith(" Tell the attending")
    five = BenchmarkItem("medqa", "x", "Q?", {k: f"opt {k}" for k in "ABCDE"}, "E")
    assert build_question(five).gold == 4 and len(build_question(five).scorings[0].continuations) == 5
    pqa = read_pubmedqa_test(SAMPLES / "pubmedqa" / "ori_pqal.json", SAMPLES / "pubmedqa" / "test_ground_truth.json")
    truth = json.loads((SAMPLES / "pubmedqa" / "test_ground_truth.json").read_text())
    q = build_question(pqa[0])
    assert q.labels[q.gold] == truth[pqa[0].pmid] and q.scorings[0].continuations == (" yes", " no", " maybe")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("OPTION C IS CORRECT", "C"), ("The answer is C.", "C"), ("(C)", "C"), ("C. Neutrophilia", "C"),
     ("answer: d", "D"), ("I would go with (B) here", "B"), ("No idea.", None), ("Answer is Z", None)],
)
def test_parse_answer(text: str, expected: str | None) -> None:
    assert parse_answer(text, ("A", "B", "C", "D")) == expected


def test_parse_pubmedqa_answer() -> None:
    labels = ("yes", "no", "maybe")
    assert parse_answer("Yes, the data support it", labels) == "yes"
    assert parse_answer("yes or no", labels) is None
    assert parse_answer("unclear", labels) is None


def run_eval(model: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training.eval", "--model", str(model), "--limit", "6", "--batch-size", "4", "--out", str(out), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )


def test_end_to_end_on_a_tiny_model_is_deterministic(tiny_model: Path, tmp_path: Path) -> None:
    first = run_eval(tiny_model, tmp_path / "a", "--mode", "generate")
    assert first.returncode == 0, first.stderr
    second = run_eval(tiny_model, tmp_path / "b", "--mode", "generate")
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert {k: v["items"] for k, v in a["benchmarks"].items()} == {"medqa": 6, "medmcqa": 6, "pubmedqa": 6}
    for name in a["benchmarks"]:
        assert a["benchmarks"][name]["metrics"] == b["benchmarks"][name]["metrics"]
        assert a["benchmarks"][name]["predictions"] == b["benchmarks"][name]["predictions"]
        metrics = a["benchmarks"][name]["metrics"]
        assert set(metrics) == {"letter", "option_text_norm", "generate"}
        assert 0 <= metrics["generate"]["unparseable"] <= 6
        for m in metrics.values():
            assert m["accuracy"] == m["correct"] / 6 and m["ci95"][0] <= m["accuracy"] <= m["ci95"][1]
    # Next to each score: chance and majority-class rates of these items (from the gold answers
    # recorded per item), the distribution of the model's answers, and a warning when one
    # answer is (nearly) all it gives.
    chance = {"medqa": 1 / 4, "medmcqa": 1 / 4, "pubmedqa": 1 / 3}
    for name, r in a["benchmarks"].items():
        golds = Counter(p["gold"] for p in r["predictions"])
        assert r["baselines"]["chance"] == pytest.approx(chance[name])
        assert r["baselines"]["majority"] == max(golds.values()) / 6 and golds[r["baselines"]["majority_answer"]] == max(golds.values())
        letters = Counter(p["letter"] for p in r["predictions"])
        assert r["answer_distribution"]["letter"]["counts"] == dict(sorted(letters.items()))
        one_answer = max(letters.values()) / 6 >= 0.9
        assert any(w.startswith("letter:") for w in r["warnings"]) == one_answer
    md = (tmp_path / "a" / "results.md").read_text()
    assert "| medqa | 6 |" in md and "56.36" in md and "PMC-LLaMA 13B" in first.stdout
    assert "MedMCQA dev" in md and "majority class" in md and "predicted answers" in md
    assert (tmp_path / "a" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert second.stdout.replace("/b/", "/a/") == first.stdout


def in_process(capsys: pytest.CaptureFixture[str], model: Path, out: Path, *extra: str) -> tuple[int, str]:
    """`training.eval` run in this process (no interpreter start-up): its exit status and stderr."""
    code = eval_main(["--model", str(model), "--limit", "6", "--batch-size", "4", "--out", str(out), *extra])
    return code, capsys.readouterr().err


def test_bad_arguments_are_one_line_errors(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc = run_eval(tiny_model, tmp_path, "--benchmarks", "medqa,usmle")  # as a user runs it: one line, exit 2
    assert proc.returncode == 2 and "unknown benchmark 'usmle'" in proc.stderr and "Traceback" not in proc.stderr
    code, err = in_process(capsys, tmp_path / "missing-model", tmp_path)  # a path: refused at once, never tried on the Hub
    assert code == 2 and f"--model {tmp_path / 'missing-model'}: no such folder" in err
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a model")
    code, err = in_process(capsys, tmp_path / "notes", tmp_path)
    assert code == 2 and "a folder but not a model: no config.json" in err
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    (broken / "config.json").write_text("{")
    code, err = in_process(capsys, broken, tmp_path)
    assert code == 2 and "cannot load a causal LM and tokenizer from it" in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    code, err = in_process(capsys, tiny_model, tmp_path, "--data", str(tmp_path))
    assert code == 2 and "no test file" in err


def test_a_tokenizer_that_needs_sentencepiece_is_named_in_one_line() -> None:
    """transformers' own message (several lines) when a slow tokenizer must be converted without
    sentencepiece becomes one line that says what to install."""
    message = ("Couldn't instantiate the backend tokenizer from one of: \n(1) a `tokenizers` library serialization file, \n"
               "(2) a slow tokenizer instance to convert or \n(3) an equivalent slow tokenizer class to instantiate and convert. \n"
               "You need to have sentencepiece or tiktoken installed to convert a slow tokenizer to a fast one.")
    error = str(model_load_error("org/llama-like", ValueError(message)))
    assert error == ("--model org/llama-like: its tokenizer needs the sentencepiece package, which is not installed "
                     "(uv pip install sentencepiece)")


def test_ambiguous_and_unlabelled_medmcqa_are_one_line_errors(tiny_model: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """MedMCQA answers all in 1..3 cannot say whether `cop` is 0- or 1-based: a one-line error
    that names the file and the option that settles it; the option then scores. A split with no
    answer at all (the Hub's test split, cop = -1) is an error naming the file, not a row of zeros."""
    data = tmp_path / "data" / "medmcqa"
    data.mkdir(parents=True)
    rows = [json.loads(line) for line in (SAMPLES / "medmcqa" / "medagentsbench_medmcqa_test.jsonl").read_text().splitlines()][:9]
    hub = [{"id": r["realidx"], "question": r["question"], "opa": r["options"]["A"], "opb": r["options"]["B"],
            "opc": r["options"]["C"], "opd": r["options"]["D"], "cop": 1 + i % 3} for i, r in enumerate(rows)]
    (data / "dev.json").write_text("\n".join(json.dumps(r) for r in hub))
    code, err = in_process(capsys, tiny_model, tmp_path / "out", "--benchmarks", "medmcqa", "--data", str(tmp_path / "data"))
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1
    assert "dev.json" in errors[0] and "--medmcqa-layout original or hf" in errors[0]
    code, err = in_process(capsys, tiny_model, tmp_path / "out", "--benchmarks", "medmcqa", "--data", str(tmp_path / "data"),
                           "--medmcqa-layout", "original")
    assert code == 0, err[-1000:]
    (data / "dev.json").write_text("\n".join(json.dumps({**r, "cop": -1}) for r in hub))
    code, err = in_process(capsys, tiny_model, tmp_path / "out", "--benchmarks", "medmcqa", "--data", str(tmp_path / "data"))
    assert code == 2 and "medmcqa/dev.json: no item has an answer" in err


def test_multimedqa_group_table_on_the_samples(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--benchmarks multimedqa`: the nine, those without a file under --data reported as not run
    (not an error), and the group's mean weighted by items over those that ran."""
    code = eval_main(["--model", str(tiny_model), "--limit", "3", "--batch-size", "4", "--out", str(tmp_path),
                      "--benchmarks", "multimedqa,medxpertqa", "--prompt-style", "lm-eval"])
    out = capsys.readouterr().out
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    ran = {"medqa", "medmcqa", "pubmedqa", "mmlu_anatomy", "mmlu_clinical_knowledge"}  # the ones samples/ has
    assert set(results["benchmarks"]) == ran | {"medxpertqa"} and set(results["not_run"]) == {
        "mmlu_college_biology", "mmlu_college_medicine", "mmlu_medical_genetics", "mmlu_professional_medicine"}
    assert results["benchmarks"]["mmlu_anatomy"]["benchmark"] == {
        "split": "MMLU anatomy test", "hub": "cais/mmlu (anatomy, test)", "lm_eval_task": "mmlu_anatomy"}
    group = results["groups"]["multimedqa"]
    assert group["items"] == 15 and set(group["missing"]) == set(results["not_run"])
    for metric in ("acc", "acc_norm"):
        pooled = sum(results["benchmarks"][name]["metrics"][metric]["correct"] for name in ran) / 15  # MedXpertQA is not in the group
        assert group["metrics"][metric]["accuracy"] == pytest.approx(pooled)
    assert "**multimedqa** (mean weighted by items)" in out and "5 of 9 benchmarks" in out
    assert "| mmlu_college_biology | 0 | not run" in out and "MMLU anatomy test" in out
    mx = results["benchmarks"]["medxpertqa"]  # ten options, scored as MMLU's layout (real items, samples/medxpertqa/)
    assert mx["items"] == 3 and mx["baselines"]["chance"] == pytest.approx(0.1)
    assert [p["gold"] for p in mx["predictions"]] == ["J", "B", "B"]  # labels of Text-20, -1402, -2158 in the file
    # A benchmark named on its own must have its file; k-shot lm-eval is reproduced for MMLU only.
    assert eval_main(["--model", str(tiny_model), "--out", str(tmp_path), "--benchmarks", "mmlu_college_biology"]) == 2
    assert "no test file" in capsys.readouterr().err
    assert eval_main(["--model", str(tiny_model), "--out", str(tmp_path), "--benchmarks", "medqa", "--prompt-style", "lm-eval",
                      "--num-fewshot", "2"]) == 2
    assert "MMLU tasks only" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("The patient has X. Option B is tempting, but (C) fits.\nThe answer is C.", "ABCD", "C"),
        ("Final answer: (D)", "ABCD", "D"),
        ("First I thought the answer is A. On reflection, the answer is **B**.", "ABCD", "B"),  # the last statement
        ("A 45-year-old man... so the best choice is option C", "ABCD", "C"),  # rule 2: an option written as one
        ("Considering all of this:\nB\n", "ABCD", "B"),
        ("The answer is a beta blocker.", "ABCD", None),  # a lowercase article is not an answer
        ("A patient with fever and a rash.", "ABCD", None),  # nor is a sentence's first word
        ("The answer is E.", "ABCD", None),  # not an option of this question
        ("The evidence is mixed; maybe. The answer is yes", ("yes", "no", "maybe"), "yes"),
        ("It could be no, or maybe.", ("yes", "no", "maybe"), "maybe"),
        ("I cannot tell.", ("yes", "no", "maybe"), None),
    ],
)
def test_chain_of_thought_answer_rules(text: str, labels: str | tuple[str, ...], expected: str | None) -> None:
    assert extract_cot_answer(text, tuple(labels)) == expected


def test_cot_mode_locally_and_through_an_openai_compatible_server(tiny_model: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`--mode cot`: the tiny model's chain of thought (through its chat prompt), each reply kept
    with the answer extracted from it, unparseable ones counted and scored wrong; the same
    through a local OpenAI-compatible server gives the same replies (greedy both ways)."""
    args = ["--model", str(tiny_model), "--benchmarks", "medqa,pubmedqa", "--limit", "3", "--mode", "cot",
            "--max-new-tokens", "8", "--batch-size", "1"]
    assert eval_main([*args, "--out", str(tmp_path / "local")]) == 0
    local = json.loads((tmp_path / "local" / "results.json").read_text())
    for name, r in local["benchmarks"].items():
        cot = r["metrics"]["cot"]
        assert set(r["metrics"]) == {"cot"} and r["items"] == 3
        assert cot["unparseable"] == sum(p["answer"] is None for p in r["predictions"])
        assert cot["correct"] == sum(p["answer"] == p["gold"] for p in r["predictions"])
        assert all(isinstance(p["reply"], str) for p in r["predictions"])
    assert "answers unparseable (scored wrong)" in (tmp_path / "local" / "results.md").read_text()
    server = subprocess.Popen([sys.executable, "-m", "tests.aids.openai_server", "--model", str(tiny_model)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[-1])  # "listening on PORT"
        served = [*args[2:], "--model", "tiny", "--server", f"http://127.0.0.1:{port}/v1", "--concurrency", "2"]
        assert eval_main([*served, "--out", str(tmp_path / "server")]) == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
    remote = json.loads((tmp_path / "server" / "results.json").read_text())
    for name in local["benchmarks"]:
        assert [p["reply"] for p in remote["benchmarks"][name]["predictions"]] == [p["reply"] for p in local["benchmarks"][name]["predictions"]]
    # a server is only for generated answers; cot is zero-shot with its own instruction
    assert eval_main([*args, "--out", str(tmp_path / "x"), "--prompt-style", "lm-eval"]) == 2
    assert "--mode cot is zero-shot" in capsys.readouterr().err
