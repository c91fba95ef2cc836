"""Small PDF and EPUB files made for the tests (no public sample of a medical textbook in
these formats can be shipped). Text comes from the bundled OpenStax chapter."""

from __future__ import annotations

import zipfile
from pathlib import Path


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(path: Path, pages: list[list[str]], title: str = "", outline: list[tuple[str, int]] | None = None) -> None:
    """A PDF with one Helvetica text line per entry of each page (top to bottom), an Info
    title and optionally an outline of (title, page index) entries."""
    objects: list[bytes] = []

    def add(body: str | bytes) -> int:
        objects.append(body.encode("latin-1") if isinstance(body, str) else body)
        return len(objects)

    catalog = add("")  # filled in below
    pages_obj = add("")
    font = add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids = []
    for lines in pages:
        ops = ["BT", "/F1 10 Tf", "12 TL", "50 780 Td"]
        for line in lines:
            ops.append(f"({_pdf_string(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(add(f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 612 842] "
                            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>"))
    objects[pages_obj - 1] = (f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {len(page_ids)} >>").encode()
    outline_ref = ""
    if outline:
        root = add("")
        items = []
        for title_i, page_i in outline:
            items.append(add(""))
        for n, ((t, page_i), oid) in enumerate(zip(outline, items)):
            links = f"/Parent {root} 0 R"
            if n > 0:
                links += f" /Prev {items[n - 1]} 0 R"
            if n < len(items) - 1:
                links += f" /Next {items[n + 1]} 0 R"
            objects[oid - 1] = f"<< /Title ({_pdf_string(t)}) {links} /Dest [{page_ids[page_i]} 0 R /Fit] >>".encode()
        objects[root - 1] = f"<< /Type /Outlines /First {items[0]} 0 R /Last {items[-1]} 0 R /Count {len(items)} >>".encode()
        outline_ref = f" /Outlines {root} 0 R"
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages_obj} 0 R{outline_ref} >>".encode()
    info = add(f"<< /Title ({_pdf_string(title)}) >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))


def make_epub(path: Path, title: str, chapters: list[tuple[str, list[str]]], spine_reversed_manifest: bool = True,
              one_file: bool = False) -> None:
    """An EPUB 3 with one XHTML file per chapter (`<h1>` + `<p>`s), spine in chapter order;
    the manifest lists the files in the opposite order, so only the spine gives the order.
    `one_file`: every chapter in a single XHTML file."""
    files = [chapters] if one_file else [[chapter] for chapter in chapters]
    items = [(f"c{i}", f"text/ch{i}.xhtml") for i in range(len(files))]
    manifest = list(reversed(items)) if spine_reversed_manifest else items
    opf = (
        '<?xml version="1.0" encoding="utf-8"?>\n<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        f'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title><dc:identifier id="id">test</dc:identifier></metadata>'
        "<manifest>" + "".join(f'<item id="{i}" href="{h}" media-type="application/xhtml+xml"/>' for i, h in manifest) + "</manifest>"
        "<spine>" + "".join(f'<itemref idref="{i}"/>' for i, _ in items) + "</spine></package>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                    '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
        zf.writestr("OEBPS/content.opf", opf)
        for (i, href), group in zip(items, files):
            body = "".join(f"<h1>{heading}</h1>" + "".join(f"<p>{p}</p>" for p in paras) for heading, paras in group)
            zf.writestr(f"OEBPS/{href}", f'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>{group[0][0]}</title></head><body>{body}</body></html>')
