"""Every error code an operation's handler can raise is documented on it (SPEC §21: "every documented error code
of an operation is listed in its description" — and every code it raises is documented).

The codes are found by reading the code, not by running it: from each route's endpoint, every function it
calls (in ``app``), transitively, and the validators of its body and parameters, collecting

- ``SomeError(...)`` for an ``ExchangeError`` subclass: its ``code=`` (a literal or a constant) or the class's
  own, with its status;
- ``CodedValueError("code", ...)`` in a validator: a 422 with that code;
- a ``code=`` that is computed (``code=refusal.code``): the code-like literals the functions called alongside
  return or build (``Refusal("patent_expired", ...)``, ``return "bid_too_low"``), with the raise's status.

This over-approximates (a branch the route never takes still counts), which errs on the side of documenting
too much. Codes of the shared dependencies are documented by ``app.kit.openapi`` and checked the same way.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import textwrap
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fastapi.routing import APIRoute

from app.kit.errors import CodedValueError, ExchangeError
from app.kit.openapi import api_routes
from app.main import create_app
from tests.conftest import make_settings

CODE = re.compile(r"[a-z]+(?:_[a-z0-9]+)+")
Raised = set[tuple[int, str]]

# Codes the analysis finds on a path the route cannot take, each with the reason.
# The ledger's guard that no balance goes below zero: releasing a hold (refund, forfeit, applying it to a deal),
# crediting a bank payment or paying out a settled deal's escrow moves money that is there by construction.
_LEDGER_GUARD = (409, "insufficient_funds")
UNREACHABLE: dict[tuple[str, str], set[tuple[int, str]]] = {
    ("POST", "/api/v1/ledger/payments"): {_LEDGER_GUARD},
    ("POST", "/api/v1/listings/{listing_id}/terminate"): {_LEDGER_GUARD},
    ("POST", "/api/v1/objections/{objection_id}/dismiss"): {_LEDGER_GUARD},
    ("POST", "/api/v1/objections/{objection_id}/uphold"): {_LEDGER_GUARD},
    ("POST", "/api/v1/registrations/{registration_id}/disqualify"): {_LEDGER_GUARD},
    ("POST", "/api/v1/registrations/{registration_id}/withdraw"): {_LEDGER_GUARD},
    ("POST", "/api/v1/deals/{deal_id}/settle"): {_LEDGER_GUARD},
    # An open licence is non-exclusive: any co-owner alone grants it (SPEC §18.5), and its deal has no listing
    # whose consents settlement would re-check.
    ("POST", "/api/v1/open-licenses/{open_license_id}/licenses"): {
        (409, "co_owner_consent_required"),
        (409, "use_right_conflict"),
    },
    # A trial offer is checked by §13's patent rules except the evaluation report (SPEC §18.3).
    ("POST", "/api/v1/trial-offers"): {(409, "evaluation_report_required")},
    ("POST", "/api/v1/trial-offers/{trial_offer_id}/approve"): {(409, "evaluation_report_required")},
}


@cache
def _app() -> Any:
    return create_app(make_settings("sqlite+aiosqlite:////nonexistent/openapi-only.db"))


def _is_app_function(obj: Any) -> bool:
    return isinstance(obj, types.FunctionType) and (obj.__module__ or "").startswith("app.")


@cache
def _methods_by_name() -> dict[str, list[Callable[..., Any]]]:
    """Methods of the app's classes by name, to follow ``principal.verified_org_id()`` and the like when the
    name belongs to one class only."""
    import sys

    found: dict[str, list[Callable[..., Any]]] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("app.") or module is None:
            continue
        for cls in vars(module).values():
            if not isinstance(cls, type) or cls.__module__ != name:
                continue
            for attr, value in vars(cls).items():
                func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
                if _is_app_function(func) and not attr.startswith("__"):
                    found.setdefault(attr, []).append(func)
    return found


@dataclass
class _Scan:
    raised: Raised = field(default_factory=set)
    callees: list[Callable[..., Any]] = field(default_factory=list)
    dynamic: set[int] = field(default_factory=set)  # statuses raised with a computed code
    literals: set[str] = field(default_factory=set)  # code-like literals returned or built here
    coded: set[str] = field(default_factory=set)  # codes of CodedValueErrors built here
    passes_code: set[int] = field(default_factory=set)  # statuses raised with the ``code`` its caller gives
    code_calls: list[tuple[Callable[..., Any], str]] = field(default_factory=list)  # f(..., code="x")


class Analyzer:
    def __init__(self) -> None:
        self._scans: dict[Callable[..., Any], _Scan] = {}
        self._closures: dict[Callable[..., Any], Raised] = {}
        self._coded: dict[Callable[..., Any], set[str]] = {}

    # --- one function ------------------------------------------------------------------------------------

    def _resolve(self, node: ast.expr, scope: dict[str, Any]) -> Any:
        """What a name or a dotted name refers to (the function itself under ``lru_cache`` and the like)."""
        found = None
        if isinstance(node, ast.Name):
            found = scope.get(node.id, getattr(builtins, node.id, None))
        elif isinstance(node, ast.Attribute):
            owner = self._resolve(node.value, scope)
            if isinstance(owner, types.ModuleType | type):
                found = getattr(owner, node.attr, None)
        if callable(found) and not isinstance(found, type) and hasattr(found, "__wrapped__"):
            found = inspect.unwrap(found)
        return found

    def _constant(self, node: ast.expr, scope: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        value = self._resolve(node, scope)
        return value if isinstance(value, str | int) else None

    @staticmethod
    def _bound_code(target: Any, node: ast.Call) -> tuple[bool, Any]:
        """Whether ``target`` takes a ``code`` and the call gives it, and the expression it gives (or the
        parameter's default value)."""
        try:
            signature = inspect.signature(target)
            bound = signature.bind_partial(*node.args, **{k.arg: k.value for k in node.keywords if k.arg})
        except (TypeError, ValueError):
            return False, None
        if "code" in bound.arguments:
            return True, bound.arguments["code"]
        parameter = signature.parameters.get("code")
        if parameter is not None and isinstance(parameter.default, str):
            return False, ast.Constant(parameter.default)
        return False, None

    def _code_argument(self, cls: type, node: ast.Call, scope: dict[str, Any]) -> tuple[bool, Any]:
        """Whether a call of ``cls`` names its ``code`` (by position or keyword), and its value if constant."""
        named, expression = self._bound_code(cls, node)
        return named, self._constant(expression, scope) if named else None

    def _code_expression(self, cls: type, node: ast.Call) -> str | None:
        """The name of the variable a call passes as ``code``, if it passes one."""
        _, expression = self._bound_code(cls, node)
        return expression.id if isinstance(expression, ast.Name) else None

    def _construct(
        self, scan: _Scan, cls: type, node: ast.Call, scope: dict[str, Any], params: set[str]
    ) -> None:
        """A call of class ``cls``: an error it raises, or a code-like literal it carries (a refusal)."""
        named, code = self._code_argument(cls, node, scope)
        passed = named and self._code_expression(cls, node) in params
        if issubclass(cls, ExchangeError):
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            status = cls.status
            if "status" in keywords:
                status = self._constant(keywords["status"], scope) or status
            if not named:
                scan.raised.add((status, cls.code))
            elif isinstance(code, str):
                scan.raised.add((status, code))
            elif passed:
                scan.passes_code.add(status)
            else:
                scan.dynamic.add(status)
        elif issubclass(cls, CodedValueError):
            if isinstance(code, str):
                scan.coded.add(code)
            elif not named and _is_app_function(getattr(cls, "__init__", None)):
                scan.callees.append(cls.__init__)  # its super().__init__(CODE, ...) names the code
        elif isinstance(code, str) and CODE.fullmatch(code):
            scan.literals.add(code)

    def _scan(self, func: Callable[..., Any]) -> _Scan:
        if func in self._scans:
            return self._scans[func]
        scan = self._scans[func] = _Scan()
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        except (OSError, TypeError, SyntaxError):
            return scan
        scope = func.__globals__
        try:
            params = set(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            params = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                # A function passed along (``asyncio.to_thread(parse, ...)``, a callback) runs too.
                referenced = self._resolve(node, scope)
                if referenced is None and isinstance(node, ast.Attribute):
                    candidates = _methods_by_name().get(node.attr, [])
                    referenced = candidates[0] if len(candidates) == 1 else None
                if _is_app_function(referenced) and referenced not in scan.callees:
                    scan.callees.append(referenced)
            returned = node.value if isinstance(node, ast.Return) else None
            if isinstance(returned, ast.Constant) and CODE.fullmatch(str(returned.value)):
                scan.literals.add(str(returned.value))
            if not isinstance(node, ast.Call):
                continue
            target = self._resolve(node.func, scope)
            if target is None and isinstance(node.func, ast.Attribute):
                candidates = _methods_by_name().get(node.func.attr, [])
                target = candidates[0] if len(candidates) == 1 else None
            if _is_super_init(node):
                base = _base_of_init(func)
                if base is not None:
                    self._construct(scan, base, node, scope, params)
                continue
            if isinstance(target, type):
                self._construct(scan, target, node, scope, params)
            elif _is_app_function(target):
                if target not in scan.callees:
                    scan.callees.append(target)
                _, expression = self._bound_code(target, node)
                code = self._constant(expression, scope) if expression is not None else None
                if isinstance(code, str):
                    scan.code_calls.append((target, code))
        return scan

    # --- transitively ------------------------------------------------------------------------------------

    def codes(self, func: Callable[..., Any]) -> Raised:
        """The (status, code) pairs ``func`` and what it calls raise."""
        func = inspect.unwrap(func)
        if func in self._closures:
            return self._closures[func]
        self._closures[func] = set()  # recursion guard
        scan = self._scan(func)
        raised = set(scan.raised)
        for callee in scan.callees:
            raised |= self.codes(callee)
        for callee, code in scan.code_calls:  # ``_error(loc, msg, "invalid_deposit")``
            raised |= {(status, code) for status in self._scan(callee).passes_code}
        for status in scan.dynamic:  # ``code=refusal.code``, ``code=exc.code``
            for callee in scan.callees:
                raised |= {(status, c) for c in self._scan(callee).literals | self.coded(callee)}
        self._closures[func] = raised
        return raised

    def coded(self, func: Callable[..., Any]) -> set[str]:
        """The codes of the ``CodedValueError``s ``func`` and what it calls raise: a 422 when ``func`` is a
        pydantic validator, or when a caller re-raises them (``code=exc.code``); a caller that catches them
        (an import's row failures) raises nothing."""
        func = inspect.unwrap(func)
        if func in self._coded:
            return self._coded[func]
        self._coded[func] = set()
        scan = self._scan(func)
        found = set(scan.coded)
        for callee in scan.callees:
            found |= self.coded(callee)
        self._coded[func] = found
        return found


def _is_super_init(node: ast.Call) -> bool:
    return (
        isinstance(node.func, ast.Attribute)
        and node.func.attr == "__init__"
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "super"
    )


def _base_of_init(func: Callable[..., Any]) -> type | None:
    """The base class whose ``__init__`` a subclass's ``__init__`` calls with ``super().__init__``."""
    owner_name = func.__qualname__.rsplit(".", 2)[0] if func.__name__ == "__init__" else None
    owner = func.__globals__.get(owner_name or "")
    return owner.__mro__[1] if isinstance(owner, type) else None


def _validators(core_schema: Any) -> Iterator[Callable[..., Any]]:
    if isinstance(core_schema, dict):
        for key, value in core_schema.items():
            if key == "function" and callable(value):
                yield value
            else:
                yield from _validators(value)
    elif isinstance(core_schema, list | tuple):
        for value in core_schema:
            yield from _validators(value)


def _route_codes(analyzer: Analyzer, route: APIRoute) -> Raised:
    raised = analyzer.codes(route.endpoint)
    fields = [route.body_field] if route.body_field is not None else []
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant is not route.dependant and _is_app_function(inspect.unwrap(dependant.call)):
            raised |= analyzer.codes(dependant.call)
        fields += [*dependant.query_params, *dependant.path_params, *dependant.header_params]
        stack += dependant.dependencies
    for model_field in fields:
        adapter = getattr(model_field, "_type_adapter", None)
        for validator in _validators(getattr(adapter, "core_schema", None)):
            if _is_app_function(inspect.unwrap(validator)):
                raised |= analyzer.codes(validator) | {(422, c) for c in analyzer.coded(validator)}
    return raised


def test_every_code_a_handler_raises_is_documented_on_its_operation() -> None:
    document = _app().openapi()
    routes = api_routes(_app())
    analyzer = Analyzer()
    undocumented = []
    checked = 0
    for (method, path), route in sorted(routes.items()):
        operation = document["paths"][path][method.lower()]
        documented = {
            (int(status), code)
            for status, response in operation["responses"].items()
            for code in response.get("x-error-codes", [])
        }
        for status, code in sorted(_route_codes(analyzer, route) - UNREACHABLE.get((method, path), set())):
            checked += 1
            if (status, code) not in documented:
                undocumented.append(f"{method} {path}: {status} {code}")
    assert checked > 100, "the analysis found almost nothing: it would prove nothing"
    assert undocumented == []
    stale = [k for k in UNREACHABLE if k not in routes]
    assert stale == []


def test_the_analysis_finds_codes_raised_by_callees_validators_and_computed_codes() -> None:
    """The analysis itself: a code raised three calls down, a validator's code and a refusal's code."""
    routes = api_routes(_app())
    analyzer = Analyzer()

    def codes(method: str, path: str) -> Raised:
        return _route_codes(analyzer, routes[(method, path)])

    assert (409, "offer_already_open") in codes("POST", "/api/v1/listings/{listing_id}/offers")
    assert (422, "invalid_credit_code") in codes("POST", "/api/v1/organizations")
    assert (409, "patent_expired") in codes("POST", "/api/v1/open-licenses")
    assert (409, "bid_too_low") in codes("POST", "/api/v1/auctions/{auction_id}/bids")
    assert (403, "organization_not_verified") in codes("POST", "/api/v1/patents")
