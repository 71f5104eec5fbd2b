"""The README is executable (SPEC §21): its walk-through runs, as written, against a server started the
README's way (``EXCHANGE_SANDBOX=true scripts/serve.sh``, demo data included), and it links nothing outside
the repository."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKER = "<!-- walk-through -->"


def walkthrough() -> str:
    after = README.split(MARKER, 1)[1]
    match = re.match(r"\s*```sh\n(.*?)\n```", after, re.S)
    assert match, "the walk-through's shell block must follow its marker"
    return match.group(1)


def test_readme_links_nothing_outside_the_repository() -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    for target in targets:
        if target.startswith(("http://127.0.0.1", "#")):
            continue
        assert not re.match(r"[a-z]+://", target), f"external link: {target}"
        assert (ROOT / target.split("#")[0]).exists(), f"broken link: {target}"
    assert "../" not in README


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """``scripts/serve.sh`` in the sandbox on a database of its own (the README's commands otherwise as
    written: development mode, demo data on first start)."""
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_") or k.startswith("EXCHANGE_TEST")
    }
    env |= {"EXCHANGE_SANDBOX": "true", "EXCHANGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        ["bash", "scripts/serve.sh", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        # The block runs from a directory of its own (it writes PDFs) that sees the repository's .venv.
        work = tmp_path / "work"
        work.mkdir()
        (work / ".venv").symlink_to(ROOT / ".venv")
        yield f"http://127.0.0.1:{port}/api/v1", env, work
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_the_walkthrough_runs_as_written(served: tuple[str, dict[str, str], Path]) -> None:
    api, env, work = served
    demo = httpx.get(f"{api}/listings").json()["items"]
    assert len(demo) == 3, "the server runs with its demo data, as the README says"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        cwd=work,
        env=env | {"API": api},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert "null" not in lines, done.stdout  # every id the block needed was there
    assert lines.count("verified") == 2 and "pending_review" in lines, done.stdout
    assert lines[-3:] == ["true", '{"balanced":true}', '{"ok":true}'], done.stdout
    assert (work / "contract.pdf").read_bytes().startswith(b"%PDF")
    assert (work / "certificate.pdf").read_bytes().startswith(b"%PDF")
