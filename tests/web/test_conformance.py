"""Every page of SPEC §19.4, as each audience that may see it, against the page rules of §19.1 and §19.6 over
HTTP on both databases: ``<html lang="zh-CN">``, UTF-8, the local favicon, the CSP and the other headers
(``no-store`` when signed in); a label for every input; no inline script, no ``style=`` and no ``on*=``
attribute (the CSP forbids them); enum values as Chinese labels, never raw; amounts as ``¥1,250,000.00``;
instants inside ``<time datetime="…Z">`` in Shanghai time; the test ids §19.4 names for the page's data.

One world for the module (a listing of each pricing mode, a registration, open offers, deals with their
contracts at each step, a public notice with an objection, a pending organization, a running auction with
bids), made once per database; each page is read and checked with the standard library's HTML parser, and
every finding of every page is reported together."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from app.kit.workdays import SHANGHAI
from app.web.labels import LABELS
from app.web.security import CSP
from app.web.templating import STATIC_DIR
from tests import factories as f
from tests import trading as t
from tests.auctions import helpers as a
from tests.settlement import helpers as s
from tests.web import helpers as w

# The enum values §19.1 wants shown as Chinese labels (never raw): none may appear as visible text.
RAW_ENUMS = sorted(
    {value for kind in LABELS if kind not in ("sort", "role") for value in LABELS[kind]},
    key=len,
    reverse=True,
)
_RAW = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(RAW_ENUMS) + r")(?![A-Za-z0-9_])")
_BARE_AMOUNT = re.compile(r"(?<![\d,.])\d{4,}\.\d{2}(?!\d)")
_YEN = re.compile(r"¥\S*")
_GOOD_YEN = re.compile(r"¥\d{1,3}(,\d{3})*\.\d{2}")
_INSTANT_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")
_TIME_ATTR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}
# Elements that hold a value only (§19.4: no label text): an amount, or ``—`` for none.
MONEY_TESTIDS = {
    "listing-price",
    "listing-deposit",
    "account-available",
    "account-held",
    "start-price",
    "dutch-price",
    "my-sealed-bid",
    "my-proxy",
}


def _one_of(kind: str) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(v) for v in LABELS[kind].values()))


VALUE_TESTIDS = {
    "listing-status": _one_of("listing_status"),
    "registration-status": _one_of("registration_status"),
    "bidder-code": re.compile(r"[A-Z0-9-]+"),
    "contract-sha256": re.compile(r"[0-9a-f]{64}"),
    "certificate-number": re.compile(r"[A-Z0-9-]+"),
    "import-created": re.compile(r"\d+"),
    "import-updated": re.compile(r"\d+"),
    "countdown": re.compile(r"(\d+天 )?\d{2}:\d{2}:\d{2}|—"),
    "leader": re.compile(r"您|[A-Z0-9-]+|—|密封报价，结束后公布"),
    "current-price": re.compile(r"¥\d{1,3}(,\d{3})*\.\d{2}|—|密封报价，结束后公布"),
    "phase": re.compile("未开始|自由报价期|限时报价期|已结束|流拍|已取消"),
    "nav-user": re.compile(r"\S.*"),
}
TIME_TESTIDS = {"listing-ends-at", "ends-at"}
# Rows carry data-id = the resource id (§19.4).
ROW_TESTIDS = {
    "listing-card",
    "patent-row",
    "registration-row",
    "offer-row",
    "deal-row",
    "my-listing-row",
    "contract-row",
    "review-org-row",
    "review-listing-row",
    "review-registration-row",
    "objection-row",
    "settle-row",
    "bid-row",
}
# SPEC §19.1: these actions open the confirm dialog (a page form says so with data-confirm-title; the
# contract's sign form is confirmed by contract.js).
CONSEQUENTIAL = {
    "register",
    "bids",
    "accept",
    "pay",
    "sign",
    "settle",
    "verify",
    "approve",
    "qualify",
    "withdraw",
}
LAYOUT = {"confirm-dialog", "confirm-ok", "confirm-cancel"}


@dataclass
class _Text:
    text: str
    in_time: bool
    # Exempt from the amount format: a textarea's content (what the user typed, like an input's value), a
    # placeholder or a field's error (they show how to type an amount: the API's form), an identifier
    # (``mono``: a bank reference may hold digits and a dot).
    in_control: bool


@dataclass
class PageAudit(HTMLParser):
    """One page's markup, read once; ``problems()`` lists every rule it breaks."""

    lang: str | None = None
    charset: str | None = None
    icons: list[str] = field(default_factory=list)
    stack: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    controls: list[tuple[str, str | None, bool]] = field(default_factory=list)  # (what, id, labelled)
    label_for: list[str] = field(default_factory=list)
    references: list[tuple[str, str]] = field(default_factory=list)  # (aria-describedby/-labelledby, id)
    ids: Counter[str] = field(default_factory=Counter)
    testids: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    texts: list[_Text] = field(default_factory=list)
    times: list[tuple[str, list[str]]] = field(default_factory=list)  # (datetime, its text)
    text_by_element: dict[int, list[str]] = field(default_factory=dict)  # by id() of an element's attributes
    elements: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        HTMLParser.__init__(self, convert_charrefs=True)

    def _inside(self, tag: str) -> bool:
        return any(name == tag for name, _ in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        where = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in list(values.items())[:3])}>"
        for name in values:
            if name == "style":
                self.found.append(f"style attribute (the CSP forbids it): {where}")
            if name.startswith("on"):
                self.found.append(f"{name} attribute (the CSP forbids inline handlers): {where}")
        if values.get("href", "").lower().startswith("javascript:"):
            self.found.append(f"javascript: link: {where}")
        if tag == "html":
            self.lang = values.get("lang")
        elif tag == "meta" and "charset" in values:
            self.charset = values["charset"]
        elif tag == "link" and "icon" in values.get("rel", "").split():
            self.icons.append(values.get("href", ""))
        elif tag == "img" and "alt" not in values:
            self.found.append(f"an image without alt: {where}")
        elif tag == "style":
            self.found.append("a <style> element (the CSP forbids inline styles)")
        elif tag == "script" and not values.get("src"):
            self.found.append("an inline <script> (the CSP forbids it)")
        if "id" in values:
            self.ids[values["id"]] += 1
        if tag == "label" and values.get("for"):
            self.label_for.append(values["for"])
        for attr in ("aria-describedby", "aria-labelledby"):
            self.references += [(attr, target) for target in values.get(attr, "").split()]
        if tag in ("input", "select", "textarea") and values.get("type", "").lower() not in _UNLABELLED_TYPES:
            labelled = bool(values.get("aria-label") or values.get("aria-labelledby")) or self._inside(
                "label"
            )
            self.controls.append((where, values.get("id"), labelled))
        for attr in ("placeholder", "title", "aria-label", "alt", "data-confirm-title"):
            if values.get(attr):
                self.texts.append(_Text(values[attr], False, attr == "placeholder"))
        if values.get("data-confirm-lines"):
            try:
                lines = json.loads(values["data-confirm-lines"])
            except ValueError:
                self.found.append(f"data-confirm-lines is not JSON: {where}")
            else:
                self.texts.extend(_Text(str(line), False, False) for line in lines)
        if "data-testid" in values:
            self.testids.append((values["data-testid"], values))
            # A refusal (its problem code shown) is an alert (§19.6); a failed import row is a table row.
            refusal = values.get("data-code") and not values["data-testid"].endswith("-row")
            if refusal and values.get("role") != "alert":
                self.found.append(f"a refusal without role=alert: {where}")
        if tag == "form" and values.get("method", "").lower() == "post":
            path = values.get("action", "").split("?")[0].strip("/").split("/")
            verb = path[-1] if len(path) > 1 else ""  # /register alone is the sign-up, not a listing's
            if verb in CONSEQUENTIAL and not ("data-confirm-title" in values or "data-sign-form" in values):
                self.found.append(f"a {verb} form without the confirm dialog: {where}")
        if tag == "time":
            self.times.append((values.get("datetime", ""), []))
        if tag not in _VOID:
            self.stack.append((tag, values))
            self.elements.append(values)  # kept, so that id(values) names this element only

    def handle_endtag(self, tag: str) -> None:
        if not any(name == tag for name, _ in self.stack):
            return
        while self.stack:
            name, values = self.stack.pop()
            named = values.get("aria-label") or values.get("aria-labelledby") or self.text_of(values)
            if name in ("a", "button", "title", "label") and not named:
                self.found.append(f"a <{name}> without text: {values}")
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if not data.strip():
            return
        if self._inside("script"):
            self.found.append("an inline <script> with content (the CSP forbids it)")
            return
        exempt = self._inside("textarea") or any(
            {"mono", "field-error"} & set(values.get("class", "").split()) for _, values in self.stack
        )
        self.texts.append(_Text(data, self._inside("time"), exempt))
        if self._inside("time") and self.times:
            self.times[-1][1].append(data)
        for _, values in self.stack:
            self.text_by_element.setdefault(id(values), []).append(data)

    def text_of(self, values: dict[str, str]) -> str:
        return "".join(self.text_by_element.get(id(values), [])).strip()

    def problems(self, expected: set[str]) -> list[str]:
        out = list(self.found)
        if self.lang != "zh-CN":
            out.append(f'<html lang="{self.lang}">, not zh-CN')
        if (self.charset or "").lower() != "utf-8":
            out.append(f"meta charset {self.charset!r}, not utf-8")
        if not any(href.startswith("/static/") for href in self.icons):
            out.append(f"no local favicon: {self.icons}")
        labelled = set(self.label_for)
        for what, control_id, inside in self.controls:
            if not inside and (control_id is None or control_id not in labelled):
                out.append(f"an input without a label: {what}")
        for target in self.label_for:
            if target not in self.ids:
                out.append(f'<label for="{target}"> names no element')
        out += [
            f'{attr}="{target}" names no element'
            for attr, target in self.references
            if target not in self.ids
        ]
        out += [f'id "{i}" appears {n} times' for i, n in self.ids.items() if n > 1]
        for piece in self.texts:
            raw = _RAW.search(piece.text)
            if raw:
                out.append(f"raw enum value {raw.group(1)!r} shown: {piece.text.strip()[:80]!r}")
            if piece.in_control:
                continue  # an input's value or placeholder shows the API form (§19.1)
            bare = _BARE_AMOUNT.search(piece.text)
            if bare:
                out.append(f"an amount without ¥ and comma groups: {piece.text.strip()[:80]!r}")
            for yen in _YEN.findall(piece.text):
                if not _GOOD_YEN.match(yen):
                    out.append(f"a malformed amount {yen!r}: {piece.text.strip()[:80]!r}")
            if not piece.in_time and _INSTANT_TEXT.search(piece.text):
                out.append(f"an instant outside <time>: {piece.text.strip()[:80]!r}")
        for instant, parts in self.times:
            shown = "".join(parts).strip()
            if not _TIME_ATTR.fullmatch(instant) or not _TIME_TEXT.fullmatch(shown):
                out.append(f'<time datetime="{instant}">{shown}</time> is not a UTC instant shown in full')
                continue
            local = datetime.fromisoformat(instant).astimezone(SHANGHAI)
            if local.strftime("%Y-%m-%d %H:%M:%S")[: len(shown)] != shown:
                out.append(f'<time datetime="{instant}">{shown}</time> is not Shanghai time')
        present = {name for name, _ in self.testids}
        out += [f"test id {name!r} missing" for name in sorted(expected - present)]
        for name, values in self.testids:
            if name in ROW_TESTIDS and not values.get("data-id"):
                out.append(f"row {name!r} without data-id")
            if name in MONEY_TESTIDS:
                shown = self.text_of(values)
                if shown != "—" and not _GOOD_YEN.fullmatch(shown):
                    out.append(f"{name} holds {shown!r}, not an amount alone")
            if name in TIME_TESTIDS and not self.text_of(values):
                out.append(f"{name} holds no time")
            rule = VALUE_TESTIDS.get(name)
            if rule is not None and not rule.fullmatch(self.text_of(values)):
                out.append(f"{name} holds {self.text_of(values)!r}, not its value alone")
        return out


