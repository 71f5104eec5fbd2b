"""Reproducible installs (SPEC §21): the lock files pin every package with hashes and agree with
pyproject.toml, and the runtime dependencies are what ``app/`` imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Needed at run time without an import of their own in app/, each for a stated reason.
IMPLICIT = {
    "greenlet": "SQLAlchemy's asyncio layer runs on it",
    "email-validator": "pydantic's EmailStr validates with it",
    "python-multipart": "FastAPI parses form and multipart bodies (sign-in, CSV upload) with it",
    "defusedxml": "openpyxl parses uploaded workbooks with it, refusing XML entity bombs",
}


def _name(requirement: str) -> str:
    return Requirement(requirement).name.lower().replace("_", "-")


def _locked(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    locked = {}
    for entry in entries:
        if not entry.strip() or entry.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==([^ ;\\\n]+)", entry)
        assert match, f"{lock}: not pinned: {entry[:60]!r}"
        assert "--hash=sha256:" in entry, f"{lock}: {match[1]} has no hash"
        locked[match[1].lower().replace("_", "-")] = match[2]
    return locked


def _imports_of_app() -> set[str]:
    names = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n != "app" and n not in sys.stdlib_module_names}


def test_every_declared_dependency_is_pinned_and_locked_at_that_version() -> None:
    runtime, test = _locked("runtime.lock"), _locked("test.lock")
    declared = PYPROJECT["project"]["dependencies"]
    extras = PYPROJECT["project"]["optional-dependencies"]["test"]
    for lock, requirements in ((runtime, declared), (test, declared + extras)):
        for requirement in requirements:
            pinned = Requirement(requirement)
            (spec,) = pinned.specifier
            assert spec.operator == "==", f"{requirement} is not pinned"
            assert lock.get(_name(requirement)) == spec.version, f"{requirement}: the lock says otherwise"
    assert set(runtime) <= set(test)
    assert all(test[name] == version for name, version in runtime.items())


def test_runtime_dependencies_are_what_the_app_imports() -> None:
    providers = packages_distributions()
    imported = {
        dist.lower().replace("_", "-")
        for module in _imports_of_app()
        for dist in providers.get(module, [module])
    }
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert imported - declared == set(), "imported by app/ but not a declared runtime dependency"
    assert declared - imported == set(IMPLICIT), (
        "declared but never imported (list it in IMPLICIT with the reason)"
    )
