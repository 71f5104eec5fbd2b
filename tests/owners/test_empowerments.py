"""赋权 (SPEC §18.5): inventors made owners out of the institution's share, or holding a use right for at least the
minimum term; and no full resident ID number anywhere — responses, audit events, notifications, exports, the
database."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.kit.db import Database
from tests import factories as f
from tests import trading as t
from tests.owners import helpers as h
from tests.world import org

pytestmark = pytest.mark.world(uni=org("university"), co=org(), other=org())


def ownership(*people: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "form": "ownership",
        "decision_number": "校科〔2024〕7号",
        "decided_on": "2024-01-31",
        "inventors": [{"name": n, "id_number": i, "share": s} for n, i, s in people],
    }


def use_right(number: str, years: int, decided_on: str = "2024-01-31") -> dict[str, Any]:
    return {
        "form": "use_right",
        "decision_number": "校科〔2024〕8号",
        "decided_on": decided_on,
        "inventors": [{"name": "李华", "id_number": number}, {"name": "王芳", "id_number": h.id_number(99)}],
        "term_years": years,
    }


async def empower(
    client: httpx.AsyncClient, actor: f.Actor, patent_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"/api/v1/patents/{patent_id}/empowerments", json=body, headers=actor.headers)


async def test_ownership_takes_the_inventors_shares_from_the_institution(
    client: httpx.AsyncClient, world
) -> None:
    _op, uni, co, _other = world
    p = await f.patent(client, uni)
    await h.owners_ok(client, uni, p["id"], [h.org_owner(uni, "80"), h.org_owner(co, "20")])
    a, b = h.id_number(71), h.id_number(72)
    r = await empower(client, uni, p["id"], ownership(("张明", a, "50"), ("李强", b, "20.5")))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["form"] == "ownership" and out["patent_id"] == p["id"] and out["decided_on"] == "2024-01-31"
    assert out["inventors"] == [
        {"name": "张明", "id_number_masked": h.masked(a), "share": "50.00"},
        {"name": "李强", "id_number_masked": h.masked(b), "share": "20.50"},
    ]
    assert out["starts_on"] is None and out["ends_on"] is None
    r = await client.get(f"/api/v1/patents/{p['id']}", headers=uni.headers)
    owners = [
        (o["kind"], o.get("organization_id"), o.get("id_number_masked"), o["share"])
        for o in r.json()["owners"]
    ]
    assert owners == [
        ("organization", uni.org_id, None, "9.50"),
        ("organization", co.org_id, None, "20.00"),
        ("inventor", None, h.masked(a), "50.00"),
        ("inventor", None, h.masked(b), "20.50"),
    ]
    assert all(o.get("institution_org_id") == uni.org_id for o in r.json()["owners"][2:])
    # The institution must keep a share above 0.
    r = await empower(client, uni, p["id"], ownership(("赵六", h.id_number(73), "9.50")))
    assert r.status_code == 422 and r.json()["code"] == "invalid_shares"
    r = await empower(client, uni, p["id"], ownership(("赵六", h.id_number(73), "0")))
    assert r.status_code == 422 and r.json()["code"] == "invalid_shares"
    r = await empower(client, uni, p["id"], ownership(("赵六", "330106199001010051", "1")))
    assert r.status_code == 422 and r.json()["code"] == "invalid_id_number"


async def test_who_may_empower(client: httpx.AsyncClient, world) -> None:
    _op, uni, co, other = world
    p = await f.patent(client, uni)
    await h.owners_ok(client, uni, p["id"], [h.org_owner(uni, "80"), h.org_owner(co, "20")])
    body = ownership(("张明", h.id_number(74), "10"))
    r = await empower(client, co, p["id"], body)  # an enterprise owner: no 赋权
    assert r.status_code == 403
    r = await empower(client, other, p["id"], body)
    assert r.status_code == 404
    # An ownership decision needs each inventor's share; a use right its term.
    r = await empower(
        client, uni, p["id"], {**body, "inventors": [{"name": "张明", "id_number": h.id_number(74)}]}
    )
    assert r.status_code == 422
    r = await empower(client, uni, p["id"], {**use_right(h.id_number(75), 10), "term_years": None})
    assert r.status_code == 422


async def test_ownership_is_refused_while_listed(client: httpx.AsyncClient, world) -> None:
    op, uni, *_ = world
    listing = await t.published_listing(
        client,
        op,
        uni,
        transaction_kind="nonexclusive_license",
        license={"term_months": 12, "territory": "中国", "field_of_use": "全部"},
    )
    pid = listing["patents"][0]["id"]
    r = await empower(client, uni, pid, ownership(("张明", h.id_number(76), "10")))
    assert r.status_code == 409 and r.json()["code"] == "patent_locked"


@pytest.mark.parametrize(
    ("years", "decided_on", "status", "ends_on"),
    [
        (9, "2024-01-31", 422, None),
        (10, "2024-01-31", 201, "2034-01-30"),
        (10, "2024-02-29", 201, "2034-02-27"),
        (30, "2024-01-31", 201, "2040-03-14"),  # the patent (filed 2020-03-15) ends before
    ],
)
async def test_use_rights(
    client: httpx.AsyncClient, world, years: int, decided_on: str, status: int, ends_on: str | None
) -> None:
    _op, uni, *_ = world
    p = await f.patent(client, uni, filing_date="2020-03-15")
    number = h.id_number(77)
    r = await empower(client, uni, p["id"], use_right(number, years, decided_on))
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["code"] == "use_right_term_too_short"
        return
    out = r.json()
    assert out["starts_on"] == decided_on and out["ends_on"] == ends_on
    patent = (await client.get(f"/api/v1/patents/{p['id']}", headers=uni.headers)).json()
    assert patent["use_rights"] == [
        {
            "id": out["id"],
            "holders": [
                {"name": "李华", "id_number_masked": h.masked(number)},
                {"name": "王芳", "id_number_masked": h.masked(h.id_number(99))},
            ],
            "decision_number": "校科〔2024〕8号",
            "starts_on": decided_on,
            "ends_on": ends_on,
        }
    ]
    # A use right does not change the owners.
    assert [o["share"] for o in patent["owners"]] == ["100.00"]


async def test_no_full_id_number_anywhere(client: httpx.AsyncClient, db: Database, world) -> None:
    op, uni, co, _other = world
    numbers = [h.id_number(81), h.id_number(82), h.id_number(83), "11010519491231002X"]
    seen: list[str] = []

    async def call(method: str, url: str, actor: f.Actor, **kwargs: Any) -> httpx.Response:
        r = await client.request(method, url, headers=actor.headers, **kwargs)
        seen.append(r.text)
        return r

    p = await f.patent(client, uni)
    r = await call(
        "POST",
        f"/api/v1/patents/{p['id']}/owners",
        uni,
        json={
            "owners": [h.org_owner(uni, "80"), h.org_owner(co, "10"), h.inventor("张明", numbers[0], "10")]
        },
    )
    assert r.status_code == 200
    r = await call(
        "POST", f"/api/v1/patents/{p['id']}/empowerments", uni, json=ownership(("李强", numbers[1], "5"))
    )
    assert r.status_code == 201
    r = await call("POST", f"/api/v1/patents/{p['id']}/empowerments", uni, json=use_right(numbers[2], 10))
    assert r.status_code == 201
    r = await call(
        "POST", f"/api/v1/patents/{p['id']}/empowerments", uni, json=ownership(("赵", numbers[3], "1"))
    )
    assert r.status_code == 201
    # Refusals do not repeat the number either.
    wrong = numbers[0][:-1] + ("0" if numbers[0][-1] != "0" else "1")
    numbers.append(wrong)
    r = await call(
        "POST",
        f"/api/v1/patents/{p['id']}/owners",
        uni,
        json={"owners": [h.org_owner(uni, "90"), h.inventor("x", wrong, "10")]},
    )
    assert r.status_code == 422
    for actor in (uni, co):
        await call("GET", f"/api/v1/patents/{p['id']}", actor)
        await call("GET", "/api/v1/patents", actor)
        await call("GET", "/api/v1/notifications", actor)
    await call("GET", "/api/v1/audit-events", op, params={"limit": 100})
    await call("GET", "/api/v1/audit-events", op, params={"entity_type": "patent", "entity_id": p["id"]})
    await call("GET", "/api/v1/exports/patents.csv", op)
    await call("GET", "/api/v1/exports/deals.csv", op)
    body = "\n".join(seen)
    assert h.masked(numbers[0]) in body and "张明:10.00" in body  # the export's co_owners
    for number in numbers:
        assert number not in body and number.lower() not in body
    # Nor at rest: no table holds a full number.
    async with db.read() as session:
        for table, column in (
            ("patent_owners", "id_number_masked"),
            ("patent_owners", "id_number_hash"),
            ("empowerments", "inventors"),
            ("audit_events", "data"),
        ):
            values = (
                (await session.execute(text(f"SELECT CAST({column} AS TEXT) FROM {table}"))).scalars().all()
            )
            dump = "\n".join(v or "" for v in values)
            for number in numbers:
                assert number not in dump, (table, column)
