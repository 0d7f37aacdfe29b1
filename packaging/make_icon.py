"""Draw the app icon (a heatmap over a square) as PNGs and an SVG: resources/icons/l2r-inspector.*

Run once after changing the drawing: .venv/bin/python packaging/make_icon.py. The files are committed;
the build only copies them.
"""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "resources" / "icons"
GRID = 8  # heat cells per side
# The "jet"-like ramp the app's overlay uses: cold blue -> cyan -> yellow -> red.
RAMP = [(0.0, (30, 40, 140)), (0.35, (30, 160, 220)), (0.65, (250, 220, 60)), (1.0, (220, 40, 30))]


def heat(v: float) -> tuple[int, int, int]:
    v = min(1.0, max(0.0, v))
    for (a, ca), (b, cb) in zip(RAMP, RAMP[1:]):
        if v <= b:
            t = (v - a) / (b - a)
            return tuple(round(x + (y - x) * t) for x, y in zip(ca, cb))  # type: ignore[return-value]
    return RAMP[-1][1]


def cell_value(i: int, j: int) -> float:
    """A blob up and to the left of centre, fading out: what an attribution map looks like."""
    d = math.hypot((i + 0.5) / GRID - 0.42, (j + 0.5) / GRID - 0.40)
    return math.exp(-(d / 0.30) ** 2)


def draw_png(size: int) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    pad, radius = size * 0.06, size * 0.16
    draw.rounded_rectangle([pad, pad, size - pad, size - pad], radius=radius, fill=(24, 28, 38, 255))
    inner, step = size * 0.16, (size - 2 * size * 0.16) / GRID
    for i in range(GRID):
        for j in range(GRID):
            x0, y0 = inner + i * step, inner + j * step
            draw.rectangle([x0, y0, x0 + step - max(1, size // 128), y0 + step - max(1, size // 128)],
                           fill=heat(cell_value(i, j)) + (255,))
    # a magnifier ring over the hot spot: "inspect"
    cx, cy, r = size * 0.62, size * 0.62, size * 0.17
    w = max(2, size // 24)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(245, 245, 245, 255), width=w)
    a = math.radians(45)
    draw.line([cx + r * math.cos(a), cy + r * math.sin(a), size * 0.86, size * 0.86], fill=(245, 245, 245, 255),
              width=int(w * 1.6))
    return img


def svg(size: int = 256) -> str:
    inner, step = size * 0.16, (size - 2 * size * 0.16) / GRID
    cells = []
    for i in range(GRID):
        for j in range(GRID):
            r, g, b = heat(cell_value(i, j))
            cells.append(f'<rect x="{inner + i * step:.1f}" y="{inner + j * step:.1f}" width="{step - 2:.1f}" '
                         f'height="{step - 2:.1f}" fill="rgb({r},{g},{b})"/>')
    cx = cy = size * 0.62
    r = size * 0.17
    end = size * 0.86
    a = r * math.cos(math.radians(45))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">'
            f'<rect x="{size * 0.06:.1f}" y="{size * 0.06:.1f}" width="{size * 0.88:.1f}" height="{size * 0.88:.1f}" '
            f'rx="{size * 0.16:.1f}" fill="#1c2026"/>' + "".join(cells) +
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="none" stroke="#f5f5f5" stroke-width="{size / 24:.1f}"/>'
            f'<line x1="{cx + a:.1f}" y1="{cy + a:.1f}" x2="{end:.1f}" y2="{end:.1f}" stroke="#f5f5f5" '
            f'stroke-width="{size / 15:.1f}" stroke-linecap="round"/></svg>\n')


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (48, 256):
        draw_png(size).save(OUT / (f"l2r-inspector-{size}.png" if size != 256 else "l2r-inspector.png"))
    (OUT / "l2r-inspector.svg").write_text(svg(), encoding="utf-8")
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