def audit(html: str, expected: AbstractSet[str] = frozenset()) -> list[str]:
    parser = PageAudit()
    parser.feed(html)
    parser.close()
    return parser.problems(set(expected))


def test_the_audit_finds_what_it_looks_for() -> None:
    """The checker itself: a page breaking each rule is caught (so the sweep below can fail)."""
    good = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<link rel="icon" href="/static/favicon.abc.svg"></head><body>'
        '<label for="x">金额</label><input id="x" value="1250000.00" placeholder="1250000.00">'
        '<p data-testid="listing-price">¥1,250,000.00</p>'
        '<p><time datetime="2026-11-25T02:00:00Z">2026-11-25 10:00</time> 挂牌中</p></body></html>'
    )
    assert audit(good, {"listing-price"}) == []
    bad = (
        '<html lang="en"><head><script>alert(1)</script></head><body style="x">'
        '<input id="y"><select name="s"></select><button onclick="go()">go</button>'
        "<p>published · 1250000.00 · ¥1250000.00 · 2026-11-25 10:00</p>"
        '<p data-testid="listing-price">价格：¥1.00</p><time datetime="2026-11-25T02:00:00Z">2026-11-25 02:00</time>'
        '<div data-testid="listing-card"></div>'
        '<form method="post" action="/operator/deals/1/settle?q="><button>结算</button></form>'
        '<p data-testid="sign-message" data-code="contract_changed">合同已变更</p>'
        '<button type="button"></button><label for="x"> </label><input aria-describedby="nowhere" aria-label="a"><img src="/static/x.svg"><span data-testid="phase">阶段：未开始</span>'
        "</body></html>"
    )
    found = "\n".join(audit(bad, {"next-page"}))
    for expected in (
        "not zh-CN",
        "meta charset",
        "no local favicon",
        "inline <script>",
        "style attribute",
        "onclick attribute",
        "an input without a label: <input id='y'",
        "an input without a label: <select",
        "raw enum value 'published'",
        "an amount without ¥",
        "a malformed amount '¥1250000.00'",
        "an instant outside <time>",
        "listing-price holds '价格：¥1.00'",
        "is not Shanghai time",
        "test id 'next-page' missing",
        "row 'listing-card' without data-id",
        "a settle form without the confirm dialog",
        "a refusal without role=alert",
        "a <button> without text",
        "a <label> without text",
        'aria-describedby="nowhere" names no element',
        "an image without alt",
        "phase holds '阶段：未开始'",
    ):
        assert expected in found, (expected, found)


