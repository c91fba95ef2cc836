"""PubMed abstracts → MedC-K rows: MEDLINE/PubMed XML (`.xml`, `.xml.gz` baseline files) and
the MEDLINE tagged text format (`PMID- `, `TI  - `, `AB  - ` with continuation lines).

Only `MedlineCitation/PMID` is the article's id (cited PMIDs appear elsewhere, e.g. in
`CommentsCorrectionsList`). Structured abstracts keep their labels as headings, inline
markup (`<i>`, `<sub>`, ...) is flattened, and citations without an abstract are counted
and skipped. Abstract text may be publisher-copyrighted: rows carry the
`pubmed-abstract` licence, which the publish gate asks to be allowed explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from medc.text.headings import consistent_heading
from medc.text.mathml import MATH, replace_mathml
from medc.text.identifiers import pmid_key
from medc.ingest.builder import Builder, FileReport, register_builder
from medc.text.normalize import collapse_spaces, normalize_text
from medc.text.provenance import with_provenance
from medc.files.records import MAX_INPUT_BYTES, read_bytes
from medc.files.xmlsafe import StreamedXML

LICENSE = "pubmed-abstract"
# What a record is for the `retractions` step (`meta.retraction`), from its publication types
# and its `CommentsCorrections` links (tagged format: the RIN/ROF/EIN/EFR/ECI/ECF fields).
PUBLICATION_TYPE_KINDS = {"Retracted Publication": "retracted", "Retraction of Publication": "retraction-notice",
                          "Published Erratum": "correction-notice", "Expression of Concern": "concern-notice"}
REF_TYPE_KINDS = {"RetractionIn": "retracted", "ExpressionOfConcernIn": "concern"}  # links to the notice
NOTICE_REF_TYPES = {"RetractionOf", "ErratumFor", "ExpressionOfConcernFor"}  # links from a notice to its article
TAGGED_REF_TYPES = {"RIN": "RetractionIn", "ROF": "RetractionOf", "EIN": "ErratumIn", "EFR": "ErratumFor",
                    "ECI": "ExpressionOfConcernIn", "ECF": "ExpressionOfConcernFor"}
_TAG = re.compile(r"^([A-Z]{2,4})\s*-\s?(.*)$")


def retraction_meta(publication_types: list[str], links: list[tuple[str, str | None]]) -> dict[str, Any]:
    """`meta.retraction`, how it is known, and a notice's articles (`notice_for`), from a
    record's publication types and its (RefType, PMID) links; {} for an ordinary record."""
    kind = signal = None
    for ptype in publication_types:
        if ptype in PUBLICATION_TYPE_KINDS:
            kind, signal = PUBLICATION_TYPE_KINDS[ptype], "pubmed-publication-type"
            if kind == "retracted":
                break
    if kind is None:
        for ref_type, _ in links:
            if ref_type in REF_TYPE_KINDS:
                kind, signal = REF_TYPE_KINDS[ref_type], "pubmed-comments-corrections"
                if kind == "retracted":
                    break
    if kind is None:
        return {}
    out: dict[str, Any] = {"retraction": kind, "retraction_signal": signal}
    if kind.endswith("-notice"):
        out["notice_for"] = sorted({k for ref_type, pmid in links if ref_type in NOTICE_REF_TYPES and (k := pmid_key(pmid))})
    return out


def _text(el: etree._Element | None) -> str:
    return collapse_spaces("".join(el.itertext())) if el is not None else ""


def _prose(el: etree._Element | None) -> str:
    """A title's or an abstract's text; MathML in it (abstracts of today) as one line of text, as
    JATS formulas are."""
    if el is not None and next(el.iter(MATH), None) is not None:
        replace_mathml(el)
    return _text(el)


def _year(date: etree._Element | None) -> int | None:
    if date is None:
        return None
    year = date.findtext("Year") or (date.findtext("MedlineDate") or "")[:4]
    return int(year) if year and year.isdigit() else None


def abstract_parts(abstract: etree._Element | None) -> list[str]:
    """An abstract's paragraphs; a structured abstract's labels become `###` headings."""
    parts = []
    for ab in abstract.findall("AbstractText") if abstract is not None else []:
        body = _prose(ab)
        if body:
            label = ab.get("Label") or ""
            parts.append(f"### {consistent_heading(label)}\n\n{body}" if label else body)
    return parts


def other_abstracts(citation: etree._Element) -> list[str]:
    """English `OtherAbstract`s (plain-language summaries, publisher abstracts) as their own section;
    abstracts in other languages are left out of an English corpus."""
    parts = []
    for other in citation.findall("OtherAbstract"):
        if (other.get("Language") or "eng") != "eng":
            continue
        body = abstract_parts(other)
        if body:
            kind = (other.get("Type") or "other").replace("-", " ")
            parts += [f"## {consistent_heading(kind.capitalize())} abstract" if kind != "plain language summary"
                      else "## Plain language summary", *body]
    return parts


