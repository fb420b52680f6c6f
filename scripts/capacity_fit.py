#!/usr/bin/env python3
"""Joins `overfit capacity` reports (capacity.json) over the sizes with a certified plateau, for sizes
measured under different commands (e.g. last at d 8 in capacity/main and at d 12 in
capacity/last-d12), and prints what the command prints within one report:
- per head, bits per parameter: each seed's mean over the head's sizes, then the mean over seeds
  with a 95% t interval (the command's head line);
- capacity ≈ a·(embedding parameters) + b·(other parameters), fitted per seed by least squares
  over every head and size, then the mean over seeds with a 95% t interval ("Embedding split").
A size (head, parameters) with a plateau in two of the reports is refused: pick one.

  python3 scripts/capacity_fit.py capacity/causal/capacity.json capacity/causal-d64-long/capacity.json
"""
import json
import statistics
import sys

# Two-sided 95% quantiles of Student's t, by degrees of freedom (1–10); the normal's beyond.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def sizes_with_a_plateau(paths):
    """(head, params, embedding params, other params, {seed: capacity}, report) per size."""
    found = {}
    for path in paths:
        try:
            report = json.load(open(path))
        except (OSError, ValueError) as e:
            sys.exit(f"capacity_fit.py: {path}: {e}")
        for head, h in report["heads"].items():
            for z in h["sizes"]:
                by_seed = z.get("capacity_by_seed") or {}
                if not by_seed:
                    continue
                key = (head, z["params"])
                if key in found:
                    sys.exit(f"capacity_fit.py: {head} at {z['params']} parameters has a plateau in both "
                             f"{found[key][5]} and {path}: pass one of them")
                emb = z["params"] - z["nonembedding_params"]
                found[key] = (head, z["params"], emb, z["nonembedding_params"], by_seed, path)
    return list(found.values())


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


def interval(values):
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    t = T95[len(values) - 2] if len(values) - 1 <= len(T95) else 1.96
    half = t * statistics.stdev(values) / len(values) ** 0.5
    return mean, (mean - half, mean + half)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sizes = sizes_with_a_plateau(sys.argv[1:])
    if not sizes:
        sys.exit("capacity_fit.py: no size has a certified plateau in these reports")
    seeds = sorted({s for z in sizes for s in z[4]}, key=int)
    print("| head | params | embedding | other | capacity per seed | from |")
    print("|---|---|---|---|---|---|")
    for head, params, emb, other, by_seed, path in sizes:
        each = ", ".join(f"{s}: {by_seed[s]:,.0f}" for s in sorted(by_seed, key=int))
        print(f"| {head} | {params:,} | {emb:,} | {other:,} | {each} | `{path}` |")
    for head in sorted({z[0] for z in sizes}):
        mine = [z for z in sizes if z[0] == head]
        per_seed = [statistics.fmean(z[4][s] / z[1] for z in mine if s in z[4]) for s in seeds
                    if any(s in z[4] for z in mine)]
        mean, ci = interval(per_seed)
        said = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " (one seed: no interval)"
        print(f"{head}: {mean:.2f}{said} bits per parameter, sizes: {len(mine)}, seeds: {len(per_seed)}")
    a_s, b_s = [], []
    for seed in seeds:
        rows = [(z[2], z[3], z[4][seed]) for z in sizes if seed in z[4]]
        ab = fit(rows)
        if ab is None:
            print(f"seed {seed}: {len(rows)} size(s), the two rates cannot be told apart; left out")
            continue
        residual = max(abs(c - ab[0] * e - ab[1] * o) / c for e, o, c in rows)
        print(f"seed {seed}: {len(rows)} sizes, a = {ab[0]:.3f}, b = {ab[1]:.3f}, largest residual {100 * residual:.1f}%")
        a_s.append(ab[0])
        b_s.append(ab[1])
    if not a_s:
        # The per-head lines above stand; only the split needs two sizes.
        print("embedding split: no seed has two sizes that tell the rates apart")
        return
    for name, values, unit in (("a", a_s, "embedding"), ("b", b_s, "other")):
        mean, ci = interval(values)
        said = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " (one seed: no interval)"
        print(f"{name} = {mean:.2f}{said} bits per {unit} parameter, over {len(values)} seeds")


if __name__ == "__main__":
    main()
