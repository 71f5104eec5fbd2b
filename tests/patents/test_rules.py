"""Pure rules of the registry: application numbers, kinds, expiry, IPC codes (DOMAIN.md "Patent numbers")."""

from __future__ import annotations

from datetime import date

import pytest

from app.kit.errors import CodedValueError
from app.models.patents import LegalStatus, PatentKind
from app.patents import rules

# Every valid and invalid number listed in DOMAIN.md.
VALID = [
    "201510703489.3",
    "201810698291.4",
    "201710601862.3",
    "200710308494.X",
    "201310699744.2",
    "201810336559.X",
    "201810429510.9",
    "97101765.4",
    "95115608.X",
]
INVALID_CHECK = {
    "202310123456.7": "6",
    "201711469835.X": None,
    "201820953320.X": None,
    "202410001234.5": None,
}


@pytest.mark.parametrize("number", VALID)
def test_domain_valid_numbers(number: str) -> None:
    parsed = rules.parse_application_number(number)
    assert parsed.number == number
    assert parsed.kind == PatentKind.invention
    assert rules.check_character(number.split(".")[0]) == number[-1]


@pytest.mark.parametrize("number", list(INVALID_CHECK))
def test_domain_invalid_numbers(number: str) -> None:
    with pytest.raises(CodedValueError) as err:
        rules.parse_application_number(number)
    assert err.value.code == "invalid_patent_number"
    expected = INVALID_CHECK[number]
    if expected is not None:
        assert rules.check_character(number[:12]) == expected


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("CN201510703489.3", "201510703489.3"),
        ("ZL201510703489.3", "201510703489.3"),
        ("zl 2015 1070 3489.3", "201510703489.3"),
        ("2015107034893", "201510703489.3"),
        ("CN 200710308494x", "200710308494.X"),
        ("９７１０１７６５．４", "97101765.4"),  # full-width digits and dot
        ("ZL97101765.4", "97101765.4"),
        ("95115608X", "95115608.X"),
        (" 201810429510.9 ", "201810429510.9"),
    ],
)
def test_number_normalisation(raw: str, normalised: str) -> None:
    assert rules.parse_application_number(raw).number == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "2015107034893.",
        "20151070348.3",
        "2015107034899.3",
        "US201510703489.3",
        "201510703489-3",
        "201540703489.1",  # kind digit 4 does not exist
        "199810703489.5",  # 12-digit numbers start in 2003
        "ZLCN201510703489.3",
        "97101765",
        "abc",
    ],
)
def test_malformed_numbers(raw: str) -> None:
    with pytest.raises(CodedValueError) as err:
        rules.parse_application_number(raw)
    assert err.value.code == "invalid_patent_number"


def _number(prefix: str) -> str:
    return f"{prefix}.{rules.check_character(prefix)}"


@pytest.mark.parametrize(
    ("digits", "kind"),
    [
        ("202010000001", PatentKind.invention),
        ("202080000001", PatentKind.invention),
        ("202020000001", PatentKind.utility_model),
        ("202090000001", PatentKind.utility_model),
        ("202030000001", PatentKind.design),
        ("99200001", PatentKind.utility_model),
        ("99300001", PatentKind.design),
    ],
)
def test_kind_from_kind_digit(digits: str, kind: PatentKind) -> None:
    assert rules.parse_application_number(_number(digits)).kind == kind


def test_check_character_ten_is_x() -> None:
    assert rules.check_character("200710308494") == "X"
    assert rules.check_character("95115608") == "X"


@pytest.mark.parametrize(
    ("kind", "filed", "expires"),
    [
        (PatentKind.invention, date(2015, 10, 26), date(2035, 10, 26)),
        (PatentKind.utility_model, date(2015, 10, 26), date(2025, 10, 26)),
        (PatentKind.design, date(2021, 5, 31), date(2031, 5, 31)),
        (PatentKind.design, date(2021, 6, 1), date(2036, 6, 1)),
        # 29 February: the anniversary in a common year is 1 March (the term is never shortened).
        (PatentKind.utility_model, date(2012, 2, 29), date(2022, 3, 1)),
        (PatentKind.invention, date(2012, 2, 29), date(2032, 2, 29)),
        (PatentKind.design, date(2024, 2, 29), date(2039, 3, 1)),
    ],
)
def test_expiry(kind: PatentKind, filed: date, expires: date) -> None:
    assert rules.expires_on(kind, filed) == expires


def test_patent_number_and_derived_status() -> None:
    assert rules.patent_number("201510703489.3", None) is None
    assert rules.patent_number("201510703489.3", date(2018, 3, 2)) == "ZL201510703489.3"
    today = date(2026, 1, 1)
    derive = rules.derive_legal_status
    assert (
        derive(override=None, expires=date(2030, 1, 1), grant_date=None, today=today) == LegalStatus.pending
    )
    assert (
        derive(override=None, expires=date(2030, 1, 1), grant_date=today, today=today) == LegalStatus.granted
    )
    assert derive(override=None, expires=today, grant_date=today, today=today) == LegalStatus.expired
    assert (
        derive(override=LegalStatus.lapsed, expires=today, grant_date=None, today=today) == LegalStatus.lapsed
    )