def mesh_name(heading: str) -> str:
    """A tagged-text MeSH line (`*Databases, Protein`, `Sequence Alignment/*methods`) as the
    descriptor's name, as the XML gives it."""
    return heading.split("/", 1)[0].lstrip("*").strip()


def tagged_heading(heading: str) -> dict[str, Any]:
    """A tagged-text MeSH line as a heading: a `*` marks the descriptor or a qualifier as a
    major topic; the format carries no unique ids."""
    name, *qualifiers = heading.split("/")
    return {"name": name.lstrip("*").strip(), "ui": None, "major": name.strip().startswith("*"),
            "qualifiers": [{"name": q.lstrip("*").strip(), "ui": None, "major": q.strip().startswith("*")} for q in qualifiers]}


def xml_heading(heading: etree._Element) -> dict[str, Any]:
    """A `MeshHeading` as a heading: name, unique id and major-topic flag of its descriptor and
    of each qualifier."""
    d = heading.find("DescriptorName")
    return {"name": _text(d), "ui": d.get("UI") if d is not None else None, "major": d is not None and d.get("MajorTopicYN") == "Y",
            "qualifiers": [{"name": _text(q), "ui": q.get("UI"), "major": q.get("MajorTopicYN") == "Y"}
                           for q in heading.findall("QualifierName")]}


LABEL = re.compile(r"(?:^|\s)([A-Z][A-Z /&,-]{2,}): ")


def labelled_parts(abstract: str) -> list[str]:
    """A tagged-text abstract ("BACKGROUND: ... METHODS: ...") as the XML's `###` sections."""
    marks = list(LABEL.finditer(abstract))
    if not marks or marks[0].start() > 0:
        head = abstract[: marks[0].start()].strip() if marks else abstract.strip()
        parts = [head] if head else []
    else:
        parts = []
    for m, nxt in zip(marks, [*marks[1:], None]):
        body = abstract[m.end(): nxt.start() if nxt else len(abstract)].strip()
        if body:
            parts.append(f"### {consistent_heading(m.group(1).strip())}\n\n{body}")
    return parts


class CitationRecord:
    """One citation record of a MEDLINE XML file: its PMID and version (`PMID/@Version`: PubMed
    keeps every version of a versioned citation, e.g. an F1000Research article) and its row,
    None when it gives none (no abstract, no PMID)."""

    __slots__ = ("pmid", "version", "row")

    def __init__(self, pmid: etree._Element | None, row: dict[str, Any] | None) -> None:
        self.pmid = (pmid.text or "").strip() if pmid is not None else ""
        version = (pmid.get("Version") or "1").strip() if pmid is not None else "1"
        self.version = int(version) if version.isdigit() else 1
        self.row = row


def latest_versions(records: list[CitationRecord]) -> dict[str, CitationRecord]:
    """PMID -> its latest record in one file: the highest version, of equal versions the last."""
    latest: dict[str, CitationRecord] = {}
    for record in records:
        if record.pmid and (record.pmid not in latest or record.version >= latest[record.pmid].version):
            latest[record.pmid] = record
    return latest


ROOT_TAGS = ("PubmedArticleSet", "MedlineCitationSet")
# The records a MEDLINE XML file is read by (streamed: a baseline file's 30,000 records are never one tree).
RECORD_TAGS = ("DeleteCitation", "PubmedBookArticle", "PubmedArticle", "MedlineCitation")


