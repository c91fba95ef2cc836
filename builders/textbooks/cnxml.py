"""OpenStax CNXML: a `*.collection.xml` gives the book title, licence and the module order;
each sub-collection is a chapter read from its module files (`mNNNNN.index.cnxml` or
`mNNNNN/index.cnxml`). Exercises and solutions are left out."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from builders.textbooks.chapters import Chapter, inline_text, local_name
from medc.files.records import read_bytes
from medc.files.xmlsafe import parse_xml
from medc.ingest.builder import FileReport
from medc.text.licenses import normalize_license
from medc.text.normalize import collapse_spaces


def read_collection(path: Path, report: FileReport, default_license: str) -> tuple[str, list[Chapter], str]:
    """(book title, chapters, licence) of a `*.collection.xml`: each sub-collection is a chapter,
    read from its module files in collection order; modules counted as records, absent ones
    as skipped."""
    root = parse_xml(read_bytes(path))
    ns = {"col": "http://cnx.rice.edu/collxml", "md": "http://cnx.rice.edu/mdml"}
    meta = root.find("metadata") if root.find("metadata") is not None else root.find("col:metadata", ns)
    book = (meta.findtext("md:title", namespaces=ns) if meta is not None else None) or path.name.split(".")[0]
    lic_el = meta.find("md:license", ns) if meta is not None else None
    license = default_license
    if lic_el is not None and (lic_el.get("url") or (lic_el.text or "").strip()):
        license = normalize_license(lic_el.get("url") or lic_el.text or "")
    chapters: list[Chapter] = []
    missing = 0
    modules: dict[str, etree._Element] = {}  # parsed once, numbered, then read
    labels: dict[str, str] = {}  # figure / table id → "Figure 1.2", as the book prints it

    def module_file(doc: str) -> Path | None:
        for cand in (path.parent / f"{doc}.index.cnxml", path.parent / doc / "index.cnxml",
                     path.parent.parent / "modules" / doc / "index.cnxml", path.parent / f"{doc}.cnxml"):
            if cand.is_file():
                return cand
        return None

    def walk(content: etree._Element, chapter: str | None, blocks: list[str], depth: int) -> None:
        nonlocal missing
        for child in content:
            name = local_name(child)
            if name == "module":
                report.records += 1
                f = module_file(child.get("document") or "")
                if f is None:
                    missing += 1
                    continue
                title, body = read_module(f, labels, modules.get(str(f)))
                blocks.extend([f"## {title}", *body] if title else body)
            elif name == "subcollection":
                title = collapse_spaces(child.findtext("md:title", namespaces=ns) or "")
                inner = child.find("col:content", ns)
                if inner is None:
                    continue
                has_sub = inner.find("col:subcollection", ns) is not None
                if has_sub:  # a unit / part: its sub-collections are the chapters
                    walk(inner, None, blocks, depth + 1)
                else:
                    chap_blocks: list[str] = []
                    walk(inner, title, chap_blocks, depth + 1)
                    chapters.append((title, chap_blocks))

    chapters_seen = 0

    def number(content: etree._Element, chapter: int) -> None:
        """OpenStax numbers figures and tables per chapter in reading order (the chapter
        opener is Figure N.1); chapters are the sub-collections that hold modules, and modules
        outside any chapter (preface) are not numbered."""
        nonlocal chapters_seen
        counts = {"figure": 0, "table": 0}
        for child in content:
            name = local_name(child)
            if name == "module" and (f := module_file(child.get("document") or "")) is not None:
                modules[str(f)] = module = parse_xml(read_bytes(f))
                for el in module.iter("{*}figure", "{*}table"):
                    kind = local_name(el)
                    if el.get("id") and chapter:
                        counts[kind] += 1
                        labels[el.get("id")] = f"{kind.capitalize()} {chapter}.{counts[kind]}"
            elif name == "subcollection" and (inner := child.find("col:content", ns)) is not None:
                if inner.find("col:subcollection", ns) is not None:  # a unit / part
                    number(inner, 0)
                else:
                    chapters_seen += 1
                    number(inner, chapters_seen)

    content = root.find("col:content", ns)
    if content is None:
        raise ValueError("collection has no col:content")
    number(content, 0)
    front: list[str] = []
    walk(content, None, front, 0)
    if front:
        chapters.insert(0, (book, front))
    if missing:
        report.skip("module file not present", missing)
    return book, chapters, license

def read_module(path: Path, labels: dict[str, str] | None = None, root: etree._Element | None = None) -> tuple[str, list[str]]:
    """(title, blocks) of one CNXML module: sections, paragraphs, lists, figure captions,
    notes, tables and the glossary; exercises and solutions left out. `labels` turns an empty
    cross-reference (`<link target-id="fig-…"/>`) into the number the book prints."""
    if root is None:
        root = parse_xml(read_bytes(path))
    labels = labels or {}
    title = collapse_spaces("".join(t.itertext())) if (t := next((c for c in root if local_name(c) == "title"), None)) is not None else ""
    content = next((c for c in root if local_name(c) == "content"), None)
    blocks: list[str] = []
    if content is not None:
        walk_module(content, blocks, 3, labels)
    glossary = next((c for c in root if local_name(c) == "glossary"), None)
    if glossary is not None:
        defs = []
        for d in glossary:
            if local_name(d) == "definition":
                term = next((inline_text(c) for c in d if local_name(c) == "term"), "")
                meaning = next((inline_text(c) for c in d if local_name(c) == "meaning"), "")
                if term and meaning:
                    defs.append(f"- {term}: {meaning}")
        if defs:
            blocks += ["### Glossary", "\n".join(defs)]
    return title, blocks

def walk_module(el: etree._Element, blocks: list[str], level: int, labels: dict[str, str]) -> None:
    for child in el:
        name = local_name(child)
        if name in ("exercise", "solution", "problem", "media", "image"):
            continue
        if name == "section":
            title = next((inline_text(c) for c in child if local_name(c) == "title"), "")
            if title:
                blocks.append(f"{'#' * min(level, 6)} {title}")
            walk_module(child, blocks, level + 1, labels)
        elif name == "para":
            text = para_text(child, labels)
            if text:
                blocks.append(text)
        elif name == "list":
            items = [para_text(i, labels) for i in child if local_name(i) == "item"]
            items = [i for i in items if i]
            if items:
                blocks.append("\n".join(f"- {i}" for i in items))
        elif name == "figure":
            cap = next((para_text(c, labels) for c in child if local_name(c) == "caption"), "")
            title = next((inline_text(c) for c in child if local_name(c) == "title"), "")
            if cap or title:
                blocks.append("Figure: " + ". ".join(x for x in (title, cap) if x))
        elif name in ("note", "example"):
            title = next((inline_text(c) for c in child if local_name(c) == "title"), "")
            inner: list[str] = []
            walk_module(child, inner, level + 1, labels)
            if inner:
                blocks += ([title] if title else []) + inner
        elif name == "table":
            rows = [" | ".join(inline_text(e) for e in row if local_name(e) == "entry") for row in child.iter("{*}row")]
            rows = [r for r in rows if r.strip(" |")]
            if rows:
                blocks.append("\n".join(rows))
        elif name in ("title", "label"):
            continue
        else:
            walk_module(child, blocks, level, labels)

def para_text(el: etree._Element, labels: dict[str, str]) -> str:
    out: list[str] = []

    def rec(e: etree._Element) -> None:
        if e.text:
            out.append(e.text)
        for c in e:
            name = local_name(c)
            if name == "link" and not "".join(c.itertext()).strip() and c.get("target-id"):
                target = c.get("target-id", "")
                label = labels.get(target) or ("Figure" if target.startswith("fig") else "Table" if target.startswith("tab") else "")
                out.append(label)
            elif name not in ("media", "image", "footnote"):
                rec(c)
            if c.tail:
                out.append(c.tail)

    rec(el)
    return collapse_spaces("".join(out)).replace("( ", "(").replace(" )", ")")
