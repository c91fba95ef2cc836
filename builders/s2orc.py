"""S2ORC / peS2o → MedC-K rows, from every published record shape:

* **2019-09-28 combined** records: `paper_id`, `metadata{title, abstract, pmc_id, pubmed_id, doi, ...}`,
  `grobid_parse{abstract[], body_text[{text, cite_spans, section}], ref_entries, bib_entries}`
  (or `latex_parse`).
* **2020-07-05** releases: `metadata` rows (`paper_id, title, abstract, pmc_id, pubmed_id, doi,
  mag_field_of_study, has_pdf_parse, ...`) and `pdf_parses` rows (`paper_id, abstract[],
  body_text[], bib_entries, ref_entries`) in separate files, joined here on `paper_id`: a
  pdf_parses file `pdf_parses_N.jsonl[.gz]` is joined with `metadata_N.jsonl[.gz]` (the
  release pairs them by batch); otherwise with every metadata file of the source folder.
  Metadata rows themselves are join input, counted as skipped. A pdf_parse with no metadata row
  is skipped (counted) unless `biomedical = "off"`, where it is kept without title or ids.
* **doc2json** (2021) records: `paper_id, title, abstract, pdf_parse{abstract[], body_text[],
  back_matter[], ...}`.
* **S2 Datasets API** (`s2orc` dataset, 2023+): `corpusid, externalids{PubMed, PubMedCentral,
  DOI}, content{text, annotations{...}}`, the annotations being JSON strings of
  `{start, end}` spans over `text`: author, affiliation and bibliography spans are cut out,
  inline citation markers (`bibref`) removed, section headers kept as headings.
* **peS2o** (`id, text, source, added, created, version`): no external ids.

Only biomedical papers are kept by default (`biomedical = "ids"`: a PubMed or PMC id);
`"ids_or_field"` also keeps papers whose field of study is Medicine or Biology, and `"off"`
keeps everything (needed for peS2o, whose records carry no ids). Inline citation markers
given as spans (`cite_spans`) are removed without "[, ]" debris; bibliography entries,
figure / table reference texts and back matter never reach `text`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from medc.text.headings import consistent_heading
from medc.files.records import json_records
from medc.ingest.builder import Builder, FileReport, register_builder
from medc.errors import UserError
from medc.text.normalize import normalize_text
from medc.text.provenance import with_provenance

LICENSE = "odc-by"  # S2ORC 2020+ releases; S2ORC's own licence, see the card
BIOMEDICAL_FIELDS = {"medicine", "biology"}
# S2 API annotation spans never part of `text` (authors, affiliations, bibliography).
DROP_ANNOTATIONS = ("author", "authorfirstname", "authorlastname", "authoraffiliation", "bibentry", "bibauthor",
                    "bibauthorfirstname", "bibauthorlastname", "bibtitle", "bibvenue", "title", "venue", "publisher")
_BATCH = re.compile(r"(\d+)")


@lru_cache(maxsize=4)
def _metadata_index(path: str, mtime_ns: int) -> dict[str, dict[str, Any]]:
    index: dict[str, dict[str, Any]] = {}
    for _, rec in json_records(Path(path)):
        if isinstance(rec, dict) and rec.get("paper_id") is not None:
            index[str(rec["paper_id"])] = rec
    return index


def _ids(meta: dict[str, Any]) -> dict[str, str]:
    """pmcid / pmid / doi from any record vintage (S2ORC metadata or S2 API externalids)."""
    ext = meta.get("externalids") or meta.get("externalIds") or meta.get("identifiers") or {}
    pmc = meta.get("pmc_id") or ext.get("PubMedCentral") or ext.get("pubmedcentral") or ext.get("pmc")
    pmid = meta.get("pubmed_id") or ext.get("PubMed") or ext.get("pubmed") or ext.get("pmid")
    doi = meta.get("doi") or ext.get("DOI") or ext.get("doi")
    out: dict[str, str] = {}
    if pmc:
        pmc = str(pmc).strip()
        out["pmcid"] = pmc if pmc.upper().startswith("PMC") else f"PMC{pmc}"
    if pmid:
        out["pmid"] = str(pmid).strip()
    if doi:
        out["doi"] = str(doi).strip()  # as published: matching across sources normalises case
    return out


def _offset(value: Any) -> int | None:
    """An annotation offset: a number, or a number written as a string (as some S2 releases give them)."""
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _spans(spans: Any) -> list[tuple[int, int]]:
    out = []
    for s in spans or []:
        start, end = (_offset(s.get("start")), _offset(s.get("end"))) if isinstance(s, dict) else (None, None)
        if start is not None and end is not None and end > start:
            out.append((start, end))
    return sorted(out)


def _cut_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` without the `[start, end)` spans (overlaps allowed)."""
    out, pos = [], 0
    for start, end in spans:
        start = max(start, pos)
        if start >= len(text):
            break
        out.append(text[pos:start])
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)


