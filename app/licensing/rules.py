"""Pure rules of open licensing (SPEC §13; 专利法 2020 arts 50–52, 实施细则 2023 arts 85–88). No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.models.patents import LegalStatus, Patent, PatentKind
from app.models.policy import FeeType, OpenLicenseStatus

PPM = 1_000_000  # royalty rates are stored in millionths

LUMP_SUM_KINDS = frozenset({FeeType.lump_sum, FeeType.lump_sum_plus_royalty})
ROYALTY_KINDS = frozenset({FeeType.royalty, FeeType.lump_sum_plus_royalty})

S = OpenLicenseStatus
TRANSITIONS: dict[OpenLicenseStatus, frozenset[OpenLicenseStatus]] = {
    S.pending_review: frozenset({S.declared, S.withdrawn}),
    S.declared: frozenset({S.withdrawn}),
    S.withdrawn: frozenset(),
}


@dataclass(frozen=True)
class Refusal:
    code: str
    detail: str


def patent_refusal(
    patent: Patent, today: date, *, exclusive_licence_active: bool, evaluation_report_needed: bool = True
) -> Refusal | None:
    """Why this patent may not be openly licensed today, or None (SPEC §13, DOMAIN.md "Open licensing").

    Checked in this order: granted (a lapsed patent counts as fees unpaid, an invalidated one as not granted),
    not expired, annual fees paid through today, not under court preservation, an evaluation report for
    utility models and designs, no exclusive or sole licence in force. Pledges are checked apart: a pledged
    patent's declaration may be created, only its approval needs the pledgee's consent. A trial offer (SPEC
    §18.3) is checked without the evaluation report (``evaluation_report_needed=False``).
    """
    status = patent.legal_status(today)
    if status == LegalStatus.expired:
        return Refusal("patent_expired", "The patent has expired.")
    if status == LegalStatus.lapsed:
        return Refusal("annual_fee_unpaid", "The patent has lapsed for unpaid annual fees.")
    if status != LegalStatus.granted:
        return Refusal("patent_not_granted", "Only a granted patent can be openly licensed.")
    if patent.annual_fee_paid_until is None or patent.annual_fee_paid_until < today:
        return Refusal("annual_fee_unpaid", "The annual fees are not paid up to date.")
    if patent.preserved:
        return Refusal("patent_preserved", "The patent is under court preservation.")
    needs_report = evaluation_report_needed and patent.kind in (PatentKind.utility_model, PatentKind.design)
    if needs_report and not patent.evaluation_report:
        return Refusal(
            "evaluation_report_required",
            "A utility model or design needs a patent evaluation report before an open licence.",
        )
    if exclusive_licence_active:
        return Refusal(
            "exclusive_license_active", "An exclusive or sole licence of this patent is in force or on offer."
        )
    return None


def fee_errors(
    fee_type: FeeType, lump_sum: int | None, royalty_rate: Decimal | None, royalty_base: str | None
) -> list[dict[str, object]]:
    """The fee fields each fee type needs and refuses (422 ``errors`` entries; empty when valid)."""
    errors: list[dict[str, object]] = []

    def err(field: str, msg: str) -> None:
        errors.append({"loc": ["body", field], "msg": msg})

    if fee_type in LUMP_SUM_KINDS:
        if lump_sum is None or lump_sum <= 0:
            err("lump_sum", f"a lump sum greater than zero is required for fee_type {fee_type}")
    elif lump_sum is not None:
        err("lump_sum", f"fee_type {fee_type} takes no lump sum")
    if fee_type in ROYALTY_KINDS:
        if royalty_rate is None or not Decimal(0) < royalty_rate <= Decimal(1):
            err("royalty_rate", "a royalty rate 0 < rate ≤ 1 is required for this fee_type")
        elif (royalty_rate * PPM) % 1 != 0:
            err("royalty_rate", "a royalty rate has at most six decimals")
    else:
        if royalty_rate is not None:
            err("royalty_rate", f"fee_type {fee_type} takes no royalty rate")
        if royalty_base is not None:
            err("royalty_base", f"fee_type {fee_type} takes no royalty base")
    return errors


def rate_to_ppm(rate: Decimal | None) -> int | None:
    return None if rate is None else int(rate * PPM)


def ppm_to_rate(ppm: int | None) -> str | None:
    """Millionths as a plain decimal string without trailing zeros ("0.05", "1")."""
    if ppm is None:
        return None
    text = format(Decimal(ppm) / PPM, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
