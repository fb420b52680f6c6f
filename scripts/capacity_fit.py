#!/usr/bin/env python3
"""Joins `overfit capacity` reports (capacity.json) over the sizes with a certified plateau, for sizes
measured under different commands (e.g. last at d 8 in capacity/main and at d 12 in
capacity/last-d12), and prints what the command prints within one report:
- per head, bits per parameter: each seed's mean over the head's sizes, then the mean over seeds
  with a 95% t interval (the command's head line), over the seeds with a plateau at every size;
- capacity ≈ a·(embedding parameters) + b·(other parameters), fitted per seed by least squares
  over every head and size, then the mean over seeds with a 95% t interval ("Embedding split");
- the same with trunk and head parameters (α·trunk + β·head, "Head split"): it needs a head with
  parameters of its own (tied's L·d → d layer) and one without, e.g. last and tied at one width.
  With such a head among the reports, the embedding split's "other" includes its head layer: read
  the embedding split from reports of heads without one.
A size (head, parameters) with a plateau in two of the reports joins their seeds when it is one
measurement run twice: the same rate, step budget and plateau datasets, and no seed in common (e.g.
a third seed run later with the first two's tuned rate). Otherwise it is refused: pick one.

With --svg PATH it also draws bits per parameter against parameters, a colour per head: each
size's plateau (mean over its seeds, 95% t interval) and, for a size with a plateau in none of the
reports, the most its certified points stored (mean of seeds on one dataset), a lower bound.

  python3 scripts/capacity_fit.py capacity/causal/capacity.json capacity/causal-d64-long/capacity.json
  python3 scripts/capacity_fit.py REPORT.json... --svg capacity/per_head.svg --bounds REPORT.json
"""
import argparse
import json
import math
import statistics
import sys

import capacity_svg

# Two-sided 95% quantiles of Student's t, by degrees of freedom (1–10); the normal's beyond.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def loaded(paths):
    """(path, report) per path; an unreadable report exits naming its file."""
    reports = []
    for path in paths:
        try:
            reports.append((path, json.load(open(path))))
        except (OSError, ValueError) as e:
            sys.exit(f"capacity_fit.py: {path}: {e}")
    return reports


def sizes_with_a_plateau(reports):
    """(head, params, {kind: params}, {seed: capacity}, report) per size."""
    found = {}
    for path, report in reports:
        for head, h in report["heads"].items():
            for z in h["sizes"]:
                by_seed = z.get("capacity_by_seed") or {}
                if not by_seed:
                    continue
                key = (head, z["params"])
                if key in found:
                    found[key] = joined(found[key], by_seed, protocol(h, z), path)
                    continue
                parts = {"embedding": z["params"] - z["nonembedding_params"],
                         "other": z["nonembedding_params"],
                         "trunk": z["params"] - z["head_params"], "head": z["head_params"]}
                found[key] = (head, z["params"], parts, by_seed, path, protocol(h, z))
    return [z[:5] for z in found.values()]


def protocol(h, z):
    """What makes two reports' plateaus at one size one measurement: the rate, the step budgets of
    the size's points and the datasets of the plateau."""
    steps = sorted({p["steps"] for p in h.get("points", []) if p.get("d_model") == z.get("d_model")})
    return z.get("lr"), steps, z.get("plateau_n")


def joined(first, by_seed, proto, path):
    """A size found again in `path`: its seeds join the first report's when the protocol is the same
    and no seed is in both; anything else is two measurements to choose between."""
    head, params, parts, seeds, where, first_proto = first
    common = sorted(set(seeds) & set(by_seed), key=int)
    if common or proto != first_proto:
        seed = "seeds" if len(common) > 1 else "seed"
        why = f"{seed} {', '.join(common)} in both" if common else "rate, steps or plateau datasets differ"
        sys.exit(f"capacity_fit.py: {head} at {params} parameters has a plateau in both {where} and {path} "
                 f"({why}): pass one of them")
    return head, params, parts, {**seeds, **by_seed}, f"{where} + {path}", first_proto


def fit(rows):
    """Least squares of c ≈ a·e + b·o over (e, o, c) rows: (a, b), or None if e and o are collinear."""
    see = sum(e * e for e, _, _ in rows)
    seo = sum(e * o for e, o, _ in rows)
    soo = sum(o * o for _, o, _ in rows)
    sec = sum(e * c for e, _, c in rows)
    soc = sum(o * c for _, o, c in rows)
    det = see * soo - seo * seo
    if abs(det) <= 1e-9 * see * soo:
        return None
    return (sec * soo - soc * seo) / det, (soc * see - sec * seo) / det


