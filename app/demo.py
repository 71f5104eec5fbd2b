"""Demo data for a first start in development: an operator, a verified university with stock patents and
published listings in all three pricing modes, and two verified companies with money on account.

Loaded only by ``python -m app seed-demo`` (which ``scripts/serve.sh`` runs in development), never by a
server: its passwords are published, so it is refused with ``EXCHANGE_ENV=production`` (SPEC §20).

Everything goes through the services, so the audit trail and the ledger are as real as any user's.
"""

from __future__ import annotations

import sys
from datetime import date

from sqlalchemy import func, select

from app.accounts import schemas as account_schemas
from app.accounts import service as accounts
from app.kit.clock import SystemClock
from app.kit.db import Database
from app.kit.security import Principal
from app.kit.workdays import WorkdayCalendar
from app.ledger import service as ledger
from app.listings import schemas as listing_schemas
from app.listings import service as listings
from app.models.accounts import Organization, Role, User
from app.patents import schemas as patent_schemas
from app.patents import service as patents
from app.patents.rules import check_character

PASSWORD = "demo-password-2026"  # noqa: S105 - printed demo credentials, development only
OPERATOR_EMAIL = "operator@exchange.example.cn"

PATENTS = [
    (
        "一种锂电池隔膜的制备方法",
        "本发明公开了一种高孔隙率锂电池隔膜及其制备方法，适用于动力电池。",
        ["H01M 50/403"],
    ),
    ("一种固态电池电解质及其制备方法", "固态电解质材料，离子电导率高，界面稳定。", ["H01M 10/0562"]),
    ("一种低功耗物联网传感器芯片", "集成温湿度传感与无线通信的低功耗芯片。", ["H01L 27/146", "G01K 7/01"]),
    (
        "基于深度学习的医学影像分割方法",
        "用于肺部CT影像的自动分割，提高诊断效率。",
        ["G06T 7/11", "G06N 3/08"],
    ),
    ("一种可降解医用缝合线", "聚乳酸基可降解缝合线，强度保持时间可调。", ["A61L 17/12"]),
    ("一种光伏组件清洁机器人", "自主路径规划的光伏板清洁机器人，节水高效。", ["B08B 1/00", "H02S 40/10"]),
    ("一种磷酸铁锂正极材料的回收方法", "从废旧电池中回收磷酸铁锂，回收率高。", ["H01M 10/54"]),
    ("一种茶叶智能分选装置", "基于机器视觉的茶叶分级分选装置。", ["B07C 5/342"]),
]


def _number(n: int) -> str:
    digits = f"2021{1}{n:07d}"
    return f"{digits}.{check_character(digits)}"


async def seed_demo(db: Database, *, only_if_empty: bool) -> None:
    clock = SystemClock()
    calendar = WorkdayCalendar()
    async with db.transaction() as session:
        if only_if_empty and await session.scalar(select(func.count()).select_from(Organization)):
            return
        if await session.scalar(select(User.id).where(User.email == OPERATOR_EMAIL)):
            print("demo data exists already", file=sys.stderr)
            return
        op_user = await accounts.create_operator(session, OPERATOR_EMAIL, PASSWORD, "交易所运营", clock)
        op = Principal(user_id=op_user.id, role=Role.operator)

        async def org(name: str, kind: str, code: str, email: str) -> Principal:
            created = await accounts.create_organization(
                session,
                account_schemas.OrganizationCreate(
                    name=name,
                    kind=kind,
                    credit_code=code,
                    admin=account_schemas.AdminIn(email=email, password=PASSWORD, name="管理员"),
                ),
                clock,
            )
            await accounts.verify_organization(session, op, created.id, clock)
            admin = await session.scalar(select(User).where(User.email == email))
            assert admin is not None
            return Principal(
                user_id=admin.id,
                role=Role.admin,
                organization_id=created.id,
                org_verified=True,
                org_kind=kind,
            )

        uni = await org("浙江示范大学", "university", "12330000470003457C", "tto@university.example.cn")
        companies = [
            await org(
                "杭州新能科技有限公司", "enterprise", "91330100MA27XY1A17", "buyer1@company.example.cn"
            ),
            await org(
                "宁波智造装备有限公司", "enterprise", "91330200MA2ABCDE1Y", "buyer2@company.example.cn"
            ),
        ]
        patent_ids = []
        for i, (title, abstract, ipc) in enumerate(PATENTS, start=1):
            view = await patents.create_patent(
                session,
                uni,
                patent_schemas.PatentCreate(
                    application_number=_number(i),
                    title=title,
                    abstract=abstract,
                    ipc_codes=ipc,
                    inventors=["张明", "李华"],
                    filing_date=date(2021, 3, i),
                    grant_date=date(2023, 5, i),
                    annual_fee_paid_until=date(2027, 3, i),
                    evaluation_report=True,
                ),
                clock,
            )
            patent_ids.append(view.id)

        offers = [
            dict(
                title="锂电池隔膜制备技术转让",
                summary="高孔隙率隔膜专利，协议定价，欢迎洽谈。",
                patent_ids=[patent_ids[0]],
                transaction_kind="assignment",
                pricing_mode="negotiated",
                price="800000.00",
            ),
            dict(
                title="物联网传感器芯片普通许可",
                summary="挂牌交易，非独占许可，三年。",
                patent_ids=[patent_ids[2]],
                transaction_kind="nonexclusive_license",
                pricing_mode="listed",
                price="300000.00",
                deposit="30000.00",
                license={"term_months": 36, "territory": "中国大陆", "field_of_use": "消费电子"},
            ),
            dict(
                title="固态电池电解质专利竞价转让",
                summary="英式竞价，多次报价，限时报价期五分钟。",
                patent_ids=[patent_ids[1]],
                transaction_kind="assignment",
                pricing_mode="auction",
                price="1000000.00",
                deposit="100000.00",
                auction={"format": "english", "increment": "10000.00", "reserve_price": "1200000.00"},
            ),
        ]
        for body in offers:
            listing = await listings.create_listing(
                session, uni, listing_schemas.ListingCreate.model_validate(body), clock
            )
            await listings.submit_listing(session, uni, listing.id, clock)
            await listings.approve_listing(session, op, listing.id, clock, calendar)

        for company in companies:
            assert company.organization_id is not None
            await ledger.record_bank_payment(
                session,
                organization_id=company.organization_id,
                amount=2_000_000_00,
                bank_reference=f"DEMO-{company.organization_id}",
                at=clock.now(),
                actor=op.label,
            )

    print(
        "\nDemo data loaded (development only). Sign in at /docs with any of these, password "
        f"'{PASSWORD}':\n"
        f"  operator   {OPERATOR_EMAIL}\n"
        "  university tto@university.example.cn   (浙江示范大学: 8 patents, 3 listings)\n"
        "  company    buyer1@company.example.cn   (杭州新能科技, 2,000,000.00 yuan on account)\n"
        "  company    buyer2@company.example.cn   (宁波智造装备, 2,000,000.00 yuan on account)\n",
        file=sys.stderr,
    )
