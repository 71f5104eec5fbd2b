"""The transaction certificate (交易凭证) as a PDF, in Chinese, with the CJK font embedded (fpdf2 embeds the
subset of glyphs the page uses), so every viewer shows the same text and the text can be extracted.

The font is the one the contract PDFs use: ``app/data/fonts/wqy-microhei-subset.ttf`` (WenQuanYi Micro Hei,
Apache-2.0; see the README beside it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF

from app.kit.money import format_fen
from app.settlement.rules import shanghai_date

FONT_FILE = Path(__file__).resolve().parents[1] / "data" / "fonts" / "wqy-microhei-subset.ttf"
FONT = "wqy"

KIND_NAMES = {
    "assignment": "专利权转让",
    "exclusive_license": "专利实施许可（独占）",
    "sole_license": "专利实施许可（排他）",
    "nonexclusive_license": "专利实施许可（普通）",
}
PRICING_NAMES = {"negotiated": "协议定价", "listed": "挂牌交易", "auction": "竞价"}
SELLER_ROLE = {"assignment": "转让方"}
BUYER_ROLE = {"assignment": "受让方"}


def _date_cn(iso: str) -> str:
    day = shanghai_date(datetime.fromisoformat(iso))
    return f"{day.year}年{day.month}月{day.day}日"


def certificate_pdf(number: str, content: dict[str, Any]) -> bytes:
    """Render a certificate from its stored snapshot (``Certificate.content``)."""
    kind = str(content["transaction_kind"])
    pdf = FPDF(format="A4")
    pdf.set_title(f"交易凭证 {number}")
    pdf.set_creator("Patent Exchange")
    pdf.add_font(FONT, "", str(FONT_FILE))
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(FONT, size=22)
    pdf.cell(width, 14, "交易凭证", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=11)
    pdf.cell(width, 8, f"凭证编号：{number}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def row(label: str, value: str) -> None:
        pdf.set_font(FONT, size=11)
        pdf.multi_cell(width, 7, f"{label}：{value}", new_x="LMARGIN", new_y="NEXT")

    seller, buyer = content["seller"], content["buyer"]
    row(SELLER_ROLE.get(kind, "许可方"), f"{seller['name']}（统一社会信用代码 {seller['credit_code']}）")
    row(BUYER_ROLE.get(kind, "被许可方"), f"{buyer['name']}（统一社会信用代码 {buyer['credit_code']}）")
    row("交易方式", KIND_NAMES.get(kind, kind))
    if content.get("pricing_mode"):
        row("定价方式", PRICING_NAMES.get(str(content["pricing_mode"]), str(content["pricing_mode"])))
    row("成交金额", f"人民币 {format_fen(int(content['price']))} 元")
    row("结算日期", _date_cn(str(content["settled_at"])))
    pdf.ln(2)
    pdf.set_font(FONT, size=11)
    pdf.cell(width, 8, "标的专利：", new_x="LMARGIN", new_y="NEXT")
    for i, patent in enumerate(content["patents"], start=1):
        number_text = patent.get("patent_number") or f"申请号 {patent['application_number']}"
        if patent.get("patent_number"):
            number_text = f"专利号 {patent['patent_number']}（申请号 {patent['application_number']}）"
        pdf.multi_cell(width, 7, f"{i}. {number_text}  {patent['title']}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    sha = content.get("contract_sha256")
    row("合同摘要（SHA-256）", str(sha) if sha else "无")
    pdf.ln(6)
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(
        width,
        6,
        f"本凭证由交易所在结算时出具。凭证编号末位为校验码；可在 /api/v1/certificates/{number} 公开核验。",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
