from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.kit.printing import Printable
from app.kit.schemas import NotNull, RequestModel, ResponseModel
from app.models.patents import LegalStatus, PatentKind
from app.owners.schemas import OwnerOut, UseRightOut
from app.patents import rules

MAX_TITLE = 500
MAX_ABSTRACT = 20_000
MAX_CODES = 50
MAX_INVENTORS = 100

# The syntax ``rules.parse_application_number`` and ``rules.parse_ipc`` accept, as JSON Schema patterns (ASCII;
# the parsers also take full-width characters and spaces anywhere). The check character of an application
# number is computed, which no pattern can say: its ``format`` names the rule (ZC 0006-2003).
APPLICATION_NUMBER_PATTERN = (
    r"^(?:[Cc][Nn]|[Zz][Ll])?"
    r"(?:(?:200[3-9]|20[1-9][0-9]|2[1-9][0-9]{2}|[3-9][0-9]{3})[12389][0-9]{7}|[0-9]{2}[12389][0-9]{5})"
    r"\.?[0-9Xx]$"
)
APPLICATION_NUMBER_FORMAT = "cn-patent-application-number"
_IPC_GROUP = r"(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])"  # 1-4 digits, not zero
IPC_PATTERN = rf"^[A-Ha-h][0-9]{{2}}[A-Za-z] ?{_IPC_GROUP}/[0-9]{{2,6}}$"
IPC_PREFIX_PATTERN = (  # "": no filter
    r"^(?:[A-Ha-h](?:[0-9]{1,2}|[0-9]{2}[A-Za-z](?: ?[0-9]{1,4}(?:/[0-9]{0,6})?)?)?)?$"
)

ApplicationNumber = Annotated[
    str,
    StringConstraints(max_length=40),
    AfterValidator(lambda v: rules.parse_application_number(v).number),
    Field(json_schema_extra={"pattern": APPLICATION_NUMBER_PATTERN, "format": APPLICATION_NUMBER_FORMAT}),
]
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE), Printable]  # printed (SPEC §21)
Abstract = Annotated[str, StringConstraints(max_length=MAX_ABSTRACT)]
IpcCodes = Annotated[
    list[Annotated[str, StringConstraints(max_length=40), Field(json_schema_extra={"pattern": IPC_PATTERN})]],
    Field(max_length=MAX_CODES, description="IPC symbols, e.g. `H01M 10/0525`; returned normalised"),
    AfterValidator(rules.normalise_ipc_codes),
]
Inventors = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
    Field(max_length=MAX_INVENTORS),
    AfterValidator(rules.normalise_names),
]


class PatentCreate(RequestModel):
    application_number: ApplicationNumber = Field(
        description="`CN`/`ZL` prefixes, spaces and a missing dot are accepted; stored as `YYYYKNNNNNNN.C`"
    )
    title: Title
    abstract: Abstract = ""
    ipc_codes: IpcCodes = Field(default_factory=list)
    inventors: Inventors = Field(default_factory=list)
    filing_date: date
    grant_date: date | None = None
    annual_fee_paid_until: date | None = None
    evaluation_report: bool = False

    @field_validator("grant_date")
    @classmethod
    def _granted_after_filing(cls, grant_date: date | None, info: ValidationInfo) -> date | None:
        # On the field, so the 422 names it (a rule between two fields no JSON Schema can state).
        if grant_date is not None and "filing_date" in info.data:
            rules.check_dates(info.data["filing_date"], grant_date)
        return grant_date

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "application_number": "CN201510703489.3",
                    "title": "一种锂离子电池负极材料的制备方法",
                    "abstract": "本发明公开了……",
                    "ipc_codes": ["H01M 10/0525", "H01M4/36"],
                    "inventors": ["张三", "李四"],
                    "filing_date": "2015-10-26",
                    "grant_date": "2018-03-02",
                }
            ]
        }
    )


_OPERATOR_STATUSES: dict[str, Any] = {  # what an operator may set (the others follow the dates)
    "anyOf": [{"type": "string", "enum": sorted(s.value for s in rules.OPERATOR_STATUSES)}, {"type": "null"}]
}


class PatentUpdate(RequestModel):
    """Owners edit descriptive fields; operators set ``legal_status``. A field the caller's role may not
    touch → 403. ``application_number``, ``filing_date`` and ``kind`` never change."""

    title: Title | NotNull = None
    abstract: Abstract | NotNull = None
    ipc_codes: IpcCodes | NotNull = None
    inventors: Inventors | NotNull = None
    grant_date: date | None = None
    annual_fee_paid_until: date | None = None
    evaluation_report: bool | NotNull = None
    legal_status: LegalStatus | None = Field(
        default=None,
        description="Operators: `lapsed` or `invalidated`; `null` clears it so the status follows the dates again",
        json_schema_extra=_OPERATOR_STATUSES,
    )

    @model_validator(mode="after")
    def _not_null(self) -> PatentUpdate:
        for name in ("title", "abstract", "ipc_codes", "inventors", "evaluation_report"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if self.legal_status is not None and self.legal_status not in rules.OPERATOR_STATUSES:
            raise ValueError(
                "legal_status may be set to lapsed or invalidated (or null); the others follow the dates"
            )
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class PreservationIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={  # a reason is required when setting it
            "if": {"properties": {"active": {"const": True}}},
            "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
        }
    )

    active: bool
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None, description="The court's ruling or case number; required when `active` is true"
    )

    @model_validator(mode="after")
    def _reason(self) -> PreservationIn:
        if self.active and not self.reason:
            raise ValueError("reason is required when setting preservation")
        return self


class PatentOut(ResponseModel):
    id: uuid.UUID
    owner_org_id: uuid.UUID
    application_number: str
    kind: PatentKind
    patent_number: str | None
    title: str
    abstract: str
    ipc_codes: list[str]
    inventors: list[str]
    filing_date: date
    grant_date: date | None
    annual_fee_paid_until: date | None
    evaluation_report: bool
    legal_status: LegalStatus
    expires_on: date
    pledged: bool
    preserved: bool
    owners: list[OwnerOut] = Field(
        description="SPEC §18.5: the owners with their shares (one of 100.00 until co-owners are recorded)"
    )
    use_rights: list[UseRightOut] = Field(
        description="SPEC §18.5: the use rights granted to inventors, in force today"
    )


class ImportFailure(ResponseModel):
    row: int = Field(description="1-based data row (the header is not counted)")
    code: str
    detail: str


class ImportResult(ResponseModel):
    created: int
    updated: int
    failed: list[ImportFailure]
