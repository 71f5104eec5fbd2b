"""Stock-taking import (SPEC §4): per-row failures, idempotent re-import, updates, unreadable files."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import httpx

from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from tests import factories as f

URL = "/api/v1/patents/import"
HEADER = [
    "application_number",
    "title",
    "abstract",
    "ipc_codes",
    "inventors",
    "filing_date",
    "grant_date",
    "annual_fee_paid_until",
]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER, *, bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")


def row(n: int, **overrides: str) -> list[str]:
    values = {
        "application_number": f.application_number(n, year=2019),
        "title": f"一种导热材料{n}",
        "abstract": "摘要",
        "ipc_codes": "H01M 10/0525;G06F16/30",
        "inventors": "张三;李四",
        "filing_date": "2019-04-01",
        "grant_date": "2021-05-06",
        "annual_fee_paid_until": "",
        **overrides,
    }
    return [values[h] for h in HEADER]


async def upload(
    client: httpx.AsyncClient, actor: f.Actor, content: bytes, name: str = "p.csv"
) -> httpx.Response:
    return await client.post(URL, files={"file": (name, content, "text/csv")}, headers=actor.headers)


async def count(client: httpx.AsyncClient, actor: f.Actor) -> int:
    total, cursor = 0, None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/patents", params=params, headers=actor.headers)).json()
        total += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return total


async def test_mixed_rows_reimport_and_updates(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university", verified_by=op)
    other = await f.organization(client, verified_by=op)
    taken = await f.patent(client, other)
    rows = [
        row(1, application_number="CN " + f.application_number(1, year=2019).replace(".", "")),  # 1 ok
        row(2, application_number="202310123456.7"),  # 2 wrong check character
        row(3, ipc_codes="H01M 10/0525;NOPE"),  # 3
        row(4, filing_date="2019-13-01"),  # 4
        row(5, title=""),  # 5
        row(6, application_number=taken["application_number"]),  # 6 another organization's
        row(1),  # 7 same number again
        row(8, grant_date=""),  # 8 ok, pending
        row(9, title="'; DROP TABLE patents; --", abstract="<script>alert(1)</script>"),  # 9 ok, verbatim
        row(10, grant_date="2018-01-01"),  # 10 granted before filing
        [*row(11), "extra cell"],  # 11 wrong width
        row(
            12,
            application_number=f.application_number(12, year=2019, kind_digit="2"),
            ipc_codes="",
            inventors="",
        ),  # 12 ok
    ]
    r = await upload(client, uni, csv_bytes(rows, bom=True))
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["created"] == 4 and result["updated"] == 0
    assert [(x["row"], x["code"]) for x in result["failed"]] == [
        (2, "invalid_patent_number"),
        (3, "invalid_ipc_code"),
        (4, "invalid_date"),
        (5, "missing_value"),
        (6, "patent_exists"),
        (7, "duplicate_in_file"),
        (10, "invalid_date"),
        (11, "invalid_row"),
    ]
    assert all(x["detail"] for x in result["failed"])
    assert await count(client, uni) == 4

    items = (await client.get("/api/v1/patents", params={"q": "DROP"}, headers=uni.headers)).json()["items"]
    assert items[0]["title"] == "'; DROP TABLE patents; --"
    assert items[0]["abstract"] == "<script>alert(1)</script>"
    pending = (
        await client.get("/api/v1/patents", params={"legal_status": "pending"}, headers=uni.headers)
    ).json()
    assert [p["application_number"] for p in pending["items"]] == [f.application_number(8, year=2019)]
    utility = (
        await client.get("/api/v1/patents", params={"kind": "utility_model"}, headers=uni.headers)
    ).json()
    assert utility["items"][0]["ipc_codes"] == [] and utility["items"][0]["expires_on"] == "2029-04-01"
    by_ipc = (await client.get("/api/v1/patents", params={"ipc": "G06F 16"}, headers=uni.headers)).json()
    assert len(by_ipc["items"]) == 3
    # The other organization's patent is untouched.
    assert (await client.get(f"/api/v1/patents/{taken['id']}", headers=other.headers)).json() == taken

    # Re-importing the same file creates and updates nothing.
    r = await upload(client, uni, csv_bytes(rows, bom=True))
    assert r.json()["created"] == 0 and r.json()["updated"] == 0 and len(r.json()["failed"]) == 8
    assert await count(client, uni) == 4

    # Changed rows count as updated; derived fields and IPC rows follow.
    changed = [
        row(1, title="新标题", ipc_codes="A61K 31/00"),
        row(8, grant_date="2022-02-02"),
        row(12, application_number=f.application_number(12, year=2019, kind_digit="2"), inventors=""),
        row(13),
    ]
    r = await upload(client, uni, csv_bytes(changed))
    assert r.json() == {"created": 1, "updated": 3, "failed": []}
    items = (await client.get("/api/v1/patents", params={"ipc": "A61K"}, headers=uni.headers)).json()["items"]
    assert [p["title"] for p in items] == ["新标题"]
    assert (
        await client.get("/api/v1/patents", params={"legal_status": "pending"}, headers=uni.headers)
    ).json()["items"] == []

    # A manual edit after the import makes the file's row a change again.
    number = f.application_number(9, year=2019)
    pid = (await client.get("/api/v1/patents", params={"q": number}, headers=uni.headers)).json()["items"][0][
        "id"
    ]
    await client.patch(f"/api/v1/patents/{pid}", json={"title": "手工修改"}, headers=uni.headers)
    r = await upload(client, uni, csv_bytes([rows[8]]))
    assert r.json() == {"created": 0, "updated": 1, "failed": []}

    # Audit: one chain per patent, "imported" events included, and all chains verify.
    events = (
        await client.get(
            "/api/v1/audit-events", params={"entity_type": "patent", "entity_id": pid}, headers=uni.headers
        )
    ).json()["items"]
    assert [(e["seq"], e["action"]) for e in events] == [(1, "imported"), (2, "updated"), (3, "imported")]
    assert events[0]["data"]["change"] == "created" and events[2]["data"]["change"] == "updated"
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True and r.json()["count"] >= 10, r.json()


async def test_only_verified_members_import(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    pending = await f.organization(client)
    r = await upload(client, pending, csv_bytes([row(1)]))
    assert r.status_code == 403 and r.json()["code"] == "organization_not_verified"
    assert (await upload(client, op, csv_bytes([row(1)]))).status_code == 403
    r = await client.post(URL, files={"file": ("p.csv", csv_bytes([row(1)]), "text/csv")})
    assert r.status_code == 401


async def test_unreadable_files_save_nothing(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    good = csv_bytes([row(n) for n in range(1, 4)])
    latin1_row = row(9, title="Café Müller", abstract="Résumé", ipc_codes="", inventors="José")
    latin1 = good + (",".join(latin1_row) + "\r\n").encode("latin-1")
    missing = csv_bytes([row(1)[:1] + row(1)[2:]], header=[h for h in HEADER if h != "title"])
    broken_quotes = good + b'"' + f.application_number(7).encode() + b'","unterminated\r\n'
    cases = {
        "latin-1": latin1,
        "missing column": missing,
        "not csv (binary)": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "not csv (json)": b'{"application_number": "201510703489.3"}',
        "broken quoting": broken_quotes,
        "empty": b"",
        "10 MB cell": good + b"201510703489.3," + b"A" * (10 * 1024 * 1024) + b",,,,2015-10-26,,\r\n",
    }
    for name, content in cases.items():
        r = await upload(client, org, content)
        assert 400 <= r.status_code < 500, (name, r.status_code)
        problem = r.json()
        assert r.status_code == 422 and problem["code"] == "invalid_csv", (name, problem)
        assert problem["detail"] and "Traceback" not in problem["detail"]
        assert await count(client, org) == 0, name
    r = await client.post(URL, data={"other": "x"}, headers=org.headers)
    assert r.status_code == 422

    # A header-only file and a file with a header in another order and extra columns are fine.
    assert (await upload(client, org, csv_bytes([]))).json() == {"created": 0, "updated": 0, "failed": []}
    header = ["title", "filing_date", "application_number", "note"]
    content = csv_bytes([["题目", "2019-04-01", f.application_number(5, year=2019), "x"]], header=header)
    assert (await upload(client, org, content)).json() == {"created": 1, "updated": 0, "failed": []}
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True


async def test_thousands_of_rows_in_chunks(client: httpx.AsyncClient, db: Database) -> None:
    """More rows than one chunk (1,000) and one IN lookup, with failures spread across chunks."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    rows = [row(n) for n in range(1, 2501)]
    rows[1500][0] = "202310123456.7"
    r = await upload(client, org, csv_bytes(rows))
    assert r.json()["created"] == 2499 and r.json()["failed"] == [
        {"row": 1501, "code": "invalid_patent_number", "detail": r.json()["failed"][0]["detail"]}
    ]
    rows[1500] = row(1501)
    rows[2000] = row(2001, title="changed")
    r = await upload(client, org, csv_bytes(rows))
    assert r.json() == {"created": 1, "updated": 1, "failed": []}
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True and r.json()["count"] >= 2501


