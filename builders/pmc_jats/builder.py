"""PubMed Central full text in JATS / NLM XML (`.nxml`, `.xml`, optionally `.gz`) → MedC-K rows.

Text: title, abstract(s) and body sections with their headings (Markdown `#` levels),
paragraphs, lists, figure and table captions (table cells per the `tables` option),
formulas (TeX kept, MathML linearised, graphic-only as a placeholder). Never in the text:
the reference list, in-text citation markers, authors, affiliations, acknowledgements,
footnotes, supplementary-material boilerplate. Handles JATS 1.x, NLM 2.3 and the
`<pmc-articleset>` wrapper (one row per article).
"""

from __future__ import annotations

import gzip
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from builders.pmc_jats.blocks import Renderer
from builders.pmc_jats.citations import drop_written_out_references
from builders.pmc_jats.inline import prepare_inline
from builders.pmc_jats.markup import localname
from builders.pmc_jats.metadata import article_ids, article_license, journal_ids, keywords, publication_year, short_text
from builders.pmc_jats.oa_file_list import read_file_list
from medc.errors import UserError
from medc.files.records import MAX_INPUT_BYTES, read_bytes
from medc.files.xmlsafe import StreamedXML, parse_xml
from medc.ingest.builder import Builder, FileReport, register_builder
from medc.schema import stable_id
from medc.text.identifiers import link_key
from medc.text.licenses import normalize_license
from medc.text.normalize import normalize_text
from medc.text.provenance import with_provenance

# Abstracts left out: a graphic, or a one-line blurb repeating the abstract for a table of
# contents or a web page. Every other abstract (the abstract, author and plain-language
# summaries, highlights, key points, eLife digests, significance statements, ...) is text,
# under its own title or one named from its type.
ABSTRACT_TYPES_LEFT_OUT = frozenset({"graphical", "toc", "teaser", "web-summary", "precis"})
ABSTRACT_HEADINGS = {"": "Abstract", "structured": "Abstract", "short": "Abstract", "summary": "Author Summary",
                     "author-summary": "Author Summary"}
# Article types that are notices about other articles, or an article withdrawn itself, and what
# they are for the `retractions` step (`meta.retraction`); skipped at parse (counted by type)
# while `skip_retractions` is on. Every other type is kept as prose.
RETRACTION_KINDS = {"retraction": "retraction-notice", "removal": "retraction-notice", "correction": "correction-notice",
                    "addendum": "correction-notice", "expression-of-concern": "concern-notice",
                    "retracted-article": "retracted"}
RETRACTION_TYPES = set(RETRACTION_KINDS)
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


