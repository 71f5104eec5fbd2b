"""Chinese labels of the enum values pages show (SPEC §19.1: never a raw value). One table, by enum."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "listing_status": {
        "draft": "草稿",
        "pending_review": "待审核",
        "published": "挂牌中",
        "suspended": "已暂停",
        "in_auction": "竞价中",
        "under_contract": "签约中",
        "sold": "已成交",
        "expired": "已到期",
        "failed": "流拍",
        "withdrawn": "已撤回",
        "terminated": "已终止",
    },
    "pricing_mode": {"negotiated": "协议定价", "listed": "挂牌交易", "auction": "拍卖竞价"},
    "transaction_kind": {
        "assignment": "专利权转让",
        "exclusive_license": "独占许可",
        "sole_license": "排他许可",
        "nonexclusive_license": "普通许可",
        "equity_contribution": "作价入股",
    },
    "patent_kind": {"invention": "发明专利", "utility_model": "实用新型", "design": "外观设计"},
    "legal_status": {
        "pending": "审查中",
        "granted": "有效",
        "expired": "已届满",
        "lapsed": "已失效",
        "invalidated": "已宣告无效",
    },
    "org_kind": {
        "university": "高等院校",
        "research_institute": "科研院所",
        "hospital": "医疗机构",
        "enterprise": "企业",
        "financial_institution": "金融机构",
    },
    "auction_format": {"english": "增价拍卖", "sealed": "密封报价", "dutch": "减价拍卖"},
    "auction_status": {
        "scheduled": "未开始",
        "open": "竞价中",
        "closed": "已成交",
        "failed": "流拍",
        "cancelled": "已取消",
    },
    "registration_status": {
        "pending_review": "资格审核中",
        "qualified": "已取得资格",
        "disqualified": "未通过审核",
        "withdrawn": "已撤回",
    },
    "deal_status": {
        "public_notice": "公示中",
        "awaiting_signatures": "待签约",
        "awaiting_payment": "待付款",
        "paid": "已付款",
        "settled": "已结算",
        "completed": "已完成",
        "cancelled": "已取消",
        "defaulted": "已违约",
    },
    "deal_source": {
        "offer": "协议成交",
        "listing": "挂牌成交",
        "auction": "竞价成交",
        "open_license": "开放许可",
        "trial": "试用转化",
    },
    "offer_status": {
        "open": "待答复",
        "countered": "已还价",
        "accepted": "已接受",
        "rejected": "已拒绝",
        "withdrawn": "已撤回",
        "expired": "已过期",
        "closed": "已关闭",
    },
    "offer_party": {"buyer": "我方", "seller": "出让方"},
    "deposit_status": {
        "held": "冻结中",
        "refunded": "已退还",
        "applied": "已抵作价款",
        "forfeited": "已没收",
    },
    "sort": {
        "-published_at": "最新挂牌",
        "price": "价格从低到高",
        "-price": "价格从高到低",
        "listing_ends_at": "即将截止",
    },
    "role": {"admin": "管理员", "member": "成员", "operator": "交易所运营"},
    "contract_party": {"buyer": "买方（受让方）", "seller": "卖方（出让方）"},
    "contract_status": {"awaiting_signatures": "待签署", "signed": "已签署", "void": "已作废"},
    "org_status": {"pending": "待审核", "verified": "已认证"},
    "account_kind": {
        "available": "机构可用余额",
        "held": "冻结保证金",
        "escrow": "交易托管",
        "fee_income": "服务费收入",
        "bank_clearing": "银行清算",
        "payable_to_inventors": "应付发明人",
    },
}


def label(value: object, kind: str) -> str:
    """The Chinese label of ``value`` (an enum member or its value) in the table ``kind``; ``—`` for none.
    A value the table lacks is a bug: shown as 未知 rather than raw."""
    if value is None:
        return "—"
    key = str(getattr(value, "value", value))
    return LABELS[kind].get(key, "未知")
