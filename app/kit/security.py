"""Password hashing (Argon2id), access tokens (JWT, HS256 only), refresh-token and API-key hashing."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.kit.clock import utcnow
from app.kit.errors import Forbidden

_hasher = PasswordHash((Argon2Hasher(),))
# A fixed hash to verify against when the email is unknown, so timing does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0000")


def use_fast_password_hashing() -> None:
    """Argon2id with a small cost, for the test suite only (EXCHANGE_ENV=test): same algorithm, less work."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),))
    _DUMMY_HASH = _hasher.hash("not-a-real-password-0000")


JWT_ALGORITHMS = ["HS256"]
API_KEY_PREFIX = "pxk_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


def create_access_token(user_id: uuid.UUID, family_id: uuid.UUID, secret: str, minutes: int) -> str:
    """A signed access token of ``user_id``, issued in the token family ``family_id`` (its ``fam`` claim):
    revoking the family refuses the token from then on (SPEC §21)."""
    now = utcnow()
    payload = {
        "sub": str(user_id),
        "fam": str(family_id),
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
        # Two tokens issued within one second differ all the same (a refresh returns a new pair).
        "jti": secrets.token_urlsafe(8),
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHMS[0])


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says: whose it is and the token family it was issued in."""

    user_id: uuid.UUID
    family_id: uuid.UUID


# Verified tokens -> (claims, expiry as a Unix time): a client sends the same token with every request, and
# checking its signature again each time cost more than the request's SQL. Keyed by the secret too; only
# valid tokens are kept, each until its own expiry; bounded, emptied when full. Only the signature check is
# saved: whether the token's family is revoked is asked of the database on every request (``app.deps``), so
# a revocation applies at once to remembered tokens, in every process.
_VERIFIED: dict[tuple[str, str], tuple[AccessClaims, float]] = {}
_VERIFIED_MAX = 10_000


def decode_access_token(token: str, secret: str) -> AccessClaims | None:
    known = _VERIFIED.get((token, secret))
    if known is not None and known[1] > time.time():
        return known[0]
    try:
        payload = jwt.decode(
            token, secret, algorithms=JWT_ALGORITHMS, options={"require": ["exp", "sub", "fam"]}
        )
        if payload.get("typ") != "access":
            return None
        claims = AccessClaims(uuid.UUID(payload["sub"]), uuid.UUID(payload["fam"]))
        expires = float(payload["exp"])
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
        return None
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[(token, secret)] = (claims, expires)
    return claims


REFRESH_TOKEN_PREFIX = "pxr_"  # noqa: S105 - a visible prefix, not a secret


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits (SPEC §21). Only its hash is stored."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """SHA-256 is enough for a secret of 256 random bits: nothing to guess, so no slow hash is needed.
    ``surrogatepass``: any ``str`` hashes, even one that is not valid Unicode (it is then simply unknown)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user of an organization, or an operator (by token or API key)."""

    user_id: uuid.UUID
    role: str
    organization_id: uuid.UUID | None = None
    org_verified: bool = False
    org_kind: str | None = None
    via_api_key: bool = False

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def is_org_admin(self) -> bool:
        return self.role == "admin"

    def verified_org_id(self, refusal: str = "Only organizations' members may do this.") -> uuid.UUID:
        """The caller's organization, which must be verified (SPEC §3: only verified organizations may list,
        register, offer, bid or take licences). Operators and users without an organization get 403
        ``forbidden`` with ``refusal``; an unverified organization 403 ``organization_not_verified``."""
        if self.is_operator or self.organization_id is None:
            raise Forbidden(refusal)
        if not self.org_verified:
            raise Forbidden("The organization is not verified yet.", code="organization_not_verified")
        return self.organization_id

    @property
    def label(self) -> str:
        """How the audit trail names the actor."""
        return f"{'apikey' if self.via_api_key else 'user'}:{self.user_id}"