# `<sub-article>` kinds: translations of the main article (SciELO) and its peer review (eLife
# decision letters and author responses, F1000 referee reports).
TRANSLATION = "translation"
PEER_REVIEW_TYPES = {"decision-letter", "reply", "article-commentary", "ref-report", "referee-report", "author-comment",
                     "aggregated-review-documents", "editor-report", "community-comment", "review-report"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
BACK_MATTER_KEPT = frozenset({"app-group", "app", "sec"})  # appendices and back-matter sections: text

# A default namespace declaration (`xmlns="..."`), found in the raw bytes (C speed).
_DEFAULT_NAMESPACE = re.compile(rb"""xmlns\s*=\s*["']([^"']*)["']""")

# Files that hold articles: PMC article sets, Europe PMC exports, OAI-PMH responses.
ARTICLE_WRAPPERS = frozenset({"pmc-articleset", "articles", "article-set", "OAI-PMH"})
# Roots of other formats found where JATS is expected, and what reads them.
OTHER_FORMATS = {"PubmedArticleSet": ": it is MEDLINE/PubMed XML, which the `medline` builder reads",
                 "MedlineCitationSet": ": it is MEDLINE XML, which the `medline` builder reads",
                 "full-text-retrieval-response": ": it is Elsevier's own full-text XML (its API), which is not read",
                 "TEI": ": it is TEI (GROBID's output), which is not read; GROBID's JSON through s2orc-doc2json is (`s2orc`)"}
# PMC's efetch gives only the front matter of an article whose publisher does not allow its full
# text in XML, with this comment: its abstract is a row (marked), an article without one is counted.
WITHHELD_NOTE = "does not allow downloading of the full text"
_WITHHELD_NOTE_BYTES = WITHHELD_NOTE.encode()
WITHHELD = "medc-full-text-withheld"  # set on such an article's element while it is read
# Sets of articles read as a stream, one article at a time (an OAI-PMH response holds one).
STREAMED_SETS = frozenset({"pmc-articleset", "articles", "article-set"})
# Files of articles larger than this (stored; a gzipped one past an eighth of it) are read as a
# stream; a smaller one is read whole, in one pass, with the same rows.
STREAM_FROM_BYTES = 32 << 20
# A set of articles is never one tree, so it may be larger than one document may be (a Europe PMC
# FTP file is a few GB); past this it is a decompression bomb, not a file of articles.
MAX_ARTICLE_SET_BYTES = 64 << 30


_PROLOG = re.compile(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>", re.DOTALL)
_FIRST_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


def localname_of_root(path: Path) -> str:
    """The local name of a file's root element, read from its first 8 KB past the XML
    declaration, comments and DOCTYPE ("" when they do not hold it: the file is then read whole)."""
    with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as fh:
        try:
            head = fh.read(8192)
        except (OSError, EOFError):
            return ""  # unreadable: parse_document says why
    m = _FIRST_TAG.search(_PROLOG.sub(b"", head))
    return m.group(1).decode("ascii", "replace") if m else ""


def retraction_meta(article_type: str, meta: etree._Element) -> dict[str, Any]:
    """`meta.retraction` (what the article is for the `retractions` step), how that is known,
    and for a notice the match keys of the articles it is about (`related-article` links)."""
    kind = RETRACTION_KINDS.get(article_type)
    if kind is None:
        return {}
    out: dict[str, Any] = {"retraction": kind, "retraction_signal": "jats-article-type"}
    if kind.endswith("-notice"):
        links = [link_key(ra.get("ext-link-type") or "doi", ra.get(XLINK_HREF) or "") for ra in meta.iter("related-article")]
        out["notice_for"] = sorted({k for k in links if k})
    return out


# A default namespace declared in a start tag. Documents in a namespace of their own (PMC's OAI-PMH
# answers of today, in JATS 1.3's; NLM 2.x XSD exports) are parsed without these declarations,
# so in no namespace: element paths then do not depend on them (walking the tree to rename its
# elements took half the time of a whole build of such a file).
_NAMESPACE_DECLARATION = re.compile(rb"""(<[A-Za-z_][^<>]*?)\s+xmlns\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _unless_mathml(m: re.Match[bytes]) -> bytes:
    return m.group(0) if b"MathML" in (m.group(2) or m.group(3) or b"") else m.group(1)


def drop_document_namespaces(root: etree._Element, namespaces: set[str]) -> None:
    """Put elements of a document's own default namespaces (NLM 2.x XSD exports,
    `xmlns="http://dtd.nlm.nih.gov/2.0/xsd/archivearticle"`, OAI-PMH responses) in no
    namespace, so that element paths do not depend on them. Prefixed namespaces and MathML's
    are kept. The elements of each namespace are found in C (tag-filtered iteration)."""
    for ns in namespaces:
        for el in list(root.iter(f"{{{ns}}}*")):
            el.tag = etree.QName(el).localname
    etree.cleanup_namespaces(root)


def mark_withheld(article: etree._Element) -> None:
    """Mark an article whose full text its publisher withholds (PMC's comment says so), and drop
    its comments (read only for this)."""
    if any(WITHHELD_NOTE in (c.text or "") for c in article.iterchildren(etree.Comment)):
        article.set(WITHHELD, "1")
    etree.strip_tags(article, etree.Comment)


def is_scanned(article: etree._Element) -> bool:
    """An article of PMC's back-issue digitisation: its pages are images (`graphic` typed
    `scanned-page`, in `floats-group` or `body`), its text is not in the XML."""
    return any(g.get("content-type") == "scanned-page" for g in article.iter("graphic"))


@register_builder("pmc_jats")
class PMCJatsBuilder(Builder):
    """JATS articles from single files, `<pmc-articleset>` files, or PMC OA bulk packages
    (`oa_comm` / `oa_noncomm` / `oa_other` `.tar.gz`), streamed member by member without
    unpacking to disk and joined with the OA file list CSV (`Article File, Article Citation,
    AccessionID, LastUpdated, PMID, License, Retracted`): the licence comes from the list and
    articles it marks retracted are skipped (counted). Members with an absolute path or `..`
    are never read."""

    citations = ("pmcoa",)

    kind = "knowledge"
    patterns = ("**/*.nxml", "**/*.xml", "**/*.nxml.gz", "**/*.xml.gz", "**/*.tar.gz", "**/*.tgz")
    defaults: dict[str, Any] = {
        "tables": "full",  # drop | caption | full
        "skip_retractions": True,  # article-type retraction/correction/... (and file-list Retracted=yes) are skipped, counted
        "min_chars": 1,  # articles whose text is shorter are reported as records without text
        "translations": True,  # a translation sub-article is a row of its own (its language in meta), never concatenated
        "peer_review": False,  # decision letters, author responses, referee reports: rows of their own when on
    }

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        return [f"{folder}/**/*file_list*.csv", f"{folder}/**/*filelist*.csv"]  # OA file lists (see oa_file_list.read_file_list)

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        if self.options["tables"] not in ("drop", "caption", "full"):
            raise UserError(f"source {source!r}: option 'tables' must be drop, caption or full, not {self.options['tables']!r}")

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        if path.name.endswith((".tar.gz", ".tgz")):
            yield from self.parse_package(path, report)
        elif path.stat().st_size > (STREAM_FROM_BYTES // 8 if path.name.endswith(".gz") else STREAM_FROM_BYTES) \
                and localname_of_root(path) in STREAMED_SETS:
            yield from self.parse_article_set(path, report)
        else:
            yield from self.parse_document(read_bytes(path), report)

    def parse_article_set(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        """A file of many articles (Europe PMC's open-access FTP files, `<articles>` of thousands;
        PMC's `<pmc-articleset>`) read as a stream, one article at a time: memory holds one
        article's tree, not the file's (a 2 GB file would be a tree of ~10 GB). Its rows are
        held until the whole file has been read: a file refused part-way gives none."""
        rows: list[dict[str, Any]] = []
        stream = StreamedXML(path, ("{*}article",), MAX_ARTICLE_SET_BYTES, keep_comments=True)
        n = 0
        for article in stream.elements():
            parent = article.getparent()
            if parent is None or localname(parent) not in STREAMED_SETS:
                continue
            n += 1
            mark_withheld(article)
            namespace = etree.QName(article).namespace
            if namespace and "MathML" not in namespace:  # articles in a namespace of their own (JATS 1.3's)
                drop_document_namespaces(article, {namespace})
            rows += self.article_rows(article, f"article {n}", report)
        yield from rows

    def parse_package(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        file_list = read_file_list(path)
        try:
            with tarfile.open(path, mode="r|gz") as tar:  # a stream: members are read in order, never extracted
                for member in tar:
                    if not member.name.endswith((".nxml", ".xml")):
                        continue
                    if not member.isfile():  # a link, device or folder named like an article: never followed
                        report.skip("package member that is not a regular file")
                        continue
                    parts = member.name.split("/")
                    if member.name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                        report.records += 1
                        report.error("unsafe member path (absolute or with ..): not read", member.name)
                        continue
                    if member.size > MAX_INPUT_BYTES:
                        report.records += 1
                        report.error(f"member is larger than {MAX_INPUT_BYTES} bytes", member.name)
                        continue
                    fh = tar.extractfile(member)
                    data = fh.read() if fh is not None else b""
                    listed = file_list.get(member.name)
                    yield from self.parse_document(data, report, member=member.name, listed=listed, file_list=file_list)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ValueError(f"broken tar.gz package after {report.records} articles: {exc}") from None

    def parse_document(self, data: bytes, report: FileReport, member: str | None = None,
                       listed: dict[str, str] | None = None, file_list: dict[str, dict[str, str]] | None = None
                       ) -> Iterator[dict[str, Any]]:
        namespaces = {ns.decode() for ns in _DEFAULT_NAMESPACE.findall(data) if ns and b"MathML" not in ns}
        if namespaces and b"<![CDATA[" not in data:  # (a CDATA section could hold a declaration as text)
            data, namespaces = _NAMESPACE_DECLARATION.sub(_unless_mathml, data), set()
        withheld = _WITHHELD_NOTE_BYTES in data
        try:
            root = parse_xml(data, keep_comments=withheld)
        except ValueError as exc:
            if member is None:
                raise
            report.records += 1
            report.error(str(exc), member)
            return
        if namespaces:
            drop_document_namespaces(root, namespaces)
        name = localname(root)
        if name == "article":
            articles = [root]
        elif name in ARTICLE_WRAPPERS:
            articles = [a for a in root.iter() if localname(a) == "article"]
        else:
            known = OTHER_FORMATS.get(name, "")
            if member is not None:
                report.records += 1
                report.error(f"root element <{name}> is not a JATS <article>{known}", member)
                return
            raise ValueError(f"root element <{name}> is not a JATS <article> or <pmc-articleset>{known}")
        if withheld:
            for article in articles:
                mark_withheld(article)
        for i, article in enumerate(articles):
            key = f"article {i + 1}" if len(articles) > 1 else "article"
            if member is not None:
                key = member if len(articles) == 1 else f"{member} {key}"
            yield from self.article_rows(article, key, report, listed, file_list)

    def article_rows(self, article: etree._Element, key: str, report: FileReport, listed: dict[str, str] | None = None,
                     file_list: dict[str, dict[str, str]] | None = None) -> Iterator[dict[str, Any]]:
        """One article's row and its sub-articles' (counted under `key` when refused), with what
        the OA file list says of it."""
        report.records += 1
        try:
            row = self.article_row(article, report)
        except ValueError as exc:
            report.error(str(exc), key)
            return
        if row is not None and file_list:
            entry = listed or file_list.get(row["meta"].get("pmcid", "").upper())
            if entry is None:
                row["meta"]["oa_file_list"] = False  # kept, with the licence the article states
            else:
                if entry.get("retracted", "").lower() in ("yes", "y", "true", "1"):
                    if self.options["skip_retractions"]:
                        report.skip("retracted (OA file list)")
                        return
                    row["meta"].update(retraction="retracted", retraction_signal="oa-file-list")
                if entry.get("license"):
                    row["license"] = normalize_license(entry["license"])
                    row["meta"]["license_from"] = "oa_file_list"
                if entry.get("lastupdated"):
                    row["meta"]["last_updated"] = entry["lastupdated"]
        if row is not None:
            yield row
            yield from self.sub_article_rows(article, row, report)

    def sub_article_rows(self, article: etree._Element, main: dict[str, Any], report: FileReport) -> Iterator[dict[str, Any]]:
        """Translations (option `translations`) and peer review (option `peer_review`) as rows of
        their own, pointing at the main row; the others are counted. They carry no ids of their
        own (`translation_of` / `review_of` name the main row), so `same_article` keeps them."""
        for sub in article.iterchildren("sub-article"):
            kind = sub.get("article-type") or ""
            if kind == TRANSLATION and self.options["translations"]:
                link = "translation_of"
            elif kind in PEER_REVIEW_TYPES and self.options["peer_review"]:
                link = "review_of"
            else:
                report.skip(f"sub-article {kind or 'untyped'} (not a row of its own)")
                continue
            meta = sub.find("front-stub")
            if meta is None:
                meta = sub.find("front/article-meta")
            if meta is None:
                meta = etree.Element("front-stub")  # none given: no title, no abstract
            title = short_text(meta.find("title-group/article-title"))
            r = self.render(sub, meta, title)
            text = normalize_text(r.text(), collapsed=r.collapsed)
            if len(text) - len(title) - 2 < max(self.options["min_chars"], 1):
                report.skip(f"sub-article {kind} without text")
                continue
            language = sub.get(XML_LANG) or main["meta"].get("language")
            suffix = f"translation-{language}" if kind == TRANSLATION and sub.get(XML_LANG) else sub.get("id") or kind
            yield {
                "id": f"{main['id']}#{suffix}",
                "source": self.source,
                "title": title or main["title"],
                "text": text,
                "license": main["license"],
                "meta": with_provenance({
                    **{k: main["meta"].get(k) for k in ("journal", "journal_iso", "journal_nlm_ta", "journal_nlm_id", "year")},
                    "article_type": kind, "language": language, link: main["id"],
                    "subjects": main["meta"].get("subjects"), "sections": r.sections,
                    **{k: main["meta"][k] for k in ("retraction", "retraction_signal") if main["meta"].get(k)}}),
            }

    def article_row(self, article: etree._Element, report: FileReport) -> dict[str, Any] | None:
        meta = article.find("front/article-meta")
        if meta is None:  # an <article> of another schema: say what it holds
            children = list(dict.fromkeys(f"<{localname(c)}>" for c in article if isinstance(c.tag, str)))
            raise ValueError(f"not a JATS article: <article> has no front/article-meta (it holds {', '.join(children[:4]) or 'nothing'}); "
                             "publishers' own XML (Elsevier, Springer A++, Nature, IOP, RSC) is not read")
        ids = article_ids(meta)
        article_type = article.get("article-type") or ""
        if article_type in RETRACTION_TYPES and self.options["skip_retractions"]:
            report.skip(f"article-type {article_type}")
            return None
        title = short_text(meta.find("title-group/article-title"))
        journal_meta = article.find("front/journal-meta")
        journal = ""
        if journal_meta is not None:
            journal = short_text(journal_meta.find("journal-title-group/journal-title")) or short_text(
                journal_meta.find("journal-title")
            )

        scanned = article.find("body") is None and is_scanned(article)  # read before rendering, which drops graphics
        r = self.render(article, meta, title)
        text = normalize_text(r.text(), collapsed=r.collapsed)
        has_content = article.find("body") is not None or meta.find("abstract") is not None
        if not has_content or len(text) - len(title) - 2 < self.options["min_chars"]:
            if scanned:  # PMC's digitised back issues: page images, no text to read
                report.skip("no text: scanned pages only")
                return None
            if article.get(WITHHELD):
                report.skip("no text: full text withheld by the publisher (front matter only)")
                return None
            raise ValueError("article has neither abstract nor body text")

        row_id = (
            f"pmc:{ids['pmcid']}" if "pmcid" in ids else f"pmid:{ids['pmid']}" if "pmid" in ids
            else f"doi:{ids['doi']}" if "doi" in ids else None
        )
        if row_id is None:
            row_id = stable_id("jats", title, text[:2000])
        subjects = [short_text(s) for s in meta.iterfind("article-categories//subj-group/subject")]  # nested groups too
        return {
            "id": row_id,
            "source": self.source,
            "title": title or None,
            "text": text,
            "license": article_license(meta),
            "meta": with_provenance({
                **ids,
                "journal": journal or None,
                **journal_ids(journal_meta),
                "year": publication_year(meta),
                "article_type": article_type,
                "language": article.get(XML_LANG) or "en",  # the JATS and NLM DTDs' default for <article>
                "keywords": keywords(meta),
                "subjects": subjects,
                "sections": r.sections,
                **({"full_text_withheld": True} if article.get(WITHHELD) and article.find("body") is None else {}),
                **retraction_meta(article_type, meta),
            }),
        }

    def render(self, article: etree._Element, meta: etree._Element, title: str) -> Renderer:
        """The article's blocks: title, kept abstracts, body, and back-matter appendices and sections."""
        floats = article.find("floats-group")  # figures and tables kept apart from the body (EHP, Nature, Elsevier)
        drop_written_out_references(article)
        abstracts = [(a, kind) for a in meta.findall("abstract")
                     if (kind := (a.get("abstract-type") or "").strip().lower()) not in ABSTRACT_TYPES_LEFT_OUT]
        body = article.find("body")
        back = article.find("back")
        appendices = [group for group in back if localname(group) in BACK_MATTER_KEPT] if back is not None else []
        # The parts that are text (never the reference list, often a third of the tree).
        parts = [part for part in (*(a for a, _ in abstracts), body, *appendices, floats) if part is not None]
        for part in parts:
            prepare_inline(part)
        r = Renderer(self.options["tables"], parts)
        if title:
            r.blocks.append(f"# {title}")
        for abstract, kind in abstracts:
            heading = short_text(abstract.find("title")) or ABSTRACT_HEADINGS.get(kind) or kind.replace("-", " ").title()
            r.heading(heading, 2)
            r.walk(abstract, 3)
        if body is not None:
            r.walk(body, 2)
        for group in appendices:
            r.block(group, 2) if localname(group) != "app-group" else r.walk(group, 2)
        if floats is not None:
            r.walk(floats, 2)
        return r
