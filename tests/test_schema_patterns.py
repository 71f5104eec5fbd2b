"""The patterns the OpenAPI publishes say what the server takes (SPEC §21: generated clients can trust the
schema). Each is checked against the code that decides: what a pattern accepts, the server accepts (given the
computed check character a ``format`` names), and what the server accepts in its plain form, the pattern does.
"""

from __future__ import annotations

import re
import string
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict
from stdnum.cn import uscc

from app.accounts.rules import normalise_credit_code
from app.accounts.schemas import CREDIT_CODE_PATTERN
from app.auctions.events import MAX_EVENT_ID, InvalidLastEventId, parse_last_event_id
from app.kit.dates import DATE_PATTERN, EARLIEST, LATEST
from app.kit.errors import CodedValueError
from app.kit.openapi import digits_at_most
from app.kit.printing import check_printable, printable_pattern
from app.kit.schemas import STRIPPED_CODEPOINTS
from app.licensing.rules import fee_errors
from app.licensing.schemas import ROYALTY_RATE_SCHEMAS
from app.main import create_app
from app.models.policy import FeeType
from app.patents import rules
from app.patents.schemas import APPLICATION_NUMBER_PATTERN, IPC_PATTERN, IPC_PREFIX_PATTERN
from tests.conftest import make_settings


def test_the_whitespace_request_models_strip_is_the_published_one() -> None:
    class Stripped(BaseModel):
        model_config = ConfigDict(str_strip_whitespace=True)
        text: str

    stripped = {
        c
        for c in range(0x110000)
        if not 0xD800 <= c < 0xE000 and Stripped(text=f"{chr(c)}a{chr(c)}").text == "a"
    }
    assert stripped == STRIPPED_CODEPOINTS


EVENT_ID = re.compile(digits_at_most(MAX_EVENT_ID))


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "7",
        "000",
        "9223372036854775807",
        "9223372036854775808",
        "09223372036854775807",
        "99999999999999999999",
    ],
)
def test_event_id_pattern_is_the_last_event_id_rule(value: str) -> None:
    try:
        parse_last_event_id(value, name="Last-Event-ID")
        accepted = True
    except InvalidLastEventId:
        accepted = False
    assert (EVENT_ID.fullmatch(value) is not None) == accepted


@given(st.integers(min_value=0, max_value=2**64), st.integers(min_value=0, max_value=3))
def test_event_id_pattern_matches_exactly_the_ids_taken(number: int, zeros: int) -> None:
    text = "0" * zeros + str(number)
    try:
        parse_last_event_id(text, name="Last-Event-ID")
        accepted = True
    except InvalidLastEventId:
        accepted = False
    assert (EVENT_ID.fullmatch(text) is not None) == accepted


