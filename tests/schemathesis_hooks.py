"""Schemathesis hooks of tests/test_api_schema.py (``SCHEMATHESIS_HOOKS=tests.schemathesis_hooks``).

- Strategies for the string formats whose rule is a computed check character (a credit code, a patent
  application number): the schema publishes their syntax as a pattern and names the rule as a ``format``, and
  these generate numbers that pass it, as a client's real data would.
- ``schema_valid_input_accepted``: Schemathesis' ``positive_data_acceptance`` (a request valid by the schema is
  not refused as invalid), except for the rules JSON Schema cannot state, each named below by operation and
  field (``SEMANTIC``): a 422 passes only when every error it lists is at such a field.
- ``schema_invalid_input_refused``: Schemathesis' ``negative_data_rejection``, except a body whose only fault is
  surrounding whitespace, which request models strip before they check lengths.
- ``problem_code_documented``: every problem document's ``code`` is one its operation documents for that status
  (``x-error-codes``, listed in the operation's description: SPEC §21).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jsonschema_rs
import schemathesis
from hypothesis import strategies as st
from hypothesis.strategies._internal import regex as hypothesis_regex
from stdnum.cn import uscc

from app.accounts.schemas import CREDIT_CODE_FORMAT
from app.kit.schemas import STRIPPED_CODEPOINTS
from app.patents.rules import check_character
from app.patents.schemas import APPLICATION_NUMBER_FORMAT

# Hypothesis builds a regex's strategy from scratch each time ``from_regex`` misses its bounded cache of
# strategies, which a run of thousands of strategies evicts. The pattern of what the PDFs can print (a class of
# over 60,000 characters, on 24 fields) cost ~190 ms per build: a profile of the coverage phase put 62% of
# Schemathesis' CPU there. A regex's strategy depends on the compiled pattern and the alphabet alone, both
# hashable, and strategies are immutable: build each once per run.
_build_regex_strategy = hypothesis_regex.base_regex_strategy


@functools.cache
def _regex_strategy_once(regex: re.Pattern[Any], alphabet: Any) -> Any:
    return _build_regex_strategy(regex, alphabet=alphabet)


def _base_regex_strategy(regex: re.Pattern[Any], *, parsed: Any = None, alphabet: Any) -> Any:
    try:
        return _regex_strategy_once(regex, alphabet)
    except TypeError:  # an unhashable alphabet
        return _build_regex_strategy(regex, parsed=parsed, alphabet=alphabet)


hypothesis_regex.base_regex_strategy = _base_regex_strategy

_USCC_BODY = r"\A[0-9]{8}[0-9A-HJ-NP-RTUW-Y]{9}\Z"  # 17 characters; the 18th is the check character
schemathesis.openapi.format(
    CREDIT_CODE_FORMAT, st.from_regex(_USCC_BODY).map(lambda body: body + uscc.calc_check_digit(body))
)
_APPLICATION_DIGITS = r"\A(?:(?:200[3-9]|20[1-9][0-9])[12389][0-9]{7}|[0-9]{2}[12389][0-9]{5})\Z"
schemathesis.openapi.format(
    APPLICATION_NUMBER_FORMAT,
    st.from_regex(_APPLICATION_DIGITS).map(lambda digits: f"{digits}.{check_character(digits)}"),
)

# Fields whose rule depends on other fields, on the business day or on stored data — what no JSON Schema of the
# request can state — by operation, as error locations (a prefix of an error's ``loc``). A 422 at any other
# field means the schema promised something the server refuses.
ANY = ("*",)
# A location ending in WHOLE matches that location exactly (a rule between the body's fields, reported at the
# body itself), not everything under it.
WHOLE = "$"
_ONE_OF_CONSENT = "an owner's or a use right's consent names one of owner_id and use_right_id, not both"
_ID_NUMBER = "a resident ID number: its region, a real birth date and its check character (invalid_id_number)"
# The ``email`` format allows special-use and reserved domains; email-validator refuses them.
_DELIVERABLE = "an address at a domain mail can reach (not .test, .local, localhost...)"
_LISTING_TERMS = {
    ("body", "price"): "required or refused by pricing mode; the start price of an auction's terms",
    ("body", "deposit"): "required for listed and auction modes, at most 30% of the price",
    ("body", "license"): "required for licence kinds, refused for an assignment",
    ("body", "auction"): "required for auction mode, its times within the date range (invalid_auction)",
    ("body", "patent_ids"): "patents of the seller's, granted and free to list",
}
_DEMAND_TERMS = {
    ("body", "deadline"): "after today (Shanghai), at most 365 days ahead (invalid_deadline)",
    ("body", "budget_min"): "not above budget_max (invalid_budget)",
}
SEMANTIC: dict[str, dict[tuple[Any, ...], str]] = {
    ANY[0]: {
        ("query", "cursor"): "a cursor is opaque: only a page's next_cursor is one",
        ("header", "Idempotency-Key"): "a key already used with another body (idempotency_key_reused)",
    },
    "POST /api/v1/auth/token": {
        ("body", "username"): "required by the password grant",
        ("body", "password"): "required by the password grant",
        ("body", "refresh_token"): "required by the refresh_token grant",
    },
    "GET /api/v1/stats/turnover": {("query", "from"): "not after `to`"},
    "POST /api/v1/organizations": {("body", "admin", "email"): _DELIVERABLE},
    "POST /api/v1/organizations/{org_id}/members": {("body", "email"): _DELIVERABLE},
    "POST /api/v1/listings": _LISTING_TERMS,
    "PATCH /api/v1/listings/{listing_id}": {
        **_LISTING_TERMS,
        ("body", "transaction_kind"): "a relisted draft keeps its transaction kind (relist_terms_fixed)",
    },
    "POST /api/v1/listings/{listing_id}/relist": {
        ("body", "price"): "at least 80% of the old price (relist_price_too_low), the old terms' rules",
        ("body", "deposit"): "at most 30% of the price, the old one's if not given",
        ("body", "auction"): "the old auction terms' times counted from now (invalid_auction)",
    },
    "POST /api/v1/open-licenses": {
        ("body", "lump_sum"): "required or refused by fee_type",
        ("body", "royalty_rate"): "required or refused by fee_type",
        ("body", "royalty_base"): "refused by fee types without a royalty",
    },
    "POST /api/v1/trial-offers": {
        ("body", "conversion"): "each conversion type takes exactly its fields (SPEC §18.3)",
        ("body", "max_trials"): "1 for a sole or exclusive kind or an assignment conversion",
    },
    "POST /api/v1/patents": {
        ("body", "filing_date"): "not later than today (the business day)",
        ("body", "grant_date"): "not before filing_date, not later than today",
        ("body", "annual_fee_paid_until"): "within the patent's term",
    },
    "PATCH /api/v1/patents/{patent_id}": {
        ("body", "grant_date"): "not before the patent's filing_date, not later than today",
        ("body", "annual_fee_paid_until"): "within the patent's term",
    },
    "POST /api/v1/patents/import": {("body", "file"): "the file's content: CSV or .xlsx with the header"},
    "POST /api/v1/patents/{patent_id}/pledges": {
        ("body", "pledgee_org_id"): "a verified financial institution other than the owner",
        ("body", "ends_on"): "after today (the business day)",
    },
    "POST /api/v1/deals/{deal_id}/reward-plan": {
        ("body", "costs"): "at most the price less the seller's fee",
        ("body", "allocations"): "the seller's rule set: shares of the pool (reward_plan_invalid)",
        ("body", WHOLE): "a cash plan's allocations carry amount, an equity plan's equity_percent (form)",
    },
    "POST /api/v1/deals/{deal_id}/valuation": {("body", WHOLE): "either a report or an appraisal waiver"},
    "POST /api/v1/listings/{listing_id}/owner-consents": {("body", WHOLE): _ONE_OF_CONSENT},
    "POST /api/v1/pledges/{pledge_id}/owner-consents": {("body", WHOLE): _ONE_OF_CONSENT},
    "POST /api/v1/trial-offers/{offer_id}/owner-consents": {("body", WHOLE): _ONE_OF_CONSENT},
    "POST /api/v1/patents/{patent_id}/owners": {
        ("body", "owners"): _ID_NUMBER + "; shares summing to 100.00"
    },
    "POST /api/v1/patents/{patent_id}/empowerments": {
        ("body", "inventors"): _ID_NUMBER + "; shares leaving the institution one"
    },
    "POST /api/v1/deals/{deal_id}/decision-record": {
        ("body", "decided_on"): "not after today (the business day)"
    },
    "PUT /api/v1/calendar/{year}": {
        ("body", "holidays"): "weekdays of the path's year",
        ("body", "workdays"): "weekend days of the path's year",
    },
    "POST /api/v1/listings/{listing_id}/offers": {("body", "expires_at"): "in the future"},
    "POST /api/v1/transfer-tasks/{transfer_task_id}/filed": {
        ("body", "filed_at"): "not before the deal's settlement nor in the future"
    },
    "POST /api/v1/transfer-tasks/{transfer_task_id}/registered": {
        ("body", "announcement_date"): "not before the filing day nor after today"
    },
    "POST /api/v1/licence-records/{licence_record_id}/filed": {
        ("body", "filed_at"): "not before the record's creation nor in the future"
    },
    "POST /api/v1/offers/{offer_id}/counter": {("body", "expires_at"): "in the future"},
    "POST /api/v1/saved-searches": {("body",): "at least one criterion that is not blank"},
    "POST /api/v1/demands": _DEMAND_TERMS,
    "PATCH /api/v1/demands/{demand_id}": _DEMAND_TERMS,
    "POST /api/v1/webhooks": {
        ("body", "url"): "an absolute http(s) URL with a valid host (https only in production) resolving to "
        "public addresses (outside the test environment)"
    },
}
REJECTIONS = frozenset({400, 413, 415, 422})


def _problem(response: Any) -> dict[str, Any] | None:
    if not response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _semantic(operation: str, loc: list[Any]) -> bool:
    allowed = {**SEMANTIC[ANY[0]], **SEMANTIC.get(operation, {})}
    return any(
        tuple(loc) == prefix[:-1] if prefix[-1:] == (WHOLE,) else tuple(loc[: len(prefix)]) == prefix
        for prefix in allowed
    )


@schemathesis.check
def schema_valid_input_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request the schema says is valid is not refused as invalid, unless only by a rule the schema cannot
    state (``SEMANTIC``)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in REJECTIONS:
        return None
    from schemathesis.specs.openapi.checks import is_unexpected_http_status_case

    if is_unexpected_http_status_case(case):
        return None
    problem = _problem(response) or {}
    errors = problem.get("errors") or [{"loc": [], "msg": problem.get("detail", "")}]
    operation = f"{case.method.upper()} {case.operation.path}"
    unexplained = [e for e in errors if not _semantic(operation, list(e.get("loc", [])))]
    if unexplained:
        raise AssertionError(
            f"Schema-valid request rejected with {response.status_code} `{problem.get('code')}`: "
            + "; ".join(f"{e.get('loc')}: {e.get('msg')}" for e in unexplained)
        )
    return None


_STRIPPED = "".join(map(chr, STRIPPED_CODEPOINTS))


def _stripped(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip(_STRIPPED)
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    if isinstance(value, dict):
        return {k: _stripped(v) for k, v in value.items()}
    return value


def _valid_once_stripped(case: Any) -> bool:
    """Whether the body breaks its schema only by surrounding whitespace that the request models strip (a
    ``maxLength`` counts it, the model does not)."""
    body = case.body if isinstance(case.body, dict | list) else None
    if body is None or _stripped(body) == body:
        return False
    content = case.operation.definition.raw.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return False
    document = {**schema, "components": case.operation.schema.raw_schema.get("components", {})}
    validator = jsonschema_rs.Draft202012Validator(document)
    return not validator.is_valid(body) and validator.is_valid(_stripped(body))


@schemathesis.check
def schema_invalid_input_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' ``negative_data_rejection`` (a request the schema says is invalid is refused), except a
    body whose only fault is surrounding whitespace: request models strip it before they check lengths."""
    from schemathesis.specs.openapi.checks import negative_data_rejection

    try:
        return negative_data_rejection(ctx, response, case)
    except Exception:
        if _valid_once_stripped(case):
            return None
        raise


@schemathesis.check
def problem_code_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """The ``code`` of a problem document is one of those its operation documents for the status."""
    problem = _problem(response)
    if problem is None or response.status_code == 500:
        return None  # not_a_server_error's to report
    responses = case.operation.definition.raw.get("responses", {})
    documented = responses.get(str(response.status_code), {}).get("x-error-codes")
    if documented is None:
        return None  # an undocumented status is status_code_conformance's to report
    if problem.get("code") not in documented:
        raise AssertionError(
            f"{response.status_code} `{problem.get('code')}` is not among the codes this operation documents "
            f"for {response.status_code}: {', '.join(documented)}"
        )
    return None
