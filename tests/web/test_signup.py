"""Organization sign-up (SPEC §19.4 ``/register``, §3) over HTTP on both databases: a label on every input, the
API's refusals by field and code with what was typed kept (never the password), success pending review (待审核)
with the way to sign in, and the organization as the API sees it."""

from __future__ import annotations

import re

import httpx

from tests import factories as f
from tests.web import helpers as w

CODE = f.credit_code(880001)
OTHER_CODE = f.credit_code(880002)


def _field_errors(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="field-error" data-field="([a-z_]+)" data-code="([a-z_]+)"', page))


def _form(**overrides: str) -> dict[str, str]:
    form = {
        "name": "杭州示范材料有限公司",
        "kind": "enterprise",
        "credit_code": CODE,
        "is_public_institution": "",
        "admin_name": "张经理",
        "admin_email": "zhang@materials.example.cn",
        "admin_password": "correct-horse-42",
    }
    form.update(overrides)
    return form


async def test_register_an_organization(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    r = await client.get("/register")
    assert r.status_code == 200
    controls = re.findall(r'<(?:input|select)\b(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', r.text)
    assert len(controls) == 7
    for control in controls:
        assert f'<label for="{control}">' in r.text, control

    # Every field's refusal at once, by field and code; what was typed stays, the password does not.
    r = await client.post(
        "/register",
        data=_form(
            name="",
            kind="",
            credit_code="91330000000000000X",
            admin_email="not-an-email",
            admin_password="short",
            admin_name="张经理",
        ),
    )
    assert r.status_code == 422
    assert _field_errors(r.text) == {
        "name": "validation_error",
        "kind": "validation_error",
        "credit_code": "invalid_credit_code",
        "admin_email": "validation_error",
        "admin_password": "validation_error",
    }
    assert "统一社会信用代码无效" in r.text and "密码须为 10–256 个字符" in r.text
    assert 'value="91330000000000000X"' in r.text and 'value="not-an-email"' in r.text
    assert 'value="张经理"' in r.text and "short" not in r.text
    r = await client.post("/register", data=_form(name="机构\U0001f600", is_public_institution="maybe"))
    assert r.status_code == 422
    assert _field_errors(r.text) == {
        "name": "unsupported_character",
        "is_public_institution": "validation_error",
    }
    assert 'value="机构\U0001f600"' in r.text

    # Success: pending review, and how to sign in.
    r = await client.post("/register", data=_form())
    assert r.status_code == 200, r.text
    assert re.search(r'data-testid="org-status">待审核<', r.text)
    assert 'href="/login" data-testid="register-login"' in r.text and "zhang@materials.example.cn" in r.text
    listed = await client.get("/api/v1/organizations?status=pending", headers=op.headers)
    (created,) = [o for o in listed.json()["items"] if o["credit_code"] == CODE]
    assert created["name"] == "杭州示范材料有限公司" and created["kind"] == "enterprise"
    assert created["is_public_institution"] is False and created["status"] == "pending"
    assert f'data-id="{created["id"]}"' in r.text

    # The service's conflicts: the credit code, then the email, each at its field.
    r = await client.post("/register", data=_form(name="另一家公司"))
    assert r.status_code == 409 and _field_errors(r.text) == {"credit_code": "organization_exists"}
    assert 'value="另一家公司"' in r.text
    r = await client.post(
        "/register",
        data=_form(credit_code=OTHER_CODE, kind="university", admin_email="ZHANG@materials.example.cn"),
    )
    assert r.status_code == 409 and _field_errors(r.text) == {"admin_email": "email_taken"}
    listed = await client.get("/api/v1/organizations?status=pending", headers=op.headers)
    assert [o["credit_code"] for o in listed.json()["items"]] == [CODE]  # nothing else was made

    # The admin signs in with what was typed.
    r = await w.sign_in(client, "zhang@materials.example.cn", "correct-horse-42")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
