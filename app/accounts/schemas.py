from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, EmailStr, Field, StringConstraints

from app.accounts.rules import MIN_PASSWORD_LENGTH, normalise_credit_code, normalise_email
from app.kit.printing import Printable
from app.kit.schemas import RequestModel, ResponseModel
from app.models.accounts import OrgKind, OrgStatus, RewardRules, Role

# Taken exactly as typed (SPEC §20): the request models strip surrounding whitespace from text, passwords
# opt out, so sign-up, member creation and login (a form field, never stripped) agree.
Password = Annotated[
    str, StringConstraints(strip_whitespace=False, min_length=MIN_PASSWORD_LENGTH, max_length=256)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Printed on contracts and certificates: every character must have a glyph (SPEC §21).
OrgName = Annotated[Name, Printable]
Email = Annotated[EmailStr, AfterValidator(normalise_email)]
CreditCode = Annotated[str, StringConstraints(max_length=64), AfterValidator(normalise_credit_code)]


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


class MemberCreate(RequestModel):
    email: Email
    password: Password
    name: Name
    role: Annotated[Role, AfterValidator(lambda r: _member_role(r))] = Role.member


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


class TokenOut(ResponseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


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
