"""Access tokens: verified once, then remembered until their own expiry (app.kit.security). Whether their
family is revoked is checked on every request: tests/accounts/test_refresh_tokens.py."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import jwt
import pytest

from app.kit import security
from app.kit.clock import utcnow

SECRET = "token-test-secret-0123456789abcdef0123456789"


FAMILY = uuid.uuid4()


def _token(
    user: uuid.UUID, *, seconds: float, typ: str = "access", secret: str = SECRET, **claims: object
) -> str:
    now = utcnow()
    payload = {
        "sub": str(user),
        "fam": str(FAMILY),
        "iat": now,
        "exp": now + timedelta(seconds=seconds),
        "typ": typ,
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def _claims(user: uuid.UUID) -> security.AccessClaims:
    return security.AccessClaims(user, FAMILY)


def test_issued_tokens_name_their_user_and_family() -> None:
    user, family = uuid.uuid4(), uuid.uuid4()
    token = security.create_access_token(user, family, SECRET, 5)
    assert security.decode_access_token(token, SECRET) == security.AccessClaims(user, family)
    assert security.create_access_token(user, family, SECRET, 5) != token  # each one is new


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    user = uuid.uuid4()
    token = _token(user, seconds=60)
    assert security.decode_access_token(token, SECRET) == _claims(user)
    assert security.decode_access_token(token, SECRET) == _claims(user)  # from memory
    later = time.time() + 120
    monkeypatch.setattr(security.time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(later))
    assert security.decode_access_token(token, SECRET) is None


def test_remembered_only_for_its_own_secret_and_only_when_valid() -> None:
    user = uuid.uuid4()
    token = _token(user, seconds=60)
    assert security.decode_access_token(token, SECRET) == _claims(user)
    assert security.decode_access_token(token, SECRET + "x") is None  # another secret: verified again
    assert security.decode_access_token(_token(user, seconds=60, typ="refresh"), SECRET) is None
    assert security.decode_access_token(_token(user, seconds=-1), SECRET) is None
    assert security.decode_access_token(token + "x", SECRET) is None
    # A token without a well-formed family is no access token (one signed before families existed).
    assert security.decode_access_token(_token(user, seconds=60, fam=None), SECRET) is None
    for family in ("not-a-uuid", 5, ["x"]):
        assert security.decode_access_token(_token(user, seconds=60, fam=family), SECRET) is None


class _FrozenDatetime:
    """Stands in for ``datetime`` inside PyJWT, so its own expiry check sees the same future instant."""

    def __init__(self, at: float) -> None:
        import datetime as dt

        self._dt = dt.datetime
        self._at = at

    def now(self, tz=None):
        return self._dt.fromtimestamp(self._at, tz)

    def __getattr__(self, name: str):
        return getattr(self._dt, name)
