"""Draws capacity_fit.py's figure as a plain SVG (no plotting package: the machine has none, and the
figure is a handful of marks): bits per parameter against parameters on a log axis, a colour per
head, the certified plateaus with their 95% intervals over seeds, hollow triangles for sizes with
no plateau (a lower bound), and the 2.0 (Allen-Zhu & Li) and 3.6 (Morris et al.) references dashed.
"""
import html
import math

WIDTH, HEIGHT = 820, 470
LEFT, RIGHT, TOP, BOTTOM = 70, 600, 60, 410
Y_MAX = 4.0
COLOURS = {"causal": "#1f77b4", "last": "#d62728", "tied": "#2ca02c"}
# Heads at one size share its parameter count: each is nudged sideways so that none hides another.
NUDGE = {"causal": -0.012, "last": 0.0, "tied": 0.012}
REFERENCES = [(3.6, "3.6: Morris et al."), (2.0, "2.0: Allen-Zhu & Li")]


def write(path, plateaus, bounds):
    """plateaus: (head, params, (bits per param, interval or None)); bounds: (head, params, bits per
    param). Writes the SVG to `path`."""
    params = [p for _, p, _ in plateaus] + [p for _, p, _ in bounds]
    lo, hi = math.floor(math.log10(min(params))), math.ceil(math.log10(max(params)))
    hi = max(hi, lo + 1)

    def x(p, head):
        return LEFT + (math.log10(p) + NUDGE.get(head, 0.0) - lo) / (hi - lo) * (RIGHT - LEFT)

    def y(v):
        return BOTTOM - min(max(v, 0.0), Y_MAX) / Y_MAX * (BOTTOM - TOP)

    marks = axes(lo, hi, x, y)
    # Each mark carries its figures as a tooltip (<title>), which a reader can hover and a test can read.
    for head, p, (mean, ci) in plateaus:
        colour = COLOURS.get(head, "#555555")
        if ci:
            marks.append(line(x(p, head), y(ci[0]), x(p, head), y(ci[1]), colour, width=1.5))
        said = f"{mean:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{mean:.2f} (one seed)"
        marks.append(f'<circle class="plateau" cx="{x(p, head):.1f}" cy="{y(mean):.1f}" r="4.5" fill="{colour}">'
                     f'<title>{head}, {p:,} parameters: {said} bits per parameter</title></circle>')
    for head, p, v in bounds:
        marks.append(triangle(x(p, head), y(v), COLOURS.get(head, "#555555"),
                              f"{head}, {p:,} parameters: at least {v:.2f} bits per parameter"))
    marks += legend(sorted({h for h, _, _ in plateaus} | {h for h, _, _ in bounds}))
    title = ("Bits per parameter against parameters, per head (random bytes, L 32)",
             "● certified plateau: mean of seeds, 95% CI · △ no plateau: most stored, a lower bound")
    marks += [text(WIDTH / 2, 22, title[0], size=16, anchor="middle"),
              text(WIDTH / 2, 42, title[1], size=12, anchor="middle")]
    svg = "\n".join(marks)
    with open(path, "w") as f:
        f.write(f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
                f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">\n'
                f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>\n{svg}\n</svg>\n')


def axes(lo, hi, x, y):
    """Grid lines, ticks and labels of both axes, and the dashed references."""
    marks = []
    for e in range(lo, hi + 1):
        for m in (1, 2, 5):
            p = m * 10 ** e
            if m > 1 and e == hi:
                break
            marks.append(line(x(p, None), TOP, x(p, None), BOTTOM, "#000000", opacity=0.1))
            marks.append(text(x(p, None), BOTTOM + 18, f"{p:,}", size=12, anchor="middle"))
    for v in range(int(Y_MAX) + 1):
        marks.append(line(LEFT, y(v), RIGHT, y(v), "#000000", opacity=0.1))
        marks.append(text(LEFT - 8, y(v) + 4, f"{v:.1f}", size=12, anchor="end"))
    for v, label in REFERENCES:
        marks.append(line(LEFT, y(v), RIGHT, y(v), "#555555", dash=True))
        marks.append(text(LEFT + 6, y(v) - 5, label, size=11, fill="#555555"))
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
        marks.append(f'<circle cx="{RIGHT + 30}" cy="{row}" r="5" fill="{COLOURS.get(head, "#555555")}"/>')
        marks.append(text(RIGHT + 44, row + 4, head, size=13))
    return marks


def line(x1, y1, x2, y2, colour, width=1.0, opacity=1.0, dash=False):
    style = ' stroke-dasharray="6 4"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
            f'stroke-width="{width}" opacity="{opacity}"{style}/>')


def triangle(cx, cy, colour, tooltip):
    points = f"{cx:.1f},{cy - 6:.1f} {cx - 5.5:.1f},{cy + 4:.1f} {cx + 5.5:.1f},{cy + 4:.1f}"
    return (f'<polygon class="lower-bound" points="{points}" fill="none" stroke="{colour}" stroke-width="1.5">'
            f'<title>{tooltip}</title></polygon>')


def text(tx, ty, content, size, anchor="start", fill="#000000"):
    return (f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}">{html.escape(content)}</text>')
