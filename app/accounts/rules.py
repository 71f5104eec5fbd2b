"""Pure rules of organizations and users."""

from __future__ import annotations

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError

from app.kit.errors import CodedValueError
from app.models.accounts import PUBLIC_INSTITUTION_KINDS, OrgKind

MIN_PASSWORD_LENGTH = 10


def normalise_credit_code(value: str) -> str:
    """The unified social credit code (GB 32100-2015): 18 characters and its check character."""
    try:
        return str(uscc.validate(value))
    except ValidationError as exc:
        raise CodedValueError(
            "invalid_credit_code", f"not a valid unified social credit code: {exc}"
        ) from None


def default_public_institution(kind: OrgKind) -> bool:
    return kind in PUBLIC_INSTITUTION_KINDS


def normalise_email(value: str) -> str:
    return value.strip().lower()
