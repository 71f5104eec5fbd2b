"""Workbooks as Excel saves them, for the import's tests and its benchmark.

openpyxl writes every text cell as an inline string (``t="inlineStr"``); Excel writes them into the shared
string table (``xl/sharedStrings.xml``, each distinct text once) and cells refer to it by index (``t="s"``).
A reader holds that table in memory, so the import must be tested (and measured) on files shaped like Excel's.
"""

from __future__ import annotations

import io
import re
import zipfile

_INLINE = re.compile(
    rb'<c ([^>]*?)t="inlineStr"([^>]*)><is>(<t(?: [^>]*)?>.*?</t>|<t(?: [^>]*)?/>)</is></c>', re.S
)
_EMPTY_INLINE = re.compile(rb'<c ([^>]*?)t="inlineStr"([^>]*?)\s*/>')  # an empty string: Excel writes no type
_SST_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def with_shared_strings(content: bytes) -> bytes:
    """An openpyxl-written .xlsx with its inline strings moved to a shared string table, as Excel keeps them."""
    source = zipfile.ZipFile(io.BytesIO(content))
    table: dict[bytes, int] = {}
    uses = 0

    def shared(match: re.Match[bytes]) -> bytes:
        nonlocal uses
        uses += 1
        index = table.setdefault(match[3], len(table))
        return b"<c " + match[1] + b't="s"' + match[2] + b"><v>" + str(index).encode() + b"</v></c>"

    parts: dict[str, bytes] = {}
    for name in source.namelist():
        data = source.read(name)
        if name.startswith("xl/worksheets/sheet"):
            data = _EMPTY_INLINE.sub(rb"<c \1\2/>", _INLINE.sub(shared, data))
        parts[name] = data
    parts["xl/sharedStrings.xml"] = b"".join(
        [
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'count="%d" uniqueCount="%d">' % (uses, len(table)),
            *(b"<si>" + text + b"</si>" for text in table),
            b"</sst>",
        ]
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="' + _SST_TYPE + b'"/></Types>'
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdSharedStrings" Type="'
        + _SST_REL
        + b'" Target="sharedStrings.xml"/></Relationships>',
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()