# --- the world --------------------------------------------------------------------------------------------------


@dataclass
class Viewer:
    name: str
    client: httpx.AsyncClient
    signed_in: bool


@dataclass
class Sweep:
    """Every page read, with what it broke."""

    findings: list[str] = field(default_factory=list)
    favicon_checked: bool = False

    async def page(
        self,
        who: Viewer,
        path: str,
        expected: AbstractSet[str] = frozenset(),
        *,
        status: int = 200,
        **kw: Any,
    ) -> str:
        method = "POST" if "data" in kw or "files" in kw else "GET"
        r = await who.client.request(method, path, **kw)
        where = f"{method} {path} as {who.name}"
        if r.status_code != status:
            self.findings.append(f"{where}: status {r.status_code}, not {status}")
            return r.text
        problems = audit(
            r.text, expected | LAYOUT | ({"nav-user", "logout"} if who.signed_in else {"nav-login"})
        )
        headers = r.headers
        if headers.get("content-security-policy") != CSP:
            problems.append(f"CSP {headers.get('content-security-policy')!r}")
        if headers.get("x-content-type-options") != "nosniff":
            problems.append("no X-Content-Type-Options: nosniff")
        if headers.get("referrer-policy") != "same-origin":
            problems.append("no Referrer-Policy: same-origin")
        if headers.get("content-type", "").replace(" ", "").lower() != "text/html;charset=utf-8":
            problems.append(f"Content-Type {headers.get('content-type')!r}")
        if who.signed_in and headers.get("cache-control") != "no-store":
            problems.append(f"signed in, but Cache-Control {headers.get('cache-control')!r}")
        if not self.favicon_checked:
            icon = re.search(r'<link rel="icon" href="([^"]+)"', r.text)
            assert icon, r.text[:500]
            got = await who.client.get(icon.group(1))
            assert got.status_code == 200 and got.headers["content-type"].startswith("image/svg+xml")
            self.favicon_checked = True
        self.findings += [f"{where}: {p}" for p in problems]
        return r.text


