"""The pure rules of demands (SPEC §17.6): the matching formula, validation, expiry, the state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.demands import rules
from app.demands.rules import IpcMatch
from app.kit.errors import CodedValueError, ExchangeError
from app.listings import search
from app.models.demands import DemandStatus as S


def _text(*parts: str) -> tuple[frozenset[str], str]:
    """A listing's search terms and body, as the listing index writes them."""
    _, body, terms = search.document(parts[0], parts[1] if len(parts) > 1 else "", [])
    return frozenset(terms.split()), body


@pytest.mark.parametrize(
    ("demand", "listing", "expected"),
    [
        (["H01M 10/0525"], ["H01M 10/0562"], IpcMatch.group),  # same main group, other subgroup
        (["H01M 10/0525"], ["H01M 4/36"], IpcMatch.subclass),
        (["H01M"], ["H01M 10/0525"], IpcMatch.subclass),  # a subclass-only code: subclass at most
        (["H01M"], ["H01M"], IpcMatch.subclass),
        (["H01M 1/02"], ["H01M 10/0525"], IpcMatch.subclass),  # group 1 is not group 10
        (["H01M 10/0525"], ["H01L 10/0525"], IpcMatch.none),
        (["G06F 16/30", "H01M 4/36"], ["H01M 10/0525", "H01M 4/13"], IpcMatch.group),  # best pair wins
        ([], ["H01M 10/0525"], IpcMatch.none),
        (["H01M 10/0525"], [], IpcMatch.none),
    ],
)
def test_ipc_match(demand: list[str], listing: list[str], expected: IpcMatch) -> None:
    assert rules.ipc_match(demand, listing) == expected


def test_title_terms_are_the_listing_index_terms_distinct() -> None:
    assert rules.title_terms("寻求海参养殖设备技术") == [
        "寻求",
        "求海",
        "海参",
        "参养",
        "养殖",
        "殖设",
        "设备",
        "备技",
        "技术",
    ]
    assert rules.title_terms("Battery 电池 battery") == ["battery", "电池"]  # NFKC, lower case, distinct
    assert rules.title_terms("!!!") == []


def test_text_score_is_the_share_of_title_terms_found_rounded_to_two_decimals() -> None:
    terms, body = _text("一种锂电池隔膜的制备方法", "高孔隙率隔膜")
    assert rules.text_score(["电池", "隔膜", "水泵"], terms, body) == Decimal("0.67")
    assert rules.text_score(["电池", "水泵", "海参"], terms, body) == Decimal("0.33")
    assert rules.text_score(["电池", "水泵"], terms, body) == Decimal("0.50")
    assert rules.text_score(["电池"], terms, body) == Decimal("1.00")
    assert rules.text_score([], terms, body) == Decimal("0.00")


def test_a_latin_word_is_found_as_a_word_and_a_lone_cjk_character_as_a_substring() -> None:
    terms, body = _text("Lithium batteries 水泵系统")
    assert rules.text_score(["battery"], terms, body) == 0  # a word, not a substring of one
    assert rules.text_score(["lithium"], terms, body) == 1
    assert rules.text_score(["泵"], terms, body) == 1  # inside the run 水泵系统
    assert rules.text_score(["电"], terms, body) == 0


def test_score_inclusion_and_order() -> None:
    terms, body = _text("海参养殖设备", "自动投喂")
    group = rules.match(["A01K 61/00"], ["海参", "电池"], ["A01K 61/10"], terms, body)
    assert (group.ipc_match, group.text_score, group.score, group.included) == (
        IpcMatch.group,
        Decimal("0.50"),
        Decimal("2.50"),
        True,
    )
    subclass = rules.match(["A01K"], [], ["A01K 61/10"], terms, body)
    assert (subclass.score, subclass.included) == (Decimal("1.00"), True)
    half = rules.match([], ["海参", "电池"], [], terms, body)
    assert (half.ipc_match, half.score, half.included) == (IpcMatch.none, Decimal("0.50"), True)
    third = rules.match([], ["海参", "电池", "水泵"], [], terms, body)
    assert (third.text_score, third.included) == (Decimal("0.33"), False)
    # score descending, then newest published_at, then id ascending
    old, new = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    keys = [
        rules.ranking_key(Decimal("1.00"), new, "b"),
        rules.ranking_key(Decimal("2.50"), old, "c"),
        rules.ranking_key(Decimal("1.00"), old, "a"),
        rules.ranking_key(Decimal("1.00"), new, "a"),
    ]
    assert sorted(keys) == [keys[1], keys[3], keys[0], keys[2]]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("H01M", "H01M"),
        ("h01m", "H01M"),
        ("H01M10/0525", "H01M 10/0525"),
        ("Ｈ０１Ｍ １０/０５２５", "H01M 10/0525"),
    ],
)
def test_ipc_codes_full_or_subclass(given: str, stored: str) -> None:
    assert rules.normalise_ipc_code(given) == stored


