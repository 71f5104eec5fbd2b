"""Unit tests of the pure rules (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.kit.errors import InvalidState, Unprocessable
from app.kit.workdays import SHANGHAI, WorkdayCalendar
from app.listings import rules
from app.listings.search import document, escape_like, fts5_match, index_terms, parse_query
from app.models.listings import ListingStatus, PricingMode, TransactionKind

S = ListingStatus
ALL_PAIRS = [(a, b) for a in S for b in S]


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_check_transition_follows_the_table(current: S, target: S) -> None:
    if target in rules.TRANSITIONS[current]:
        rules.check_transition(current, target)
    else:
        with pytest.raises(InvalidState) as exc:
            rules.check_transition(current, target)
        assert exc.value.code == "invalid_state" and exc.value.status == 409


def test_every_status_has_a_row_and_terminal_states_are_final() -> None:
    assert set(rules.TRANSITIONS) == set(S)
    for terminal in (S.sold, S.expired, S.failed, S.withdrawn, S.terminated):
        assert rules.TRANSITIONS[terminal] == frozenset()


def terms(**kw: object) -> rules.Terms:
    base: dict[str, object] = {
        "transaction_kind": TransactionKind.assignment,
        "pricing_mode": PricingMode.negotiated,
        "price": None,
        "deposit": None,
    }
    base.update(kw)
    return rules.Terms(**base)  # type: ignore[arg-type]


def code_of(t: rules.Terms) -> tuple[str, list[object]]:
    with pytest.raises(Unprocessable) as exc:
        rules.validate_terms(t)
    return exc.value.code, exc.value.errors[0]["loc"]


def test_price_rules_per_mode() -> None:
    rules.validate_terms(terms())  # negotiated without a price
    rules.validate_terms(terms(price=100))
    assert code_of(terms(pricing_mode=PricingMode.listed, deposit=10)) == (
        "validation_error",
        ["body", "price"],
    )
    assert code_of(terms(price=0)) == ("validation_error", ["body", "price"])
    auction = {"format": "english", "increment": 100}
    assert code_of(terms(pricing_mode=PricingMode.auction, deposit=10, auction=auction))[1] == [
        "body",
        "price",
    ]


@pytest.mark.parametrize(
    ("mode", "price", "deposit", "ok"),
    [
        (PricingMode.listed, 1000, 300, True),
        (PricingMode.listed, 1000, 301, False),
        (PricingMode.listed, 1000, 0, False),
        (PricingMode.listed, 1000, None, False),
        (PricingMode.auction, 1000, 1, True),
        (PricingMode.auction, 1000, None, False),
        (PricingMode.negotiated, 1000, None, True),
        (PricingMode.negotiated, 1000, 300, True),
        (PricingMode.negotiated, None, 300, False),
        (PricingMode.negotiated, 1000, 301, False),
    ],
)
def test_deposit_rule(mode: PricingMode, price: int | None, deposit: int | None, ok: bool) -> None:
    auction = {"format": "english", "increment": 10} if mode == PricingMode.auction else None
    t = terms(pricing_mode=mode, price=price, deposit=deposit, auction=auction)
    if ok:
        rules.validate_terms(t)
    else:
        assert code_of(t) == ("invalid_deposit", ["body", "deposit"])


def test_license_terms() -> None:
    lic = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}
    for kind in (
        TransactionKind.exclusive_license,
        TransactionKind.sole_license,
        TransactionKind.nonexclusive_license,
    ):
        rules.validate_terms(terms(transaction_kind=kind, license=lic))
        assert code_of(terms(transaction_kind=kind))[1] == ["body", "license", "term_months"]
        assert code_of(terms(transaction_kind=kind, license={**lic, "territory": ""}))[1] == [
            "body",
            "license",
            "territory",
        ]
    assert code_of(terms(license=lic)) == ("validation_error", ["body", "license"])


def auction_terms(**auction: object) -> rules.Terms:
    return terms(pricing_mode=PricingMode.auction, price=100_000, deposit=10_000, auction=auction)


def test_auction_settings() -> None:
    rules.validate_terms(auction_terms(format="english", increment=100))
    rules.validate_terms(auction_terms(format="sealed", increment=100, reserve_price=200_000))
    assert code_of(terms(pricing_mode=PricingMode.auction, price=100, deposit=1))[1] == ["body", "auction"]
    assert code_of(auction_terms(format="english", increment=0))[1] == ["body", "auction", "increment"]
    assert code_of(auction_terms(format="english", increment=1, reserve_price=0))[1] == [
        "body",
        "auction",
        "reserve_price",
    ]
    dutch = {"format": "dutch", "increment": 100, "decrement": 500, "step_seconds": 60, "floor_price": 50_000}
    rules.validate_terms(auction_terms(**dutch))
    for missing in ("decrement", "step_seconds", "floor_price"):
        partial = {k: v for k, v in dutch.items() if k != missing}
        assert code_of(auction_terms(**partial))[1] == ["body", "auction", missing]
    assert code_of(auction_terms(**{**dutch, "floor_price": 100_000}))[1] == [
        "body",
        "auction",
        "floor_price",
    ]
    assert code_of(auction_terms(**{**dutch, "decrement": 0}))[1] == ["body", "auction", "decrement"]
    # Negotiated listings take no auction; listed trading only an English one (its increment).
    assert code_of(terms(auction={"format": "english", "increment": 1}))[1] == ["body", "auction"]
    listed = terms(
        pricing_mode=PricingMode.listed, price=1000, deposit=100, auction={"format": "sealed", "increment": 1}
    )
    assert code_of(listed)[1] == ["body", "auction", "format"]


def test_auction_defaults() -> None:
    stored = rules.auction_defaults({"format": "sealed", "increment": 100})
    assert stored is not None
    assert stored["free_bidding_minutes"] == 1440 and stored["countdown_seconds"] == 300
    assert stored["sealed_pricing"] == "first_price" and stored["reserve_price"] is None
    assert (
        rules.auction_defaults({"format": "english", "increment": 1, "free_bidding_minutes": 0})[  # type: ignore[index]
            "free_bidding_minutes"
        ]
        == 0
    )


@pytest.mark.parametrize(
    ("price", "increment"),
    [
        (100_000_00, 1000_00),  # 100,000 yuan → 1,000 yuan
        (123_456_78, 1235_00),  # 1% = 1234.5678 → 1235 yuan
        (12_345_00, 123_00),  # 123.45 → 123
        (50_00, 1_00),  # 0.5 yuan → at least one yuan
    ],
)
def test_default_increment(price: int, increment: int) -> None:
    assert rules.default_increment(price) == increment


def test_listing_ends_at_in_working_days() -> None:
    cal = WorkdayCalendar()
    # Friday 2026-09-25 10:00 Shanghai + 10 working days: National Day (Oct 1-7) is skipped and the adjusted
    # working Sunday 2026-09-27 counts.
    start = datetime(2026, 9, 25, 10, 0, tzinfo=SHANGHAI)
    end = rules.listing_ends_at(start.astimezone(UTC), 10, cal)
    assert end.astimezone(SHANGHAI).time() == start.time()
    days = [
        start.date() + timedelta(days=i)
        for i in range(1, (end.astimezone(SHANGHAI).date() - start.date()).days + 1)
    ]
    assert sum(cal.is_workday(d) for d in days) == 10
    # 2027 is not in the official table: Monday-Friday without a holiday file, so Fri 2027-01-01 counts.
    # Wed 2026-12-30 + 5 → Thu 31, Fri 1, Mon 4, Tue 5, Wed 6 Jan.
    end = rules.listing_ends_at(datetime(2026, 12, 30, 9, 30, tzinfo=SHANGHAI), 5, cal)
    assert end == datetime(2027, 1, 6, 9, 30, tzinfo=SHANGHAI)


def test_resume_moves_the_end_by_the_suspension() -> None:
    end = datetime(2026, 12, 10, 2, tzinfo=UTC)
    suspended = datetime(2026, 12, 1, tzinfo=UTC)
    assert rules.resumed_ends_at(end, suspended, suspended + timedelta(hours=30)) == end + timedelta(hours=30)
    assert rules.resumed_ends_at(None, suspended, suspended) is None


# --- search terms (pure) ---------------------------------------------------------------------------------------


def test_index_terms_bigrams_words_and_normalisation() -> None:
    assert index_terms("一种锂电池隔膜") == "一种 种锂 锂电 电池 池隔 隔膜"
    assert index_terms("电") == "电"
    assert index_terms("ＬＩ-ion Battery 2号电池") == "li ion battery 2 号电 电池"
    assert index_terms("芯片,的") == "芯片 的"


def test_query_parsing_and_fts_syntax_is_never_passed_through() -> None:
    q = parse_query('锂电池 "OR" * battery%_')
    assert q.phrases == [["锂电", "电池"], ["or"], ["battery"]]
    assert q.fragments == ["锂电池"]
    assert fts5_match(q) == '"锂电 电池" AND "or" AND "battery"'
    assert parse_query("%_*\"'").empty
    one = parse_query("池")
    assert one.phrases == [] and one.fragments == ["池"] and not one.empty
    assert escape_like("50%_\\") == "50\\%\\_\\\\"


def test_document_separates_fields() -> None:
    title, body, terms_ = document("锂电", "池", [("芯片", "")])
    assert title == "锂电" and body == "锂电\n池\n芯片"
    assert "电池" not in terms_.split()
