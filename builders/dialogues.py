"""Doctor–patient dialogues → MedC-I `dialogue` rows (instruction form and multi-turn chat).

* `instruct_json`: JSON arrays of `{instruction, input, output}` — ChatDoctor's
  HealthCareMagic-100k and GenMedGPT-5k, MedAlpaca's medical meadow — and iCliniq records,
  whose doctor's reply is `answer_icliniq`; or the same records as the Hugging Face Hub's
  parquet files (`lavita/ChatDoctor-HealthCareMagic-100k`: `data/train-*.parquet`). CRLF endings and stray carriage returns are
  normalised away. Rows have no ids of their own: ids are content hashes, so a repeated
  dialogue gets the same id and the build's unique-id step reports and drops it.
* `meddialog`: MedDialog-style text — blocks of `id=N`, a URL line, `Description`, text,
  `Dialogue`, then `Patient:` / `Doctor:` turns spanning several lines — become multi-turn
  `messages`; `output` is the last doctor turn and `input` the conversation before it.
  Repeated `id=N` values are reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medc.ingest.builder import Builder, FileReport, register_builder
from medc.errors import UserError
from medc.ingest.instructions import choose, instruction_row
from medc.ingest.testsets import HUB_POINTER, HUB_POINTER_KEYS, read_records
from medc.schema import stable_id
from medc.text.normalize import normalize_text, strip_wiki_templates

_SPEAKER = re.compile(r"^\s*(patient|doctor)\s*[:：]\s*(.*)$", re.IGNORECASE)


def text_field(rec: dict[str, Any], key: str) -> str:
    """A record's text field, normalised ("" when absent or null); any other JSON value (a
    number, list or object) is refused rather than stored as its Python repr."""
    value = rec.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} is a {type(value).__name__}, not text")
    return normalize_text(strip_wiki_templates(value))


@register_builder("dialogues")
class DialogueBuilder(Builder):
    citations = ("li2023chatdoctor", "han2023medalpaca")
    kind = "instruction"
    patterns = ("**/*.json", "**/*.txt", "**/*.parquet", "**/*.hf.toml")
    pointer_keys = HUB_POINTER_KEYS
    defaults: dict[str, Any] = {"format": "instruct_json", "license": "unknown", "name": None, "templates": None, "system_prompt": True}

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        if self.options["format"] not in ("instruct_json", "meddialog"):
            raise UserError(f"source {source!r}: format must be instruct_json or meddialog")
        self.prefix = self.options["name"] or source

    def _choose(self, row_id: str, kind: str) -> str:
        return choose(row_id, "dialogue", kind, self.options["templates"])

    def row(self, row_id: str, turns: list[tuple[str, str]], meta: dict[str, Any]) -> dict[str, Any]:
        """turns: (role, text) with roles user / assistant, ending with an assistant turn."""
        instruction = self._choose(row_id, "single")
        history = turns[:-1]
        if len(history) == 1:
            input_text = history[0][1]
        else:
            input_text = "\n".join(f"{'Patient' if r == 'user' else 'Doctor'}: {t}" for r, t in history)
        messages = [{"role": "system", "content": self._choose(row_id, "system")}] if self.options["system_prompt"] else []
        messages += [{"role": r, "content": t} for r, t in turns]
        return instruction_row(self.source, row_id, "dialogue", instruction, input_text, turns[-1][1], self.options["license"],
                               {**meta, "turns": len(turns)}, chat=messages)

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        if self.options["format"] == "meddialog" and path.suffix == ".txt":
            yield from self.parse_meddialog(path, report)  # the released text files; the Hub's records below
            return
        if path.suffix == ".parquet" or path.name.endswith(HUB_POINTER):
            data = read_records(path)  # the Hub layout, or a dataset a *.hf.toml names: one record per row
        else:
            try:
                data = json.loads(path.read_bytes().decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise ValueError(f"malformed JSON: {exc}") from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise ValueError("expected a JSON array of dialogue records")
        for i, rec in enumerate(data):
            report.records += 1
            if not isinstance(rec, dict):
                report.error("record is not an object", f"record {i + 1}")
                continue
            if "utterances" in rec or "dialogue_turns" in rec:  # MedDialog on the Hub: a whole dialogue per record
                row = self.hub_dialogue(rec, report, f"record {i + 1}")
                if row is not None:
                    yield row
                continue
            try:
                patient = text_field(rec, "input")
                doctor = text_field(rec, "output") or text_field(rec, "answer_icliniq")
                instruction = text_field(rec, "instruction")
            except ValueError as exc:
                report.error(str(exc), f"record {i + 1}")
                continue
            patient = patient or instruction  # MedAlpaca rows may hold the question in the instruction
            if not patient or not doctor:
                report.error("needs the patient's message (input) and the doctor's reply (output / answer_icliniq)", f"record {i + 1}")
                continue
            row_id = stable_id(self.prefix, patient, doctor)
            yield self.row(row_id, [("user", patient), ("assistant", doctor)], {"source_instruction": instruction or None})

    def hub_dialogue(self, rec: dict[str, Any], report: FileReport, where: str) -> dict[str, Any] | None:
        """A MedDialog record as the Hub has it: `utterances` as a list of "patient: ..." /
        "doctor: ..." strings (`medical_dialog` processed.en) or as `{speaker, utterance}` lists,
        or `dialogue_turns{speaker, utterance}` (raw config; speaker 0 = patient, 1 = doctor)."""
        raw = rec.get("utterances") if "utterances" in rec else rec.get("dialogue_turns")
        pairs: list[tuple[str, str]] = []
        if isinstance(raw, list):
            for item in raw:
                m = _SPEAKER.match(str(item or ""))
                if not m:
                    report.error("an utterance does not start with 'patient:' or 'doctor:'", where)
                    return None
                pairs.append((m.group(1), m.group(2)))
        elif isinstance(raw, dict) and isinstance(raw.get("speaker"), list) and isinstance(raw.get("utterance"), list):
            for speaker, text in zip(raw["speaker"], raw["utterance"]):
                pairs.append(({0: "patient", 1: "doctor"}.get(speaker, str(speaker)) if isinstance(speaker, int) else str(speaker), str(text or "")))
        else:
            report.error("utterances / dialogue_turns is neither a list of 'speaker: text' nor {speaker, utterance}", where)
            return None
        turns: list[tuple[str, str]] = []
        for speaker, text in pairs:
            role = "user" if speaker.strip().lower() == "patient" else "assistant" if speaker.strip().lower() == "doctor" else None
            text = normalize_text(strip_wiki_templates(text))
            if role is None:
                report.error(f"unknown speaker {speaker!r}", where)
                return None
            if not text:
                continue
            if turns and turns[-1][0] == role:
                turns[-1] = (role, f"{turns[-1][1]} {text}")
            else:
                turns.append((role, text))
        while turns and turns[-1][0] != "assistant":
            turns.pop()
        if len(turns) < 2 or turns[0][0] != "user":
            report.error("needs a patient turn followed by a doctor turn", where)
            return None
        dialog_id = rec.get("dialogue_id") or rec.get("id")
        row_id = f"{self.prefix}:{dialog_id}" if dialog_id not in (None, "") else stable_id(self.prefix, *(t for _, t in turns))
        return self.row(row_id, turns, {"url": rec.get("dialogue_url") or None,
                                        "description": normalize_text(str(rec.get("description") or "")) or None})

    def parse_meddialog(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text: {exc}") from None
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        blocks = re.split(r"(?m)^id\s*=\s*", text)
        seen: set[str] = set()
        for block in blocks[1:]:
            report.records += 1
            lines = block.split("\n")
            dialog_id = lines[0].strip()
            if dialog_id in seen:
                report.error(f"repeated id={dialog_id}", f"id={dialog_id}")
                continue
            seen.add(dialog_id)
            url = next((l.strip() for l in lines[1:4] if l.strip().startswith("http")), None)
            try:
                d_start = next(i for i, l in enumerate(lines) if l.strip().lower() == "dialogue")
            except StopIteration:
                report.error("no 'Dialogue' section", f"id={dialog_id}")
                continue
            desc_start = next((i for i, l in enumerate(lines) if l.strip().lower() == "description"), None)
            description = normalize_text(" ".join(lines[desc_start + 1 : d_start])) if desc_start is not None else ""
            turns: list[tuple[str, str]] = []
            for line in lines[d_start + 1 :]:
                m = _SPEAKER.match(line)
                if m:
                    role = "user" if m.group(1).lower() == "patient" else "assistant"
                    if turns and turns[-1][0] == role:  # a speaker continuing: merge
                        turns[-1] = (role, turns[-1][1] + (" " + m.group(2) if m.group(2).strip() else ""))
                    else:
                        turns.append((role, m.group(2)))
                elif turns and line.strip():
                    turns[-1] = (turns[-1][0], f"{turns[-1][1]} {line.strip()}".strip())
            turns = [(r, normalize_text(t)) for r, t in turns if normalize_text(t)]
            while turns and turns[-1][0] != "assistant":
                turns.pop()
            if len(turns) < 2 or turns[0][0] != "user":
                report.error("needs a patient turn followed by a doctor turn", f"id={dialog_id}")
                continue
            yield self.row(f"{self.prefix}:{path.stem}:{dialog_id}", turns, {"url": url, "description": description or None})
