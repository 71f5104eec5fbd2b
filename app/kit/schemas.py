"""Base classes for request and response models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema

# What request models strip from both ends of text (pydantic's ``str_strip_whitespace``: Unicode White_Space;
# Python's ``str.isspace`` adds U+001C-U+001F), as the members of a regex character class.
STRIPPED_CODEPOINTS = frozenset(
    [
        *range(0x09, 0x0E),
        0x20,
        0x85,
        0xA0,
        0x1680,
        *range(0x2000, 0x200B),
        0x2028,
        0x2029,
        0x202F,
        0x205F,
        0x3000,
    ]
)
STRIPPED = "".join(f"\\u{c:04X}" for c in sorted(STRIPPED_CODEPOINTS))
ANY_BUT_NUL = r"^\u0000"  # the class of the characters text may hold, unless a field says narrower


def text_pattern(allowed: str, first: str | None) -> str:
    """The JSON Schema ``pattern`` of request text made of the characters of class ``allowed``, around which
    the request models strip whitespace; ``first``: the class of its first character once stripped when it
    may not be empty (``None``: it may). What is left after stripping must satisfy the field's own
    ``minLength``, so text of whitespace alone is refused when the field needs a character."""
    around = f"[{STRIPPED}]*"
    inner = f"[{allowed}]*" if first is None else f"[{first}][{allowed}]*"
    return f"^{around}{inner}{around}$"


def _text_patterns(schema: Any) -> None:
    """Every text field of a request model that says nothing narrower (a pattern, format, enum) gets the
    pattern of what the model takes: no NUL, and a character besides whitespace when it needs one."""
    if isinstance(schema, list):
        for item in schema:
            _text_patterns(item)
        return
    if not isinstance(schema, dict):
        return
    narrower = ("pattern", "format", "enum", "const", "$ref")
    if schema.get("type") == "string" and not any(k in schema for k in narrower):
        first = ANY_BUT_NUL + STRIPPED if schema.get("minLength", 0) >= 1 else None
        schema["pattern"] = text_pattern(ANY_BUT_NUL, first)
    for key in ("items", "anyOf", "oneOf", "allOf"):
        _text_patterns(schema.get(key))
    _text_patterns(list(schema.get("properties", {}).values()))


# ``field: X | NotNull = None``: a request field that may be left out but not sent as ``null`` (the model or
# its service refuses null): its schema is X's alone, so a client generated from the OpenAPI never sends null.
NotNull = SkipJsonSchema[None]


def contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(v) for v in value)
    return False


class RequestModel(BaseModel):
    """Input: unknown fields are refused with 422 (SPEC §2), and so is text with NUL characters, which no
    field of the exchange can hold (PostgreSQL refuses them in text). Text is stripped of surrounding
    whitespace, except where a field says ``strip_whitespace=False`` (passwords: SPEC §20)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        _text_patterns(list(handler.resolve_ref_schema(schema).get("properties", {}).values()))
        return schema

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if contains_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
