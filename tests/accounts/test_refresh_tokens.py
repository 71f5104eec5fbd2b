"""Sessions that last a bidding day (SPEC §21): refresh tokens with rotation, reuse detection and logout.

A sign-in starts a token family: every access and refresh token issued from it, by the password grant and by
each refresh, belongs to it. Refreshing retires the refresh token presented; presenting a retired one again
revokes the whole family, its access tokens included, wherever they are remembered."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from app.kit import security
from app.kit.clock import utcnow
from app.kit.db import Database
from app.models.accounts import RefreshToken, TokenFamily
from tests import factories as f
from tests.conftest import SECRET
from tests.factories import PASSWORD
from tests.sandbox import move_clock

TOKEN_URL = "/api/v1/auth/token"
LOGOUT_URL = "/api/v1/auth/logout"
THIRTY_DAYS = 30 * 24 * 3600
JSON = {"Content-Type": "application/json"}


async def _password_grant(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"username": email, "password": password})


async def _sign_in(client: httpx.AsyncClient, email: str) -> dict[str, object]:
    r = await _password_grant(client, email)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def _refresh(client: httpx.AsyncClient, refresh_token: object) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def _bearer(pair: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def _assert_invalid_token(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_token"


async def _me(client: httpx.AsyncClient, pair: dict[str, object]) -> httpx.Response:
    return await client.get("/api/v1/me", headers=_bearer(pair))


async def test_sign_in_returns_a_refresh_token_stored_only_as_its_hash(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await f.organization(client)
    pair = await _sign_in(client, org.email)
    assert pair["token_type"] == "bearer"
    assert pair["refresh_expires_in"] == THIRTY_DAYS
    refresh = pair["refresh_token"]
    assert isinstance(refresh, str) and len(refresh) >= 43  # 256 random bits, URL-safe
    assert refresh != pair["access_token"]
    async with db.read() as session:
        rows = (await session.scalars(select(RefreshToken))).all()
        families = (await session.scalars(select(TokenFamily))).all()
    # One family and one refresh token per sign-in (the factory signed in once, we once more).
    assert len(families) == 2 and len(rows) == 2
    stored = {row.token_hash for row in rows}
    assert hashlib.sha256(refresh.encode()).hexdigest() in stored
    assert all(refresh not in str(vars(row)) for row in rows)
    # The access token names its family.
    claims = jwt.decode(str(pair["access_token"]), SECRET, algorithms=["HS256"])
    mine = next(row for row in rows if row.token_hash == hashlib.sha256(refresh.encode()).hexdigest())
    assert claims["fam"] == str(mine.family_id)


async def test_a_refresh_returns_a_new_pair_and_retires_the_old_token(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await f.organization(client)
    first = await _sign_in(client, org.email)
    r = await _refresh(client, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_expires_in"] == THIRTY_DAYS
    assert (await _me(client, second)).json()["id"] == org.id
    # Rotation alone revokes nothing: the family's earlier access token lives until it expires.
    assert (await _me(client, first)).status_code == 200
    # The next refresh rotates again.
    r = await _refresh(client, second["refresh_token"])
    assert r.status_code == 200, r.text
    third = r.json()
    assert (await _me(client, third)).status_code == 200


async def test_a_retired_refresh_token_revokes_its_whole_family(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await f.organization(client)
    other_session = await _sign_in(client, org.email)  # another device: another family
    first = await _sign_in(client, org.email)
    second = (await _refresh(client, first["refresh_token"])).json()
    # Both access tokens have been verified once and are remembered by the process (app.kit.security).
    assert (await _me(client, first)).status_code == 200
    assert (await _me(client, second)).status_code == 200

    _assert_invalid_token(await _refresh(client, first["refresh_token"]))  # reuse

    for pair in (first, second):
        _assert_invalid_token(await _me(client, pair))
    _assert_invalid_token(await _refresh(client, second["refresh_token"]))
    # The user's other family is untouched, and signing in again starts a new one.
    assert (await _me(client, other_session)).status_code == 200
    assert (await _refresh(client, other_session["refresh_token"])).status_code == 200
    assert (await _me(client, await _sign_in(client, org.email))).status_code == 200


async def test_revocation_reaches_access_tokens_the_process_remembers(
    client: httpx.AsyncClient, db: Database
) -> None:
    """The verified-token memory skips the signature check only: the family is checked on every request."""
    org = await f.organization(client)
    pair = await _sign_in(client, org.email)
    assert (await _me(client, pair)).status_code == 200
    assert any(token == pair["access_token"] for token, _ in security._VERIFIED)
    r = await client.post(LOGOUT_URL, json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 204, r.text
    assert any(token == pair["access_token"] for token, _ in security._VERIFIED)
    _assert_invalid_token(await _me(client, pair))


async def test_parallel_refreshes_with_one_token_let_one_win_and_count_the_rest_as_reuse(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await f.organization(client)
    pair = await _sign_in(client, org.email)
    responses = await asyncio.gather(*[_refresh(client, pair["refresh_token"]) for _ in range(4)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 401, 401, 401], [r.text for r in responses]
    for r in responses:
        if r.status_code == 401:
            _assert_invalid_token(r)
    winner = next(r.json() for r in responses if r.status_code == 200)
    # The losers presented a retired token: the family is revoked, the winner's new pair with it.
    _assert_invalid_token(await _me(client, winner))
    _assert_invalid_token(await _refresh(client, winner["refresh_token"]))
    _assert_invalid_token(await _me(client, pair))
    async with db.read() as session:
        families = (
            await session.scalars(select(TokenFamily).where(TokenFamily.revoked_at.is_not(None)))
        ).all()
    assert len(families) == 1 and families[0].revoked_reason == "reuse"


async def test_logout_revokes_the_family_and_answers_204_whatever_the_token(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await f.organization(client)
    pair = await _sign_in(client, org.email)
    refreshed = (await _refresh(client, pair["refresh_token"])).json()
    # Logging out with the current token ends the family, the older access token included.
    r = await client.post(LOGOUT_URL, json={"refresh_token": refreshed["refresh_token"]})
    assert r.status_code == 204 and r.content == b""
    for p in (pair, refreshed):
        _assert_invalid_token(await _me(client, p))
    _assert_invalid_token(await _refresh(client, refreshed["refresh_token"]))
    # No oracle: a revoked, retired, unknown or odd token is the same 204.
    for token in (refreshed["refresh_token"], pair["refresh_token"], "pxr_unknown", "x" * 500, "", "é\u2028"):
        r = await client.post(LOGOUT_URL, json={"refresh_token": token})
        assert r.status_code == 204, (token, r.text)
    # Text that is not Unicode (a lone surrogate escaped in JSON) is refused like any invalid input.
    r = await client.post(LOGOUT_URL, content=b'{"refresh_token": "\\ud800"}', headers=JSON)
    assert r.status_code == 422, r.text
    # The user can still sign in again.
    assert (await _me(client, await _sign_in(client, org.email))).status_code == 200


async def test_logout_body_is_validated(client: httpx.AsyncClient, db: Database) -> None:
    too_long = [
        {"refresh_token": "x" * 1025},
        {"refresh_token": " " * 10 + "x" * 1020},
    ]  # as sent, not stripped
    for body in ({}, {"refresh_token": 5}, {"refresh_token": "x", "extra": 1}, *too_long):
        r = await client.post(LOGOUT_URL, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] == "validation_error"


async def test_unknown_and_expired_refresh_tokens_are_invalid(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await f.organization(client)
    for token in ("pxr_unknown", "x" * 1000, "\x00", "刷新"):
        _assert_invalid_token(await _refresh(client, token))
    pair = await _sign_in(client, org.email)
    # Refresh tokens run on real time (SPEC §2): age the row instead of waiting 30 days.
    async with db.transaction() as session:
        await session.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    _assert_invalid_token(await _refresh(client, pair["refresh_token"]))
    # An expired token is not a reuse: the family's access token still works until its own expiry.
    assert (await _me(client, pair)).status_code == 200


async def test_refresh_tokens_ignore_the_sandbox_clock(client: httpx.AsyncClient, db: Database) -> None:
    org = await f.organization(client)
    pair = await _sign_in(client, org.email)
    r = await move_clock(client, 31 * 24 * 3600)
    assert r.status_code == 200, r.text
    r = await _refresh(client, pair["refresh_token"])
    assert r.status_code == 200, r.text
    assert (await _me(client, r.json())).status_code == 200


async def test_grant_types(client: httpx.AsyncClient, db: Database) -> None:
    org = await f.organization(client)
    r = await client.post(TOKEN_URL, data={"grant_type": "client_credentials", "username": org.email})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unsupported_grant_type"
    # The password grant, named or not; what OAuth2 clients add (Swagger UI's Authorize form: scope, client
    # credentials in the body or as Basic authentication) is ignored.
    r = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "password",
            "username": org.email,
            "password": PASSWORD,
            "scope": "",
            "client_id": "ui",
        },
        headers={"Authorization": "Basic dWk6c2VjcmV0"},
    )
    assert r.status_code == 200, r.text
    # RFC 6749 §5.1: a response carrying tokens is never cached, nor is a refresh's.
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    r = await _refresh(client, r.json()["refresh_token"])
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    # What each grant needs is required.
    for data in (
        {"grant_type": "refresh_token"},
        {"grant_type": "password", "username": org.email},
        {"password": PASSWORD},
    ):
        r = await client.post(TOKEN_URL, data=data)
        assert r.status_code == 422, (data, r.text)
        assert r.json()["code"] == "validation_error"


async def test_refresh_grants_do_not_count_as_failed_sign_ins(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await f.organization(client)
    pair = await _sign_in(client, org.email)
    for i in range(15):
        _assert_invalid_token(await _refresh(client, f"pxr_wrong_{i}"))
    assert (await _password_grant(client, org.email)).status_code == 200
    # And a locked-out password grant does not stop a session that refreshes.
    for _ in range(10):
        assert (await _password_grant(client, org.email, "wrong-password!")).status_code == 401
    assert (await _password_grant(client, org.email)).status_code == 429
    r = await _refresh(client, pair["refresh_token"])
    assert r.status_code == 200, r.text


async def test_reuse_is_logged_as_a_warning_without_token_values(
    client: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    org = await f.organization(client)
    pair = await _sign_in(client, org.email)
    second = (await _refresh(client, pair["refresh_token"])).json()
    caplog.set_level(logging.INFO)
    _assert_invalid_token(await _refresh(client, pair["refresh_token"]))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "reuse" in r.getMessage()]
    assert len(warnings) == 1
    assert getattr(warnings[0], "user_id", None) == org.id
    everything = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for secret in (
        pair["refresh_token"],
        second["refresh_token"],
        pair["access_token"],
        second["access_token"],
    ):
        assert str(secret) not in everything
    # A second reuse of a family already revoked is not news.
    caplog.clear()
    _assert_invalid_token(await _refresh(client, pair["refresh_token"]))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_access_tokens_without_a_live_family_are_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A token signed with the right secret still needs a family that exists and is not revoked."""
    org = await f.organization(client)
    now = utcnow()

    def forged(**claims: object) -> dict[str, str]:
        payload = {"sub": org.id, "iat": now, "exp": now + timedelta(minutes=5), "typ": "access", **claims}
        return {"Authorization": f"Bearer {jwt.encode(payload, SECRET, algorithm='HS256')}"}

    for headers in (forged(), forged(fam=str(uuid.uuid4())), forged(fam="not-a-uuid"), forged(fam=5)):
        _assert_invalid_token(await client.get("/api/v1/me", headers=headers))
    # Another user's family does not lend itself either.
    other = await f.organization(client)
    their_family = jwt.decode(other.headers["Authorization"][7:], SECRET, algorithms=["HS256"])["fam"]
    _assert_invalid_token(await client.get("/api/v1/me", headers=forged(fam=their_family)))
    assert (await client.get("/api/v1/me", headers=other.headers)).status_code == 200


async def test_a_sign_in_deletes_families_expired_for_a_day(client: httpx.AsyncClient, db: Database) -> None:
    org = await f.organization(client)
    old = await _sign_in(client, org.email)
    recent = await _sign_in(client, org.email)
    old_family = jwt.decode(str(old["access_token"]), SECRET, algorithms=["HS256"])["fam"]
    async with db.transaction() as session:
        await session.execute(
            update(TokenFamily)
            .where(TokenFamily.id == uuid.UUID(old_family))
            .values(expires_at=utcnow() - timedelta(days=1, minutes=1))
        )
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == uuid.UUID(old_family))
            .values(expires_at=utcnow() - timedelta(days=1, minutes=1))
        )
    await _sign_in(client, org.email)
    async with db.read() as session:
        families = {str(i) for i in (await session.scalars(select(TokenFamily.id))).all()}
        tokens = {str(i) for i in (await session.scalars(select(RefreshToken.family_id))).all()}
    assert old_family not in families and old_family not in tokens
    assert len(families) == 3  # the factory's sign-in, `recent` and the last one
    assert (await _refresh(client, recent["refresh_token"])).status_code == 200
    _assert_invalid_token(await _refresh(client, old["refresh_token"]))
