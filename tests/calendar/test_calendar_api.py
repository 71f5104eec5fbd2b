"""The working-day calendar operators keep current (SPEC §21): GET/PUT /calendar/{year}, used by every
process for every deadline computed afterwards."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import httpx
import pytest

from app.calendar import service as calendar_service
from app.kit.workdays import SHANGHAI, WorkdayCalendar, bundled
from app.main import create_app
from tests import factories as f
from tests.conftest import Backend, make_settings
from tests.listings import helpers as h

BASE = "/api/v1/calendar"


def first_uncovered_year() -> int:
    year = 2026
    while bundled(year):
        year += 1
    return year


def weekdays(year: int, month: int, first: int, count: int) -> list[str]:
    """``count`` weekdays of the month from day ``first`` on, as ISO dates."""
    days, day = [], date(year, month, first)
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def first_weekend_day(year: int) -> str:
    day = date(year, 1, 1)
    while day.weekday() < 5:
        day += timedelta(days=1)
    return day.isoformat()


async def test_a_bundled_year_lists_its_official_holidays_and_worked_weekends(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(f"{BASE}/2026")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["year"] == 2026 and body["source"] == "bundled"
    assert "2026-10-01" in body["holidays"] and "2026-10-10" in body["workdays"]  # National Day, its Saturday
    assert all(date.fromisoformat(d).weekday() < 5 for d in body["holidays"])
    assert all(date.fromisoformat(d).weekday() >= 5 for d in body["workdays"])


async def test_an_uncovered_year_is_weekdays_only_until_an_operator_loads_it(
    client: httpx.AsyncClient, db
) -> None:
    year = first_uncovered_year()
    assert (await client.get(f"{BASE}/{year}")).json() == {
        "year": year,
        "source": "weekdays_only",
        "holidays": [],
        "workdays": [],
    }
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    days = {"holidays": weekdays(year, 1, 1, 3), "workdays": [first_weekend_day(year)]}
    assert (await client.put(f"{BASE}/{year}", json=days)).status_code == 401
    r = await client.put(f"{BASE}/{year}", json=days, headers=company.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"

    r = await client.put(f"{BASE}/{year}", json=days, headers=op.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"year": year, "source": "operator", **days}
    assert (await client.get(f"{BASE}/{year}")).json() == r.json()

    # Replaced by a second PUT; both are in the year's audit chain, which verifies.
    days2 = {"holidays": weekdays(year, 1, 1, 1), "workdays": []}
    assert (await client.put(f"{BASE}/{year}", json=days2, headers=op.headers)).json()["holidays"] == days2[
        "holidays"
    ]
    events = (
        await client.get(
            "/api/v1/audit-events",
            params={"entity_type": "calendar_year", "entity_id": str(year)},
            headers=op.headers,
        )
    ).json()["items"]
    assert sorted(e["action"] for e in events) == ["calendar_loaded", "calendar_replaced"]
    assert all(e["actor"] == f"user:{op.id}" for e in events)
    assert (await client.get("/api/v1/audit-events/verify", headers=op.headers)).json()["ok"] is True


@pytest.mark.parametrize(
    ("year_delta", "days", "status", "code"),
    [
        (0, lambda y: {"holidays": [f"{y - 1}-12-31"], "workdays": []}, 422, "invalid_calendar"),
        (0, lambda y: {"holidays": [first_weekend_day(y)], "workdays": []}, 422, "invalid_calendar"),
        (0, lambda y: {"holidays": [], "workdays": weekdays(y, 3, 1, 1)}, 422, "invalid_calendar"),
        (0, lambda y: {"holidays": [f"{y}-02-30"], "workdays": []}, 422, None),
        (0, lambda y: {"holidays": [], "workdays": [], "extra": 1}, 422, None),
        (0, lambda y: {"holidays": []}, 422, None),
        (-1, lambda y: {"holidays": [], "workdays": []}, 409, "calendar_bundled"),
    ],
)
async def test_a_bad_calendar_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db, year_delta, days, status, code
) -> None:
    op = await f.operator(client, db)
    year = first_uncovered_year() + year_delta
    r = await client.put(f"{BASE}/{year}", json=days(year), headers=op.headers)
    assert r.status_code == status, r.text
    if code:
        assert r.json()["code"] == code
    assert (await client.get(f"{BASE}/{year}")).json()["source"] == (
        "bundled" if year_delta else "weekdays_only"
    )


@pytest.mark.parametrize("year", ["1899", "2200", "99999999999999999999", "abc"])
async def test_years_outside_the_supported_range_are_422(client: httpx.AsyncClient, db, year: str) -> None:
    op = await f.operator(client, db)
    assert (await client.get(f"{BASE}/{year}")).status_code == 422
    r = await client.put(f"{BASE}/{year}", json={"holidays": [], "workdays": []}, headers=op.headers)
    assert r.status_code == 422


async def test_deadlines_computed_afterwards_in_every_process_use_the_loaded_year(
    backend: Backend, client: httpx.AsyncClient, db
) -> None:
    """One process loads the year; a listing approved through another process (its own app and calendar
    object on the same database) counts its period with it. A period set before the load does not move."""
    other = create_app(make_settings(backend.url), db=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other, raise_app_exceptions=False), base_url="http://other"
    ) as client2:
        op = await f.operator(client, db)
        uni = await f.organization(client, kind="university", verified_by=op)
        # Late December of the year before, ten calendar days ahead of the uncovered year.
        now = datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])
        year = first_uncovered_year()
        while datetime(year - 1, 12, 28, 10, tzinfo=SHANGHAI) <= now:
            year += 1  # every later year is uncovered too
        target = datetime(year - 1, 12, 28, 10, tzinfo=SHANGHAI)
        before_load = await h.create(client, uni, h.body([await h.patent(db, uni)], listing_days=5))
        after_load = await h.create(client, uni, h.body([await h.patent(db, uni)], listing_days=5))
        for listing in (before_load, after_load):
            await h.act(client, uni, listing["id"], "submit")
        await h.advance(client, (target - now).total_seconds())

        # Approved while only Monday-Friday is known: in the process that will not load the year.
        early = await h.act(client2, op, before_load["id"], "approve")
        # Through the first process, every weekday of the first two weeks of January becomes a holiday.
        holidays = weekdays(year, 1, 1, 10)
        r = await client.put(
            f"{BASE}/{year}", json={"holidays": holidays, "workdays": []}, headers=op.headers
        )
        assert r.status_code == 200, r.text
        late = await h.act(client2, op, after_load["id"], "approve")

    def end_day(listing: dict[str, str]) -> date:
        return datetime.fromisoformat(listing["listing_ends_at"]).astimezone(SHANGHAI).date()

    def expected(published: str, skip: set[str]) -> date:
        day, remaining = datetime.fromisoformat(published).astimezone(SHANGHAI).date(), 5
        while remaining:
            day += timedelta(days=1)
            if day.year == year:
                working = day.weekday() < 5 and day.isoformat() not in skip
            else:
                working = WorkdayCalendar().is_workday(day)
            remaining -= working
        return day

    assert end_day(late) == expected(late["published_at"], set(holidays))
    assert end_day(late) > date(year, 1, 14)
    assert end_day(early) == expected(early["published_at"], set())  # set before the load: unchanged
    reread = (await client.get(f"/api/v1/listings/{before_load['id']}", headers=uni.headers)).json()
    assert reread["listing_ends_at"] == early["listing_ends_at"]


async def test_readyz_tells_how_far_the_calendar_reaches_and_warns_60_days_ahead(
    client: httpx.AsyncClient, db, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calendar_service, "_warned_on", set())
    op = await f.operator(client, db)
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ok" and ready["database"] == "ok"
    covered = date.fromisoformat(ready["calendar_covered_until"])
    assert covered.month == 12 and covered.day == 31 and not bundled(covered.year + 1)

    def noon(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)

    # 61 days before the end of the covered run: no warning (when the test starts early enough in the year).
    now = datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])
    if noon(covered - timedelta(days=61)) > now:
        await h.advance(client, (noon(covered - timedelta(days=61)) - now).total_seconds())
        assert "warnings" not in (await client.get("/readyz")).json()
        now = noon(covered - timedelta(days=61))
    # 59 days before: the warning, and the log line once a day.
    if noon(covered - timedelta(days=59)) > now:
        await h.advance(client, (noon(covered - timedelta(days=59)) - now).total_seconds())
    monkeypatch.setattr(calendar_service, "_warned_on", set())
    caplog.clear()
    with caplog.at_level("WARNING", logger="app.calendar.service"):
        for _ in range(3):
            ready = (await client.get("/readyz")).json()
            assert ready["warnings"] == ["calendar_not_covered"] and ready["status"] == "ok"
    assert sum(r.name == "app.calendar.service" for r in caplog.records) == 1

    # Loading the next year moves the horizon a year on, and the warning goes.
    r = await client.put(
        f"{BASE}/{covered.year + 1}", json={"holidays": [], "workdays": []}, headers=op.headers
    )
    assert r.status_code == 200, r.text
    ready = (await client.get("/readyz")).json()
    assert ready["calendar_covered_until"] == f"{covered.year + 1}-12-31" and "warnings" not in ready
