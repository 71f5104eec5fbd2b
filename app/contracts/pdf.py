"""The contract as a PDF (SPEC §11, §21) with its fonts embedded, so it renders the same in every viewer.

The text is the stored contract text, line for line, every body line left-aligned and wrapped the way Chinese
is set (``app.kit.printing.wrap``); the first line, the contract's name, is a centred heading. fpdf2 embeds a
subset (only the glyphs the contract uses) of WenQuanYi Micro Hei and, where the text has characters it lacks
(CJK Extension A/B, Greek…), of the Hanazono fallback fonts (``app/data/fonts/README.md``). The footer repeats
the text's SHA-256 so a printed copy can be matched to what was signed.
"""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF

from app.kit import printing


class _ContractPDF(FPDF):
    def __init__(self, sha256: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.sha256 = sha256

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(printing.PRIMARY, size=7)
        self.cell(0, 5, f"SHA-256: {self.sha256}    第 {self.page_no()} 页", align="C")


def render_pdf(text: str, sha256: str, *, created: datetime, title: str = "") -> bytes:
    """A4 pages of the contract text; the first line (the contract's name) as a centred heading. ``created``:
    the contract's creation, the document's date."""
    pdf = _ContractPDF(sha256)
    font = printing.start_document(pdf, text + title, title=title or text.split("\n", 1)[0], created=created)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    lines = text.rstrip("\n").split("\n")
    pdf.set_font(font, size=16)
    pdf.multi_cell(0, 10, lines[0], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(font, size=10.5)
    for line in lines[1:]:
        if line:
            printing.paragraph(pdf, line, 6)
        else:
            pdf.ln(3)
    return bytes(pdf.output())
