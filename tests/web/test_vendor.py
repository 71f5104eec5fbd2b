"""The vendored front-end files (SPEC §19.1): every file in app/web/static/vendor/ is listed in SHA256SUMS with
its hash and in VENDOR.md (package, version, licence, source), and nothing listed is missing."""

from __future__ import annotations

import hashlib

from app.web.templating import HTMX, VENDOR_DIR

LISTINGS = {"SHA256SUMS", "VENDOR.md"}


def _sums() -> dict[str, str]:
    sums = {}
    for line in (VENDOR_DIR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    return sums


def test_every_vendored_file_has_its_listed_hash() -> None:
    files = {p.name for p in VENDOR_DIR.iterdir() if p.is_file()} - LISTINGS
    sums = _sums()
    assert set(sums) == files, "SHA256SUMS and the folder disagree"
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR_DIR / name).read_bytes()).hexdigest() == digest, name


def test_every_vendored_file_is_described_in_vendor_md() -> None:
    text = (VENDOR_DIR / "VENDOR.md").read_text()
    for name in _sums():
        row = next((line for line in text.splitlines() if f"`{name}`" in line and line.startswith("|")), None)
        assert row is not None, f"{name} is not in VENDOR.md's table"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 5 and all(cells), row  # file, package, version, licence, source


def test_the_pages_use_htmx_2_0_11_without_eval_or_injected_styles() -> None:
    assert HTMX == "vendor/htmx-2.0.11.min.js"
    script = (VENDOR_DIR / "htmx-2.0.11.min.js").read_text()
    assert 'version:"2.0.11"' in script.replace(" ", "")
