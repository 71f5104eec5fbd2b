from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from app.accounts.rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    normalise_credit_code,
    normalise_email,
)
from app.kit.printing import Printable
from app.kit.schemas import RequestModel, ResponseModel
from app.models.accounts import OrgKind, OrgStatus, RewardRules, Role

# Taken exactly as typed (SPEC §20): the request models strip surrounding whitespace from text, passwords
# opt out, so sign-up, member creation and login (a form field, never stripped) agree.
Password = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH),
    Field(json_schema_extra={"format": "password", "pattern": r"^[^\u0000]*$"}),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Printed on contracts and certificates: every character must have a glyph (SPEC §21).
OrgName = Annotated[Name, Printable]
Email = Annotated[EmailStr, AfterValidator(normalise_email)]
# The syntax of a unified social credit code (GB 32100-2015: 8 digits, then 10 of its 31 characters; spaces
# and hyphens between them are accepted too) as a JSON Schema pattern; its check character is computed, which
# no pattern can say: the ``format`` names the rule.
CREDIT_CODE_PATTERN = r"^[0-9]{8}[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{10}$"
CREDIT_CODE_FORMAT = "cn-credit-code"
CreditCode = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(normalise_credit_code),
    Field(json_schema_extra={"pattern": CREDIT_CODE_PATTERN, "format": CREDIT_CODE_FORMAT}),
]


class AdminIn(RequestModel):
    email: Email
    password: Password
    name: Name


class OrganizationCreate(RequestModel):
    name: OrgName
    kind: OrgKind
    credit_code: CreditCode
    is_public_institution: bool | None = Field(
        default=None, description="Defaults to true for universities, research institutes and hospitals."
    )
    admin: AdminIn

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "浙江示范大学",
                    "kind": "university",
                    "credit_code": "91110000600037341L",
                    "admin": {
                        "email": "tto@univ.example.cn",
                        "password": "correct-horse-42",
                        "name": "王老师",
                    },
                }
            ]
        }
    )


class OrganizationUpdate(RequestModel):
    name: OrgName | None = None
    reward_rules: RewardRules | None = None


class OrganizationOut(ResponseModel):
    id: uuid.UUID
    name: str
    kind: OrgKind
    credit_code: str
    status: OrgStatus
    is_public_institution: bool
    reward_rules: RewardRules
    created_at: datetime
    verified_at: datetime | None
    sme_verified_at: datetime | None  # SPEC §18.3: set by an operator for an SME enterprise


class SmeIn(RequestModel):
    sme: StrictBool = Field(description="true: the enterprise meets the national SME classification standard")


class MemberCreate(RequestModel):
    email: Email
    password: Password
    name: Name
    role: Annotated[
        Role,
        AfterValidator(lambda r: _member_role(r)),
        WithJsonSchema({"type": "string", "enum": [Role.admin, Role.member]}),
    ] = Role.member


def _member_role(role: Role) -> Role:
    if role == Role.operator:
        raise ValueError("role must be admin or member")
    return role


class UserOut(ResponseModel):
    id: uuid.UUID
    email: str
    name: str
    organization_id: uuid.UUID | None
    role: Role


GRANT_TYPES = ("password", "refresh_token")
# Longer than any refresh token this exchange issues (47 characters), short enough to bound the input.
MAX_REFRESH_TOKEN_LENGTH = 1024


class TokenRequest(BaseModel):
    """The OAuth2 token request (RFC 6749 §4.3 password grant, §6 refresh), sent as a form."""

    # Not a RequestModel: OAuth2 clients send fields of their own (scope, client_id), which are ignored, and
    # the password is taken exactly as typed (SPEC §20). What each grant needs is checked by the endpoint,
    # which answers an unknown grant_type with OAuth2's 400 unsupported_grant_type. A form field cannot be
    # null: an empty or absent one is "".

    grant_type: str = Field(
        default="password",
        description="`password` (the default) or `refresh_token`.",
        json_schema_extra={"enum": list(GRANT_TYPES)},
    )
    username: str = Field(default="", description="The email; required by the password grant.")
    password: str = Field(
        default="", description="Required by the password grant.", json_schema_extra={"format": "password"}
    )
    refresh_token: str = Field(
        default="",
        max_length=MAX_REFRESH_TOKEN_LENGTH,
        description="Required by the refresh_token grant.",
        json_schema_extra={"format": "password"},
    )
    scope: str = Field(default="", description="Ignored: a token carries its user's role.")
    client_id: str = Field(default="", description="Ignored.")
    client_secret: str = Field(default="", description="Ignored.", json_schema_extra={"format": "password"})


class TokenOut(ResponseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds the access token is valid for.")
    refresh_token: str = Field(
        description="Opaque; exchange it at this endpoint with `grant_type=refresh_token` for a new pair. "
        "Each refresh token works once: presenting it again signs out every token of its sign-in."
    )
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid for (30 days).")


class LogoutIn(RequestModel):
    # As sent: a token is not text to tidy (and the length bound then holds for what was sent).
    refresh_token: Annotated[
        str, StringConstraints(strip_whitespace=False, max_length=MAX_REFRESH_TOKEN_LENGTH)
    ]


class ApiKeyCreate(RequestModel):
    name: Name


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret, shown only once.")
