"""Contract templates, one per transaction kind (SPEC §11), in Chinese. Pure: facts in, text out.

The text is generated once when the deal is made and stored; its SHA-256 is what the parties sign, so a
template change never alters a contract already made. The exchange is the witness (见证方) of every
contract: payment always goes through its settlement account (DOMAIN.md "Listing (挂牌) flow").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.contracts.rules import capital_numerals, figures
from app.deals.rules import KINDS, ContractForm, kind_of
from app.equity import template as equity_template

EXCHANGE_NAME = "专利交易所"

# The title of each kind's contract is its row's (``app.deals.rules.KINDS``, SPEC §18.1).
TITLES = {kind: row.contract_title for kind, row in KINDS.items()}

_LICENSE_SCOPE = {
    "exclusive_license": (
        "独占实施许可：在许可期限和地域内，许可方仅许可被许可方实施上述专利，许可方依约定不得以任何方式实施该专利，"
        "也不得再许可任何第三方实施。"
    ),
    "sole_license": (
        "排他实施许可：在许可期限和地域内，许可方仅许可被许可方实施上述专利，许可方依约定可以自行实施该专利，"
        "但不得再许可任何第三方实施。"
    ),
    "nonexclusive_license": (
        "普通实施许可：在许可期限和地域内，许可方许可被许可方实施上述专利，并可以自行实施或者再许可第三方实施。"
    ),
}

_SOURCES = {
    "offer": "协议定价",
    "listing": "挂牌交易",
    "auction": "竞价（拍卖）",
    "open_license": "开放许可",
}


@dataclass(frozen=True)
class PartyFacts:
    name: str
    credit_code: str


@dataclass(frozen=True)
class PatentFacts:
    application_number: str
    title: str
    granted: bool

    @property
    def number(self) -> str:
        """A granted patent is cited by its patent number (ZL + application number), an application by its
        application number."""
        if self.granted:
            return f"专利号：ZL{self.application_number}"
        return f"专利申请号：{self.application_number}"


@dataclass(frozen=True)
class ContractFacts:
    deal_id: str
    transaction_kind: str
    source: str
    seller: PartyFacts
    buyer: PartyFacts
    patents: list[PatentFacts]
    price: int  # fen
    deposit: int  # the buyer's deposit applied to the price, fen
    buyer_fee: int
    amount_due: int  # price − deposit + buyer fee (SPEC §11)
    made_on: date  # Shanghai date the deal was made
    license_terms: dict[str, object] | None = None
    seller_fee: int = 0
    equity: Mapping[str, Any] | None = None  # an equity contribution's ``equity`` object (SPEC §18.2)


def _money(fen: int) -> str:
    return f"人民币 {figures(fen)} 元（大写：{capital_numerals(fen)}）"


def render(facts: ContractFacts) -> str:
    """The full contract text for one deal."""
    kind = facts.transaction_kind
    row = kind_of(kind)
    if row.contract_form == ContractForm.equity:
        return equity_template.render(
            facts,
            title=row.contract_title,
            source_name=_SOURCES.get(facts.source, facts.source),
            seller_role=row.seller_role,
            buyer_role=row.buyer_role,
            exchange=EXCHANGE_NAME,
        )
    assignment = row.contract_form == ContractForm.assignment
    role_a, role_b = row.seller_role, row.buyer_role
    lines: list[str] = [
        row.contract_title,
        "",
        f"交易编号：{facts.deal_id}",
        f"成交方式：{_SOURCES.get(facts.source, facts.source)}",
        f"签订日期：以双方电子签署日期为准（合同生成于 {facts.made_on.year}年{facts.made_on.month}月{facts.made_on.day}日）",
        "",
        f"{role_a}（甲方）：{facts.seller.name}",
        f"统一社会信用代码：{facts.seller.credit_code}",
        f"{role_b}（乙方）：{facts.buyer.name}",
        f"统一社会信用代码：{facts.buyer.credit_code}",
        f"见证方（丙方）：{EXCHANGE_NAME}",
        "",
        "甲乙双方经"
        + EXCHANGE_NAME
        + "公开交易达成一致，依据《中华人民共和国民法典》《中华人民共和国专利法》"
        "《中华人民共和国促进科技成果转化法》等法律法规，订立本合同，共同遵守。",
        "",
        "第一条 合同标的",
    ]
    if assignment:
        lines.append("甲方同意将下列专利（或专利申请）的全部权利转让给乙方，乙方同意受让：")
    else:
        lines.append("甲方同意许可乙方实施下列专利，乙方同意按本合同约定取得实施许可：")
    for i, patent in enumerate(facts.patents, start=1):
        lines.append(f"{i}. {patent.number}；名称：{patent.title}")
    lines += ["", "第二条 价款"]
    what = "转让价款" if assignment else "许可使用费"
    lines.append(f"本合同{what}总额为{_money(facts.price)}，为一次性总付。")
    article = 3
    if not assignment:
        terms = facts.license_terms or {}
        lines += [
            "",
            f"第{_article(article)}条 许可方式与范围",
            _LICENSE_SCOPE[kind],
            f"许可期限：自本合同生效之日起 {terms.get('term_months', '')} 个月。",
            f"许可地域：{terms.get('territory', '')}。",
            f"实施领域：{terms.get('field_of_use', '')}。",
        ]
        article += 1
    lines += [
        "",
        f"第{_article(article)}条 付款方式",
        (
            f"1. 乙方已向{EXCHANGE_NAME}缴纳的交易保证金{_money(facts.deposit)}，在付款时抵作价款。"
            if facts.deposit
            else "1. 本次交易乙方未缴纳交易保证金，无保证金抵作价款。"
        ),
        f"2. 乙方应付金额为{_money(facts.amount_due)}，即价款减去已抵作价款的保证金，"
        f"加乙方交易服务费{_money(facts.buyer_fee)}。",
        f"3. 乙方应于甲乙双方签署本合同后 5 个工作日内，将应付金额支付至{EXCHANGE_NAME}交易结算账户；"
        "双方不得绕开交易结算账户直接收付价款。",
        f"4. {EXCHANGE_NAME}在结算时向甲方支付价款（扣除甲方交易服务费），并出具交易凭证。",
    ]
    article += 1
    lines += ["", f"第{_article(article)}条 权利变更与备案"]
    if assignment:
        lines.append(
            "结算完成后，甲方应配合乙方向国家知识产权局办理著录项目变更登记；专利权的转让自登记之日起生效。"
        )
    else:
        lines.append("双方应自本合同生效之日起 3 个月内向国家知识产权局办理专利实施许可合同备案。")
    article += 1
    lines += [
        "",
        f"第{_article(article)}条 违约责任",
        "1. 乙方未在约定期限内签署本合同或支付应付金额的，视为乙方违约，其交易保证金不予退还，归甲方所有。",
        "2. 甲方未在约定期限内签署本合同的，本次交易取消，乙方交易保证金全额退还。",
    ]
    article += 1
    lines += [
        "",
        f"第{_article(article)}条 见证",
        f"{EXCHANGE_NAME}作为见证方，见证本合同的订立，负责交易资金的结算，不承担甲乙双方的合同义务。",
    ]
    article += 1
    lines += [
        "",
        f"第{_article(article)}条 合同生效",
        "本合同经甲乙双方通过交易系统以电子方式签署后生效。双方签署的对象为本合同全文的 SHA-256 摘要，"
        "文本的任何改动均使签署无效。",
        "",
        f"甲方（{role_a}）：{facts.seller.name}",
        f"乙方（{role_b}）：{facts.buyer.name}",
        f"见证方：{EXCHANGE_NAME}",
    ]
    return "\n".join(lines) + "\n"


_ARTICLE_NUMERALS = "零一二三四五六七八九十"


def _article(n: int) -> str:
    """Article numbers 1–19 in Chinese (一, 二, … 十, 十一 …)."""
    if n <= 10:
        return _ARTICLE_NUMERALS[n]
    return "十" + _ARTICLE_NUMERALS[n - 10]