@pytest.mark.parametrize(
    ("raw", "display", "key"),
    [
        ("H01M 10/0525", "H01M 10/0525", "H01M 10/0525"),
        ("G06F16/30", "G06F 16/30", "G06F 16/30"),
        ("g06f 16 / 30", "G06F 16/30", "G06F 16/30"),
        ("A61K 0031/00", "A61K 31/00", "A61K 31/00"),
        ("B01D 2257/504", "B01D 2257/504", "B01D 2257/504"),
    ],
)
def test_ipc_normalisation(raw: str, display: str, key: str) -> None:
    code = rules.parse_ipc(raw)
    assert (code.display, code.key) == (display, key)


@pytest.mark.parametrize(
    "raw",
    [
        "I01M 10/0525",
        "H1M 10/0525",
        "H01 10/0525",
        "H01M 10/5",
        "H01M10",
        "H01M 12345/00",
        "H01M /00",
        "H01M 0/00",
        "H01M 10/0525 (2006.01)",
        "",
        "DROP TABLE",
    ],
)
def test_ipc_errors(raw: str) -> None:
    with pytest.raises(CodedValueError) as err:
        rules.parse_ipc(raw)
    assert err.value.code == "invalid_ipc_code"


def test_ipc_codes_deduplicated_and_prefixes() -> None:
    assert rules.normalise_ipc_codes(["H01M10/0525", "H01M 10/0525", "G06F16/30"]) == [
        "H01M 10/0525",
        "G06F 16/30",
    ]
    assert rules.ipc_prefix("h01m") == "H01M"
    assert rules.ipc_prefix("H01M 10") == "H01M 10/"
    assert rules.ipc_prefix("h01m010") == "H01M 10/"
    assert rules.ipc_prefix("H01M10/05") == "H01M 10/05"
    assert rules.ipc_prefix("H") == "H"
    for bad in ("H01M%", "Z", "H01M 10/05_", "H01M10/0525/1"):
        with pytest.raises(CodedValueError):
            rules.ipc_prefix(bad)


def test_fingerprint_depends_on_content_only() -> None:
    fields = {
        "application_number": "201510703489.3",
        "title": "t",
        "abstract": "",
        "ipc_codes": ["H01M 10/0525"],
        "inventors": ["甲"],
        "filing_date": date(2015, 10, 26),
        "grant_date": None,
        "annual_fee_paid_until": None,
    }
    assert rules.fingerprint(fields) == rules.fingerprint(dict(fields))
    assert rules.fingerprint(fields) != rules.fingerprint({**fields, "title": "u"})


# --- dates a patent may carry (SPEC §20) -------------------------------------------------------------------

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"filing_date": date(9999, 12, 31)}, "filing_date"),
        ({"filing_date": date(2026, 11, 26)}, "filing_date"),  # tomorrow
        ({"filing_date": date(1899, 12, 31)}, "filing_date"),
        ({"filing_date": date(1, 1, 1)}, "filing_date"),
        ({"grant_date": date(2026, 11, 26)}, "grant_date"),
        ({"grant_date": date(9999, 12, 31)}, "grant_date"),
        ({"filing_date": date(2020, 3, 15), "grant_date": date(2020, 3, 14)}, "grant_date"),
        ({"annual_fee_paid_until": date(2200, 1, 1)}, "annual_fee_paid_until"),
        ({"annual_fee_paid_until": date(9999, 12, 31)}, "annual_fee_paid_until"),
        ({"annual_fee_paid_until": date(1899, 12, 31)}, "annual_fee_paid_until"),
    ],
)
def test_patent_dates_out_of_range_name_the_field(fields: dict[str, date], field: str) -> None:
    values = {"filing_date": date(2015, 10, 26), "grant_date": None, "annual_fee_paid_until": None, **fields}
    with pytest.raises(rules.PatentDateError) as caught:
        rules.check_patent_dates(**values, today=TODAY)
    assert caught.value.field == field
    assert caught.value.code == "invalid_date"
    assert isinstance(caught.value, CodedValueError)  # a CSV row fails with it like any other rule


@pytest.mark.parametrize(
    "fields",
    [
        {"filing_date": TODAY, "grant_date": TODAY},  # today itself is allowed
        {"filing_date": date(1900, 1, 1)},
        {"filing_date": date(1985, 4, 1), "grant_date": date(1986, 1, 1)},
        {"annual_fee_paid_until": date(2199, 12, 31)},  # paid ahead: any day the API can hold
        {"annual_fee_paid_until": date(1900, 1, 1)},
    ],
)
def test_patent_dates_in_range(fields: dict[str, date]) -> None:
    values = {"filing_date": date(2015, 10, 26), "grant_date": None, "annual_fee_paid_until": None, **fields}
    rules.check_patent_dates(**values, today=TODAY)


def test_every_accepted_filing_date_has_an_expiry() -> None:
    """The latest filing date the rule lets through (today, at most 2199-12-31) never overflows the term."""
    for kind in PatentKind:
        assert rules.expires_on(kind, date(2199, 12, 31)).year == 2199 + rules.term_years(
            kind, date(2199, 12, 31)
        )
