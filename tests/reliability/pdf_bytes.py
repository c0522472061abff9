"""PDF files written byte by byte, for the indexer's tests: a good one, and the damaged and
hostile ones a folder of downloads can hold (garbage, a cyclic page tree, a stream past
pypdf's limits, one huge content stream shared by many pages)."""
from __future__ import annotations

import zlib

FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def document(objects: list[bytes]) -> bytes:
    """Objects 1..n with a correct cross-reference table; object 1 is the catalog."""
    out = b"%PDF-1.7\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def stream(data: bytes, flate: bool = False) -> bytes:
    if flate:
        data = zlib.compress(data, 9)
        return b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def text(line: str) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td (" + line.encode() + b") Tj ET"


def pages(contents: list[int], streams: list[bytes]) -> bytes:
    """One page per entry of `contents`, each showing the stream of that index."""
    first_page, first_stream = 4, 4 + len(contents)
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(len(contents)))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(contents)), FONT]
    for index in contents:
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                       b"/Contents %d 0 R >>" % (first_stream + index))
    return document(objects + streams)


def good(line: str) -> bytes:
    return pages([0], [stream(text(line))])


def cyclic_page_tree() -> bytes:
    """The page tree's root lists a node whose only kid is the root again."""
    return document([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
    ])


def stream_past_the_limit() -> bytes:
    """A 100 KB page whose content stream inflates to 100 MB of zeros (pypdf stops at 75 MB)."""
    return pages([0], [stream(b"\0" * (100 << 20), flate=True)])


def shared_huge_stream(page_count: int = 40) -> bytes:
    """A few KB: one content stream of 600,000 text operators, shown by every page. pypdf parses
    it again for each page (about a minute per page on a busy machine)."""
    body = b"BT /F1 12 Tf 72 720 Td\n" + b"(a) Tj\n" * 600_000 + b"ET"
    return pages([0] * page_count, [stream(body, flate=True)])


def slow_page_then_good(line: str) -> bytes:
    """Page 1 shows the huge shared stream, page 2 a line of text."""
    body = b"BT /F1 12 Tf 72 720 Td\n" + b"(a) Tj\n" * 600_000 + b"ET"
    return pages([0, 1], [stream(body, flate=True), stream(text(line))])
