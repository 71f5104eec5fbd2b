"""Every rule and code of SPEC §18.2 through the API: who may buy, the terms, the valuation and its validity,
the 90% line, the waiver, the contract rendered again on each change, signing's order of checks, the equity
registration."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.calendar.rules import add_months
from tests import trading as t
from tests.equity import helpers as e
from tests.negotiation import helpers as n
from tests.settlement import helpers as h
from tests.world import World, org

pytestmark = pytest.mark.world(uni=org("university"), company=org(), hospital=org("hospital"), firm=org())


def code(r: httpx.Response) -> str:
    return str(r.json().get("code"))


async def _deal(client: httpx.AsyncClient, world: World, price: str = "1000000.00") -> dict:
    deal = await e.negotiated_deal(client, world.op, world.uni, world.company, price=price)
    return await e.past_notice(client, world.op, deal)


async def test_only_enterprises_offer_or_register(client: httpx.AsyncClient, db, world: World) -> None:
    op, uni, hospital = world.op, world.uni, world.hospital
    item = await e.listing(client, op, uni)
    await n.offer(client, hospital, item["id"], "1000000.00", expect=403)
    listed = await e.listing(client, op, uni, pricing_mode="listed", deposit="10000.00")
    await t.fund(client, op, hospital, "10000.00")
    r = await client.post(f"/api/v1/listings/{listed['id']}/registrations", headers=hospital.headers)
    assert r.status_code == 403 and code(r) == "forbidden"
    # An exclusive kind (§5): the same patent cannot be in a second active listing.
    body = {
        "title": "再次挂牌",
        "summary": "同一专利",
        "patent_ids": [p["id"] for p in item["patents"]],
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "100000.00",
    }
    r = await client.post("/api/v1/listings", json=body, headers=uni.headers)
    assert r.status_code == 409 and code(r) == "patent_already_listed", r.text


async def test_terms_are_checked_and_replace_earlier_ones(
    client: httpx.AsyncClient, db, world: World
) -> None:
    deal = await _deal(client, world)
    company, uni = world.company, world.uni
    for capital, percent in (
        ("1000000.01", "15"),
        ("0.00", "15"),
        ("800000.00", "0"),
        ("800000.00", "100.01"),
    ):
        r = await e.terms(client, company, deal["id"], registered_capital=capital, equity_percent=percent)
        assert r.status_code == 422 and code(r) == "invalid_equity_terms", (capital, percent, r.text)
    r = await e.terms(client, company, deal["id"], equity_percent="15.125")
    assert r.status_code == 422 and code(r) == "validation_error"
    r = await e.terms(client, world.firm, deal["id"])
    assert r.status_code == 404
    r = await e.terms(client, world.op, deal["id"])
    assert r.status_code == 403
    r = await e.terms(client, company, deal["id"], registered_capital="1000000.00", equity_percent="100")
    assert r.status_code == 200, r.text
    r = await e.terms(client, uni, deal["id"], registered_capital="800000.00", equity_percent="12.5")
    assert r.status_code == 200, r.text
    equity = r.json()["equity"]
    assert (equity["registered_capital"], equity["equity_percent"]) == ("800000.00", "12.50")
    assert [c["equity_percent"] for c in equity["contributors"]] == ["12.50"]


async def test_valuation_report_rules(client: httpx.AsyncClient, db, world: World) -> None:
    deal = await _deal(client, world, price="1000000.00")
    uni, company = world.uni, world.company
    today = await e.today(client)
    report = e.report
    r = await e.valuation(
        client, uni, deal["id"], {"report": report(base_date=today, appraiser_credit_code="91330000X")}
    )
    assert r.status_code == 422 and code(r) == "invalid_credit_code"
    r = await e.valuation(client, uni, deal["id"], {"report": report(base_date=today, value="0.00")})
    assert r.status_code == 422
    r = await e.valuation(client, uni, deal["id"], {"report": report(base_date=today + timedelta(days=1))})
    assert r.status_code == 422
    # valid_until: the day before one year after base_date; before today → expired.
    expired = add_months(today, -12)
    r = await e.valuation(client, uni, deal["id"], {"report": report(base_date=expired)})
    assert r.status_code == 409 and code(r) == "valuation_expired"
    r = await e.valuation(client, company, deal["id"], {"report": report(base_date=today)})
    assert r.status_code == 403
    # A public institution's price below 90% of the value needs a justification; exactly 90% passes.
    r = await e.valuation(client, uni, deal["id"], {"report": report(base_date=today, value="1111111.12")})
    assert r.status_code == 409 and code(r) == "price_below_valuation"
    r = await e.valuation(
        client,
        uni,
        deal["id"],
        {
            "report": report(base_date=today, value="1111111.12"),
            "price_justification": "市场窗口期短，尽快转化",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["equity"]["price_justification"] == "市场窗口期短，尽快转化"
    r = await e.valuation(client, uni, deal["id"], {"report": report(base_date=expired + timedelta(days=1))})
    assert r.status_code == 200, r.text
    valuation = r.json()["equity"]["valuation"]
    assert valuation["valid_until"] == today.isoformat() and valuation["value"] == "1000000.00"
    assert r.json()["equity"]["price_justification"] is None


async def test_exactly_ninety_percent_passes_and_other_sellers_are_not_checked(
    client: httpx.AsyncClient, db, world: World
) -> None:
    deal = await _deal(client, world, price="900000.00")
    today = await e.today(client)
    r = await e.valuation(
        client, world.uni, deal["id"], {"report": e.report(base_date=today, value="1000000.00")}
    )
    assert r.status_code == 200, r.text
    firm_deal = await e.negotiated_deal(client, world.op, world.firm, world.company, price="100000.00")
    assert firm_deal["status"] == "awaiting_signatures"  # no public notice for an enterprise seller
    r = await e.valuation(client, world.firm, firm_deal["id"], {"report": e.report(base_date=today)})
    assert r.status_code == 200, r.text


async def test_waiver_needs_terms_and_follows_them(client: httpx.AsyncClient, db, world: World) -> None:
    deal = await _deal(client, world)
    op, uni, company = world.op, world.uni, world.company
    waiver = {"appraisal_waiver": {"decision_number": "浙大发〔2026〕12号", "decided_on": "2026-01-05"}}
    r = await e.valuation(client, uni, deal["id"], waiver)
    assert r.status_code == 403
    r = await e.valuation(client, op, deal["id"], waiver)
    assert r.status_code == 409 and code(r) == "equity_terms_required"
    await e.terms(client, company, deal["id"], investee_state_owned=True)
    r = await e.valuation(client, op, deal["id"], waiver)
    assert r.status_code == 200, r.text
    equity = r.json()["equity"]
    assert (
        equity["appraisal_waiver"]["basis"] == "wholly_state_owned_investee" and equity["valuation"] is None
    )
    assert equity["appraisal_waiver"]["recorded_by"]
    r = await e.terms(client, company, deal["id"], investee_state_owned=False)
    assert r.json()["equity"]["appraisal_waiver"]["basis"] == "unit_decision"
    r = await e.valuation(client, uni, deal["id"], {"report": e.report(base_date=await e.today(client))})
    assert r.json()["equity"]["appraisal_waiver"] is None and r.json()["equity"]["valuation"] is not None
    r = await e.valuation(client, op, deal["id"], waiver)
    assert r.json()["equity"]["valuation"] is None
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "deal", "entity_id": deal["id"]}, headers=op.headers
    )
    actions = [x["action"] for x in r.json()["items"]]
    assert actions.count("valuation_recorded") == 3 and actions.count("equity_terms_recorded") == 2


async def test_signing_checks_in_order_and_each_change_renders_the_contract(
    client: httpx.AsyncClient, db, world: World
) -> None:
    deal = await _deal(client, world)
    uni, company = world.uni, world.company
    contract = (await client.get(f"/api/v1/contracts/{deal['contract_id']}", headers=uni.headers)).json()
    stale = contract["sha256"]
    r = await e.sign(client, uni, deal["contract_id"], "0" * 64)
    assert r.status_code == 409 and code(r) == "equity_terms_required"  # before the hash
    await e.terms(client, company, deal["id"])
    r = await e.sign(client, uni, deal["contract_id"], stale)
    assert r.status_code == 409 and code(r) == "valuation_required"
    today = await e.today(client)
    r = await e.valuation(
        client, uni, deal["id"], {"report": e.report(base_date=add_months(today, -12) + timedelta(days=1))}
    )
    assert r.status_code == 200, r.text
    now = (await client.get(f"/api/v1/contracts/{deal['contract_id']}", headers=uni.headers)).json()
    assert now["id"] == contract["id"] and now["sha256"] != stale
    r = await e.sign(client, uni, deal["contract_id"], stale)
    assert r.status_code == 409 and code(r) == "contract_changed"
    r = await e.sign(client, uni, deal["contract_id"], now["sha256"])
    assert r.status_code == 200, r.text
    # After a signature nothing changes any more.
    r = await e.terms(client, company, deal["id"], equity_percent="20")
    assert r.status_code == 409 and code(r) == "invalid_state"
    # The report's last valid day passes before the buyer signs.
    await t.advance(client, 24 * 3600)
    r = await e.sign(client, company, deal["contract_id"], now["sha256"])
    assert r.status_code == 409 and code(r) == "valuation_expired"


async def test_the_contract_text(client: httpx.AsyncClient, db, world: World) -> None:
    deal = await _deal(client, world, price="1000000.00")
    uni, company = world.uni, world.company
    await e.agree(client, uni, company, deal)
    text = (await client.get(f"/api/v1/contracts/{deal['contract_id']}", headers=uni.headers)).json()["text"]
    me = {
        x["id"]: x
        for x in [
            (await client.get(f"/api/v1/organizations/{o.org_id}", headers=o.headers)).json()
            for o in (uni, company)
        ]
    }
    assert text.startswith("专利权作价入股协议\n")
    for org_ in me.values():
        assert org_["name"] in text and org_["credit_code"] in text
    listing = (await client.get(f"/api/v1/listings/{deal['listing_id']}")).json()
    for patent in listing["patents"]:
        assert patent["title"] in text
    for fragment in (
        "出资方（甲方）",
        "目标公司",
        "1,000,000.00",
        "人民币壹佰万元整",
        "800,000.00",
        "人民币捌拾万元整",
        "15.00%",
        "浙江求是资产评估有限公司",
        e.APPRAISER_CODE,
        "浙求评报字〔2026〕第088号",
        "收益法",
        "不以货币支付价款",
        "均由乙方承担",
        "60 日内",
        "市场监督管理部门",
    ):
        assert fragment in text, fragment


async def test_equity_registration_rules(client: httpx.AsyncClient, db, world: World) -> None:
    deal = await _deal(client, world)
    op, uni, company = world.op, world.uni, world.company
    today = await e.today(client)
    r = await e.register_equity(client, company, deal["id"], today)
    assert r.status_code == 409 and code(r) == "invalid_state"
    await e.agree(client, uni, company, deal)
    deal = await e.sign_pay_settle(client, op, uni, company, await h.get(client, op, deal["id"]))
    settled_on = e.settled_day(deal)
    r = await e.register_equity(client, uni, deal["id"], settled_on)
    assert r.status_code == 403
    r = await e.register_equity(client, company, deal["id"], settled_on - timedelta(days=1))
    assert r.status_code == 422
    r = await e.register_equity(client, company, deal["id"], await e.today(client) + timedelta(days=1))
    assert r.status_code == 422
    r = await e.register_equity(client, company, deal["id"], settled_on)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "settled"  # the transfer is not registered yet
    r = await e.register_equity(client, company, deal["id"], settled_on)
    assert r.status_code == 409 and code(r) == "invalid_state"
