"""Draws capacity_fit.py's figure as a plain SVG (no plotting package: the machine has none, and the
figure is a handful of marks): bits per parameter against parameters on a log axis, a colour per
head, the certified plateaus with their 95% intervals over seeds, hollow triangles for sizes with
no plateau (a lower bound), and the 2.0 (Allen-Zhu & Li) and 3.6 (Morris et al.) references dashed.
"""
import html
import math

WIDTH, HEIGHT = 820, 470
LEFT, RIGHT, TOP, BOTTOM = 70, 600, 60, 410
COLOURS = {"causal": "#1f77b4", "last": "#d62728", "tied": "#2ca02c"}
# Heads at one size share its parameter count: each is moved sideways by a few pixels, so that
# none hides another whatever the axis spans.
NUDGE_PX = {"causal": -6.0, "last": 0.0, "tied": 6.0}
REFERENCES = [(3.6, "3.6: Morris et al."), (2.0, "2.0: Allen-Zhu & Li")]


def colour(head):
    return COLOURS.get(head, "#555555")


def write(path, plateaus, bounds):
    """plateaus: (head, params, bits per param, interval or None, the figure as printed); bounds:
    (head, params, bits per param). Writes the SVG to `path`."""
    params = [z[1] for z in plateaus] + [b[1] for b in bounds]
    # A margin of a tenth of a decade keeps a mark at a power of ten off the axis line.
    lo, hi = math.log10(min(params)) - 0.1, math.log10(max(params)) + 0.1
    values = [z[3][1] if z[3] else z[2] for z in plateaus] + [b[2] for b in bounds]
    y_max = max(4.0, math.ceil(max(values)))

    def x(p, head):
        return LEFT + (math.log10(p) - lo) / (hi - lo) * (RIGHT - LEFT) + NUDGE_PX.get(head, 0.0)

    def y(v):
        return BOTTOM - max(v, 0.0) / y_max * (BOTTOM - TOP)

    marks = axes(lo, hi, y_max, x, y)
    # Each mark carries its figures as a tooltip (<title>), which a reader can hover and a test can read.
    for head, p, mean, ci, said in plateaus:
        if ci:
            marks.append(line(x(p, head), y(ci[0]), x(p, head), y(ci[1]), colour(head), width=1.5))
        tooltip = html.escape(f"{head}, {p:,} parameters: {said} bits per parameter")
        marks.append(f'<circle class="plateau" cx="{x(p, head):.1f}" cy="{y(mean):.1f}" r="4.5" '
                     f'fill="{colour(head)}"><title>{tooltip}</title></circle>')
    for head, p, v in bounds:
        tooltip = f"{head}, {p:,} parameters: at least {v:.2f} bits per parameter"
        marks.append(triangle(x(p, head), y(v), colour(head), tooltip))
    marks += legend(sorted({z[0] for z in plateaus} | {b[0] for b in bounds}))
    title = ("Bits per parameter against parameters, per head (random bytes, L 32)",
             "● certified plateau: mean of seeds, 95% CI · △ no plateau: most stored, a lower bound")
    marks += [text(WIDTH / 2, 22, title[0], size=16, anchor="middle"),
              text(WIDTH / 2, 42, title[1], size=12, anchor="middle")]
    svg = "\n".join(marks)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
                f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">\n'
                f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>\n{svg}\n</svg>\n')


def axes(lo, hi, y_max, x, y):
    """Grid lines, ticks and labels of both axes, and the dashed references. Ticks at 1, 2 and 5
    per decade while the axis spans at most two decades, at powers of ten beyond (labels apart)."""
    marks = []
    steps = (1, 2, 5) if hi - lo <= 2.2 else (1,)
    ticks = [m * 10 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) for m in steps]
    for p in [p for p in ticks if lo <= math.log10(p) <= hi]:
        marks.append(line(x(p, None), TOP, x(p, None), BOTTOM, "#000000", opacity=0.1))
        marks.append(text(x(p, None), BOTTOM + 18, f"{p:,}", size=12, anchor="middle"))
    for v in range(int(y_max) + 1):
        marks.append(line(LEFT, y(v), RIGHT, y(v), "#000000", opacity=0.1))
        marks.append(text(LEFT - 8, y(v) + 4, f"{v:.1f}", size=12, anchor="end"))
    for v, label in REFERENCES:
        marks.append(line(LEFT, y(v), RIGHT, y(v), "#555555", dash=True))
        marks.append(text(RIGHT - 6, y(v) - 5, label, size=11, anchor="end", fill="#555555"))
    marks.append(line(LEFT, BOTTOM, RIGHT, BOTTOM, "#000000"))
    marks.append(line(LEFT, TOP, LEFT, BOTTOM, "#000000"))
    marks.append(text((LEFT + RIGHT) / 2, BOTTOM + 42, "parameters (log scale)", size=13, anchor="middle"))
    mid = (TOP + BOTTOM) / 2
    marks.append(f'<text x="20" y="{mid}" font-size="13" text-anchor="middle" '
                 f'transform="rotate(-90 20 {mid})">bits per parameter</text>')
    return marks


def legend(heads):
    """A dot per head in a column right of the plot."""
    marks = []
    for i, head in enumerate(heads):
        row = TOP + 20 + 24 * i
        marks.append(f'<circle cx="{RIGHT + 30}" cy="{row}" r="5" fill="{colour(head)}"/>')
        marks.append(text(RIGHT + 44, row + 4, head, size=13))
    return marks


def line(x1, y1, x2, y2, stroke, width=1.0, opacity=1.0, dash=False):
    style = ' stroke-dasharray="6 4"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
            f'stroke-width="{width}" opacity="{opacity}"{style}/>')


def triangle(cx, cy, stroke, tooltip):
    points = f"{cx:.1f},{cy - 6:.1f} {cx - 5.5:.1f},{cy + 4:.1f} {cx + 5.5:.1f},{cy + 4:.1f}"
    return (f'<polygon class="lower-bound" points="{points}" fill="none" stroke="{stroke}" stroke-width="1.5">'
            f'<title>{html.escape(tooltip)}</title></polygon>')


def text(tx, ty, content, size, anchor="start", fill="#000000"):
    return (f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}">{html.escape(content)}</text>')