async def test_bulk_event_hash_matches_the_audit_chain(db: Database) -> None:
    """The importer hashes its events without app.audit.chain.event_hash: both must agree exactly."""
    import uuid
    from datetime import UTC, datetime

    from app.audit.chain import GENESIS, event_hash, normalise_data
    from app.kit.security import Principal
    from app.patents.importer import _Writer, validate_row

    principal = Principal(
        user_id=uuid.uuid4(), role="member", organization_id=uuid.uuid4(), org_verified=True
    )
    now = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    row = validate_row(
        1, f.application_number(3), "题目", "", "H01M 10/0525", "张三", "2020-01-01", "", "", today=now.date()
    )
    async with db.transaction() as session:
        writer = _Writer(session, principal, now)
        pid = uuid.uuid4()
        for seq, prev, change in ((1, GENESIS, "created"), (7, "ab" * 32, "updated")):
            _, entity_id, _, data, _, digest = writer.event(pid, row, seq, prev, change)
            expected = event_hash(
                prev_hash=prev,
                entity_type="patent",
                entity_id=str(pid),
                seq=seq,
                at=now,
                actor=principal.label,
                action="imported",
                data=normalise_data(data),
            )
            assert entity_id == str(pid) and digest == expected
            params = writer.event_params(pid, row, seq, prev, change)
            assert params[5] == expected


