"""The dossier of a real-looking equity contribution (作价入股, SPEC §18.2, §18.7): a university's decision, the
listing, the negotiated price and its public notice, the appraisal report with the price's justification, the
contract of contribution and both signatures, the investee's payment of the fees, the certificate, the inventors'
reward plan in equity and the technology-contract registration, each citing its audit event."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.kit.db import Database
from tests.dossier import helpers as dh
from tests.equity import helpers as e
from tests.invariants import assert_invariants
from tests.techcontracts import helpers as tc
from tests.world import World, org

API = dh.API

pytestmark = pytest.mark.world(
    uni=org("university", name="浙江作价大学"), company=org(name="杭州新材科技有限公司")
)


async def test_an_equity_contribution_from_decision_to_registration(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, uni, company = world
    deal = await e.negotiated_deal(client, op, uni, company, price="1000000.00")
    today = await e.today(client)
    r = await dh.decide(
        client, uni, deal["id"], today.isoformat(), body="校长办公会", number="校办〔2026〕31号"
    )
    assert r.status_code == 201, r.text
    r = await e.terms(client, company, deal["id"])
    assert r.status_code == 200, r.text
    report = e.report(value="1050000.00", base_date=today - timedelta(days=30))
    r = await e.valuation(
        client, uni, deal["id"], {"report": report, "price_justification": "经校长办公会审议"}
    )
    assert r.status_code == 200, r.text
    deal = await e.past_notice(client, op, deal)
    deal = await e.sign_pay_settle(client, op, uni, company, deal)
    plan = {
        "form": "equity",
        "allocations": [
            {"name": "张明", "role": "main_contributor", "equity_percent": "10.00"},
            {"name": "李华", "role": "transfer_staff", "equity_percent": "1.00"},
        ],
    }
    r = await client.post(f"{API}/deals/{deal['id']}/reward-plan", json=plan, headers=uni.headers)
    assert r.status_code == 201, r.text
    await tc.registered(client, op, uni, deal["id"], registration_number="2026330100000888")

    d = await dh.dossier(client, uni, deal["id"])
    assert d["chain_ok"] is True
    assert dh.kinds(d) == [
        "listing",
        "pricing",
        "public_notice",
        "decision_record",
        "valuation",
        "signature",
        "contract",
        "signature",
        "payment",
        "certificate",
        "reward_plan",
        "tech_contract_registration",
    ]
    dh.assert_ordered(d)
    await dh.assert_cites_the_trail(client, op, d)
    assert dh.only(d, "listing")["facts"]["transaction_kind"] == "equity_contribution"
    valuation = dh.only(d, "valuation")["facts"]
    assert valuation["report"]["value"] == "1050000.00"
    assert valuation["report"]["report_number"] == report["report_number"]
    assert valuation["appraisal_waiver"] is None and valuation["price_justification"] == "经校长办公会审议"
    # The contract both signed is the one regenerated with the terms and the report.
    contract = (await client.get(f"{API}/contracts/{deal['contract_id']}", headers=uni.headers)).json()
    assert dh.only(d, "contract")["facts"] == {
        "contract_id": deal["contract_id"],
        "sha256": contract["sha256"],
    }
    # The investee pays the two fees only.
    assert dh.only(d, "payment")["facts"] == {"amount_due": deal["amount_due"]}
    # The inventors' reward is a share of the equity (SPEC §18.2).
    assert dh.only(d, "reward_plan")["facts"] == {
        "form": "equity",
        "version": 1,
        "pool_percent": "11.00",
        "status": "draft",
    }
    r = await client.get(f"{API}/deals/{deal['id']}/dossier/pdf", headers=uni.headers)
    assert r.status_code == 200 and "资产评估" in dh.pdf_text(r.content)
    await assert_invariants(db)