_RUN_GAP = re.compile(r"[\s,;]*(?:and\s+)?")
# GROBID's tokenisation of PDF text: a space before the punctuation after a reference or a number
# ("provided in Fig. 3 . Upon", "(Fig. 2) . However", "Table 1 , all") and superscript ordinals set
# apart ("3 rd and 4 th instars").
_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<=[\w)\]]) +(?=[.,;:](?:\s|$))")
_SPLIT_ORDINAL = re.compile(r"\b(\d+) (st|nd|rd|th)\b")


def tidy_pdf_spacing(text: str) -> str:
    """Undo GROBID's spacing debris in one paragraph of PDF-derived text."""
    return _SPLIT_ORDINAL.sub(r"\1\2", _SPACE_BEFORE_PUNCTUATION.sub("", text))


def _strip_cites(text: str, spans: Any) -> str:
    """Remove citation markers given as spans without "(; )" debris. GROBID's spans carry
    their own brackets and separators ("(Schalk and Stoner, 1979;", "Hare, 1980;", "1990)"):
    adjacent spans are merged into runs; a run enclosed in brackets, or made only of numbers,
    goes with the space before it; a narrative citation ("as Smith et al. (2001) showed")
    keeps its words."""
    cuts = _spans(spans)
    if not cuts:
        return text
    runs: list[list[int]] = []
    for start, end in cuts:
        if start >= len(text):
            break
        if runs and start >= runs[-1][1] and _RUN_GAP.fullmatch(text[runs[-1][1]:start]):
            runs[-1][1] = max(end, runs[-1][1])
        elif not runs or start >= runs[-1][1]:
            runs.append([start, min(end, len(text))])
    out, pos = [], 0
    for start, end in runs:
        if start > 0 and text[start - 1] in "([" and not text[start:end].lstrip().startswith(("(", "[")):
            start -= 1
        tail = len(text[end:]) - len(text[end:].lstrip())
        if text[end:].lstrip()[:1] in (")", "]") and not text[start:end].rstrip().endswith((")", "]")):
            end += tail + 1
        seg = text[start:end].strip()
        bracketed = seg[:1] in "([" and seg[-1:] in ")]"
        if not (bracketed or not any(c.isalpha() for c in seg)):
            continue  # narrative citation: kept
        out.append(text[pos:start].rstrip())
        pos = end
        rest = text[pos:].lstrip()
        if rest[:1] in (".", ",", ";", ":", "!", "?", ")"):  # no space left before the punctuation that followed it
            pos = len(text) - len(rest)
    out.append(text[pos:])
    return "".join(out)