@given(st.integers(min_value=0, max_value=10**6))
def test_digits_at_most_any_maximum(maximum: int) -> None:
    pattern = re.compile(digits_at_most(maximum))
    width = len(str(maximum))
    for value in {0, maximum, maximum + 1, maximum // 2, 10**width - 1}:
        assert (pattern.fullmatch(str(value)) is not None) == (value <= maximum)
        assert (pattern.fullmatch(str(value).zfill(width)) is not None) == (value <= maximum)


@given(
    st.from_regex(r"\A(?:(?:200[3-9]|20[1-9][0-9]|2[1-9][0-9]{2})[12389][0-9]{7}|[0-9]{2}[12389][0-9]{5})\Z")
)
def test_application_numbers_of_the_pattern_are_taken_with_their_check_character(digits: str) -> None:
    number = f"{digits}.{rules.check_character(digits)}"
    for written in (number, "CN" + number, "zl" + number.replace(".", "")):
        assert re.fullmatch(APPLICATION_NUMBER_PATTERN, written)
        assert rules.parse_application_number(written).number == number


@given(st.from_regex(APPLICATION_NUMBER_PATTERN, fullmatch=True))
def test_an_application_number_of_the_pattern_fails_only_on_its_check_character(text: str) -> None:
    try:
        rules.parse_application_number(text)
    except CodedValueError as exc:
        assert "check character" in str(exc)


@given(st.from_regex(IPC_PATTERN, fullmatch=True))
def test_ipc_codes_of_the_pattern_are_taken(text: str) -> None:
    assert re.fullmatch(IPC_PATTERN, rules.parse_ipc(text).display)


@given(st.from_regex(IPC_PREFIX_PATTERN, fullmatch=True))
def test_ipc_prefixes_of_the_pattern_are_taken(text: str) -> None:
    if text:
        rules.ipc_prefix(text)


@given(st.from_regex(r"\A[0-9]{8}[0-9A-HJ-NP-RTUW-Y]{9}\Z"), st.booleans())
def test_credit_codes_of_the_pattern_are_taken_with_their_check_character(body: str, lower: bool) -> None:
    code = body + uscc.calc_check_digit(body)
    written = code.lower() if lower else code
    assert re.fullmatch(CREDIT_CODE_PATTERN, written)
    assert normalise_credit_code(written) == code


RATE_NUMBER, RATE_TEXT = ROYALTY_RATE_SCHEMAS


@given(st.from_regex(RATE_TEXT["pattern"], fullmatch=True))
def test_royalty_rates_of_the_pattern_are_taken(text: str) -> None:
    assert fee_errors(FeeType.royalty, None, Decimal(text), None) == []


@given(st.integers(min_value=1, max_value=10**6))
def test_royalty_rates_the_server_takes_match_the_pattern(millionths: int) -> None:
    text = format(Decimal(millionths) / 10**6, "f")
    assert fee_errors(FeeType.royalty, None, Decimal(text), None) == []
    assert re.fullmatch(RATE_TEXT["pattern"], text)
    assert RATE_NUMBER["exclusiveMinimum"] < float(text) <= RATE_NUMBER["maximum"]


@pytest.mark.parametrize("text", ["0", "0.0", "1.1", "2", "0.0000001", "-0.5"])
def test_royalty_rates_refused_do_not_match_the_pattern(text: str) -> None:
    assert fee_errors(FeeType.royalty, None, Decimal(text), None) != []
    assert not re.fullmatch(RATE_TEXT["pattern"], text)


def test_the_date_pattern_is_the_date_range() -> None:
    pattern = re.compile(DATE_PATTERN)
    assert pattern.fullmatch(EARLIEST.isoformat()) and pattern.fullmatch(LATEST.isoformat())
    assert not pattern.fullmatch("1899-12-31") and not pattern.fullmatch("2200-01-01")


@cache
def _printable(non_blank: bool) -> re.Pattern[str]:
    return re.compile(printable_pattern(non_blank))


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8))
def test_the_printable_pattern_is_the_printable_check(text: str) -> None:
    try:
        check_printable(text.strip("".join(map(chr, STRIPPED_CODEPOINTS))))
        printable = True
    except CodedValueError:
        printable = False
    assert (_printable(False).fullmatch(text) is not None) == printable
    stripped = text.strip("".join(map(chr, STRIPPED_CODEPOINTS)))
    assert (_printable(True).fullmatch(text) is not None) == (printable and stripped != "")


def _input_strings(
    node: Any, components: dict[str, Any], seen: set[str], found: list[dict[str, Any]]
) -> None:
    if isinstance(node, list):
        for item in node:
            _input_strings(item, components, seen, found)
    elif isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                _input_strings(components[name], components, seen, found)
            return
        if node.get("type") == "string":
            found.append(node)
        for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            _input_strings(node.get(key), components, seen, found)
        _input_strings(list(node.get("properties", {}).values()), components, seen, found)


def test_every_text_a_request_sends_says_what_it_takes() -> None:
    """Every string of a request body or parameter has a pattern, a format or an enum: at least "no NUL"
    (PostgreSQL refuses it, so every request model does)."""
    document = create_app(make_settings("sqlite+aiosqlite:////nonexistent/openapi-only.db")).openapi()
    components = document["components"]["schemas"]
    found: list[dict[str, Any]] = []
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                _input_strings(parameter["schema"], components, set(), found)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _input_strings(media["schema"], components, set(), found)
    assert len(found) > 50
    vague = [s for s in found if not {"pattern", "format", "enum", "const"} & s.keys()]
    assert vague == []


def test_ascii_letters_and_digits_are_printable() -> None:
    assert _printable(True).fullmatch(string.ascii_letters + string.digits)