@pytest.fixture
async def viewers(app) -> AsyncIterator[dict[str, httpx.AsyncClient]]:  # type: ignore[no-untyped-def]
    clients: dict[str, httpx.AsyncClient] = {}
    try:
        for name in ("anyone", "buyer", "seller", "university", "pending", "operator", "sealed", "dutch"):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            clients[name] = httpx.AsyncClient(transport=transport, base_url="http://test")
        yield clients
    finally:
        for c in clients.values():
            await c.aclose()


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def _world(client: httpx.AsyncClient, db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    # A running English auction of a university with two qualified bidders, who have bid.
    room = await a.open_auction(client, db, price="100000.00")
    op, university = room.op, room.seller
    buyer, rival = room.bidders
    await _ok(await a.bid(client, room, buyer, "100000.00"), 201)
    await _ok(await a.bid(client, room, rival, "101000.00"), 201)
    # A sealed auction with its one bidder's bid, and a Dutch one, running.
    sealed = await a.open_auction(
        client,
        db,
        bidders=1,
        auction={"format": "sealed", "increment": "1000.00", "free_bidding_minutes": 60},
    )
    await _ok(await a.bid(client, sealed, sealed.bidders[0], "120000.00"), 201)
    dutch = await a.open_auction(
        client,
        db,
        bidders=1,
        auction={
            "format": "dutch",
            "decrement": "1000.00",
            "step_seconds": 86_400,
            "floor_price": "90000.00",
        },
    )
    seller = await f.organization(client, verified_by=op, name="杭州新材科技有限公司")
    outsider = await f.organization(client, verified_by=op, name="宁波电池制造有限公司")
    pending = await f.organization(client, name="温州待审科技有限公司")
    # A listing of each pricing mode, and a registration awaiting review.
    listed = await t.published_listing(
        client,
        op,
        university,
        title="锂电池隔膜专利转让",
        pricing_mode="listed",
        price="1250000.00",
        deposit="50000.00",
        requires_qualification_review=True,
    )
    await t.fund(client, op, buyer, "2000000.00")
    registration = await _ok(
        await client.post(f"/api/v1/listings/{listed['id']}/registrations", headers=buyer.headers), 201
    )
    auction = await t.published_listing(
        client,
        op,
        seller,
        title="芯片散热结构拍卖",
        pricing_mode="auction",
        price="300000.00",
        deposit="30000.00",
        auction={"format": "english", "increment": "5000.00"},
    )
    licensed = await t.published_listing(
        client, op, seller, title="柔性传感器独占许可", **s._listing_terms("exclusive_license")
    )
    offer = await _ok(
        await client.post(
            f"/api/v1/listings/{licensed['id']}/offers", json={"price": "450000.00"}, headers=buyer.headers
        ),
        201,
    )
    # A draft, and a listing awaiting review.
    patent = await f.patent(client, seller)
    body = {
        "title": "未公开的草稿",
        "summary": "草稿。",
        "patent_ids": [patent["id"]],
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "800000.00",
    }
    draft = await _ok(await client.post("/api/v1/listings", json=body, headers=seller.headers), 201)
    patent = await f.patent(client, seller)
    in_review = await _ok(
        await client.post(
            "/api/v1/listings",
            json={**body, "title": "待审核的挂牌", "patent_ids": [patent["id"]]},
            headers=seller.headers,
        ),
        201,
    )
    await _ok(await client.post(f"/api/v1/listings/{in_review['id']}/submit", headers=seller.headers))
    # A university's negotiated deal in public notice, with an objection.
    talks = await t.published_listing(client, op, university, title="高效光伏组件封装")
    asked = await _ok(
        await client.post(
            f"/api/v1/listings/{talks['id']}/offers", json={"price": "500000.00"}, headers=buyer.headers
        ),
        201,
    )
    accepted = await _ok(
        await client.post(f"/api/v1/offers/{asked['id']}/accept", headers=university.headers)
    )
    await _ok(
        await client.post(
            f"/api/v1/deals/{accepted['deal_id']}/objections",
            json={"reason": "价格明显偏低"},
            headers=outsider.headers,
        ),
        201,
    )
    # Deals of the enterprise seller: one to sign, one to pay, one paid, one settled.
    actors = (op, seller, buyer, outsider)
    signing = await s.offer_deal(client, db, price="200000.00", actors=actors)
    unpaid = await s.offer_deal(client, db, price="300000.00", actors=actors)
    await s.awaiting_payment(client, db, unpaid)
    paid = await s.offer_deal(client, db, price="400000.00", actors=actors)
    await s.paid(client, db, paid)
    settled = await s.offer_deal(client, db, price="600000.00", actors=actors)
    await s.settled(client, db, settled)
    return {
        "op": op,
        "university": university,
        "buyer": buyer,
        "seller": seller,
        "outsider": outsider,
        "pending": pending,
        "room": room,
        "sealed": sealed,
        "dutch": dutch,
        "listed": listed,
        "registration": registration,
        "auction": auction,
        "licensed": licensed,
        "offer": offer,
        "draft": draft,
        "talks": talks,
        "signing": signing.deal,
        "unpaid": unpaid.deal,
        "settled": settled.deal,
    }


CSV = (
    "application_number,title,abstract,ipc_codes,inventors,filing_date,grant_date,annual_fee_paid_until\n"
    f"{f.application_number(880001)},一种导入的专利,摘要,H01M 10/0525,张三,2020-03-15,2022-06-01,\n"
    "201510703489.0,校验位错误的专利,摘要,,赵六,2020-04-01,,\n"
)


async def test_every_page_for_each_audience(
    client: httpx.AsyncClient, db, viewers: dict[str, httpx.AsyncClient]
) -> None:
    world = await _world(client, db)
    people = {
        "buyer": world["buyer"],
        "seller": world["seller"],
        "university": world["university"],
        "pending": world["pending"],
        "operator": world["op"],
        "sealed": world["sealed"].bidders[0],
        "dutch": world["dutch"].bidders[0],
    }
    for name, actor in people.items():
        r = await w.sign_in(viewers[name], actor.email)
        assert r.status_code == 303, (name, r.text)
    anyone = Viewer("anyone", viewers["anyone"], signed_in=False)
    buyer, seller, university, pending, op, sealer, dutcher = (
        Viewer(n, viewers[n], signed_in=True) for n in people
    )
    sweep = Sweep()
    room, listed, auction, licensed = world["room"], world["listed"], world["auction"], world["licensed"]
    detail = {
        "listing-title",
        "listing-status",
        "patent-row",
        "listing-price",
        "listing-deposit",
        "listing-ends-at",
    }
    search = {"search-form", "search-q", "search-submit", "listing-card", "listing-title", "listing-price"}
    room_ids = {
        "room",
        "auction-status",
        "phase",
        "start-price",
        "current-price",
        "leader",
        "countdown",
        "ends-at",
        "connection",
        "bid-history",
        "bid-row",
        "bid-message",
    }
    signing_contract = world["signing"]["contract_id"]
    unpaid_contract = world["unpaid"]["contract_id"]
    contract_ids = {"contract-text", "contract-sha256", "contract-pdf"}
    certificate = world["settled"]["certificate_number"]

    # Anyone.
    await sweep.page(anyone, "/listings", search)
    await sweep.page(anyone, "/listings?q=没有这种东西", {"search-form", "no-results"})
    await sweep.page(anyone, "/listings?pricing_mode=listed&sort=-price&min_price=¥1,000", search)
    await sweep.page(anyone, "/listings?min_price=abc", {"search-form"}, status=422)
    await sweep.page(anyone, f"/listings/{listed['id']}", detail | {"register-login"})
    await sweep.page(anyone, f"/listings/{auction['id']}", detail | {"register-login"})
    await sweep.page(anyone, f"/listings/{room.listing['id']}", detail | {"auction-link"})
    await sweep.page(anyone, f"/listings/{licensed['id']}", detail | {"register-login"})
    await sweep.page(anyone, f"/listings/{world['talks']['id']}", detail | {"public-notice"})
    await sweep.page(anyone, f"/auctions/{room.id}", room_ids | {"bid-unavailable"})
    await sweep.page(anyone, "/certificates", {"certificate-input", "certificate-submit"})
    await sweep.page(anyone, f"/certificates/{certificate}", {"certificate-result"})
    await sweep.page(anyone, "/certificates/JZ0000-000000-0", {"certificate-not-found"}, status=404)
    await sweep.page(anyone, "/login", {"login-email", "login-password", "login-submit"})
    await sweep.page(
        anyone,
        "/login",
        {"login-error"},
        status=401,
        data={"email": "nobody@example.cn", "password": "wrong-password", "next": ""},
    )
    await sweep.page(anyone, "/register")
    await sweep.page(anyone, "/no/such/page", status=404)
    await sweep.page(anyone, f"/listings/{world['draft']['id']}", status=404)

    # An organization member (the buyer): registered, an open offer, deals as buyer.
    await sweep.page(buyer, "/listings", search)
    await sweep.page(buyer, f"/listings/{listed['id']}", detail | {"bidder-code", "registration-status"})
    await sweep.page(buyer, f"/listings/{auction['id']}", detail | {"register-button"})
    await sweep.page(buyer, f"/listings/{licensed['id']}", detail | {"offer-form"})
    await sweep.page(buyer, f"/listings/{world['talks']['id']}", detail | {"public-notice"})
    await sweep.page(
        buyer,
        "/dashboard",
        {"account-available", "account-held", "registration-row", "offer-row", "deal-row", "pay-button"},
    )
    await sweep.page(buyer, f"/auctions/{room.id}", room_ids | {"bid-amount", "bid-submit"})
    await sweep.page(buyer, f"/contracts/{unpaid_contract}", contract_ids | {"signature-row"})
    await sweep.page(buyer, f"/contracts/{signing_contract}", contract_ids | {"sign-button"})
    await sweep.page(buyer, "/seller")
    await sweep.page(buyer, f"/certificates/{certificate}", {"certificate-result"})
    await sweep.page(buyer, "/operator", status=403)
    await sweep.page(buyer, "/logout", status=403, data={})  # no CSRF token: refused

    # The bidders of the sealed and the Dutch auctions; anyone watching them.
    sealed_room = f"/auctions/{world['sealed'].id}"
    dutch_room = f"/auctions/{world['dutch'].id}"
    room_figures = room_ids - {"bid-row"}
    await sweep.page(sealer, sealed_room, room_figures | {"sealed-amount", "sealed-submit", "my-sealed-bid"})
    await sweep.page(anyone, sealed_room, room_figures | {"bid-unavailable"})
    await sweep.page(dutcher, dutch_room, room_figures | {"dutch-price", "dutch-accept"})
    await sweep.page(anyone, dutch_room, room_figures | {"bid-unavailable"})

    # Refusals shown on their pages.
    html = await sweep.page(buyer, f"/listings/{licensed['id']}", detail | {"offer-form"})
    await sweep.page(
        buyer,
        f"/listings/{licensed['id']}/offers",
        detail | {"offer-form", "action-error"},
        status=422,
        data={"csrf_token": w.csrf_of(html), "price": "abc"},
    )
    await sweep.page(
        anyone,
        "/register",
        {"register-error", "field-error"},
        status=422,
        data={
            "name": "",
            "kind": "enterprise",
            "credit_code": "1",
            "admin_email": "x",
            "admin_password": "1",
        },
    )

    # The seller: listings of every status, offers to answer, contracts to sign, deals as seller.
    await sweep.page(seller, "/seller", {"patent-row", "my-listing-row", "offer-row", "contract-row"})
    for query in ("", "?pricing_mode=listed", "?pricing_mode=auction", "?transaction_kind=exclusive_license"):
        await sweep.page(seller, f"/seller/listings/new{query}", {"listing-form"})
    html = await sweep.page(seller, "/seller/import", {"import-file", "import-submit"})
    await sweep.page(
        seller,
        "/seller/import",
        {"import-created", "import-updated", "import-failed-row"},
        data={"csrf_token": w.csrf_of(html)},
        files={"file": ("patents.csv", CSV.encode(), "text/csv")},
    )
    await sweep.page(
        seller,
        "/seller/listings/new",
        {"listing-form", "field-error"},
        status=422,
        data={
            "csrf_token": w.csrf_of(html),
            "pricing_mode": "auction",
            "transaction_kind": "exclusive_license",
            "action": "submit",
            "title": "",
            "price": "abc",
            "deposit": "¥1,000",
        },
    )
    await sweep.page(seller, f"/listings/{world['draft']['id']}", detail - {"listing-ends-at"})
    await sweep.page(seller, f"/listings/{licensed['id']}", detail)
    await sweep.page(seller, f"/contracts/{signing_contract}", contract_ids | {"sign-button"})
    await sweep.page(seller, "/dashboard", {"account-available", "account-held"})
    await sweep.page(seller, f"/auctions/{room.id}", room_ids | {"bid-unavailable"})

    # The university: a deal in public notice, the auction's seller.
    await sweep.page(university, "/seller", {"patent-row", "my-listing-row"})
    await sweep.page(university, f"/auctions/{room.id}", room_ids | {"bid-unavailable"})
    await sweep.page(university, f"/listings/{world['talks']['id']}", detail | {"public-notice"})

    # A member of an organization awaiting verification.
    await sweep.page(pending, "/dashboard", {"account-available", "account-held"})
    await sweep.page(pending, f"/listings/{listed['id']}", detail)
    await sweep.page(pending, "/seller")
    await sweep.page(pending, "/seller/listings/new", {"listing-form"})

    # The operator.
    html = await sweep.page(
        op,
        "/operator",
        {
            "review-org-row",
            "review-listing-row",
            "review-registration-row",
            "objection-row",
            "verify-button",
            "approve-button",
            "reject-button",
            "qualify-button",
            "disqualify-button",
        },
    )
    await sweep.page(op, "/operator?q=锂电池", {"review-registration-row"})
    await sweep.page(op, "/operator/payments", {"payment-form"})
    await sweep.page(op, "/operator/deals", {"settle-row", "settle-button", "certificate-number"})
    await sweep.page(op, "/operator/deals?status=paid", {"settle-row", "settle-button"})
    await sweep.page(op, "/operator/ledger", {"trial-balance"})
    html = await sweep.page(op, "/operator/audit", {"audit-verify-button"})
    await sweep.page(op, "/operator/audit", {"audit-result"}, data={"csrf_token": w.csrf_of(html)})
    await sweep.page(op, f"/contracts/{unpaid_contract}", contract_ids | {"signature-row"})
    await sweep.page(op, f"/contracts/{world['settled']['contract_id']}", contract_ids | {"signature-row"})
    html = await sweep.page(op, "/operator/payments", {"payment-form"})
    await sweep.page(
        op,
        "/operator/payments",
        {"payment-form", "operator-message"},
        status=422,
        data={
            "csrf_token": w.csrf_of(html),
            "organization": "没有这个机构",
            "amount": "abc",
            "bank_reference": "R-1",
        },
    )
    await sweep.page(op, f"/listings/{world['draft']['id']}", detail - {"listing-ends-at"})
    await sweep.page(op, f"/auctions/{room.id}", room_ids | {"bid-unavailable"})
    await sweep.page(op, "/listings", search)
    await sweep.page(op, "/dashboard", status=403)

    # The detail's patents show their IPC codes and expiry too (§19.4).
    html = (await viewers["anyone"].get(f"/listings/{listed['id']}")).text
    patent = await _ok(
        await client.get(f"/api/v1/patents/{listed['patents'][0]['id']}", headers=world["op"].headers)
    )
    row = re.search(rf'<tr data-testid="patent-row" data-id="{patent["id"]}".*?</tr>', html, re.S)
    shown = row.group(0) if row else ""
    for fact in (*patent["ipc_codes"], patent["expires_on"]):
        if fact not in shown:
            sweep.findings.append(f"GET /listings/{listed['id']}: the patent row lacks {fact!r}: {shown}")

    assert sweep.findings == [], "\n".join(sweep.findings)


def test_focus_is_visible_on_every_control() -> None:
    """SPEC §19.6: focus is visible: the stylesheet draws the focus ring on every kind of control."""
    css = (STATIC_DIR / "app.css").read_text(encoding="utf-8")
    rule = re.search(r"([^{}]*:focus-visible[^{}]*)\{([^}]*)\}", css)
    assert rule and "outline" in rule.group(2), css
    selectors = {part.strip().split(":")[0] for part in rule.group(1).split(",")}
    assert {"a", "button", "input", "select", "textarea"} <= selectors, selectors
    assert not re.search(r"outline\s*:\s*(none|0)", css)
