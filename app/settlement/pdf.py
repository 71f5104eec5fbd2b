"""The transaction certificate (交易凭证) as a PDF, in Chinese, with its fonts embedded (SPEC §11, §21).

fpdf2 embeds the subset of glyphs the page uses, of WenQuanYi Micro Hei and, where the text needs them, of the
Hanazono fallback fonts (``app.kit.printing``), so every viewer shows the same text and the text can be
extracted. Every line is left-aligned; amounts are in figures with thousands separators and in capital
numerals, as in the contract; the certificate ends with the full URL where anyone can verify it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fpdf import FPDF

from app.contracts.rules import capital_numerals, figures
from app.deals.rules import KINDS
from app.kit import printing
from app.settlement.rules import shanghai_date

# Each kind's name and parties' roles are its row's (``app.deals.rules.KINDS``, SPEC §18.1).
KIND_NAMES = {kind: row.name for kind, row in KINDS.items()}
PRICING_NAMES = {"negotiated": "协议定价", "listed": "挂牌交易", "auction": "竞价"}
SELLER_ROLE = {kind: row.seller_role for kind, row in KINDS.items()}
BUYER_ROLE = {kind: row.buyer_role for kind, row in KINDS.items()}


def _date_cn(iso: str) -> str:
    day = shanghai_date(datetime.fromisoformat(iso))
    return f"{day.year}年{day.month}月{day.day}日"


def amount_text(fen: int) -> str:
    """``人民币 950,000.00 元（大写：人民币玖拾伍万元整）`` — the contract's form of an amount."""
    return f"人民币 {figures(fen)} 元（大写：{capital_numerals(fen)}）"


def verification_url(number: str, public_url: str | None) -> str:
    """Where the certificate is verified: ``EXCHANGE_PUBLIC_URL`` + the public route (SPEC §21); a path
    relative to the server only where no public URL is configured (development, tests)."""
    return f"{public_url or ''}/api/v1/certificates/{number}"


def _lines(number: str, content: dict[str, Any], public_url: str | None) -> list[tuple[str, str]]:
    """The certificate as (style, text) pairs: ``title``, ``subtitle``, ``row``, ``gap``, ``note``."""
    kind = str(content["transaction_kind"])
    seller, buyer = content["seller"], content["buyer"]
    out = [
        ("title", "交易凭证"),
        ("subtitle", f"凭证编号：{number}"),
        ("gap", ""),
        (
            "row",
            f"{SELLER_ROLE.get(kind, '许可方')}：{seller['name']}（统一社会信用代码 {seller['credit_code']}）",
        ),
        (
            "row",
            f"{BUYER_ROLE.get(kind, '被许可方')}：{buyer['name']}（统一社会信用代码 {buyer['credit_code']}）",
        ),
        ("row", f"交易方式：{KIND_NAMES.get(kind, kind)}"),
    ]
    if content.get("pricing_mode"):
        mode = str(content["pricing_mode"])
        out.append(("row", f"定价方式：{PRICING_NAMES.get(mode, mode)}"))
    out += [
        ("row", f"成交金额：{amount_text(int(content['price']))}"),
        ("row", f"结算日期：{_date_cn(str(content['settled_at']))}"),
        ("gap", ""),
        ("row", "标的专利："),
    ]
    for i, patent in enumerate(content["patents"], start=1):
        number_text = f"申请号 {patent['application_number']}"
        if patent.get("patent_number"):
            number_text = f"专利号 {patent['patent_number']}（申请号 {patent['application_number']}）"
        out.append(("row", f"{i}. {number_text}  {patent['title']}"))
    sha = content.get("contract_sha256")
    out += [
        ("gap", ""),
        ("row", f"合同摘要（SHA-256）：{sha if sha else '无'}"),
        ("gap", ""),
        ("note", "本凭证由交易所在结算时出具。凭证编号末位为校验码；可在以下网址公开核验："),
        ("note", verification_url(number, public_url)),
    ]
    return out


def certificate_pdf(
    number: str, content: dict[str, Any], *, issued_at: datetime, public_url: str | None = None
) -> bytes:
    """Render a certificate from its stored snapshot (``Certificate.content``), dated ``issued_at``;
    ``public_url`` is the exchange's external base URL (``EXCHANGE_PUBLIC_URL``)."""
    lines = _lines(number, content, public_url)
    pdf = FPDF(format="A4")
    text = "".join(text for _, text in lines)
    font = printing.start_document(pdf, text, title=f"交易凭证 {number}", created=issued_at)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    width = pdf.epw
    for style, text in lines:
        if style == "title":
            pdf.set_font(font, size=22)
            pdf.cell(width, 14, text, align="C", new_x="LMARGIN", new_y="NEXT")
        elif style == "subtitle":
            pdf.set_font(font, size=11)
            pdf.cell(width, 8, text, align="C", new_x="LMARGIN", new_y="NEXT")
        elif style == "gap":
            pdf.ln(4)
        elif style == "row":
            pdf.set_font(font, size=11)
            printing.paragraph(pdf, text, 7)
        else:
            pdf.set_font(font, size=9)
            printing.paragraph(pdf, text, 6)
    return bytes(pdf.output())