def _paragraph_text(paragraphs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """S2ORC body_text paragraphs → blocks, with a `## Section` heading whenever it changes."""
    blocks: list[str] = []
    sections: list[str] = []
    current: str | None = None
    for para in paragraphs or []:
        if not isinstance(para, dict):
            continue
        text = _strip_cites(str(para.get("text") or ""), para.get("cite_spans"))
        section = (para.get("section") or "").strip()
        if section and section != current:
            heading = consistent_heading(section)
            blocks.append(f"## {heading}")
            sections.append(heading)
            current = section
        if text.strip():
            blocks.append(text.strip())
    return blocks, sections


def _abstract_blocks(abstract: Any) -> list[str]:
    if isinstance(abstract, str):
        return [abstract.strip()] if abstract.strip() else []
    blocks = []
    for para in abstract or []:
        if isinstance(para, dict):
            text = _strip_cites(str(para.get("text") or ""), para.get("cite_spans")).strip()
            text = re.sub(r"^Abstract(?=[A-Z])", "", text)  # GROBID glues the word onto the first sentence
            if text:
                blocks.append(text)
    return blocks


@register_builder("s2orc")
class S2ORCBuilder(Builder):
    citations = ("lo2020s2orc",)
    kind = "knowledge"
    patterns = ("**/*.json", "**/*.jsonl", "**/*.json.gz", "**/*.jsonl.gz")
    defaults: dict[str, Any] = {
        "biomedical": "ids",  # ids | ids_or_field | off
        "license": LICENSE,
        "metadata": "**/*metadata*.jsonl*",  # metadata files (2020-07-05) under the source folder
        "min_chars": 200,
    }

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        return [f"{folder}/{options.get('metadata', cls.defaults['metadata'])}"]  # joined to the pdf_parses

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        if self.options["biomedical"] not in ("ids", "ids_or_field", "off"):
            raise UserError(f"source {source!r}: option biomedical must be ids, ids_or_field or off")
        self._folder: Path | None = None

    # --------------------------------------------------------------- metadata join (2020-07-05)
    def _metadata_for(self, path: Path) -> dict[str, dict[str, Any]]:
        folder = path.parent
        while folder != self.sources_root and folder.parent != folder and not any(folder.glob(self.options["metadata"])):
            folder = folder.parent
        files = sorted(p for p in folder.glob(self.options["metadata"]) if p.is_file())
        batch = _BATCH.findall(path.name)
        same_batch = [p for p in files if batch and _BATCH.findall(p.name) == batch]
        merged: dict[str, dict[str, Any]] = {}
        for p in same_batch or files:
            merged.update(_metadata_index(str(p), p.stat().st_mtime_ns))
        return merged

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        metadata: dict[str, dict[str, Any]] | None = None
        for key, rec in json_records(path):
            report.records += 1
            if isinstance(rec, Exception):
                report.error(f"invalid JSON: {rec.msg}", key)
                continue
            if not isinstance(rec, dict):
                report.error("record is not a JSON object", key)
                continue
            try:
                if "body_text" in rec and "metadata" not in rec and "title" not in rec:  # 2020-07-05 pdf_parse
                    if metadata is None:
                        metadata = self._metadata_for(path)
                    meta = metadata.get(str(rec.get("paper_id")))
                    if meta is None and self.options["biomedical"] != "off":  # its ids decide whether it is kept
                        report.skip("pdf_parse without a metadata row")
                        continue
                    meta = meta or {"paper_id": rec.get("paper_id")}  # kept as it is: no title, no ids
                    row = self.from_parse(rec, meta, report, vintage="s2orc-2020")
                elif "grobid_parse" in rec or "latex_parse" in rec:
                    parse = rec.get("grobid_parse") or rec.get("latex_parse") or {}
                    row = self.from_parse(parse, {**(rec.get("metadata") or {}), "paper_id": rec.get("paper_id")}, report,
                                          vintage="s2orc-2019")
                elif "body_text" in rec and isinstance(rec.get("metadata"), dict):  # doc2json `Paper.as_json()`
                    row = self.from_parse(rec, {**rec["metadata"], "paper_id": rec.get("paper_id")}, report, vintage="doc2json")
                elif isinstance(rec.get("pdf_parse"), dict):  # doc2json release records
                    row = self.from_parse(rec["pdf_parse"], rec, report, vintage="doc2json")
                elif isinstance(rec.get("content"), dict) and "corpusid" in rec:
                    row = self.from_api(rec, report)
                elif {"id", "text", "source"} <= rec.keys() and "added" in rec:
                    row = self.from_pes2o(rec, report)
                elif "has_pdf_parse" in rec or ("paper_id" in rec and "title" in rec and "body_text" not in rec):
                    report.note("metadata row (joined to its pdf_parse)")
                    continue
                else:
                    raise ValueError("not an S2ORC, S2 API or peS2o record (keys: " + ", ".join(sorted(rec)[:8]) + ")")
            except (ValueError, TypeError, KeyError) as exc:
                report.error(str(exc), f"{key} (paper {rec.get('paper_id') or rec.get('corpusid') or rec.get('id') or '?'})")
                continue
            if row is not None:
                yield row

    # --------------------------------------------------------------- record shapes
    def keep(self, ids: dict[str, str], meta: dict[str, Any], report: FileReport) -> bool:
        mode = self.options["biomedical"]
        if mode == "off" or "pmid" in ids or "pmcid" in ids:
            return True
        if mode == "ids_or_field":
            fields = meta.get("mag_field_of_study") or meta.get("s2fieldsofstudy") or meta.get("fieldsOfStudy") or []
            names = {(f.get("category") if isinstance(f, dict) else str(f)).lower() for f in fields if f}
            if names & BIOMEDICAL_FIELDS:
                return True
        report.skip("not biomedical (no PubMed / PMC id)" if mode == "ids" else "not biomedical")
        return False

    def make_row(self, row_id: str, title: str, blocks: list[str], sections: list[str], ids: dict[str, str],
                 extra: dict[str, Any]) -> dict[str, Any] | None:
        # A heading with nothing under it (e.g. "References", whose entries are left out) goes.
        blocks = [b if b.startswith("## ") else tidy_pdf_spacing(b) for i, b in enumerate(blocks)
                  if not (b.startswith("## ") and (i + 1 == len(blocks) or blocks[i + 1].startswith("## ")))]
        sections = [s for s in sections if f"## {s}" in blocks]
        text = normalize_text("\n\n".join(([f"# {title}"] if title else []) + blocks))
        if len(text) - len(title) < self.options["min_chars"]:
            raise ValueError("no abstract or body text")
        return {
            "id": row_id,
            "source": self.source,
            "title": title or None,
            "text": text,
            "license": self.options["license"],
            "meta": with_provenance({**ids, **extra, "sections": sections}),
        }

    def from_parse(self, parse: dict[str, Any], meta: dict[str, Any], report: FileReport, vintage: str) -> dict[str, Any] | None:
        ids = _ids(meta)
        if not self.keep(ids, meta, report):
            return None
        title = normalize_text(str(meta.get("title") or "")).replace("\n", " ")
        abstract = _abstract_blocks(parse.get("abstract")) or _abstract_blocks(meta.get("abstract"))
        body, sections = _paragraph_text(parse.get("body_text") or [])
        blocks = (["## Abstract", *abstract] if abstract else []) + body
        if not body and not abstract:
            raise ValueError("no abstract or body text")
        year = meta.get("year")
        return self.make_row(f"s2orc:{meta.get('paper_id')}", title, blocks, sections, ids, {
            "s2_paper_id": str(meta.get("paper_id")), "journal": meta.get("journal") or meta.get("venue"),
            "year": int(year) if str(year or "").isdigit() else None, "s2orc_format": vintage,
            "article_type": "full-text" if body else "abstract",
        })

    def from_api(self, rec: dict[str, Any], report: FileReport) -> dict[str, Any] | None:
        ids = _ids(rec)
        if not self.keep(ids, rec, report):
            return None
        content = rec["content"]
        text = content.get("text") or ""
        ann: dict[str, list[dict[str, Any]]] = {}
        for name, spans in (content.get("annotations") or {}).items():
            if isinstance(spans, str):
                try:
                    spans = json.loads(spans)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"annotation {name!r} is not valid JSON: {exc.msg}") from None
            ann[name] = [s for s in spans or [] if isinstance(s, dict) and "start" in s and "end" in s]
        dropped = sorted(span for n in DROP_ANNOTATIONS for span in _spans(ann.get(n)))

        def overlaps_dropped(start: int, end: int) -> bool:
            return any(a < end and start < b for a, b in dropped)

        def cut(start: int, end: int) -> str:
            inner = [s for s in ann.get("bibref", []) if start <= int(s["start"]) and int(s["end"]) <= end]
            rel = [{"start": int(s["start"]) - start, "end": int(s["end"]) - start} for s in inner]
            return " ".join(_strip_cites(text[start:end], rel).split())

        title_spans = ann.get("title", [])
        title = cut(int(title_spans[0]["start"]), int(title_spans[0]["end"])) if title_spans else str(rec.get("title") or "")
        pieces: list[tuple[int, str, str]] = []
        for kind in ("abstract", "sectionheader", "paragraph"):
            for s in ann.get(kind, []):
                start, end = int(s["start"]), int(s["end"])
                if kind != "abstract" and overlaps_dropped(start, end):
                    continue
                piece = cut(start, end)
                if piece:
                    pieces.append((start, kind, piece))
        pieces.sort(key=lambda p: (p[0], p[1] != "sectionheader"))
        blocks, sections = [], []
        if not any(k == "paragraph" for _, k, _ in pieces):
            # No paragraph spans: the whole text minus the dropped spans.
            keep = _cut_spans(text, dropped)
            blocks = [p.strip() for p in keep.split("\n\n") if p.strip()]
        else:
            abstract_seen = False
            for _, kind, piece in pieces:
                if kind == "abstract":
                    if not abstract_seen:
                        blocks.append("## Abstract")
                        abstract_seen = True
                    blocks.append(piece)
                elif kind == "sectionheader":
                    heading = consistent_heading(piece)
                    blocks.append(f"## {heading}")
                    sections.append(heading)
                else:
                    blocks.append(piece)
        if not blocks:
            raise ValueError("no text")
        return self.make_row(f"s2:{rec['corpusid']}", title, blocks, sections, ids, {
            "s2_corpus_id": str(rec["corpusid"]), "s2orc_format": "s2-api", "article_type": "full-text",
        })

    def from_pes2o(self, rec: dict[str, Any], report: FileReport) -> dict[str, Any] | None:
        if not self.keep({}, rec, report):
            return None
        text = str(rec.get("text") or "")
        if not text.strip():
            raise ValueError("empty text")
        blocks = [p.strip() for p in text.split("\n\n") if p.strip()]
        return self.make_row(f"s2:{rec['id']}", "", blocks, [], {}, {
            "s2_corpus_id": str(rec["id"]), "s2orc_format": "pes2o", "pes2o_source": rec.get("source"),
            "year": int(str(rec["created"])[:4]) if str(rec.get("created") or "")[:4].isdigit() else None,
            "article_type": "full-text" if str(rec.get("source", "")).startswith("s2orc") else "abstract",
        })
