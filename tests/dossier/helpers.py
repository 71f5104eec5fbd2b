"""Test steps for the deal dossier (SPEC §18.7): decision records, the dossier and its checks against the
audit trail."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from typing import Any

import httpx
from pypdf import PdfReader

from tests import factories as f

API = "/api/v1"
DECISION = {
    "body": "校长办公会",
    "number": "校办〔2026〕12号",
    "document_sha256": "ab" * 32,
}


async def decide(
    client: httpx.AsyncClient, actor: f.Actor, deal_id: str, day: str, **fields: Any
) -> httpx.Response:
    """``POST /deals/{id}/decision-record`` decided on ``day``; ``fields`` override the body's."""
    headers = {**actor.headers, **fields.pop("headers", {})}
    body = {**DECISION, "decided_on": day, **fields}
    return await client.post(f"{API}/deals/{deal_id}/decision-record", json=body, headers=headers)


async def dossier(client: httpx.AsyncClient, actor: f.Actor, deal_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/deals/{deal_id}/dossier", headers=actor.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def kinds(d: dict[str, Any]) -> list[str]:
    return [item["kind"] for item in d["items"]]


def only(d: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [item for item in d["items"] if item["kind"] == kind]
    assert len(found) == 1, (kind, kinds(d))
    return found[0]


async def assert_cites_the_trail(client: httpx.AsyncClient, op: f.Actor, d: dict[str, Any]) -> None:
    """Every item's hash is the hash of the event with its seq in ``GET /audit-events`` for its entity, its
    ``at`` is that event's; the digest is recomputed from the hashes; verify stays ok."""
    chains: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for item in d["items"]:
        ref = item["audit"]
        key = (ref["entity_type"], ref["entity_id"])
        if key not in chains:
            r = await client.get(
                f"{API}/audit-events",
                params={"entity_type": key[0], "entity_id": key[1], "limit": 100},
                headers=op.headers,
            )
            assert r.status_code == 200, r.text
            chains[key] = {e["seq"]: e for e in r.json()["items"]}
        event = chains[key][ref["seq"]]
        assert ref["hash"] == event["hash"], item
        assert item["at"] == event["at"], item
    expected = hashlib.sha256("\n".join(i["audit"]["hash"] for i in d["items"]).encode()).hexdigest()
    assert d["digest"] == expected
    r = await client.get(f"{API}/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True, r.json()


def assert_ordered(d: dict[str, Any]) -> None:
    """SPEC §18.7: ``at`` order, ties in the table's row order, then entity type, id, seq."""
    rows = [
        "decision_record",
        "listing",
        "pricing",
        "public_notice",
        "objection",
        "owner_consent",
        "valuation",
        "contract",
        "signature",
        "payment",
        "certificate",
        "reward_plan",
        "tech_contract_registration",
    ]
    keys = [
        (
            datetime.fromisoformat(i["at"]),
            rows.index(i["kind"]),
            i["audit"]["entity_type"],
            i["audit"]["entity_id"],
            i["audit"]["seq"],
        )
        for i in d["items"]
    ]
    assert keys == sorted(keys), kinds(d)


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "".join(page.extract_text() for page in reader.pages).replace("\n", "").replace(" ", "")


def assert_fonts_embedded(pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].get_object().values()  # type: ignore[index]
    }
    assert any("WenQuanYi" in name or "wqy" in name.lower() for name in fonts), fonts
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].get_object().values():  # type: ignore[index]
            descendant = ref.get_object()["/DescendantFonts"][0].get_object()
            assert "/FontFile2" in descendant["/FontDescriptor"].get_object()  # embedded, not referenced
