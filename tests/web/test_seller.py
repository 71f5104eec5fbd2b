"""The seller's desk (SPEC §19.4 ``/seller``, ``/seller/listings/new``, ``/seller/import``) over HTTP on both
databases: its rows (own patents, own listings with a rejection's reason, open offers, contracts to sign), its
actions through the API's services (submit, withdraw, accept, reject, counter), the listing form's picker and
refusals by field and code, the import's counts and failed rows; who may see and do what, and CSRF."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from app.main import create_app
from tests import factories as f
from tests import trading as t
from tests.conftest import make_settings
from tests.listings import helpers as h
from tests.negotiation import helpers as n
from tests.web import helpers as w
from tests.world import org


def _rows(page: str, testid: str) -> dict[str, str]:
    """data-id → the row's HTML, for every row of ``testid``."""
    found = re.findall(rf'<(?:tr|li) data-testid="{testid}" data-id="([^"]+)"(.*?)</(?:tr|li)>', page, re.S)
    return {row_id: body for row_id, body in found}


async def _post(client: httpx.AsyncClient, path: str, token: str, **fields: str) -> httpx.Response:
    return await client.post(path, data={"csrf_token": token, **fields})


async def _listing(client: httpx.AsyncClient, actor: f.Actor, listing_id: str) -> dict:
    r = await client.get(f"/api/v1/listings/{listing_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.world(seller=org(), buyer=org(), outsider=org(), bank=org("financial_institution"))
async def test_the_desk_rows_actions_and_who_may_use_them(client: httpx.AsyncClient, db, world) -> None:
    op, seller, buyer, outsider, bank = world
    granted = await f.patent(client, seller, title="一种储能电池热管理方法")
    preserved = await h.patent(db, seller, title="一种被保全的专利", preserved=True)
    pledged = await f.patent(client, seller, title="一种已质押的专利")
    ends_on = (await t.now(client) + timedelta(days=700)).date().isoformat()
    r = await client.post(
        f"/api/v1/patents/{pledged['id']}/pledges",
        json={"pledgee_org_id": bank.org_id, "amount": "2000000.00", "ends_on": ends_on},
        headers=seller.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/pledges/{r.json()['id']}/confirm", headers=bank.headers)
    assert r.status_code == 200, r.text
    draft = await h.create(client, seller, h.body([granted["id"]], title="储能电池热管理草稿"))
    rejected = await h.create(
        client, seller, h.body([(await f.patent(client, seller))["id"]], title="被退回的项目")
    )
    await h.act(client, seller, rejected["id"], "submit")
    await h.act(client, op, rejected["id"], "reject", {"reason": "摘要与专利不符"})
    talks = await t.published_listing(client, op, seller, title="柔性显示基板")
    offer = await n.offer(client, buyer, talks["id"], "400000.00")
    other_offer_listing = await t.published_listing(client, op, seller, title="空调压缩机")
    other = await n.offer(client, buyer, other_offer_listing["id"], "300000.00")
    sold = await t.published_listing(client, op, seller, title="已成交项目")
    accepted = await n.move(
        client, seller, (await n.offer(client, buyer, sold["id"], "500000.00"))["id"], "accept"
    )
    deal = (await client.get(f"/api/v1/deals/{accepted['deal_id']}", headers=seller.headers)).json()
    foreign = await t.published_listing(client, op, outsider, title="别家的项目")
    foreign_offer = await n.offer(client, buyer, foreign["id"], "100000.00")

    # Signed out: to the login page; an operator: the 403 page.
    for path in ("/seller", "/seller/listings/new", "/seller/import"):
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}", path
    await w.sign_in(client, op.email)
    for path in ("/seller", "/seller/listings/new", "/seller/import"):
        r = await client.get(path)
        assert r.status_code == 403 and "无权访问" in r.text, path
    assert 'data-testid="nav-seller"' not in (await client.get("/listings")).text

    await w.sign_in(client, seller.email)
    r = await client.get("/seller")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    page = r.text
    assert 'data-testid="nav-seller"' in page
    patents = _rows(page, "patent-row")
    assert {granted["id"], preserved, pledged["id"]} <= set(patents)
    row = patents[granted["id"]]
    assert granted["patent_number"] in row and "一种储能电池热管理方法" in row and "有效" in row
    assert "已保全" in patents[preserved] and "已质押" in patents[pledged["id"]]
    listings = _rows(page, "my-listing-row")
    assert foreign["id"] not in listings
    assert "草稿" in listings[draft["id"]] and 'data-testid="submit-listing"' in listings[draft["id"]]
    assert "摘要与专利不符" in listings[rejected["id"]] and "草稿" in listings[rejected["id"]]
    assert "挂牌中" in listings[talks["id"]] and "签约中" in listings[sold["id"]]
    assert 'data-testid="withdraw-listing"' not in listings[sold["id"]]
    offers = _rows(page, "offer-row")
    assert set(offers) == {offer["id"], other["id"]}
    assert "¥400,000.00" in offers[offer["id"]] and "柔性显示基板" in offers[offer["id"]]
    contracts = _rows(page, "contract-row")
    assert list(contracts) == [deal["contract_id"]]
    assert f'href="/contracts/{deal["contract_id"]}"' in contracts[deal["contract_id"]]
    assert deal["id"] in _rows(page, "seller-deal-row")
    for raw in (">draft<", ">published<", ">granted<", ">under_contract<", ">awaiting_signatures<"):
        assert raw not in page
    token = w.csrf_of(page)
    # The form's picker: a pledged patent cannot be picked for a new listing (no pledgee has consented to it).
    choices = _rows((await client.get("/seller/listings/new")).text, "patent-choice")
    assert 'data-refusal="patent_pledged"' in choices[pledged["id"]] and "已质押" in choices[pledged["id"]]
    assert "data-refusal" not in choices[granted["id"]]

    # Without the form's token nothing happens (403 csrf_failed).
    r = await client.post(f"/seller/listings/{draft['id']}/submit")
    assert r.status_code == 403 and (await _listing(client, seller, draft["id"]))["status"] == "draft"
    r = await client.post(f"/seller/offers/{offer['id']}/accept", data={"csrf_token": "wrong"})
    assert r.status_code == 403

    # Submit, then withdraw; a refusal comes back by its code and changes nothing.
    r = await _post(client, f"/seller/listings/{draft['id']}/submit", token)
    assert r.status_code == 303 and r.headers["location"] == "/seller?done=submitted"
    assert (await _listing(client, seller, draft["id"]))["status"] == "pending_review"
    r = await client.get(r.headers["location"])
    assert 'data-testid="flash"' in r.text and "已提交审核" in r.text
    r = await _post(client, f"/seller/listings/{draft['id']}/withdraw", token)
    assert r.status_code == 303 and (await _listing(client, seller, draft["id"]))["status"] == "withdrawn"
    r = await _post(client, f"/seller/listings/{sold['id']}/withdraw", token)
    assert r.headers["location"] == "/seller?refused=invalid_state"
    assert (await _listing(client, seller, sold["id"]))["status"] == "under_contract"
    r = await client.get(r.headers["location"])
    assert (
        'data-testid="seller-message" data-code="invalid_state"' in r.text
        and "当前状态下不能执行此操作" in r.text
    )
    # Another organization's listing and offer: refused as by the API (its published listing is public: 403;
    # the offer is not ours to see: 404), untouched.
    r = await _post(client, f"/seller/listings/{foreign['id']}/withdraw", token)
    assert r.headers["location"] == "/seller?refused=forbidden"
    r = await _post(client, f"/seller/offers/{foreign_offer['id']}/accept", token)
    assert r.headers["location"] == "/seller?refused=not_found"
    assert (await _listing(client, outsider, foreign["id"]))["status"] == "published"

    # Answering offers: counter (¥ and commas accepted), reject, accept.
    r = await _post(client, f"/seller/offers/{offer['id']}/counter", token, price="¥450,000")
    assert r.headers["location"] == "/seller?done=countered"
    thread = (await client.get(f"/api/v1/listings/{talks['id']}/offers", headers=seller.headers)).json()[
        "items"
    ]
    assert {(o["made_by"], o["status"], o["price"]) for o in thread} == {
        ("buyer", "countered", "400000.00"),
        ("seller", "open", "450000.00"),
    }
    r = await _post(client, f"/seller/offers/{offer['id']}/counter", token, price="很多")
    assert r.headers["location"] == "/seller?refused=validation_error"
    r = await _post(client, f"/seller/offers/{other['id']}/reject", token)
    assert r.headers["location"] == "/seller?done=rejected"
    again = await n.offer(client, buyer, other_offer_listing["id"], "320000.00")
    r = await _post(client, f"/seller/offers/{again['id']}/accept", token)
    assert r.headers["location"] == "/seller?done=accepted"
    answered = (await client.get(f"/api/v1/offers/{again['id']}", headers=seller.headers)).json()
    assert answered["status"] == "accepted" and answered["deal_id"]
    r = await client.get("/seller")
    assert answered["deal_id"] in _rows(r.text, "seller-deal-row")
    assert len(_rows(r.text, "contract-row")) == 2
    # The counter waits for the buyer: shown without answers.
    offers = _rows(r.text, "offer-row")
    assert list(offers) != [] and all('data-testid="offer-accept"' not in body for body in offers.values())

    # Another organization's desk shows none of this.
    await w.sign_in(client, outsider.email)
    r = await client.get("/seller")
    assert set(_rows(r.text, "my-listing-row")) == {foreign["id"]}
    assert granted["id"] not in _rows(r.text, "patent-row") and not _rows(r.text, "contract-row")


@pytest.mark.world(seller=org(), outsider=org())
async def test_the_listing_form_picker_and_refusals(client: httpx.AsyncClient, db, world) -> None:
    op, seller, outsider = world
    good = await f.patent(client, seller, title="一种可以挂牌的专利")
    application = await f.patent(client, seller, title="一种审查中的申请", grant_date=None)
    preserved = await h.patent(db, seller, title="一种被保全的专利", preserved=True)
    expired = await h.patent(db, seller, title="一种已届满的专利", status_override="lapsed")
    committed = await t.published_listing(client, op, seller, title="已在挂牌的专利")
    listed = committed["patents"][0]["id"]
    theirs = await f.patent(client, outsider, title="别家的专利")
    await w.sign_in(client, seller.email)

    r = await client.get("/seller/listings/new")
    assert r.status_code == 200 and 'data-testid="listing-form"' in r.text
    choices = _rows(r.text, "patent-choice")
    assert theirs["id"] not in choices
    assert "disabled" not in choices[good["id"]] and "disabled" not in choices[application["id"]]
    assert (
        'data-refusal="patent_not_transferable"' in choices[preserved]
        and "已被法院保全" in choices[preserved]
    )
    assert 'data-refusal="patent_not_transferable"' in choices[expired] and "已失效" in choices[expired]
    assert 'data-refusal="patent_already_listed"' in choices[listed] and "disabled" in choices[listed]
    assert 'name="deposit"' not in r.text and 'name="auction.increment"' not in r.text  # negotiated
    # A licence: a pending application cannot be licensed; the licence terms are asked.
    r = await client.get("/seller/listings/new?pricing_mode=auction&transaction_kind=exclusive_license")
    choices = _rows(r.text, "patent-choice")
    assert 'data-refusal="patent_not_transferable"' in choices[application["id"]]
    assert "disabled" not in choices[good["id"]]
    for name in ("deposit", "license.term_months", "auction.increment", "auction.floor_price"):
        assert f'name="{name}"' in r.text, name
    assert 'name="min_bidders_for_auction"' not in r.text
    r = await client.get("/seller/listings/new?pricing_mode=listed")
    assert 'name="min_bidders_for_auction"' in r.text and 'name="license.term_months"' not in r.text
    token = w.csrf_of(r.text)

    base = {
        "csrf_token": token,
        "pricing_mode": "listed",
        "transaction_kind": "assignment",
        "title": "一种可以挂牌的专利转让",
        "summary": "工艺成熟。",
        "patent_ids": good["id"],
        "price": "¥1,000,000",
        "deposit": "400000",
    }
    # The terms' refusal at its field with the API's code, the typed values kept.
    r = await client.post("/seller/listings/new", data={**base, "action": "submit"})
    assert r.status_code == 422
    assert 'data-testid="field-error" data-field="deposit" data-code="invalid_deposit"' in r.text
    assert 'data-testid="form-error" data-code="invalid_deposit"' in r.text
    assert 'value="400000"' in r.text and 'value="一种可以挂牌的专利转让"' in r.text
    assert re.search(rf'value="{good["id"]}" checked', r.text)
    # Fields the schema refuses: each by its name.
    r = await client.post(
        "/seller/listings/new", data={**base, "title": "", "listing_days": "3", "deposit": "1000.00"}
    )
    assert r.status_code == 422
    assert 'data-field="title" data-code="validation_error"' in r.text
    assert 'data-field="listing_days" data-code="validation_error"' in r.text
    r = await client.post("/seller/listings/new", data={**base, "deposit": "1000.00", "price": "abc"})
    assert r.status_code == 422 and 'data-field="price"' in r.text
    r = await client.post("/seller/listings/new", data={**base, "deposit": "1000.00", "title": "隔膜\x00"})
    assert r.status_code == 422 and "不能包含控制字符" in r.text
    # A patent the picker greys out, sent anyway: the service's refusal at the patents.
    r = await client.post(
        "/seller/listings/new", data={**base, "deposit": "1000.00", "patent_ids": preserved}
    )
    assert r.status_code == 409
    assert 'data-field="patent_ids" data-code="patent_not_transferable"' in r.text
    r = await client.post(
        "/seller/listings/new", data={**base, "deposit": "1000.00", "patent_ids": theirs["id"]}
    )
    assert r.status_code == 409 and 'data-code="patent_not_transferable"' in r.text
    before = (await client.get("/api/v1/listings?status=draft", headers=seller.headers)).json()["items"]
    assert [x for x in before if x["title"] == "一种可以挂牌的专利转让"] == []  # nothing was saved
    # Without the token: refused, nothing saved.
    r = await client.post("/seller/listings/new", data={**base, "csrf_token": "", "deposit": "1000.00"})
    assert r.status_code == 403

    # A draft, then straight to review.
    r = await client.post("/seller/listings/new", data={**base, "deposit": "1000.00", "action": "draft"})
    assert r.status_code == 303 and r.headers["location"] == "/seller?done=draft"
    mine = (await client.get("/api/v1/listings?status=draft", headers=seller.headers)).json()["items"]
    made = [x for x in mine if x["title"] == "一种可以挂牌的专利转让"]
    assert len(made) == 1
    assert (made[0]["price"], made[0]["deposit"], made[0]["pricing_mode"]) == (
        "1000000.00",
        "1000.00",
        "listed",
    )
    other = await f.patent(client, seller, title="一种直接提交的专利")
    r = await client.post(
        "/seller/listings/new",
        data={
            "csrf_token": token,
            "pricing_mode": "negotiated",
            "transaction_kind": "nonexclusive_license",
            "title": "普通许可项目",
            "summary": "",
            "patent_ids": other["id"],
            "license.term_months": "36",
            "license.territory": "中国大陆",
            "license.field_of_use": "动力电池",
            "action": "submit",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/seller?done=submitted"
    r = await client.get("/seller")
    rows = _rows(r.text, "my-listing-row")
    assert any("普通许可项目" in body and "待审核" in body for body in rows.values())


CSV_HEADER = (
    "application_number,title,abstract,ipc_codes,inventors,filing_date,grant_date,annual_fee_paid_until\n"
)


@pytest.mark.world(seller=org(), outsider=org(), fresh=org(verified=False))
async def test_the_import_counts_failed_rows_and_invalid_files(client: httpx.AsyncClient, db, world) -> None:
    seller, outsider = world.seller, world.outsider
    first, second = f.application_number(990001), f.application_number(990002)
    lines = [
        f"{first},一种导入的专利,摘要,H01M 10/0525,张三;李四,2020-03-15,2022-06-01,",
        f"{second},另一种导入的专利,摘要,G06F16/30,王五,2020-04-01,,",
        "201510703489.0,校验位错误的专利,摘要,,赵六,2020-04-01,,",
        f"{f.application_number(990003)},缺日期,摘要,,钱七,,,",
    ] + [
        f"{f.application_number(990010 + i)},批量专利{i},摘要,,孙八,2021-01-04,2023-01-04," for i in range(50)
    ]
    csv = (CSV_HEADER + "\n".join(lines) + "\n").encode()
    await w.sign_in(client, seller.email)
    r = await client.get("/seller/import")
    assert r.status_code == 200
    for testid in ("import-file", "import-submit", "import-template"):
        assert f'data-testid="{testid}"' in r.text
    token = w.csrf_of(r.text)
    r = await client.get("/seller/import/template.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.decode("utf-8-sig").strip() == CSV_HEADER.strip()

    files = {"file": ("patents.csv", csv, "text/csv")}
    r = await client.post("/seller/import", files=files)  # no token: refused, nothing saved
    assert r.status_code == 403
    r = await client.post("/seller/import", data={"csrf_token": token}, files=files)
    assert r.status_code == 200, r.text
    assert 'data-testid="import-created">52<' in r.text and 'data-testid="import-updated">0<' in r.text
    failed = re.findall(
        r'data-testid="import-failed-row" data-row="(\d+)" data-code="([a-z_]+)"><td>[^<]*</td><td>([^<]+)<',
        r.text,
    )
    assert failed == [
        ("3", "invalid_patent_number", "申请号格式或校验位有误"),
        ("4", "missing_value", "缺少必填内容"),
    ]
    # The desk lists them 50 at a time, with a link to the rest.
    r = await client.get("/seller")
    rows = _rows(r.text, "patent-row")
    more = re.search(r'<a href="([^"]+)" data-testid="patents-next">', r.text)
    assert len(rows) == 50 and more
    r = await client.get(html.unescape(more.group(1)))
    assert r.status_code == 200 and 'data-testid="patents-next"' not in r.text
    rows.update(_rows(r.text, "patent-row"))
    assert len(rows) == 52 and sum(f"ZL{first}" in body for body in rows.values()) == 1
    # The same file again with one title changed: one update, nothing new.
    changed = csv.replace("另一种导入的专利".encode(), "另一种导入的专利（修订）".encode())
    r = await client.post(
        "/seller/import", data={"csrf_token": token}, files={"file": ("p.csv", changed, "text/csv")}
    )
    assert 'data-testid="import-created">0<' in r.text and 'data-testid="import-updated">1<' in r.text
    # Unreadable: invalid_csv, saying how to save the file; a missing column alike.
    for content in (b"\x00\x01\x02\xff\xfe" * 50, b"title,abstract\n\xe4\xb8\x80,x\n"):
        r = await client.post(
            "/seller/import", data={"csrf_token": token}, files={"file": ("bad.csv", content, "text/csv")}
        )
        assert r.status_code == 422
        assert 'data-testid="import-error" data-code="invalid_csv"' in r.text
        assert '请另存为"CSV UTF-8"格式' in html.unescape(r.text)
        assert 'data-testid="import-created"' not in r.text
    # An unverified organization may not import, as with the API.
    await w.sign_in(client, world.fresh.email)
    token = await w.csrf_token(client, "/seller/import")
    r = await client.post("/seller/import", data={"csrf_token": token}, files=files)
    assert r.status_code == 403 and 'data-code="organization_not_verified"' in r.text
    # The patents are the seller's own: another organization's desk does not show them.
    await w.sign_in(client, outsider.email)
    r = await client.get("/seller")
    assert first not in r.text


@pytest.mark.world(seller=org())
async def test_an_upload_over_the_limit_is_413_and_saves_nothing(backend, db, world) -> None:
    """The API's upload limit (``EXCHANGE_MAX_UPLOAD_BYTES``) holds for the page, whether the upload declares
    its length or streams it (a streamed one is cut while the form's token is read: never a 500)."""
    app = create_app(make_settings(backend.url, max_upload_bytes=4096), db=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await w.sign_in(client, world.seller.email)
        token = await w.csrf_token(client, "/seller/import")
        number = f.application_number(990101)
        csv = (CSV_HEADER + f"{number},一种过大的文件,{'摘' * 2000},,张三,2020-03-15,,\n").encode()
        r = await client.post(
            "/seller/import", data={"csrf_token": token}, files={"file": ("big.csv", csv, "text/csv")}
        )
        assert r.status_code == 413
        body = b"".join(
            [
                b'--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n',
                token.encode(),
                b'\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n',
                b"Content-Type: text/csv\r\n\r\n",
                csv,
                b"\r\n--B--\r\n",
            ]
        )

        async def streamed() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        r = await client.post(
            "/seller/import",
            content=streamed(),
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )
        assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
        assert "内容过大" in r.text
        r = await client.get(
            f"/api/v1/patents?owner_org_id={world.seller.org_id}", headers=world.seller.headers
        )
        assert r.json()["items"] == []
