"""The `deidentify` step (map stage): PHI in clinical text replaced by typed surrogates
(`medc.text.deidentify`: UCSF Philter's rules, MIMIC placeholders mapped), with an audit of
counts per identifier type that goes into the manifest and the card. It runs first among the
steps that read text, so that every later step, the shard cache, `--keep-dropped` files and
the release see de-identified text only."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from medc.schema import TEXT_FIELDS, dump_meta
from medc.steps.base import MapStep, register_step
from medc.steps.params import ParamError, StepParams
from medc.text.deidentify import Presidio, deidentify_fields, tagger_in_use
from medc.text.presidio_phi import DEFAULT_MODEL, analyzer, presidio_available

DEFAULT_SOURCES = ("clinical_notes",)
# What the clinical notes builder records that identifies a patient, a stay or a day.
DEFAULT_DROP_META = ("subject_id", "hadm_id", "chartdate", "charttime", "storetime", "cgid")


@dataclass(frozen=True)
class DeidentifyParams(StepParams):
    sources: list[str] | None = None  # source names (default: clinical_notes)
    mask_unknown: str = "capitalised"  # capitalised | all: Philter's unknown words masked only when capitalised, or all
    drop_meta: list[str] | None = None  # meta keys removed from the rows (default: MIMIC's patient, stay and time ids)
    # Detectors: Philter always; "presidio" adds Microsoft Presidio's (the `presidio` extra), with
    # the spaCy pipeline `presidio_model` for names and places where it is installed (a package
    # name or a pipeline folder; patterns only otherwise) and spans scored `presidio_min_score` or more.
    engines: list[str] = field(default_factory=lambda: ["philter"])
    presidio_model: str = DEFAULT_MODEL
    presidio_min_score: float = 0.5

    def check(self) -> None:
        if "philter" not in self.engines or not set(self.engines) <= {"philter", "presidio"}:
            raise ParamError("engines", f"engines must be [\"philter\"] or [\"philter\", \"presidio\"], not {self.engines!r}")
        if "presidio" in self.engines and not presidio_available():
            raise ParamError("engines", "the 'presidio' engine needs presidio-analyzer: `uv sync --extra presidio` "
                                        "(or `pip install 'medc[presidio]'`)")
        if not 0 <= self.presidio_min_score <= 1:
            raise ParamError("presidio_min_score", "presidio_min_score must be between 0 and 1")
        if self.mask_unknown not in ("capitalised", "all"):
            raise ParamError("mask_unknown", "mask_unknown must be 'capitalised' or 'all'")
        if self.sources is not None and not self.sources:
            raise ParamError("sources", "sources must name at least one source")

    def source_names(self) -> tuple[str, ...]:
        return tuple(self.sources) if self.sources is not None else DEFAULT_SOURCES

    def presidio(self) -> Presidio | None:
        return Presidio(self.presidio_model, self.presidio_min_score) if "presidio" in self.engines else None


@register_step("deidentify")
class Deidentify(MapStep):
    """Names, places below a state, dates but the year, ages over 89, phone and fax numbers,
    e-mail, SSNs, record / plan / account / licence / device numbers, URLs and IP addresses
    in the text fields of the rows of `sources` → `[NAME-1]`, `[DATE-2]`, ... (the same
    identifier, the same surrogate within a row). Audit: rows, rows touched, identifiers per
    type, MIMIC placeholders mapped, the part-of-speech tagger used."""

    Params = DeidentifyParams
    params: DeidentifyParams

    def applies_to(self, source: str) -> bool:
        return source in self.params.source_names()

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        out, dropped, _ = self.apply_audited(df)
        return out, dropped

    def apply_audited(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str], Counter[str]]:
        audit: Counter[str] = Counter()
        chosen = df["source"].is_in(list(self.params.source_names())).to_list() if df.height else []
        if not any(chosen):
            return df, Counter(), audit
        fields = [f for f in TEXT_FIELDS[self.kind] if f in df.columns] + (["title"] if "title" in df.columns else [])
        columns = {f: df[f].to_list() for f in fields}
        metas = df["meta"].to_list()
        drop_meta = self.params.drop_meta if self.params.drop_meta is not None else DEFAULT_DROP_META
        presidio = self.params.presidio()
        method = "+".join(self.params.engines)
        for i, selected in enumerate(chosen):
            if not selected:
                continue
            texts, row_audit = deidentify_fields([columns[f][i] or "" for f in fields], self.params.mask_unknown, presidio)
            for f, text in zip(fields, texts):
                if columns[f][i] is not None:
                    columns[f][i] = text
            record = json.loads(metas[i] or "{}")
            removed = [k for k in drop_meta if k in record]
            for k in removed:
                del record[k]
            record["deidentified"] = {"method": method, "identifiers": {k: v for k, v in row_audit.identifiers.items() if v}}
            metas[i] = dump_meta(record)
            audit["rows"] += 1
            audit["rows_touched"] += row_audit.rows_touched
            audit["mimic_placeholders"] += row_audit.mimic_placeholders
            audit["meta_keys_removed"] += len(removed)
            audit.update({k: v for k, v in row_audit.identifiers.items() if v})
        audit[f"tagger:{tagger_in_use()}"] = 1
        if presidio is not None:  # what found names and places for Presidio: the model, or its patterns only
            audit[f"presidio:{analyzer(presidio.model)[1]}"] = 1
        out = df.with_columns([pl.Series(f, columns[f], dtype=pl.String) for f in fields]
                              + [pl.Series("meta", metas, dtype=pl.String)])
        return out, Counter(), audit

