"""Makes the fallback fonts beside this file from Debian's ``fonts-hanazono`` package (SPEC §21).

    apt-get install fonts-hanazono
    .venv/bin/python app/data/fonts/make_subset.py

WenQuanYi Micro Hei (``wqy-microhei-subset.ttf``, the primary font) has no glyph for CJK Extension A or B,
nor for Greek, Cyrillic, Latin Extended, most letterlike symbols, number forms and arrows. Hanazono Mincho
(HanaMinA: the Basic Multilingual Plane; HanaMinB: the Supplementary Ideographic Plane) has them:

* ``hanamin-a-symbols.ttf`` — every character of HanaMinA in the BMP that the primary font lacks, outside
  Extension A and private use: the ideographs U+9FA6–U+9FEA added to the URO after the primary font was made,
  compatibility ideographs, radicals, kana, Greek, Cyrillic, Latin Extended, letterlike symbols, number forms,
  arrows, mathematical operators…
* ``hanamin-a-ext-a.ttf`` — CJK Extension A (U+3400–U+4DBF);
* ``hanamin-b-ext-b-1.ttf`` … ``-4.ttf`` — CJK Extension B (U+20000–U+2A6DF) in four parts.

The fonts are split so that a document loads only the parts its characters need: fpdf2 parses every font a
document registers, and the cost grows with the font's glyph count (all of Extension B in one file added some
0.35 s to a contract with one such character).

Both are cut down as far as a printed contract allows: no hinting, no layout tables, and outlines simplified.
Hanazono's glyphs are polygons (every point on the curve, the brush strokes approximated by short segments);
a point that lies within ``TOLERANCE`` font units (of 1,024 to the em: 0.01 mm at 10.5 pt) of the line
joining its kept neighbours is dropped (Ramer–Douglas–Peucker), which saves a quarter of the size and no
visible detail. The script is deterministic: running it again gives the same files.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables import ttProgram
from fontTools.ttLib.tables._g_l_y_f import GlyphCoordinates

HERE = Path(__file__).resolve().parent
PRIMARY = HERE / "wqy-microhei-subset.ttf"
SOURCE_DIR = Path("/usr/share/fonts/truetype/hanazono")
TOLERANCE = 4.0  # font units (unitsPerEm 1024)

EXT_A = range(0x3400, 0x4DC0)
PRIVATE_USE = range(0xE000, 0xF900)
BMP = range(0x0000, 0x10000)
# Extension B in four parts of about 10,700 characters.
EXT_B_PARTS = (
    range(0x20000, 0x22A00),
    range(0x22A00, 0x25400),
    range(0x25400, 0x27E00),
    range(0x27E00, 0x2A6E0),
)

Point = tuple[int, int]


def _cmap(path: Path) -> set[int]:
    font = TTFont(path, lazy=True)
    return set(font.getBestCmap())


def _rdp(points: Sequence[Point], tolerance: float) -> list[Point]:
    """Ramer–Douglas–Peucker on an open polyline: its two ends are kept."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        start, end = stack.pop()
        (x1, y1), (x2, y2) = points[start], points[end]
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy)
        farthest, distance = -1, -1.0
        for i in range(start + 1, end):
            x, y = points[i]
            d = abs(dy * (x - x1) - dx * (y - y1)) / length if length else math.hypot(x - x1, y - y1)
            if d > distance:
                farthest, distance = i, d
        if distance > tolerance:
            keep[farthest] = True
            stack += [(start, farthest), (farthest, end)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def _simplify_contour(points: list[Point], tolerance: float) -> list[Point]:
    """A closed polygon with fewer points: split at its first point and the point farthest from it."""
    points = [p for i, p in enumerate(points) if p != points[i - 1]] or points
    if len(points) <= 3:
        return points
    x0, y0 = points[0]
    far = max(range(len(points)), key=lambda i: (points[i][0] - x0) ** 2 + (points[i][1] - y0) ** 2)
    first = _rdp(points[: far + 1], tolerance)
    second = _rdp([*points[far:], points[0]], tolerance)
    simplified = first[:-1] + second[:-1]
    return simplified if len(simplified) >= 3 else points


def simplify(font: TTFont, tolerance: float) -> None:
    """Simplify every glyph whose contours are all polygons (no off-curve point); others are left alone."""
    glyf = font["glyf"]
    for name in font.getGlyphOrder():
        glyph = glyf[name]
        if glyph.numberOfContours <= 0:
            continue
        coordinates, ends, flags = glyph.getCoordinates(glyf)
        if any(not flag & 1 for flag in flags):
            continue
        points: list[Point] = []
        new_ends: list[int] = []
        start = 0
        for end in ends:
            contour = [(int(x), int(y)) for x, y in coordinates[start : end + 1]]
            start = end + 1
            contour = _simplify_contour(contour, tolerance)
            if len(contour) >= 3:
                points += contour
                new_ends.append(len(points) - 1)
        glyph.coordinates = GlyphCoordinates(points)
        glyph.endPtsOfContours = new_ends
        glyph.flags = bytearray([1] * len(points))
        glyph.numberOfContours = len(new_ends)
        glyph.program = ttProgram.Program()
        glyph.program.fromBytecode(b"")
        glyph.recalcBounds(glyf)


def make(source: Path, target: Path, codepoints: Iterable[int], tolerance: float) -> int:
    """Subset ``source`` to ``codepoints`` (those it has), simplify it and write ``target``; the glyph count."""
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "vhea", "vmtx", "FFTM", "gasp"]
    options.notdef_outline = True
    options.recalc_timestamp = False
    options.name_IDs = ["*"]
    font = TTFont(source, recalcTimestamp=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(codepoints))
    subsetter.subset(font)
    if tolerance > 0:
        simplify(font, tolerance)
    font.save(target)
    return len(font.getGlyphOrder())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--source-dir", type=Path, default=SOURCE_DIR, help="where HanaMinA.ttf and HanaMinB.ttf are"
    )
    parser.add_argument(
        "--tolerance", type=float, default=TOLERANCE, help="outline simplification, font units"
    )
    args = parser.parse_args(argv)
    primary = _cmap(PRIMARY)
    source_a, source_b = args.source_dir / "HanaMinA.ttf", args.source_dir / "HanaMinB.ttf"
    cmap_a, cmap_b = _cmap(source_a), _cmap(source_b)
    outputs: list[tuple[Path, str, set[int]]] = [
        (
            source_a,
            "hanamin-a-symbols.ttf",
            {c for c in cmap_a if c in BMP and c not in EXT_A and c not in PRIVATE_USE and c not in primary},
        ),
        (source_a, "hanamin-a-ext-a.ttf", {c for c in cmap_a if c in EXT_A and c not in primary}),
    ]
    for i, part in enumerate(EXT_B_PARTS, start=1):
        outputs.append((source_b, f"hanamin-b-ext-b-{i}.ttf", {c for c in cmap_b if c in part}))
    for source, name, wanted in outputs:
        glyphs = make(source, HERE / name, wanted, args.tolerance)
        size = (HERE / name).stat().st_size
        print(f"{name}: {len(wanted)} characters, {glyphs} glyphs, {size / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
