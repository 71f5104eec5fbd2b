"""The contract as a PDF (SPEC §11) with the CJK font embedded, so it renders the same in every viewer.

fpdf2 embeds a subset of ``app/data/fonts/wqy-microhei-subset.ttf`` (WenQuanYi Micro Hei, Apache-2.0; see
the README beside it) holding only the glyphs the contract uses. The text is the stored contract text, line
for line; the footer repeats its SHA-256 so a printed copy can be matched to what was signed.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

FONT_PATH = Path(__file__).resolve().parent.parent / "data" / "fonts" / "wqy-microhei-subset.ttf"
FONT = "wqy-microhei"


class _ContractPDF(FPDF):
    def __init__(self, sha256: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.sha256 = sha256

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.cell(0, 5, f"SHA-256: {self.sha256}    第 {self.page_no()} 页", align="C")


def render_pdf(text: str, sha256: str, *, title: str = "") -> bytes:
    """A4 pages of the contract text; the first line (the contract's name) as a centred heading."""
    pdf = _ContractPDF(sha256)
    pdf.add_font(FONT, fname=str(FONT_PATH))
    pdf.set_title(title or text.split("\n", 1)[0])
    pdf.set_creator("patent-exchange")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    lines = text.rstrip("\n").split("\n")
    pdf.set_font(FONT, size=16)
    pdf.multi_cell(0, 10, lines[0], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(FONT, size=10.5)
    for line in lines[1:]:
        if line:
            pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln(3)
    return bytes(pdf.output())
