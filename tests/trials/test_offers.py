"""Trial offers over HTTP (SPEC §18.3): SME status, creation and its rules, review, withdrawal, visibility."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests import factories as f
from tests.invariants import assert_invariants
from tests.licensing import helpers as lh
from tests.owners import helpers as oh
from tests.trials import helpers as h
from tests.world import org

pytestmark = pytest.mark.world(uni=org("university"), company=org(), bank=org("financial_institution"))
API = h.API


async def test_sme_status_set_by_operators_for_enterprises(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, _bank = world
    assert company.org is not None and company.org.get("sme_verified_at") is None
    r = await client.post(
        f"{API}/organizations/{company.org_id}/sme", json={"sme": True}, headers=company.headers
    )
    assert r.status_code == 403
    set_ = await h.make_sme(client, op, company)
    assert set_["sme_verified_at"] is not None
    r = await client.get(f"{API}/organizations/{company.org_id}", headers=company.headers)
    assert r.json()["sme_verified_at"] == set_["sme_verified_at"]
    assert (await h.make_sme(client, op, company, True))["sme_verified_at"] == set_["sme_verified_at"]
    assert (await h.make_sme(client, op, company, False))["sme_verified_at"] is None
    r = await client.post(f"{API}/organizations/{uni.org_id}/sme", json={"sme": True}, headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.post(
        f"{API}/organizations/{company.org_id}/sme", json={"sme": "yes"}, headers=op.headers
    )
    assert r.status_code == 422
    await assert_invariants(db)


async def test_offer_reads_back_reviewed_withdrawn_and_visibility(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, company, _bank = world
    p = await lh.patent(client, uni)
    body = h.offer_body(
        p["id"],
        kind="nonexclusive_license",
        max_trials=3,
        conversion={
            "type": "lump_sum_plus_royalty",
            "lump_sum": "80000.00",
            "royalty_rate": "0.03",
            "royalty_base": "净销售额",
            "term_months": 60,
        },
    )
    r = await client.post(f"{API}/trial-offers", json=body, headers=uni.headers)
    assert r.status_code == 201, r.text
    offer = r.json()
    assert offer["status"] == "pending_review" and offer["owner_org_id"] == uni.org_id
    assert offer["approved_at"] is None and offer["active_trials"] == 0
    assert {
        k: offer[k] for k in ("patent_id", "kind", "trial_months", "max_trials", "territory", "field_of_use")
    } == {
        "patent_id": p["id"],
        "kind": "nonexclusive_license",
        "trial_months": 12,
        "max_trials": 3,
        "territory": "中国大陆",
        "field_of_use": "锂电池隔膜的生产",
    }
    assert offer["conversion"] == {
        "type": "lump_sum_plus_royalty",
        "lump_sum": "80000.00",
        "royalty_rate": "0.03",
        "royalty_base": "净销售额",
        "royalty_period": "quarter",
        "term_months": 60,
        "assignment_price": None,
    }
    url = f"{API}/trial-offers/{offer['id']}"
    # Pending review: the owner and operators only.
    assert (await client.get(url)).status_code == 404
    assert (await client.get(url, headers=company.headers)).status_code == 404
    assert (await client.get(url, headers=uni.headers)).status_code == 200
    assert (await client.get(url, headers=op.headers)).status_code == 200
    assert (await client.get(f"{API}/trial-offers", headers=company.headers)).json()["items"] == []
    assert (await h.start(client, company, offer["id"])).status_code == 404
    # Only operators approve; twice is refused.
    assert (await client.post(f"{url}/approve", headers=uni.headers)).status_code == 403
    r = await client.post(f"{url}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "offered" and r.json()["approved_at"] is not None
    r = await client.post(f"{url}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    # Offered: public.
    r = await client.get(url)
    assert r.status_code == 200 and r.json()["status"] == "offered"
    r = await client.get(f"{API}/trial-offers", params={"patent_id": p["id"], "status": "offered"})
    assert [x["id"] for x in r.json()["items"]] == [offer["id"]]
    assert (await client.get(f"{API}/trial-offers", params={"status": "pending_review"})).json()[
        "items"
    ] == []
    # The patent is readable by others now.
    assert (await client.get(f"{API}/patents/{p['id']}", headers=company.headers)).status_code == 200
    # Only the owner withdraws; a withdrawn offer that was offered stays public.
    assert (await client.post(f"{url}/withdraw", headers=company.headers)).status_code == 403
    r = await client.post(f"{url}/withdraw", headers=uni.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn" and r.json()["withdrawn_at"]
    r = await client.post(f"{url}/withdraw", headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert (await client.get(url)).json()["status"] == "withdrawn"
    r = await client.post(f"{url}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.get(
        f"{API}/audit-events",
        params={"entity_type": "trial_offer", "entity_id": offer["id"]},
        headers=uni.headers,
    )
    assert [e["action"] for e in r.json()["items"]] == ["created", "approved", "withdrawn"]
    r = await client.get(
        f"{API}/audit-events",
        params={"entity_type": "trial_offer", "entity_id": offer["id"]},
        headers=company.headers,
    )
    assert r.status_code == 404
    await assert_invariants(db)


async def test_an_offer_withdrawn_before_approval_stays_private(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, _bank = world
    p = await lh.patent(client, uni)
    offer = await h.create_offer(client, uni, p["id"])
    r = await client.post(f"{API}/trial-offers/{offer['id']}/withdraw", headers=uni.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert (await client.get(f"{API}/trial-offers/{offer['id']}")).status_code == 404
    assert (await client.get(f"{API}/trial-offers/{offer['id']}", headers=company.headers)).status_code == 404
    assert (await client.get(f"{API}/trial-offers/{offer['id']}", headers=op.headers)).status_code == 200
    assert (await client.get(f"{API}/patents/{p['id']}", headers=company.headers)).status_code == 404
    # Withdrawn: the patent may be offered again.
    await h.create_offer(client, uni, p["id"])


async def test_only_a_public_institution_owner_offers(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, _bank = world
    p = await lh.patent(client, uni)
    other_uni = await f.organization(client, kind="university", verified_by=op)
    for actor in (company, other_uni):
        r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]), headers=actor.headers)
        assert r.status_code == 403, r.text
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]), headers=op.headers)
    assert r.status_code == 403
    own = await lh.patent(client, company)  # an enterprise's own patent
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(own["id"]), headers=company.headers)
    assert r.status_code == 403
    pending = await f.organization(client, kind="university")
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]), headers=pending.headers)
    assert r.status_code == 403 and r.json()["code"] == "organization_not_verified"
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]))
    assert r.status_code == 401


LUMP = {"type": "lump_sum", "lump_sum": "1000.00", "term_months": 12}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"trial_months": 0}, "trial_months"),
        ({"trial_months": 37}, "trial_months"),
        ({"max_trials": 0}, "max_trials"),
        ({"max_trials": 101}, "max_trials"),
        ({"kind": "assignment"}, "kind"),
        ({"territory": ""}, "territory"),
        ({"kind": "sole_license", "max_trials": 2}, "max_trials"),
        ({"kind": "exclusive_license", "max_trials": 2}, "max_trials"),
        (
            {"max_trials": 2, "conversion": {"type": "assignment", "assignment_price": "5000.00"}},
            "max_trials",
        ),
        ({"conversion": {"type": "lump_sum", "term_months": 12}}, "lump_sum"),
        ({"conversion": {"type": "lump_sum", "lump_sum": "0.00", "term_months": 12}}, "lump_sum"),
        ({"conversion": {"type": "lump_sum", "lump_sum": "1000.00"}}, "term_months"),
        ({"conversion": {**LUMP, "term_months": 361}}, "term_months"),
        ({"conversion": {**LUMP, "royalty_rate": "0.05"}}, "royalty_rate"),
        ({"conversion": {**LUMP, "royalty_period": "month"}}, "royalty_period"),
        ({"conversion": {**LUMP, "assignment_price": "5.00"}}, "assignment_price"),
        ({"conversion": {"type": "royalty", "term_months": 12}}, "royalty_rate"),
        ({"conversion": {"type": "royalty", "royalty_rate": "1.5", "term_months": 12}}, "royalty_rate"),
        (
            {
                "conversion": {
                    "type": "royalty",
                    "royalty_rate": "0.05",
                    "term_months": 12,
                    "lump_sum": "1.00",
                }
            },
            "lump_sum",
        ),
        (
            {
                "conversion": {
                    "type": "royalty",
                    "royalty_rate": "0.05",
                    "royalty_period": "year",
                    "term_months": 1,
                }
            },
            "royalty_period",
        ),
        (
            {"conversion": {"type": "lump_sum_plus_royalty", "lump_sum": "1.00", "term_months": 12}},
            "royalty_rate",
        ),
        ({"conversion": {"type": "assignment"}}, "assignment_price"),
        (
            {"conversion": {"type": "assignment", "assignment_price": "1.00", "term_months": 12}},
            "term_months",
        ),
        ({"conversion": {"type": "assignment", "assignment_price": "1.00", "lump_sum": "1.00"}}, "lump_sum"),
        ({"conversion": {"type": "assignment", "assignment_price": "1.001"}}, "assignment_price"),
        ({"conversion": {"type": "barter", "assignment_price": "1.00"}}, "type"),
        ({"conversion": {**LUMP, "surprise": 1}}, "surprise"),
    ],
)
async def test_invalid_terms_are_422_naming_the_field(
    client: httpx.AsyncClient, db, world, overrides: dict[str, Any], field: str
) -> None:
    _op, uni, _company, _bank = world
    p = await lh.patent(client, uni)
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"], **overrides), headers=uni.headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    assert any(e["loc"][-1] == field for e in r.json()["errors"]), r.json()["errors"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"grant_date": None}, "patent_not_granted"),
        ({"filing_date": "1990-01-10", "grant_date": "1992-05-01"}, "patent_expired"),
        ({"annual_fee_paid_until": None}, "annual_fee_unpaid"),
        ({"annual_fee_paid_until": "2021-01-01"}, "annual_fee_unpaid"),
    ],
    ids=["pending", "expired", "fees-missing", "fees-past"],
)
async def test_patent_refusals_at_creation(
    client: httpx.AsyncClient, db, world, fields: dict[str, object], code: str
) -> None:
    _op, uni, _company, _bank = world
    p = await lh.patent(client, uni, **fields)
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == code, r.text


async def test_a_utility_model_needs_no_evaluation_report(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company, _bank = world
    p = await lh.patent(client, uni, application_number=f.application_number(987_321, kind_digit="2"))
    await h.offered(client, op, uni, p["id"])


async def test_preservation_and_exclusive_licence_are_checked_at_creation_and_approval(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, _company, _bank = world
    p = await lh.patent(client, uni)
    await lh.set_preservation(client, op, p["id"], True)
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_preserved"
    await lh.set_preservation(client, op, p["id"], False)
    offer = await h.create_offer(client, uni, p["id"])
    await lh.set_preservation(client, op, p["id"], True)
    r = await client.post(f"{API}/trial-offers/{offer['id']}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_preserved"
    await lh.set_preservation(client, op, p["id"], False)
    # An exclusive licence on offer (an active exclusive listing) refuses the approval.
    r = await client.post(
        f"{API}/listings",
        json={
            "title": "独占许可",
            "summary": "协议定价",
            "patent_ids": [p["id"]],
            "transaction_kind": "exclusive_license",
            "pricing_mode": "negotiated",
            "license": {"term_months": 12, "territory": "中国", "field_of_use": "全部"},
        },
        headers=uni.headers,
    )
    assert r.status_code == 201, r.text
    assert (
        await client.post(f"{API}/listings/{r.json()['id']}/submit", headers=uni.headers)
    ).status_code == 200
    r = await client.post(f"{API}/trial-offers/{offer['id']}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "exclusive_license_active"


async def test_one_live_offer_per_patent_even_in_a_race(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company, _bank = world
    p = await lh.patent(client, uni)
    results = await asyncio.gather(
        *[
            client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]), headers=uni.headers)
            for _ in range(4)
        ]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409, 409], [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"trial_offer_exists"}
    created = next(r.json() for r in results if r.status_code == 201)
    await client.post(f"{API}/trial-offers/{created['id']}/approve", headers=op.headers)
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "trial_offer_exists"


async def test_sole_or_exclusive_trial_not_while_an_open_licence_is_declared(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, _company, _bank = world
    p = await lh.patent(client, uni)
    await lh.declared(client, op, uni, p["id"])
    for kind in ("sole_license", "exclusive_license"):
        r = await client.post(
            f"{API}/trial-offers", json=h.offer_body(p["id"], kind=kind), headers=uni.headers
        )
        assert r.status_code == 409 and r.json()["code"] == "open_license_active", r.text
    await h.offered(client, op, uni, p["id"])  # a non-exclusive trial is fine


async def test_a_pledged_patent_needs_the_pledgees_consent_before_approval(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, _company, bank = world
    p = await lh.patent(client, uni)
    r = await client.post(
        f"{API}/patents/{p['id']}/pledges",
        json={"pledgee_org_id": bank.org_id, "amount": "1000000.00", "ends_on": "2099-01-01"},
        headers=uni.headers,
    )
    assert r.status_code == 201, r.text
    pledge = r.json()
    assert (
        await client.post(f"{API}/pledges/{pledge['id']}/confirm", headers=bank.headers)
    ).status_code == 200
    offer = await h.create_offer(client, uni, p["id"])
    r = await client.post(f"{API}/trial-offers/{offer['id']}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_pledged"
    consent = f"{API}/pledges/{pledge['id']}/consents"
    r = await client.post(consent, json={"trial_offer_id": offer["id"]}, headers=uni.headers)
    assert r.status_code == 403
    r = await client.post(
        consent, json={"trial_offer_id": offer["id"], "listing_id": offer["id"]}, headers=bank.headers
    )
    assert r.status_code == 422
    r = await client.post(consent, json={"trial_offer_id": offer["id"]}, headers=bank.headers)
    assert r.status_code in (200, 201), r.text
    assert r.json()["trial_offer_id"] == offer["id"]
    r = await client.post(f"{API}/trial-offers/{offer['id']}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    # Consent is given to an offer pending review only.
    r = await client.post(consent, json={"trial_offer_id": offer["id"]}, headers=bank.headers)
    assert r.status_code in (200, 201)  # the first consent, replayed
    await assert_invariants(db)


async def test_co_owned_exclusive_offers_need_every_owners_consent_before_approval(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, company, _bank = world
    other = await f.organization(client, kind="research_institute", verified_by=op)
    p = await lh.patent(client, uni)
    await oh.owners_ok(client, uni, p["id"], [oh.org_owner(uni, "60.00"), oh.org_owner(other, "40.00")])
    # The other owner may offer too (any organization owner); a non-owner may not.
    r = await client.post(f"{API}/trial-offers", json=h.offer_body(p["id"]), headers=company.headers)
    assert r.status_code == 403
    # A non-exclusive offer needs nobody's consent.
    plain = await h.offered(client, op, other, p["id"])
    assert plain["owner_org_id"] == other.org_id
    await client.post(f"{API}/trial-offers/{plain['id']}/withdraw", headers=other.headers)
    for overrides in (
        {"kind": "sole_license"},
        {"conversion": {"type": "assignment", "assignment_price": "9.00"}},
    ):
        offer = await h.create_offer(client, uni, p["id"], **overrides)
        r = await client.post(f"{API}/trial-offers/{offer['id']}/approve", headers=op.headers)
        assert r.status_code == 409 and r.json()["code"] == "co_owner_consent_required", r.text
        r = await oh.consent(client, other, f"trial-offers/{offer['id']}")
        assert r.status_code == 201, r.text
        r = await client.post(f"{API}/trial-offers/{offer['id']}/approve", headers=op.headers)
        assert r.status_code == 200, r.text
        await client.post(f"{API}/trial-offers/{offer['id']}/withdraw", headers=uni.headers)
    await assert_invariants(db)
