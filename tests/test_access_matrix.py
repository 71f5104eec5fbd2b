"""Who may do what, for every endpoint of the foundation (SPEC §2): another organization's private object is
404, a role that may not act is 403 ``forbidden``, an unverified organization is 403
``organization_not_verified`` — and a refused call changes nothing (checked through the audit trail)."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories as f


async def _world(client: httpx.AsyncClient, db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    op = await f.operator(client, db)
    a = await f.organization(client, kind="university", verified_by=op)
    b = await f.organization(client, verified_by=op)
    unverified = await f.organization(client)
    r = await client.post(
        f"/api/v1/organizations/{a.org_id}/members",
        headers=a.headers,
        json={"email": "member@a.example.cn", "password": f.PASSWORD, "name": "成员", "role": "member"},
    )
    assert r.status_code == 201
    member = f.Actor(
        id=r.json()["id"],
        email="member@a.example.cn",
        org_id=a.org_id,
        headers=await f.login(client, "member@a.example.cn"),
    )
    patent = await f.patent(client, a)
    r = await client.post(
        "/api/v1/listings",
        headers=a.headers,
        json={
            "title": "草稿",
            "summary": "未发布",
            "patent_ids": [patent["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
            "price": "100000.00",
        },
    )
    assert r.status_code == 201, r.text
    return {
        "op": op,
        "a": a,
        "b": b,
        "u": unverified,
        "m": member,
        "patent": patent["id"],
        "listing": r.json()["id"],
    }


def _cases(w: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any] | None, int, str]]:
    a, p, lst = w["a"].org_id, w["patent"], w["listing"]
    member = {"email": "x@a.example.cn", "password": f.PASSWORD, "name": "X", "role": "member"}
    listing = {
        "title": "T",
        "summary": "S",
        "patent_ids": [p],
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "1.00",
    }
    return [
        # (who, method, path, body, status, code)
        ("b", "GET", f"/organizations/{a}", None, 404, "not_found"),
        ("b", "PATCH", f"/organizations/{a}", {"reward_rules": "national"}, 404, "not_found"),
        ("m", "PATCH", f"/organizations/{a}", {"reward_rules": "national"}, 403, "forbidden"),
        ("a", "POST", f"/organizations/{w['b'].org_id}/verify", None, 403, "forbidden"),
        ("b", "POST", f"/organizations/{a}/members", member, 404, "not_found"),
        ("m", "POST", f"/organizations/{a}/members", member, 403, "forbidden"),
        ("b", "GET", f"/organizations/{a}/members", None, 404, "not_found"),
        ("a", "GET", "/organizations", None, 403, "forbidden"),
        ("a", "POST", "/api-keys", {"name": "k"}, 403, "forbidden"),
        ("a", "GET", "/api-keys", None, 403, "forbidden"),
        (
            "u",
            "POST",
            "/patents",
            {"application_number": "201510703489.3", "title": "t", "filing_date": "2015-10-26"},
            403,
            "organization_not_verified",
        ),
        ("b", "GET", f"/patents/{p}", None, 404, "not_found"),
        ("b", "PATCH", f"/patents/{p}", {"title": "x"}, 404, "not_found"),
        ("a", "PATCH", f"/patents/{p}", {"legal_status": "lapsed"}, 403, "forbidden"),
        ("a", "POST", f"/patents/{p}/preservation", {"active": True, "reason": "r"}, 403, "forbidden"),
        ("u", "POST", "/listings", listing, 403, "organization_not_verified"),
        ("b", "GET", f"/listings/{lst}", None, 404, "not_found"),
        ("anonymous", "GET", f"/listings/{lst}", None, 404, "not_found"),
        ("b", "PATCH", f"/listings/{lst}", {"title": "x"}, 404, "not_found"),
        ("b", "POST", f"/listings/{lst}/submit", None, 404, "not_found"),
        ("b", "POST", f"/listings/{lst}/withdraw", None, 404, "not_found"),
        ("a", "POST", f"/listings/{lst}/approve", None, 403, "forbidden"),
        ("a", "POST", f"/listings/{lst}/reject", {"reason": "r"}, 403, "forbidden"),
        ("a", "POST", f"/listings/{lst}/suspend", {"reason": "r"}, 403, "forbidden"),
        ("a", "POST", f"/listings/{lst}/resume", None, 403, "forbidden"),
        ("a", "POST", f"/listings/{lst}/terminate", {"reason": "r"}, 403, "forbidden"),
        ("b", "GET", "/audit-events", None, 404, "not_found"),
        ("a", "GET", "/audit-events/verify", None, 403, "forbidden"),
        ("anonymous", "GET", "/me", None, 401, "unauthorized"),
    ]


async def test_outsiders_get_404_roles_get_403_unverified_get_403(client: httpx.AsyncClient, db) -> None:
    w = await _world(client, db)
    before = (await client.get("/api/v1/audit-events/verify", headers=w["op"].headers)).json()["count"]
    failures = []
    for who, method, path, body, status, code in _cases(w):
        headers = {} if who == "anonymous" else w[who].headers
        r = await client.request(method, f"/api/v1{path}", json=body, headers=headers)
        if r.status_code != status or r.json().get("code") != code:
            failures.append(f"{who} {method} {path}: {r.status_code} {r.text[:120]}")
    assert failures == []
    after = (await client.get("/api/v1/audit-events/verify", headers=w["op"].headers)).json()["count"]
    assert after == before, "a refused call changed something"
