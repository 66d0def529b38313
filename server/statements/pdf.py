"""A minimal PDF 1.4 writer: lines of text flowed onto A4 pages; pure.

Only what a statement needs, so the API needs no PDF library: the standard Type 1
fonts every viewer has (Helvetica, Courier and their bold faces: nothing embedded),
WinAnsiEncoding (a character outside it prints as '?'), one text object per line, a
page footer, and a correct cross-reference table, so viewers open it without repair
and the text can be extracted and searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Font = Literal["regular", "bold", "mono", "mono-bold"]
FONTS: dict[Font, tuple[str, str]] = {  # name in the page resources, PostScript name
    "regular": ("F1", "Helvetica"),
    "bold": ("F2", "Helvetica-Bold"),
    "mono": ("F3", "Courier"),
    "mono-bold": ("F4", "Courier-Bold"),
}
A4 = (595.0, 842.0)  # points
MARGIN = 30.0
FOOTER_SIZE = 7.0


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str
    font: Font = "regular"
    size: float = 9.0
    space_before: float = 0.0  # extra points above the line

    @property
    def height(self) -> float:
        return self.size * 1.3 + self.space_before


def _literal(text: str) -> bytes:
    """A PDF literal string in WinAnsiEncoding (cp1252), escaped."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _paginate(lines: list[TextLine], usable: float) -> list[list[TextLine]]:
    pages: list[list[TextLine]] = [[]]
    used = 0.0
    for line in lines:
        if pages[-1] and used + line.height > usable:
            pages.append([])
            used = 0.0
        pages[-1].append(line)
        used += line.height
    return pages


def _content(lines: list[TextLine], footer: str, page_height: float) -> bytes:
    ops: list[bytes] = []
    y = page_height - MARGIN
    for line in lines:
        y -= line.height
        name = FONTS[line.font][0]
        ops.append(
            b"BT /%s %.1f Tf %.2f %.2f Td %s Tj ET"
            % (name.encode(), line.size, MARGIN, y, _literal(line.text))
        )
    ops.append(
        b"BT /F1 %.1f Tf %.2f %.2f Td %s Tj ET"
        % (FOOTER_SIZE, MARGIN, MARGIN / 2, _literal(footer))
    )
    return b"\n".join(ops)


def _pdf_date(at: datetime) -> str:
    return at.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")


class _Objects:
    """Numbered indirect objects, written in order with their byte offsets."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def add(self, body: bytes) -> int:
        self.bodies.append(body)
        return len(self.bodies)

    def set(self, number: int, body: bytes) -> None:
        self.bodies[number - 1] = body

    def stream(self, data: bytes) -> int:
        return self.add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data))

    def serialize(self, root: int, info: int) -> bytes:
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self.bodies, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.bodies) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n" % (
            len(self.bodies) + 1,
            root,
            info,
        )
        out += b"startxref\n%d\n%%%%EOF\n" % xref
        return bytes(out)


def pdf_document(lines: list[TextLine], *, title: str, footer: str, created: datetime) -> bytes:
    """The lines flowed onto as many A4 pages as they need; each page's footer is
    ``footer`` and "page i of n"."""
    width, height = A4
    objects = _Objects()
    catalog = objects.add(b"")  # filled in once the page tree exists
    pages_node = objects.add(b"")
    fonts = b" ".join(
        b"/%s %d 0 R"
        % (
            name.encode(),
            objects.add(
                b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>"
                % base.encode()
            ),
        )
        for name, base in FONTS.values()
    )
    pages = _paginate(lines, height - 2 * MARGIN - FOOTER_SIZE * 2)
    kids = []
    for i, page_lines in enumerate(pages, start=1):
        content = objects.stream(
            _content(page_lines, f"{footer} - page {i} of {len(pages)}", height)
        )
        kids.append(
            objects.add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << /Font << %s >>"
                b" >> /Contents %d 0 R >>" % (pages_node, width, height, fonts, content)
            )
        )
    objects.set(
        pages_node,
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)),
    )
    objects.set(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % pages_node)
    info = objects.add(
        b"<< /Title %s /Producer (Northwind Bank) /CreationDate %s >>"
        % (_literal(title), _literal(_pdf_date(created)))
    )
    return objects.serialize(catalog, info)