def interval(values, low=-math.inf):
    """The mean and its 95% t interval, clamped at `low` (0 for bits per parameter, which cannot be
    negative, as the command clamps it; a fitted rate of the splits has no bound)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    t = T95[len(values) - 2] if len(values) - 1 <= len(T95) else 1.96
    half = t * statistics.stdev(values) / len(values) ** 0.5
    return mean, (max(mean - half, low), mean + half)


def said(ci):
    """An interval as printed, or why there is none."""
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " (one seed: no interval)"


def print_split(sizes, seeds, first, second):
    """Fits capacity ≈ x·first + y·second per seed and prints each seed's fit and the means."""
    xs, ys = [], []
    for seed in seeds:
        rows = [(z[2][first], z[2][second], z[3][seed]) for z in sizes if seed in z[3]]
        xy = fit(rows)
        if xy is None:
            print(f"{first}/{second}, seed {seed}: {len(rows)} size(s) cannot tell the two rates apart")
            continue
        residual = max(abs(c - xy[0] * e - xy[1] * o) / c for e, o, c in rows)
        print(f"{first}/{second}, seed {seed}: {len(rows)} sizes, {first} {xy[0]:.3f}, {second} {xy[1]:.3f}, "
              f"largest residual {100 * residual:.1f}%")
        xs.append(xy[0])
        ys.append(xy[1])
    if not xs:
        # The per-head lines stand; only the split needs sizes that tell its two rates apart.
        print(f"{first}/{second} split: no seed has sizes that tell the rates apart")
        return
    for name, values in ((first, xs), (second, ys)):
        mean, ci = interval(values)
        print(f"{mean:.2f}{said(ci)} bits per {name} parameter, over {len(values)} seeds")


def print_per_head(head, mine, seeds):
    """Bits per parameter: each seed's mean over the head's sizes, then the mean over seeds. Only the
    seeds with a plateau at every size count: capacity per parameter changes with size, so a seed
    measured at some sizes only would pull the mean toward them."""
    full = [s for s in seeds if all(s in z[3] for z in mine)]
    left_out = [s for s in seeds if s not in full and any(s in z[3] for z in mine)]
    seed = "seeds" if len(left_out) > 1 else "seed"
    note = f" (left out, not at every size: {seed} {', '.join(left_out)})" if left_out else ""
    if not full:
        print(f"{head}: no seed has a plateau at all {len(mine)} sizes{note}")
        return
    per_seed = [statistics.fmean(z[3][s] / z[1] for z in mine) for s in full]
    mean, ci = interval(per_seed, low=0.0)
    print(f"{head}: {mean:.2f}{said(ci)} bits per parameter, sizes: {len(mine)}, seeds: {len(full)}{note}")


def lower_bounds(reports):
    """{(head, params): bits} for each size with a plateau in none of the reports: the most bits
    one of its datasets stored, as the mean over seeds of its certified points, across reports."""
    with_plateau = {(head, z["params"]) for _, report in reports for head, h in report["heads"].items()
                    for z in h["sizes"] if z.get("capacity_by_seed")}
    bounds = {}
    for _, report in reports:
        for head, h in report["heads"].items():
            by_dataset = {}
            for p in h.get("points", []):
                if p.get("certified") and (head, p["params"]) not in with_plateau:
                    by_dataset.setdefault((p["params"], p["n"]), []).append(p["memorized_bits"])
            for (params, _), bits in by_dataset.items():
                key = (head, params)
                bounds[key] = max(bounds.get(key, -math.inf), statistics.fmean(bits))
    return bounds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", metavar="REPORT.json")
    parser.add_argument("--svg", metavar="PATH", help="also draw bits per parameter against parameters")
    parser.add_argument("--bounds", metavar="REPORT.json", action="append", default=[],
                        help="one more report (the flag repeats), read for the figure's lower bounds only: e.g. "
                             "one whose plateaus another report measures again. Its own plateaus are neither drawn nor bounds.")
    args = parser.parse_args()
    reports = loaded(args.reports)
    sizes = sizes_with_a_plateau(reports)
    if not sizes:
        sys.exit("capacity_fit.py: no size has a certified plateau in these reports")
    seeds = sorted({s for z in sizes for s in z[3]}, key=int)
    print("| head | params | embedding | other | head layer | capacity per seed | capacity, bits (95% CI) | from |")
    print("|---|---|---|---|---|---|---|---|")
    for head, params, parts, by_seed, path in sizes:
        each = ", ".join(f"{s}: {by_seed[s]:,.0f}" for s in sorted(by_seed, key=int))
        # The size's capacity over its seeds, as capacity.md prints it: joined seeds get one here too.
        mean, ci = interval(list(by_seed.values()), low=0.0)
        joint = f"{mean:,.0f} [{ci[0]:,.0f}, {ci[1]:,.0f}]" if ci else f"{mean:,.0f} (one seed)"
        print(f"| {head} | {params:,} | {parts['embedding']:,} | {parts['other']:,} | {parts['head']:,} "
              f"| {each} | {joint} | `{path}` |")
    for head in sorted({z[0] for z in sizes}):
        print_per_head(head, [z for z in sizes if z[0] == head], seeds)
    print_split(sizes, seeds, "embedding", "other")
    print_split(sizes, seeds, "trunk", "head")
    if args.svg:
        draw(args.svg, sizes, lower_bounds(reports + loaded(args.bounds)))


def draw(path, sizes, bounds):
    """The figure: each size's plateau per parameter (mean over its seeds, interval as printed) and
    each lower bound per parameter."""
    plateaus = []
    for head, params, _, by_seed, _ in sizes:
        mean, ci = interval([c / params for c in by_seed.values()], low=0.0)
        plateaus.append((head, params, mean, ci, f"{mean:.2f}{said(ci)}"))
    capacity_svg.write(path, plateaus, [(head, params, bits / params) for (head, params), bits in bounds.items()])
    print(f"drawn: {path}")


if __name__ == "__main__":
    main()
