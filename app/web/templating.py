"""Templates (Jinja2, autoescape on), the filters every page uses, and the static files' versioned names.

SPEC §19.1: amounts read ``¥1,250,000.00`` whatever the browser's locale (``money``); instants are shown in
Asia/Shanghai inside ``<time datetime="…UTC…">`` (``shanghai``); enum values as Chinese labels (``label``,
one table in ``app.web.labels``). Static files are served under names that carry their content's hash (ours)
or their version (vendored), so they can be cached for a year.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from app.kit.workdays import SHANGHAI
from app.web.labels import label

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
HTMX = "vendor/htmx-2.0.11.min.js"


def money(value: object) -> str:
    """``¥1,250,000.00`` from integer fen or an API amount string (``"1250000.00"``); ``—`` for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        raise TypeError("not an amount")
    if isinstance(value, int):
        fen = value
    else:
        try:
            fen = int((Decimal(str(value)) * 100).to_integral_exact())
        except (InvalidOperation, ValueError):
            raise TypeError(f"not an amount: {value!r}") from None
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _instant(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not an instant: {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def shanghai(value: object, seconds: bool = False) -> Markup:
    """``<time datetime="2026-12-05T02:00:00Z">2026-12-05 10:00</time>``: the instant in Asia/Shanghai (with
    ``:SS`` for bid times and auction ends), the UTC instant in the attribute; ``—`` for none."""
    instant = _instant(value)
    if instant is None:
        return Markup("—")
    local = instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    utc = instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}">{}</time>').format(utc, local)


def utc_iso(value: object) -> str:
    """The instant as the API writes it (UTC, ``Z``), for a page's ``data-*`` attributes; empty for none."""
    instant = _instant(value)
    return "" if instant is None else instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def shanghai_date(value: object) -> str:
    instant = _instant(value)
    return "—" if instant is None else instant.astimezone(SHANGHAI).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class StaticFile:
    path: Path
    media_type: str


def _versioned_name(relative: str, content: bytes) -> str:
    stem, dot, suffix = relative.rpartition(".")
    digest = hashlib.sha256(content).hexdigest()[:12]
    return f"{stem}.{digest}.{suffix}" if dot else f"{relative}.{digest}"


def _manifest() -> tuple[dict[str, str], dict[str, StaticFile]]:
    """(logical name → URL name, URL name → file). Our files get their content hash in the name; vendored
    ones carry their version already (``VENDOR.md``)."""
    urls: dict[str, str] = {}
    files: dict[str, StaticFile] = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(STATIC_DIR).as_posix()
        if relative.startswith("vendor/"):
            if not relative.endswith((".js", ".css")):
                continue  # VENDOR.md, SHA256SUMS: the listing, not assets
            name = relative
        else:
            name = _versioned_name(relative, path.read_bytes())
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type in ("application/javascript", "image/svg+xml"):
            media_type += "; charset=utf-8"
        urls[relative] = name
        files[name] = StaticFile(path, media_type)
    return urls, files


STATIC_URLS, STATIC_FILES = _manifest()


def static_url(name: str) -> str:
    """The URL of a static file by its name under ``app/web/static`` (``app.css``, ``vendor/htmx…``)."""
    return f"/static/{STATIC_URLS[name]}"


def _label_filter(value: object, kind: str) -> str:
    return label(value, kind)


def _attr_json(value: Any) -> Markup:
    """A JSON value for an HTML attribute (``hx-headers``), escaped for it."""
    return escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


environment = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(
    money=money,
    shanghai=shanghai,
    utc=utc_iso,
    shanghai_date=shanghai_date,
    label=_label_filter,
    attr_json=_attr_json,
)
environment.globals.update(static_url=static_url, HTMX=HTMX)


def render_template(name: str, context: dict[str, Any]) -> str:
    return environment.get_template(name).render(context)
