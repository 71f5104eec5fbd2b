"""Organization sign-up (SPEC §19.4 ``/register``, §3): the fields of ``POST /api/v1/organizations``, checked by
its request model and created by its service; refusals are shown by field and code with what was typed (the
password excepted), success shows the organization pending review (待审核) and how to sign in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from pydantic import ValidationError
from starlette.responses import HTMLResponse

from app.accounts import service as accounts
from app.accounts.rules import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from app.accounts.schemas import OrganizationCreate
from app.deps import ClockDep, SessionDep
from app.kit.errors import CodedValueError, ExchangeError
from app.kit.routing import ExchangeRouter
from app.models.accounts import OrgKind
from app.web.pages import page

router = ExchangeRouter()

# The form's fields → the request model's location of each.
FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "kind": ("kind",),
    "credit_code": ("credit_code",),
    "is_public_institution": ("is_public_institution",),
    "admin_email": ("admin", "email"),
    "admin_password": ("admin", "password"),
    "admin_name": ("admin", "name"),
}
# Chinese messages by field and code; ``validation_error`` is the model's own refusal of the field.
MESSAGES: dict[tuple[str, str], str] = {
    ("name", "validation_error"): "请填写机构名称（最多 200 个字）",
    ("kind", "validation_error"): "请选择机构类型",
    ("credit_code", "validation_error"): "请填写 18 位统一社会信用代码",
    ("credit_code", "invalid_credit_code"): "统一社会信用代码无效：须为 18 位，且校验码正确",
    ("credit_code", "organization_exists"): "该统一社会信用代码的机构已注册",
    ("is_public_institution", "validation_error"): "请从列表中选择",
    ("admin_email", "validation_error"): "请填写有效的邮箱地址",
    ("admin_email", "email_taken"): "该邮箱已注册",
    (
        "admin_password",
        "validation_error",
    ): f"密码须为 {MIN_PASSWORD_LENGTH}–{MAX_PASSWORD_LENGTH} 个字符",
    ("admin_name", "validation_error"): "请填写管理员姓名（最多 200 个字）",
}
UNPRINTABLE = "含有合同和凭证无法打印的字符，请修改"
# The service's conflicts, by the field they concern.
CONFLICT_FIELDS = {"organization_exists": "credit_code", "email_taken": "admin_email"}
PUBLIC_CHOICES = {"": None, "true": True, "false": False}
MAX_FIELD = 2000  # longer than any field allows: the model says what is too long


def _message(field: str, code: str) -> str:
    if code == "unsupported_character":
        return UNPRINTABLE
    return MESSAGES.get((field, code)) or MESSAGES.get((field, "validation_error"), "输入有误")


def _errors_of(exc: ValidationError) -> dict[str, tuple[str, str]]:
    """field → (code, message), the first refusal of each field."""
    by_location = {location: field for field, location in FIELDS.items()}
    errors: dict[str, tuple[str, str]] = {}
    for error in exc.errors():
        location = tuple(str(part) for part in error.get("loc", ()))
        field = by_location.get(location[:2]) or by_location.get(location[:1], "name")
        err = (error.get("ctx") or {}).get("error")
        code = err.code if isinstance(err, CodedValueError) else "validation_error"
        errors.setdefault(field, (code, _message(field, code)))
    return errors


def _form_page(
    request: Request, form: dict[str, str], errors: dict[str, tuple[str, str]], status: int = 200
) -> HTMLResponse:
    return page(
        request,
        "register.html",
        status=status,
        form=form,
        errors=errors,
        kinds=list(OrgKind),
        created=None,
    )


@router.get("/register")
async def register_form(request: Request) -> HTMLResponse:
    return _form_page(request, {field: "" for field in FIELDS}, {})


@router.post("/register")
async def register(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    kind: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    credit_code: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    is_public_institution: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    admin_email: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    admin_password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    admin_name: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> HTMLResponse:
    """``POST /api/v1/organizations``: its request model and service, from a page form."""
    typed = {
        "name": name,
        "kind": kind,
        "credit_code": credit_code,
        "is_public_institution": is_public_institution,
        "admin_email": admin_email,
        "admin_name": admin_name,
    }
    kept = {**typed, "admin_password": ""}  # a password is never written back into a page
    errors: dict[str, tuple[str, str]] = {}
    if is_public_institution not in PUBLIC_CHOICES:
        errors["is_public_institution"] = ("validation_error", _message("is_public_institution", ""))
    body: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "credit_code": credit_code,
        "is_public_institution": PUBLIC_CHOICES.get(is_public_institution),
        "admin": {"email": admin_email, "password": admin_password, "name": admin_name},
    }
    try:
        data = OrganizationCreate.model_validate(body)
    except ValidationError as exc:
        errors = {**_errors_of(exc), **errors}
    if errors:
        return _form_page(request, kept, errors, status=422)
    try:
        async with session.begin_nested():  # a refusal leaves nothing behind
            org = await accounts.create_organization(session, data, clock)
    except ExchangeError as exc:
        field = CONFLICT_FIELDS.get(exc.code)
        if field is None:
            raise
        return _form_page(request, kept, {field: (exc.code, _message(field, exc.code))}, status=exc.status)
    return page(
        request,
        "register.html",
        form=kept,
        errors={},
        kinds=list(OrgKind),
        created=org,
        admin_email=data.admin.email,
    )
