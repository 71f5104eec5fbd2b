"""What the exchange's documents can print, and how they lay a paragraph out (SPEC §21 "Documents people can
file").

The contract and the certificate PDFs embed the fonts in ``app/data/fonts`` (see the README there): WenQuanYi
Micro Hei first, then parts of Hanazono Mincho (BMP symbols, Extension A, Extension B) as fallbacks, each
character drawn from the first font that has it. A character none of them has would vanish from the printed page, so the page would no
longer say what was signed. Every text that a document prints is therefore checked when it is entered:

* ``unsupported_characters(text)`` — the characters no shipped font has (the union of their cmaps, read once
  per process);
* ``PrintableText`` (or the ``Printable`` validator on an existing string type) — a request field that refuses
  such text with 422 ``unsupported_character`` naming each character by code point.

``add_fonts`` registers the fonts on a document (a fallback only when the text needs it: parsing a large font
costs time on every render), and ``wrap`` breaks a paragraph into left-aligned lines the way Chinese is set:
a line may break between any two Chinese characters or at a space, never inside a Latin word or a number, never
before closing punctuation (，。、）》…) and never after opening punctuation (（《“…). Justified text (fpdf2's
default) spread mixed Chinese/Latin lines across the page.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from app.kit.errors import CodedValueError
from app.kit.schemas import STRIPPED_CODEPOINTS, text_pattern

FONT_DIR = Path(__file__).resolve().parents[1] / "data" / "fonts"
UNSUPPORTED_CHARACTER = "unsupported_character"


@dataclass(frozen=True)
class Font:
    family: str
    path: Path


# In fallback order: a character is drawn from the first font that has it. Hanazono comes in parts (Greek,
# symbols…; Extension A; Extension B in four) so that a document parses only those its characters need.
FONTS = (
    Font("wqy-microhei", FONT_DIR / "wqy-microhei-subset.ttf"),
    Font("hanamin-a-symbols", FONT_DIR / "hanamin-a-symbols.ttf"),
    Font("hanamin-a-ext-a", FONT_DIR / "hanamin-a-ext-a.ttf"),
    *(Font(f"hanamin-b-ext-b-{i}", FONT_DIR / f"hanamin-b-ext-b-{i}.ttf") for i in range(1, 5)),
)
PRIMARY = FONTS[0].family


@dataclass(frozen=True)
class _Coverage:
    cmaps: tuple[frozenset[int], ...]  # per font, in ``FONTS`` order
    missing: re.Pattern[str]  # matches one character that no font has


def _ranges(codepoints: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in sorted(codepoints):
        if out and c == out[-1][1] + 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


@lru_cache(maxsize=1)
def _coverage() -> _Coverage:
    cmaps = tuple(frozenset(TTFont(f.path, lazy=True).getBestCmap()) for f in FONTS)
    # A negated character class of the covered ranges: one C-speed scan per text (an import checks 100,000
    # titles), instead of a set lookup per character.
    covered = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in _ranges(frozenset().union(*cmaps))
    )
    return _Coverage(cmaps, re.compile(f"[^{covered}]"))


def unsupported_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` that no shipped font can draw, in order of first appearance
    (control characters such as a line break included: a field prints on one line)."""
    missing = _coverage().missing
    if missing.search(text) is None:
        return []
    return list(dict.fromkeys(missing.findall(text)))


def describe(characters: Iterable[str]) -> str:
    """``U+4DAE 䶮, U+10FFFD 􏿽`` — each by code point, and itself unless it is a control character or a
    lone surrogate (which no JSON response can carry)."""
    return ", ".join(
        f"U+{ord(c):04X}" if unicodedata.category(c) in ("Cc", "Cs") else f"U+{ord(c):04X} {c}"
        for c in characters
    )


def unsupported_message(characters: list[str]) -> str:
    return f"contains characters no document font can print: {describe(characters[:10])}"


def check_printable(text: str) -> str:
    """Pydantic validator: the text unchanged, or ``CodedValueError(unsupported_character)`` naming what no
    shipped font has."""
    bad = unsupported_characters(text)
    if bad:
        raise CodedValueError(UNSUPPORTED_CHARACTER, unsupported_message(bad))
    return text


def _class_member(c: str) -> str:
    """``c`` as a member of a regex character class that Python and ECMA-262 with the ``u`` flag (how JSON Schema
    validators read a ``pattern``) read alike: syntax characters escaped, control and space characters as
    ``\\uXXXX``, astral ones as themselves (the two languages have no common escape for them)."""
    if c in "\\]^-[":
        return "\\" + c
    if ord(c) < 0x10000 and (unicodedata.category(c)[0] in "CZ" or c.isspace()):
        return f"\\u{ord(c):04X}"
    return c