@pytest.mark.parametrize("bad", ["H01", "H01M 10", "Z01M", "H01M10/", "电池", "", "H01MM"])
def test_other_ipc_codes_are_invalid_ipc_code(bad: str) -> None:
    with pytest.raises(CodedValueError) as raised:
        rules.normalise_ipc_code(bad)
    assert raised.value.code == "invalid_ipc_code"


def test_at_most_twenty_codes() -> None:
    codes = [f"H01M {g}/00" for g in range(1, 22)]
    assert len(rules.normalise_ipc_codes(codes[:20])) == 20
    with pytest.raises(CodedValueError) as raised:
        rules.normalise_ipc_codes(codes)
    assert raised.value.code == "invalid_ipc_code"


def test_budget() -> None:
    rules.check_budget(100, 100)
    rules.check_budget(None, 5)
    rules.check_budget(5, None)
    with pytest.raises(ExchangeError) as raised:
        rules.check_budget(101, 100)
    assert (raised.value.status, raised.value.code) == (422, "invalid_budget")


def test_deadline_after_today_in_shanghai_and_at_most_a_year_ahead() -> None:
    # 2026-11-30 23:30 in Shanghai is still 15:30 UTC on the 30th: "today" is Shanghai's.
    now = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 00:30 on 1 December in Shanghai
    today = date(2026, 12, 1)
    rules.check_deadline(today + timedelta(days=1), now)
    rules.check_deadline(today + timedelta(days=365), now)
    for bad in (today, today - timedelta(days=1), today + timedelta(days=366), date(9999, 12, 31)):
        with pytest.raises(ExchangeError) as raised:
            rules.check_deadline(bad, now)
        assert (raised.value.status, raised.value.code) == (422, "invalid_deadline")


def test_expires_at_is_midnight_in_shanghai_after_the_deadline() -> None:
    assert rules.expires_at(date(2026, 12, 31)) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


def test_the_transition_table() -> None:
    allowed = {
        (S.draft, S.pending_review),
        (S.pending_review, S.published),
        (S.pending_review, S.draft),
        (S.published, S.closed),
        (S.draft, S.expired),
        (S.pending_review, S.expired),
        (S.published, S.expired),
    }
    for a in S:
        for b in S:
            if (a, b) in allowed:
                rules.check_transition(a, b)
            else:
                with pytest.raises(ExchangeError) as raised:
                    rules.check_transition(a, b)
                assert (raised.value.status, raised.value.code) == (409, "invalid_state")


def test_current_status_is_expired_once_expires_at_has_passed() -> None:
    at = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert rules.current_status(S.published, at, at - timedelta(microseconds=1)) == S.published
    assert rules.current_status(S.published, at, at) == S.expired
    assert rules.current_status(S.draft, at, at) == S.expired
    assert rules.current_status(S.closed, at, at) == S.closed


def test_the_fewest_terms_a_text_match_needs() -> None:
    assert [rules.min_terms_found(n) for n in (1, 2, 3, 4, 5, 7, 8, 13)] == [1, 1, 2, 2, 3, 4, 4, 7]
    for n in range(1, 80):
        terms = [f"w{i}" for i in range(n)]
        k = rules.min_terms_found(n)
        assert rules.text_score(terms, frozenset(terms[:k]), "") >= Decimal("0.5")
        assert rules.text_score(terms, frozenset(terms[: k - 1]), "") < Decimal("0.5")