async def test_reimport_fails_the_rows_of_locked_patents(client: httpx.AsyncClient, db: Database) -> None:
    """SPEC §20: a re-import that would update a patent in an active listing fails that row with
    ``patent_locked``; an unchanged row of it is no failure, and the other rows are saved."""
    op = await f.operator(client, db)
    org = await f.organization(client, kind="university", verified_by=op)
    r = await upload(client, org, csv_bytes([row(1), row(2), row(3)]))
    assert r.json() == {"created": 3, "updated": 0, "failed": []}
    number = f.application_number(1, year=2019)
    patent = (await client.get("/api/v1/patents", params={"q": number}, headers=org.headers)).json()["items"][
        0
    ]
    body = {
        "title": "转让",
        "summary": "协议定价。",
        "patent_ids": [patent["id"]],
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "100000.00",
    }
    r = await client.post("/api/v1/listings", json=body, headers=org.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/listings/{r.json()['id']}/submit", headers=org.headers)
    assert r.status_code == 200, r.text

    rows = [row(1, title="改了的标题"), row(2, title="也改了"), row(3), row(4)]
    r = await upload(client, org, csv_bytes(rows))
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"]) == (1, 1)
    assert [(x["row"], x["code"]) for x in result["failed"]] == [(1, "patent_locked")]
    assert (await client.get(f"/api/v1/patents/{patent['id']}", headers=org.headers)).json() == patent
    # The unchanged row of the locked patent is no failure.
    r = await upload(client, org, csv_bytes([row(1)]))
    assert r.json() == {"created": 0, "updated": 0, "failed": []}
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True


async def test_control_characters_fail_their_row(client: httpx.AsyncClient, db: Database) -> None:
    """SPEC §20: a cell holding NUL or another control character (tab excepted) fails its row with
    ``invalid_value``; the other rows are saved (PostgreSQL refuses NUL in text: it must never reach it)."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    rows = [
        row(1),  # 1 ok
        row(2, title="一种\x00方法"),  # 2 NUL
        row(3, abstract="第一行\n第二行"),  # 3 a line break inside a quoted cell
        row(4, inventors="张三\x07;李四"),  # 4 BEL
        row(5, abstract="制表符\t可以"),  # 5 ok: tab is allowed
        row(6, title="删除\x7f"),  # 6 DEL
        row(7, title="下一行\x85"),  # 7 a C1 control (NEL)
        row(8, application_number=f.application_number(8, year=2019) + "\x0b"),  # 8 vertical tab
        row(9, ipc_codes="H01M 10/0525\r"),  # 9 carriage return
        row(10),  # 10 ok
    ]
    r = await upload(client, org, csv_bytes(rows))
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["created"] == 3 and result["updated"] == 0
    assert [(x["row"], x["code"]) for x in result["failed"]] == [
        (n, "invalid_value") for n in (2, 3, 4, 6, 7, 8, 9)
    ]
    assert "title" in result["failed"][0]["detail"] and "abstract" in result["failed"][1]["detail"]
    assert await count(client, org) == 3
    number = f.application_number(5, year=2019)
    found = (await client.get("/api/v1/patents", params={"q": number}, headers=org.headers)).json()["items"]
    assert found[0]["abstract"] == "制表符\t可以"


async def test_a_column_named_twice_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    """SPEC §20: a header naming a column twice → 422 ``invalid_csv`` and nothing saved."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    for twice in (["title"], ["Filing_Date ", "filing_date"]):
        header = [*HEADER, *twice]
        content = csv_bytes([[*row(1), *["x"] * len(twice)], [*row(2), *["y"] * len(twice)]], header=header)
        r = await upload(client, org, content)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["code"] == "invalid_csv" and twice[-1] in problem["detail"], problem
        assert await count(client, org) == 0
    # Unknown columns are ignored, named twice or not.
    content = csv_bytes([[*row(1), "a", "b"]], header=[*HEADER, "备注", "备注"])
    assert (await upload(client, org, content)).json() == {"created": 1, "updated": 0, "failed": []}


async def test_dates_the_registry_cannot_hold_fail_their_row(client: httpx.AsyncClient, db: Database) -> None:
    """SPEC §20: a date the model cannot hold (or that is not a date) fails its row, never the upload."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    now = datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])
    today = now.astimezone(SHANGHAI).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    rows = [
        row(1),  # 1 ok
        row(2, filing_date="9999-12-31", grant_date=""),  # 2 its expiry would be in the year 10019
        row(3, filing_date="2019-02-30"),  # 3 no such day
        row(4, annual_fee_paid_until="99999-01-01"),  # 4 not a date Python holds
        row(5, filing_date=tomorrow, grant_date=""),  # 5 filed after today (business clock)
        row(6, grant_date=tomorrow),  # 6 granted after today
        row(7, filing_date="1899-12-31", grant_date=""),  # 7 before 1900
        row(8, annual_fee_paid_until="2200-01-01"),  # 8 after 2199
        row(
            9, filing_date=today.isoformat(), grant_date=today.isoformat(), annual_fee_paid_until="2199-12-31"
        ),
        row(10),  # 10 ok
    ]
    r = await upload(client, org, csv_bytes(rows))
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["created"] == 3
    assert [(x["row"], x["code"]) for x in result["failed"]] == [
        (n, "invalid_date") for n in (2, 3, 4, 5, 6, 7, 8)
    ]
    assert "grant_date" in result["failed"][4]["detail"]
    assert all(x["detail"] for x in result["failed"])
    assert await count(client, org) == 3
