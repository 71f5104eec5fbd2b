"""The template 专利权作价入股协议 (SPEC §18.2), in Chinese. Pure: the contract's facts and the deal's ``equity``
object in, text out. ``app.contracts.templates.render`` hands an equity contribution's facts here; every change
of the equity terms or the valuation renders the text again (same contract, new SHA-256)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from app.contracts.rules import capital_numerals, figures
from app.equity import rules
from app.owners.rules import format_percent

if TYPE_CHECKING:
    from app.contracts.templates import ContractFacts

_UNSET = "（待双方约定，签署前须记录）"


def _money(fen: int) -> str:
    return f"人民币 {figures(fen)} 元（大写：{capital_numerals(fen)}）"


def _day(value: object) -> str:
    d = date.fromisoformat(str(value))
    return f"{d.year}年{d.month}月{d.day}日"


def _percent(bp: int) -> str:
    return f"{format_percent(bp)}%"


def _valuation(equity: Mapping[str, Any]) -> list[str]:
    report, waiver = equity.get("valuation"), equity.get("appraisal_waiver")
    if report is not None:
        method = rules.METHOD_NAMES[rules.ValuationMethod(report["method"])]
        return [
            f"本次作价以资产评估报告为依据：评估机构{report['appraiser_name']}"
            f"（统一社会信用代码：{report['appraiser_credit_code']}），报告编号{report['report_number']}，"
            f"评估方法为{method}，评估基准日{_day(report['base_date'])}，"
            f"评估价值{_money(int(report['value']))}，评估结论有效期至{_day(report['valid_until'])}。"
        ]
    if waiver is not None:
        basis = (
            "投资对象为国有全资企业，可以不进行资产评估"
            if waiver["basis"] == rules.WaiverBasis.wholly_state_owned_investee
            else "由单位自主决定是否进行资产评估"
        )
        return [
            f"甲方依其决策文件（文号：{waiver['decision_number']}，决定日期：{_day(waiver['decided_on'])}）"
            f"决定本次作价不进行资产评估，依据为：{basis}（财资〔2019〕57号）。"
        ]
    return ["资产评估报告或不评估的决定：尚未记录（签署前须记录）。"]


def render(
    facts: ContractFacts, *, title: str, source_name: str, seller_role: str, buyer_role: str, exchange: str
) -> str:
    """The full text of an equity contribution's agreement."""
    equity: Mapping[str, Any] = facts.equity or {}
    capital, percent = equity.get("registered_capital"), equity.get("equity_percent")
    fees = facts.buyer_fee + facts.seller_fee
    lines: list[str] = [
        title,
        "",
        f"交易编号：{facts.deal_id}",
        f"成交方式：{source_name}",
        f"签订日期：以双方电子签署日期为准（协议生成于 {facts.made_on.year}年{facts.made_on.month}月{facts.made_on.day}日）",
        "",
        f"{seller_role}（甲方）：{facts.seller.name}",
        f"统一社会信用代码：{facts.seller.credit_code}",
        f"{buyer_role}（乙方，目标公司）：{facts.buyer.name}",
        f"统一社会信用代码：{facts.buyer.credit_code}",
        f"见证方（丙方）：{exchange}",
        "",
        f"甲乙双方经{exchange}公开交易达成一致，依据《中华人民共和国民法典》《中华人民共和国公司法》"
        "《中华人民共和国专利法》《中华人民共和国促进科技成果转化法》等法律法规，就甲方以专利权作价出资、"
        "入股乙方事宜订立本协议，共同遵守。",
        "",
        "第一条 出资标的",
        "甲方以下列专利（或专利申请）的全部权利作价出资，认缴乙方注册资本：",
    ]
    for i, patent in enumerate(facts.patents, start=1):
        lines.append(f"{i}. {patent.number}；名称：{patent.title}")
    lines += [
        "",
        "第二条 作价金额与股权",
        f"1. 上述专利权的作价金额为{_money(facts.price)}。",
        (
            f"2. 甲方以上述作价金额认缴乙方注册资本{_money(int(capital))}，"
            "作价金额超过认缴注册资本的部分计入乙方资本公积。"
            if capital is not None
            else f"2. 甲方认缴乙方注册资本：{_UNSET}。"
        ),
        (
            f"3. 出资完成后，甲方持有乙方 {_percent(int(percent))} 的股权。"
            if percent is not None
            else f"3. 出资完成后甲方持有乙方的股权比例：{_UNSET}。"
        ),
    ]
    parts = equity.get("contributors") or []
    if percent is not None and len(parts) > 1:
        lines.append(
            "4. 上述股权由专利权共有人按其份额分别持有："
            + "；".join(f"{p['name']} {_percent(int(p['equity_percent']))}" for p in parts)
            + "。"
        )
    lines += ["", "第三条 资产评估", *_valuation(equity)]
    justification = equity.get("price_justification")
    if justification:
        lines.append(f"作价金额低于评估价值百分之九十的理由：{justification}")
    lines += [
        "",
        "第四条 交易服务费与价款",
        "1. 本次交易以专利权作价出资，不以货币支付价款，乙方无需向甲方支付任何价款。",
        f"2. 甲乙双方的交易服务费共计{_money(fees)}（甲方{_money(facts.seller_fee)}，"
        f"乙方{_money(facts.buyer_fee)}），均由乙方承担。",
        (
            f"3. 乙方已向{exchange}缴纳的交易保证金{_money(facts.deposit)}在付款时抵作交易服务费，"
            "超过交易服务费的部分在结算时退还乙方。"
            if facts.deposit
            else "3. 本次交易乙方未缴纳交易保证金。"
        ),
        f"4. 乙方应付金额为{_money(facts.amount_due)}，应于甲乙双方签署本协议后 5 个工作日内支付至"
        f"{exchange}交易结算账户。",
        "",
        "第五条 出资的完成",
        f"1. 结算完成后，甲方应配合乙方向国家知识产权局办理专利权人变更登记，于结算之日起 "
        f"{rules.COMPLETION_DAYS} 日内完成；专利权的转让自登记之日起生效。",
        f"2. 乙方应于结算之日起 {rules.COMPLETION_DAYS} 日内向市场监督管理部门办理股东及出资变更登记，"
        f"并将登记编号、登记机关和登记日期报{exchange}记录。",
        f"3. 任一事项逾期未完成的，{exchange}予以标记并通知甲乙双方；已完成的结算不因此撤销。",
        "",
        "第六条 违约责任",
        "1. 乙方未在约定期限内签署本协议或支付应付金额的，视为乙方违约，其交易保证金不予退还，归甲方所有。",
        "2. 甲方未在约定期限内签署本协议的，本次交易取消，乙方交易保证金全额退还。",
        "",
        "第七条 见证",
        f"{exchange}作为见证方，见证本协议的订立，负责交易服务费的结算，不承担甲乙双方的协议义务。",
        "",
        "第八条 协议生效",
        "本协议经甲乙双方通过交易系统以电子方式签署后生效。双方签署的对象为本协议全文的 SHA-256 摘要，"
        "文本的任何改动均使签署无效。",
        "",
        f"甲方（{seller_role}）：{facts.seller.name}",
        f"乙方（{buyer_role}）：{facts.buyer.name}",
        f"见证方：{exchange}",
    ]
    return "\n".join(lines) + "\n"