@register_builder("medline")
class MedlineBuilder(Builder):
    citations = ("pubmed",)
    # PubMed's baseline then its update files, in file-name order: a citation's latest version wins
    # and a DeleteCitation withdraws it (the files' names sort in release order: pubmed25n0001 ...).
    later_files_supersede = True
    kind = "knowledge"
    patterns = ("**/*.xml", "**/*.xml.gz", "**/*.txt", "**/*.nbib", "**/*.medline")
    defaults: dict[str, Any] = {"license": LICENSE}

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        name = path.name.removesuffix(".gz")
        if name.endswith((".txt", ".nbib", ".medline")):
            yield from self.parse_tagged(path, report)
            return
        stream = StreamedXML(path, RECORD_TAGS, MAX_INPUT_BYTES)
        deleted: list[str] = []
        # What the file gives is held until it has been read whole and found safe: a file refused
        # part-way gives nothing. Then, as it always did: deletions, books, articles.
        books, articles = (FileReport(report.path, public_reasons=report.public_reasons) for _ in range(2))
        book_records: list[CitationRecord] = []
        article_records: list[CitationRecord] = []
        for el in stream.elements():
            if stream.root_tag not in ROOT_TAGS:
                break
            parent = el.getparent()
            if el.tag == "DeleteCitation":  # update files: citations PubMed withdrew (not content)
                if parent is not None and parent.getparent() is None:
                    deleted += [f"pmid:{(pmid.text or '').strip()}" for pmid in el.findall("PMID")]
            elif el.tag == "PubmedBookArticle":
                books.records += 1
                book_records.append(CitationRecord(el.find("BookDocument/PMID"), self.book_row(el, books)))
            elif el.tag == "MedlineCitation" and parent is not None and parent.tag == "PubmedArticle":
                continue  # read through its PubmedArticle
            else:
                articles.records += 1
                citation = el.find("MedlineCitation") if el.tag == "PubmedArticle" else el
                article_records.append(CitationRecord(citation.find("PMID") if citation is not None else None,
                                                      self.article_row(el, articles)))
        if stream.root_tag not in ROOT_TAGS:
            raise ValueError(f"root element <{stream.root_tag}> is not a PubmedArticleSet")
        if deleted:
            report.records += len(deleted)
            report.skip("deleted citation (DeleteCitation)", len(deleted))
            for row_id in deleted:
                report.withdraw(row_id)
        report.absorb(books)
        report.absorb(articles)
        records = book_records + article_records  # (books first, as the rows always came)
        latest = latest_versions(records)
        # An update file's citation is its latest version: one without an abstract (no row) also
        # withdraws what earlier files gave of it. Only update files (in NLM's `updatefiles`
        # folder, or holding a DeleteCitation): the millions of abstract-less citations of the baseline
        # would only fill the withdrawal list.
        update_file = bool(deleted) or "updatefiles" in path.parts
        for record in records:
            if latest.get(record.pmid) is not record:
                if record.row is not None:
                    report.skip("older version of a citation in the same file")
            elif record.row is not None:
                yield record.row
            elif update_file and record.pmid:
                report.withdraw(f"pmid:{record.pmid}")

    def article_row(self, article: etree._Element, report: FileReport) -> dict[str, Any] | None:
        """A PubmedArticle (or a bare MedlineCitation) as a row; None when it has no abstract or no PMID (reported)."""
        citation = article.find("MedlineCitation") if article.tag == "PubmedArticle" else article
        pmid = (citation.findtext("PMID") or "").strip() if citation is not None else ""
        if not pmid:
            report.error("no MedlineCitation/PMID", f"record {report.records}")
            return None
        art = citation.find("Article")
        title = _prose(art.find("ArticleTitle")) if art is not None else ""
        parts = abstract_parts(art.find("Abstract") if art is not None else None)
        parts += other_abstracts(citation)
        if not parts:
            report.skip("no abstract")
            return None
        ids = {"pmid": pmid}
        data = article.find("PubmedData") if article.tag == "PubmedArticle" else None
        # The record's own ids: PubmedData/ArticleIdList, never the ArticleIdLists of its ReferenceList
        for aid in data.iterfind("ArticleIdList/ArticleId") if data is not None else []:
            kind, value = aid.get("IdType"), (aid.text or "").strip()
            if kind == "pmc" and value:
                ids["pmcid"] = value if value.startswith("PMC") else f"PMC{value}"
            elif kind == "doi" and value:
                ids["doi"] = value  # as published: matching across sources normalises case
        if "doi" not in ids and art is not None:
            for loc in art.findall("ELocationID"):
                if loc.get("EIdType") == "doi" and loc.text:
                    ids["doi"] = loc.text.strip()
        journal = art.find("Journal") if art is not None else None
        info = citation.find("MedlineJournalInfo")
        publication_types = [_text(p) for p in art.findall("PublicationTypeList/PublicationType")] if art is not None else []
        links = [(c.get("RefType") or "", c.findtext("PMID")) for c in citation.iterfind("CommentsCorrectionsList/CommentsCorrections")]
        headings = [xml_heading(h) for h in citation.iterfind("MeshHeadingList/MeshHeading")]
        return self.row(pmid, title, parts, {
            **ids,
            "journal": _text(journal.find("Title")) if journal is not None else None,
            "journal_iso": _text(journal.find("ISOAbbreviation")) or None if journal is not None else None,
            "journal_nlm_ta": _text(info.find("MedlineTA")) or None if info is not None else None,
            "journal_nlm_id": _text(info.find("NlmUniqueID")) or None if info is not None else None,
            "year": _year(journal.find("JournalIssue/PubDate")) if journal is not None else None,
            "mesh": [h["name"] for h in headings],
            "mesh_headings": headings,
            "keywords": list(dict.fromkeys(k for k in (_text(k) for k in citation.iterfind("KeywordList/Keyword")) if k)),
            "publication_types": publication_types,
            "vernacular_title": (_prose(art.find("VernacularTitle")) or None) if art is not None else None,
            **retraction_meta(publication_types, links),
        }, [x.text or "" for x in art.findall("Language")] if art is not None else [])

    def book_row(self, book: etree._Element, report: FileReport) -> dict[str, Any] | None:
        """A PubMed book record (`PubmedBookArticle/BookDocument`: a chapter or a whole book, e.g. StatPearls)."""
        doc = book.find("BookDocument")
        pmid = (doc.findtext("PMID") or "").strip() if doc is not None else ""
        if not pmid:
            report.error("no BookDocument/PMID", f"record {report.records}")
            return None
        parts = abstract_parts(doc.find("Abstract"))
        if not parts:
            report.skip("no abstract")
            return None
        title = _prose(doc.find("ArticleTitle")) or _prose(doc.find("Book/BookTitle"))
        ids: dict[str, str] = {"pmid": pmid}
        book_data = book.find("PubmedBookData")
        own_ids = [*doc.iterfind("ArticleIdList/ArticleId"), *(book_data.iterfind("ArticleIdList/ArticleId") if book_data is not None else [])]
        for aid in own_ids:  # not the ids of the chapter's ReferenceList
            if aid.get("IdType") == "doi" and (aid.text or "").strip():
                ids["doi"] = (aid.text or "").strip()
            elif aid.get("IdType") == "bookaccession" and (aid.text or "").strip():
                ids["book_accession"] = (aid.text or "").strip()
        return self.row(pmid, title, parts, {
            **ids,
            "journal": _text(doc.find("Book/BookTitle")) or None,
            "year": _year(doc.find("Book/PubDate")),
            "publication_types": [_text(p) for p in doc.findall("PublicationType")],
            "keywords": list(dict.fromkeys(k for k in (_text(k) for k in doc.iterfind("KeywordList/Keyword")) if k)),
            **retraction_meta([_text(p) for p in doc.findall("PublicationType")], []),
            "record_kind": "book",
        }, [x.text or "" for x in doc.findall("Language")])

    def row(self, pmid: str, title: str, parts: list[str], meta: dict[str, Any], languages: list[str]) -> dict[str, Any]:
        text = normalize_text("\n\n".join(([f"# {title}"] if title else []) + ["## Abstract", *parts]))
        return {"id": f"pmid:{pmid}", "source": self.source, "title": title or None, "text": text,
                "license": self.options["license"], "meta": with_provenance({**meta, "article_type": "abstract"}, languages)}

    def parse_tagged(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        text = read_bytes(path).decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
        for block in re.split(r"\n\s*\n(?=PMID-)", text.strip()):
            fields: dict[str, list[str]] = {}
            last = None
            for line in block.split("\n"):
                m = _TAG.match(line)
                if m and not line.startswith(" "):
                    last = m.group(1)
                    fields.setdefault(last, []).append(m.group(2).strip())
                elif last and line.startswith(" "):
                    fields[last][-1] = f"{fields[last][-1]} {line.strip()}"
            if not fields:
                continue
            report.records += 1
            pmid = (fields.get("PMID") or [""])[0]
            if not pmid:
                report.error("no PMID field", f"record {report.records}")
                continue
            abstract = " ".join(fields.get("AB", []))
            if not abstract:
                report.skip("no abstract")
                continue
            # Structured abstracts in this format read "BACKGROUND: ... METHODS: ...": the same
            # sections as the XML gives, so one record is one row whichever format it came in.
            parts = labelled_parts(abstract)
            ids = {"pmid": pmid}
            for lid in fields.get("LID", []) + fields.get("AID", []):
                if lid.endswith("[doi]"):
                    ids["doi"] = lid.removesuffix("[doi]").strip()
            if fields.get("PMC"):
                ids["pmcid"] = fields["PMC"][0]
            year = (fields.get("DP") or [""])[0][:4]
            links = [(ref_type, m.group(1) if (m := re.search(r"PMID:\s*(\d+)", value)) else None)
                     for tag, ref_type in TAGGED_REF_TYPES.items() for value in fields.get(tag, [])]
            yield self.row(pmid, " ".join(fields.get("TI", [])), parts, {
                **ids, "journal": (fields.get("JT") or [None])[0], "journal_nlm_ta": (fields.get("TA") or [None])[0],
                "journal_nlm_id": (fields.get("JID") or [None])[0], "year": int(year) if year.isdigit() else None,
                "mesh": [mesh_name(m) for m in fields.get("MH", [])], "mesh_headings": [tagged_heading(m) for m in fields.get("MH", [])],
                "keywords": fields.get("OT", []), "publication_types": fields.get("PT", []),
                "vernacular_title": " ".join(fields.get("TT", [])) or None,
                **retraction_meta(fields.get("PT", []), links),
            }, fields.get("LA", []))
