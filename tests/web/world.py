"""The world of the browser tests, made through the API of the running server (``tests/web/conftest.py``):
an operator, a university and an enterprise seller, a buyer, listings to search, a settled deal with its
certificate; and the dashboard's own world (``payer_world``), made when its module starts."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories as f
from tests.live import OPERATOR_EMAIL, LiveServer

BUYER_PASSWORD = f.PASSWORD


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def _listing(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, *, patent_title: str, abstract: str, **terms: Any
) -> dict[str, Any]:
    patent = await f.patent(client, seller, title=patent_title, abstract=abstract)
    body = {
        "summary": "高孔隙率隔膜，适用于动力电池。",
        "patent_ids": [patent["id"]],
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "500000.00",
        **terms,
    }
    listing = await _ok(await client.post("/api/v1/listings", json=body, headers=seller.headers), 201)
    await _ok(await client.post(f"/api/v1/listings/{listing['id']}/submit", headers=seller.headers))
    result: dict[str, Any] = await _ok(
        await client.post(f"/api/v1/listings/{listing['id']}/approve", headers=op.headers)
    )
    return result


async def _fund(client: httpx.AsyncClient, op: f.Actor, org: f.Actor, amount: str, reference: str) -> None:
    body = {"organization_id": org.org_id, "amount": amount, "bank_reference": reference}
    r = await client.post("/api/v1/ledger/payments", json=body, headers=op.headers)
    assert r.status_code in (200, 201), r.text


async def _unpaid_deal(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, buyer: f.Actor, *, title: str, price: str
) -> dict[str, Any]:
    """A negotiated listing of ``seller`` sold to ``buyer`` at ``price``, both signed: awaiting payment."""
    listing = await _listing(
        client,
        op,
        seller,
        patent_title=title[:-4],
        abstract="供暖系统用的阀门。",
        title=title,
        summary="供暖系统用的阀门。",
        price=price,
    )
    offer = await _ok(
        await client.post(
            f"/api/v1/listings/{listing['id']}/offers", json={"price": price}, headers=buyer.headers
        ),
        201,
    )
    accepted = await _ok(await client.post(f"/api/v1/offers/{offer['id']}/accept", headers=seller.headers))
    deal = await _ok(await client.get(f"/api/v1/deals/{accepted['deal_id']}", headers=buyer.headers))
    terms = await _ok(await client.get(f"/api/v1/contracts/{deal['contract_id']}", headers=buyer.headers))
    for party in (seller, buyer):
        await _ok(
            await client.post(
                f"/api/v1/contracts/{terms['id']}/sign",
                json={"sha256": terms["sha256"]},
                headers=party.headers,
            )
        )
    result: dict[str, Any] = await _ok(await client.get(f"/api/v1/deals/{deal['id']}", headers=buyer.headers))
    return result


async def build(server: LiveServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        op = f.Actor(id="", email=OPERATOR_EMAIL, org_id=None, headers=server.operator_headers)
        university = await f.organization(client, kind="university", verified_by=op, name="浙江示范大学")
        maker = await f.organization(client, verified_by=op, name="杭州新材科技有限公司")
        buyer = await f.organization(client, verified_by=op, name="宁波电池制造有限公司")
        battery = await _listing(
            client,
            op,
            university,
            patent_title="一种锂电池隔膜",
            abstract="高孔隙率隔膜。",
            title="锂电池隔膜专利转让",
            pricing_mode="listed",
            price="1250000.00",
            deposit="50000.00",
        )
        chip = await _listing(
            client,
            op,
            university,
            patent_title="芯片散热器",
            abstract="用于服务器的散热器。",
            title="高性能芯片散热结构",
            summary="服务器芯片的散热结构。",
            price="300000.00",
        )
        # A settled deal: an enterprise seller's negotiated listing (no public notice), offer, signatures,
        # payment, settlement.
        sold = await _listing(
            client,
            op,
            maker,
            patent_title="柔性压力传感器",
            abstract="可穿戴设备。",
            title="柔性传感器专利转让",
            summary="可穿戴设备用的压力传感器。",
        )
        await _fund(client, op, buyer, "1100000.00", "WEB-BROWSER-1")
        offer = await _ok(
            await client.post(
                f"/api/v1/listings/{sold['id']}/offers", json={"price": "500000.00"}, headers=buyer.headers
            ),
            201,
        )
        accepted = await _ok(await client.post(f"/api/v1/offers/{offer['id']}/accept", headers=maker.headers))
        deal = await _ok(await client.get(f"/api/v1/deals/{accepted['deal_id']}", headers=buyer.headers))
        contract = await _ok(
            await client.get(f"/api/v1/contracts/{deal['contract_id']}", headers=buyer.headers)
        )
        for party in (maker, buyer):
            await _ok(
                await client.post(
                    f"/api/v1/contracts/{contract['id']}/sign",
                    json={"sha256": contract["sha256"]},
                    headers=party.headers,
                )
            )
        await _ok(await client.post(f"/api/v1/deals/{deal['id']}/pay", headers=buyer.headers))
        settled = await _ok(await client.post(f"/api/v1/deals/{deal['id']}/settle", headers=op.headers))
        return {
            "op": op,
            "university": university,
            "maker": maker,
            "buyer": buyer,
            "battery": battery,
            "chip": chip,
            "certificate": settled["certificate_number"],
            "contract_sha256": contract["sha256"],
        }


async def payer_world(server: LiveServer, world: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's world, made when its tests start (the business clock may have moved since ``build``):
    a buyer of its own with deals awaiting its payment (one funded, one it cannot pay), two threads the seller
    countered, and a registration with its deposit held."""
    op, maker, university = world["op"], world["maker"], world["university"]
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        # Deals awaiting the payment of a buyer of its own (the dashboard's pay button): one funded to be
        # paid, one that the account cannot pay.
        payer = await f.organization(client, verified_by=op, name="温州阀门制造有限公司")
        unpaid = await _unpaid_deal(client, op, maker, payer, title="智能温控阀专利转让", price="200000.00")
        short = await _unpaid_deal(client, op, maker, payer, title="管道流量计专利转让", price="300000.00")
        await _fund(client, op, payer, unpaid["amount_due"], "WEB-BROWSER-2")
        # A thread of the payer that the seller countered: open, to be accepted from the dashboard.
        fan = await _listing(
            client,
            op,
            maker,
            patent_title="静音风扇",
            abstract="低噪声风扇。",
            title="静音风扇叶片专利转让",
            summary="低噪声的风扇叶片。",
            price="150000.00",
        )
        asked = await _ok(
            await client.post(
                f"/api/v1/listings/{fan['id']}/offers", json={"price": "120000.00"}, headers=payer.headers
            ),
            201,
        )
        countered = await _ok(
            await client.post(
                f"/api/v1/offers/{asked['id']}/counter", json={"price": "140000.00"}, headers=maker.headers
            ),
            201,
        )
        motor = await _listing(
            client,
            op,
            maker,
            patent_title="节能电机",
            abstract="高效电机。",
            title="节能电机绕组专利转让",
            summary="高效电机的绕组结构。",
            price="150000.00",
        )
        asked = await _ok(
            await client.post(
                f"/api/v1/listings/{motor['id']}/offers", json={"price": "110000.00"}, headers=payer.headers
            ),
            201,
        )
        to_counter = await _ok(
            await client.post(
                f"/api/v1/offers/{asked['id']}/counter", json={"price": "145000.00"}, headers=maker.headers
            ),
            201,
        )
        # A thread the seller countered and then withdraws while the payer's dashboard is open.
        pump_valve = await _listing(
            client,
            op,
            maker,
            patent_title="水泵止回阀",
            abstract="防倒流止回阀。",
            title="水泵止回阀专利转让",
            summary="防倒流的止回阀。",
            price="90000.00",
        )
        asked = await _ok(
            await client.post(
                f"/api/v1/listings/{pump_valve['id']}/offers",
                json={"price": "80000.00"},
                headers=payer.headers,
            ),
            201,
        )
        to_vanish = await _ok(
            await client.post(
                f"/api/v1/offers/{asked['id']}/counter", json={"price": "88000.00"}, headers=maker.headers
            ),
            201,
        )
        # A registration of the payer to withdraw from the dashboard, its deposit held.
        pump = await _listing(
            client,
            op,
            university,
            patent_title="热泵换热器",
            abstract="空气源热泵。",
            title="热泵换热器专利转让",
            summary="空气源热泵用的换热器。",
            pricing_mode="listed",
            price="400000.00",
            deposit="30000.00",
        )
        await _fund(client, op, payer, "30000.00", "WEB-BROWSER-3")
        registered = await _ok(
            await client.post(f"/api/v1/listings/{pump['id']}/registrations", headers=payer.headers), 201
        )
        return {
            "payer": payer,
            "unpaid_deal": unpaid,
            "unaffordable_deal": short,
            "payer_registration": registered,
            "payer_counter": countered,
            "payer_counter_to_answer": to_counter,
            "payer_counter_to_vanish": to_vanish,
        }
