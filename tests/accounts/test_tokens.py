"""Access tokens: verified once, then remembered until their own expiry (app.kit.security)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import jwt
import pytest

from app.kit import security
from app.kit.clock import utcnow

SECRET = "token-test-secret-0123456789abcdef0123456789"


def _token(user: uuid.UUID, *, seconds: float, typ: str = "access", secret: str = SECRET) -> str:
    now = utcnow()
    payload = {"sub": str(user), "iat": now, "exp": now + timedelta(seconds=seconds), "typ": typ}
    return jwt.encode(payload, secret, algorithm="HS256")


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    user = uuid.uuid4()
    token = _token(user, seconds=60)
    assert security.decode_access_token(token, SECRET) == user
    assert security.decode_access_token(token, SECRET) == user  # from memory
    later = time.time() + 120
    monkeypatch.setattr(security.time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(later))
    assert security.decode_access_token(token, SECRET) is None


def test_remembered_only_for_its_own_secret_and_only_when_valid() -> None:
    user = uuid.uuid4()
    token = _token(user, seconds=60)
    assert security.decode_access_token(token, SECRET) == user
    assert security.decode_access_token(token, SECRET + "x") is None  # another secret: verified again
    assert security.decode_access_token(_token(user, seconds=60, typ="refresh"), SECRET) is None
    assert security.decode_access_token(_token(user, seconds=-1), SECRET) is None
    assert security.decode_access_token(token + "x", SECRET) is None


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
