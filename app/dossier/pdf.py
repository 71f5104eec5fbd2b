"""The deal dossier (安心屋) as a PDF, in Chinese, with its fonts embedded (SPEC §18.7, §21).

The same items as ``GET /deals/{id}/dossier``, in the same order: each with its kind, time, facts and the audit
event it cites (entity, seq, hash), then the digest and whether every chain re-verified. Lines are left-aligned
and fonts embedded the way the contract and the certificate are (``app.kit.printing``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fpdf import FPDF

from app.dossier.rules import Item
from app.kit import printing
from app.kit.workdays import SHANGHAI

KIND_NAMES = {
    "decision_record": "集体决策",
    "listing": "挂牌信息",
    "pricing": "定价",
    "public_notice": "公示",
    "objection": "异议",
    "owner_consent": "共有人同意",
    "valuation": "资产评估",
    "contract": "合同",
    "signature": "签署",
    "payment": "付款",
    "certificate": "交易凭证",
    "reward_plan": "奖励方案",
    "tech_contract_registration": "技术合同认定登记",
}


def _time(at: datetime) -> str:
    local = at.astimezone(SHANGHAI)
    return f"{local:%Y-%m-%d %H:%M:%S}（北京时间）"


def _value(value: Any) -> str:
    if value is None:
        return "无"
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", "："))
    return str(value)


def _printable(text: str) -> str:
    """Characters no shipped font has (stored before the check existed) as ``?``: nothing vanishes silently."""
    for c in printing.unsupported_characters(text):
        text = text.replace(c, "?")
    return text


def _lines(
    deal_id: str, generated_at: datetime, items: list[Item], digest: str, chain_ok: bool
) -> list[tuple[str, str]]:
    out = [
        ("title", "交易档案（安心屋）"),
        ("subtitle", f"交易编号：{deal_id}"),
        ("subtitle", f"生成时间：{_time(generated_at)}"),
        ("gap", ""),
    ]
    for n, item in enumerate(items, start=1):
        e = item.event
        out.append(
            ("heading", f"{n}. {KIND_NAMES.get(item.kind, item.kind)}（{item.kind}）  {_time(item.at)}")
        )
        out += [("row", f"{key}：{_value(value)}") for key, value in item.facts.items()]
        out.append(("note", f"审计事件：{e.entity_type} / {e.entity_id} / 第 {e.seq} 条"))
        out.append(("note", f"哈希：{e.hash}"))
        out.append(("gap", ""))
    out += [
        ("heading", "档案摘要"),
        ("row", f"摘要（SHA-256）：{digest}"),
        ("row", f"审计链校验：{'通过' if chain_ok else '未通过'}"),
        ("note", "摘要为以上各项哈希按顺序以换行符连接后的 SHA-256。"),
    ]
    return [(style, _printable(text)) for style, text in out]


def dossier_pdf(
    deal_id: str, generated_at: datetime, items: list[Item], digest: str, chain_ok: bool
) -> bytes:
    lines = _lines(deal_id, generated_at, items, digest, chain_ok)
    pdf = FPDF(format="A4")
    text = "".join(text for _, text in lines)
    font = printing.start_document(pdf, text, title=f"交易档案 {deal_id}", created=generated_at)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    width = pdf.epw
    for style, text in lines:
        if style == "title":
            pdf.set_font(font, size=20)
            pdf.cell(width, 12, text, align="C", new_x="LMARGIN", new_y="NEXT")
        elif style == "subtitle":
            pdf.set_font(font, size=10)
            pdf.cell(width, 7, text, align="C", new_x="LMARGIN", new_y="NEXT")
        elif style == "gap":
            pdf.ln(3)
        elif style == "heading":
            pdf.set_font(font, size=12)
            printing.paragraph(pdf, text, 7)
        elif style == "row":
            pdf.set_font(font, size=10)
            printing.paragraph(pdf, text, 6)
        else:
            pdf.set_font(font, size=8)
            printing.paragraph(pdf, text, 5)
    return bytes(pdf.output())
