from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.kit.clock import utcnow
from app.kit.logging import JsonFormatter, request_id_var
from app.main import create_app
from tests import factories as f
from tests.conftest import make_settings


async def test_health_ready_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ok" and ready["database"] == "ok" and ready["calendar_covered_until"]
    await client.get("/api/v1/me")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'exchange_http_requests_total{method="GET",route="/api/v1/me",status="401"}' in metrics.text


async def test_request_id_is_returned_and_kept(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert len(r.headers["x-request-id"]) == 32
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


async def test_errors_are_problem_details(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "not_found" and body["status"] == 404 and "title" in body and "type" in body
    r = await client.delete("/healthz")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    r = await client.post(
        "/api/v1/organizations", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower()


async def test_oversized_body_is_413_and_changes_nothing(client: httpx.AsyncClient, db) -> None:
    huge = "x" * (2 * 1024 * 1024)
    r = await client.post(
        "/api/v1/organizations",
        json={
            "name": huge,
            "kind": "enterprise",
            "credit_code": "91110000600037341L",
            "admin": {"email": "a@b.example.cn", "password": "0123456789", "name": "a"},
        },
    )
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    # Without a Content-Length (streamed), the limit holds while reading.
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65536

    r = await client.post(
        "/api/v1/organizations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    r = await client.post("/api/v1/auth/token", data={"username": "a@b.example.cn", "password": "0123456789"})
    assert r.status_code == 401  # the organization was never created


async def test_sandbox_clock_advances_business_time(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    before = datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])
    r = await client.post("/api/v1/sandbox/clock", json={"advance_seconds": 86400.5}, headers=op.headers)
    assert r.status_code == 200
    after = datetime.fromisoformat(r.json()["now"])
    assert timedelta(days=1) <= after - before < timedelta(days=1, seconds=30)
    again = datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])
    assert again >= after
    for bad in ("0", "-5", '"soon"', "1e999", "NaN", "Infinity"):
        r = await client.post(
            "/api/v1/sandbox/clock",
            content=f'{{"advance_seconds": {bad}}}',
            headers={**op.headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, bad


async def test_only_operators_move_the_sandbox_clock(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    before = (await client.get("/api/v1/sandbox/clock")).json()["now"]  # reading it stays public
    r = await client.post("/api/v1/sandbox/clock", json={"advance_seconds": 3600})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = await client.post("/api/v1/sandbox/clock", json={"advance_seconds": 3600}, headers=company.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    moved = datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])
    assert moved - datetime.fromisoformat(before) < timedelta(minutes=30)
    r = await client.post("/api/v1/sandbox/clock", json={"advance_seconds": 3600}, headers=op.headers)
    assert r.status_code == 200, r.text


async def test_the_sandbox_clock_stops_fifty_years_from_real_time(client: httpx.AsyncClient, db) -> None:
    """Anonymous calls used to push it past year 9999, after which every listing read was a 500."""
    op = await f.operator(client, db)
    ten_years = 10 * 365 * 86400
    limit = timedelta(days=50 * 365.25)
    for _ in range(8):
        r = await client.post(
            "/api/v1/sandbox/clock", json={"advance_seconds": ten_years}, headers=op.headers
        )
        if r.status_code != 200:
            break
        assert datetime.fromisoformat(r.json()["now"]) - utcnow() <= limit
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "clock_limit"
    assert r.json()["errors"][0]["loc"] == ["body", "advance_seconds"]
    stopped = datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])
    assert timedelta(days=40 * 365) < stopped - utcnow() <= limit  # the refused call moved nothing
    r = await client.post("/api/v1/sandbox/clock", json={"advance_seconds": 86400}, headers=op.headers)
    assert r.status_code in (200, 422)
    assert (await client.get("/api/v1/listings")).status_code == 200


async def test_sandbox_clock_is_404_without_the_flag(backend, db) -> None:
    app = create_app(make_settings(backend.url, sandbox=False), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/api/v1/sandbox/clock")).status_code == 404
        assert (await c.post("/api/v1/sandbox/clock", json={"advance_seconds": 5})).status_code == 404


async def test_nul_characters_are_refused_not_500(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    r = await client.get("/api/v1/patents?q=a%00b", headers=op.headers)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await client.post(
        "/api/v1/organizations",
        json={
            "name": "bad\u0000name",
            "kind": "enterprise",
            "credit_code": "91110000600037341L",
            "admin": {"email": "nul@b.example.cn", "password": "0123456789", "name": "a"},
        },
    )
    assert r.status_code == 422
    r = await client.post("/api/v1/auth/token", data={"username": "a\u0000@b.cn", "password": "0123456789"})
    assert r.status_code == 401


async def test_one_log_line_per_request_with_the_problem_code(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused request is logged once, its line naming the problem's code; an answered one has no code."""
    with caplog.at_level(logging.INFO):
        refused = await client.get(f"/api/v1/auctions/{uuid.uuid4()}")
        answered = await client.get("/healthz")
    assert refused.status_code == 404 and answered.status_code == 200
    lines = [r for r in caplog.records if r.getMessage() == "request"]
    assert [(r.status, getattr(r, "code", None)) for r in lines] == [(404, "not_found"), (200, None)]  # type: ignore[attr-defined]
    assert [r for r in caplog.records if r.name == "app.errors"] == []


def test_a_json_log_line() -> None:
    """Each record is one JSON object: its UTC time to the millisecond (the second's text is kept between
    records, and renewed when the second changes), level, logger, message, request id and extra fields."""
    formatter = JsonFormatter()

    def line(created: datetime, **extra: object) -> dict[str, object]:
        record = logging.LogRecord("app.request", logging.INFO, "", 0, "request %s", ("答复",), None)
        record.created = created.timestamp()
        record.__dict__.update(extra)
        return dict(json.loads(formatter.format(record)))

    first = datetime(2026, 12, 31, 23, 59, 59, 998_700, tzinfo=UTC)
    token = request_id_var.set("abc-123")
    try:
        entries = [line(first, status=201, path="/拍卖"), line(first + timedelta(milliseconds=2), ms=1.5)]
    finally:
        request_id_var.reset(token)
    assert entries[0] == {
        "ts": "2026-12-31T23:59:59.998+00:00",
        "level": "info",
        "logger": "app.request",
        "msg": "request 答复",
        "request_id": "abc-123",
        "status": 201,
        "path": "/拍卖",
    }
    assert entries[1]["ts"] == "2027-01-01T00:00:00.000+00:00" and entries[1]["ms"] == 1.5
    assert "request_id" not in line(first)
    assert line(first)["ts"] == first.isoformat(timespec="milliseconds")
    # Values JSON has no type for are written as str() gives them; an integer beyond 64 bits is written whole.
    auction = uuid.uuid4()
    assert line(first, auction=auction, at=first, big=2**70) | {"ts": None} == {
        "ts": None,
        "level": "info",
        "logger": "app.request",
        "msg": "request 答复",
        "auction": str(auction),
        "at": str(first),
        "big": 2**70,
    }


async def test_an_unhandled_error_is_logged_once(app, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """The 500's traceback is logged by the application's handler; Starlette then re-raises the exception to
    the server, whose "Exception in ASGI application" (the same traceback again) is dropped."""

    @app.get("/api/v1/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("boom")

    raised: list[BaseException] = []
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with caplog.at_level(logging.INFO):
            try:
                await client.get("/api/v1/boom")
            except RuntimeError as exc:  # what reaches the server
                raised.append(exc)
                # uvicorn's protocols log it like this (uvicorn/protocols/http/httptools_impl.py)
                logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    assert raised, "Starlette no longer re-raises: the server would not log it"
    tracebacks = [r for r in caplog.records if r.exc_info and r.exc_info[1] is raised[0]]
    assert [r.name for r in tracebacks] == ["app.errors"]
    other = RuntimeError("not answered by the application")
    with caplog.at_level(logging.INFO):
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=other)
    assert any(r.exc_info and r.exc_info[1] is other for r in caplog.records)  # the server's own still logged
