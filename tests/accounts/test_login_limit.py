"""The sign-in rate limit (SPEC §3, §20): ten failures for one email, or from one client address, within 15
minutes → 429 ``rate_limited`` with ``Retry-After``; counted atomically, so parallel attempts cannot get more
than ten checks of the password in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from app.accounts import service
from app.accounts.rules import login_retry_after, login_still_checking
from app.kit.db import Database
from app.models.accounts import LoginFailure
from tests import factories as f
from tests.factories import PASSWORD

WINDOW_SECONDS = 15 * 60


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": email, "password": password})


async def _age_failures(db: Database, by: timedelta) -> None:
    """Rate-limit windows run on real time (SPEC §2): move the recorded failures back instead of waiting."""
    async with db.transaction() as session:
        for failure in (await session.scalars(select(LoginFailure))).all():
            failure.at -= by


def _assert_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "rate_limited"
    assert r.headers["content-type"].startswith("application/problem+json")
    retry_after = int(r.headers["retry-after"])
    assert 0 < retry_after <= WINDOW_SECONDS


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password checked against a hash, in order."""
    seen: list[str] = []
    real = service.verify_password

    def counting(password: str, password_hash: str | None) -> bool:
        seen.append(password)
        return real(password, password_hash)

    monkeypatch.setattr(service, "verify_password", counting)
    return seen


async def test_thirty_parallel_wrong_passwords_get_ten_checks(
    client: httpx.AsyncClient, db: Database, checks: list[str]
) -> None:
    org = await f.organization(client)
    checks.clear()
    responses = await asyncio.gather(*[_sign_in(client, org.email, f"wrong-password-{i}") for i in range(30)])
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) == 10, statuses
    assert statuses.count(429) == 20, statuses
    assert len(checks) == 10
    for r in responses:
        if r.status_code == 429:
            _assert_limited(r)
    # The right password is refused too until the window passes.
    _assert_limited(await _sign_in(client, org.email, PASSWORD))
    assert len(checks) == 10


async def test_thirty_parallel_attempts_on_unknown_emails_from_one_address(
    client: httpx.AsyncClient, db: Database, checks: list[str]
) -> None:
    responses = await asyncio.gather(
        *[_sign_in(client, f"nobody{i}@example.cn", "wrong-password") for i in range(30)]
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) == 10 and statuses.count(429) == 20, statuses
    assert len(checks) == 10


async def test_parallel_sign_ins_from_one_address_all_succeed(
    client: httpx.AsyncClient, db: Database
) -> None:
    """Attempts still being checked hold a slot, but a right password gives it back: many users behind one
    address (an office's NAT) signing in at the same moment wait for a slot instead of getting 429."""
    users = [await f.organization(client) for _ in range(15)]
    responses = await asyncio.gather(*[_sign_in(client, u.email, PASSWORD) for u in users for _ in range(2)])
    assert [r.status_code for r in responses] == [200] * 30, [
        r.text for r in responses if r.status_code != 200
    ]


async def test_the_limit_lifts_when_the_window_passes(client: httpx.AsyncClient, db: Database) -> None:
    org = await f.organization(client)
    for _ in range(10):
        assert (await _sign_in(client, org.email, "wrong-password!")).status_code == 401
    r = await _sign_in(client, org.email, PASSWORD)
    _assert_limited(r)
    assert int(r.headers["retry-after"]) > WINDOW_SECONDS - 60
    await _age_failures(db, timedelta(minutes=14))
    r = await _sign_in(client, org.email, PASSWORD)
    _assert_limited(r)
    assert int(r.headers["retry-after"]) <= 60
    await _age_failures(db, timedelta(minutes=2))
    assert (await _sign_in(client, org.email, PASSWORD)).status_code == 200
    # Failures outside every window are deleted by later attempts.
    await _age_failures(db, timedelta(minutes=20))
    assert (await _sign_in(client, org.email, "wrong-password!")).status_code == 401
    async with db.read() as session:
        assert len((await session.scalars(select(LoginFailure))).all()) == 1


async def test_a_successful_sign_in_is_not_a_failure(client: httpx.AsyncClient, db: Database) -> None:
    org = await f.organization(client)
    for _ in range(9):
        assert (await _sign_in(client, org.email, "wrong-password!")).status_code == 401
    for _ in range(5):
        assert (await _sign_in(client, org.email, PASSWORD)).status_code == 200
    assert (await _sign_in(client, org.email, "wrong-password!")).status_code == 401
    _assert_limited(await _sign_in(client, org.email, PASSWORD))


def test_retry_after_counts_from_the_attempt_that_leaves_the_window_first() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    assert login_retry_after([], now) is None
    assert login_retry_after([now - minute] * 9, now) is None
    # Ten in the window: the oldest leaves it 15 minutes after it happened.
    ten = [now - 10 * minute] + [now - minute] * 9
    assert login_retry_after(ten, now) == 5 * 60
    # Attempts already outside the window do not count; twelve inside wait for the third oldest.
    twelve = [now - 14 * minute, now - 13 * minute, now - 12 * minute] + [now] * 9
    assert login_retry_after([now - 20 * minute, *twelve], now) == 3 * 60
    # Never 0: a client told to retry at once would be refused again.
    assert login_retry_after([now - 15 * minute + timedelta(milliseconds=1)] * 10, now) == 1


def test_attempts_still_being_checked_are_waited_for_not_forever() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert not login_still_checking([(now, False)] * 10, now)
    assert login_still_checking([(now, False)] * 9 + [(now - timedelta(seconds=5), True)], now)
    # A check never takes 30 seconds: its process died, and the attempt counts as a failure.
    assert not login_still_checking([(now, False)] * 9 + [(now - timedelta(seconds=31), True)], now)