def _class(codepoints: Iterable[int]) -> str:
    return "".join(
        _class_member(chr(a)) if a == b else f"{_class_member(chr(a))}-{_class_member(chr(b))}"
        for a, b in _ranges(codepoints)
    )


@lru_cache(maxsize=2)
def printable_pattern(non_blank: bool = False) -> str:
    """The JSON Schema ``pattern`` of printable text: only characters some shipped font has, with any
    surrounding whitespace (which request models strip before the check), and, when ``non_blank``, a printable
    character besides it — so a client generated from the OpenAPI knows what ``unsupported_character``
    refuses."""
    covered = frozenset().union(*_coverage().cmaps)
    return text_pattern(_class(covered), _class(covered - STRIPPED_CODEPOINTS) if non_blank else None)


class _Printable:
    """``check_printable`` after the field's own validation, and ``printable_pattern`` in its JSON Schema."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(check_printable, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = printable_pattern(non_blank=json_schema.get("minLength", 0) >= 1)
        return json_schema


# On a field's own type: ``Annotated[Name, Printable]``; or the plain string type ``PrintableText``.
Printable = _Printable()
PrintableText = Annotated[str, Printable]


# --- documents ---------------------------------------------------------------------------------------------


def add_fonts(pdf: FPDF, text: str) -> str:
    """Register the primary font and the fallbacks that ``text`` (everything the document will print) needs;
    the primary's family name, for ``set_font``."""
    cmaps = _coverage().cmaps
    codepoints = {ord(c) for c in text}
    needed = codepoints - cmaps[0]
    pdf.add_font(FONTS[0].family, fname=str(FONTS[0].path))
    fallbacks = []
    for font, cmap in zip(FONTS[1:], cmaps[1:], strict=True):
        if needed & cmap:
            pdf.add_font(font.family, fname=str(font.path))
            fallbacks.append(font.family)
            needed -= cmap
    if fallbacks:
        pdf.set_fallback_fonts(fallbacks)
    return PRIMARY


def start_document(pdf: FPDF, text: str, *, title: str, created: datetime) -> str:
    """The fonts ``text`` needs (``add_fonts``), the document's title and creator, and its creation date:
    the document's own (fpdf2 would write the time of rendering), so that it renders to the same bytes each
    time. The primary font's family name, for ``set_font``."""
    font = add_fonts(pdf, text)
    pdf.set_title(title)
    pdf.set_creator("Patent Exchange")
    pdf.set_creation_date(created)
    return font


_OPENING = set("（《〈「『【〔〖“‘([{<")
_CLOSING = set("，。、；：？！）》〉」』】〕〗”’…—,.;:?!)]}>%·")
# A Latin word or a number (with its inner punctuation: 1,000,000.00, ZL201510703489.3, a UUID) stays whole.
_TOKENS = re.compile(r"\s+|[0-9A-Za-z\u00C0-\u024F][0-9A-Za-z\u00C0-\u024F.,:/_\-+@#&'%]*|.", re.DOTALL)


def _units(line: str) -> list[str]:
    """The pieces a line may be broken between: closing punctuation glued to what precedes it, opening
    punctuation to what follows."""
    units: list[str] = []
    glue_next = False
    for token in _TOKENS.findall(line):
        if units and (glue_next or token[0] in _CLOSING):
            units[-1] += token
        else:
            units.append(token)
        glue_next = token[-1] in _OPENING
    return units


def wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """``text`` (one paragraph, no line breaks) as lines no wider than ``width`` in the current font."""
    widths: dict[str, float] = {}

    def measure(piece: str) -> float:
        total = 0.0
        for c in piece:
            w = widths.get(c)
            if w is None:
                w = widths[c] = pdf.get_string_width(c)
            total += w
        return total

    lines: list[str] = []
    line, used = "", 0.0
    for unit in _units(text):
        w = measure(unit)
        if line and used + w > width:
            lines.append(line.rstrip())
            line, used = "", 0.0
            if unit.isspace():
                continue
        if w > width:  # longer than a whole line (a very long word): broken between characters
            for c in unit:
                cw = measure(c)
                if line and used + cw > width:
                    lines.append(line.rstrip())
                    line, used = "", 0.0
                line += c
                used += cw
            continue
        line += unit
        used += w
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def paragraph(pdf: FPDF, text: str, height: float, width: float = 0) -> None:
    """Write ``text`` left-aligned from the left margin, wrapped to ``width`` (0: up to the right margin),
    ``height`` per line."""
    for line in wrap(pdf, text, width or pdf.epw):
        pdf.cell(width or pdf.epw, height, line, align="L", new_x="LMARGIN", new_y="NEXT")
