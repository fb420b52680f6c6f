//! capacity.md and the printed table.

use super::summary::{CapacityReport, HeadCapacity};
use crate::results::Stat;
use std::collections::BTreeMap;

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or("—".into(), |v| format!("{v:.digits$}"))
}

fn ci(x: Option<[f64; 2]>, digits: usize) -> String {
    x.map_or(String::new(), |c| format!(" [{:.digits$}, {:.digits$}]", c[0], c[1]))
}

impl CapacityReport {
    /// capacity.md: the tables of the report, led by whether the figures are converged.
    pub fn markdown(&self) -> String {
        let mut s = String::from("# Memorization capacity on random bytes\n\n");
        s += &self.status();
        s += "| head | converged | certified points | bits/param (95% CI over seeds) | bits/non-embedding param | slope |\n";
        s += "|---|---|---|---|---|---|\n";
        for (name, h) in &self.heads {
            s += &format!(
                "| {name} | {} | {} of {} | {}{} | {}{} | {} |\n",
                if h.converged { "yes" } else { "**NO**" },
                h.certified_points,
                h.points.len(),
                num(h.bits_per_param, 2),
                ci(h.ci95, 2),
                num(h.bits_per_nonembedding_param, 2),
                ci(h.nonembedding_ci95, 2),
                num(h.slope, 2),
            );
        }
        match (&self.split, &self.embedding_split) {
            (Some(f), _) => {
                s += &rates(
                    "Trunk/head split, capacity ≈ α·trunk + β·head",
                    f.sizes,
                    [("α", &f.trunk, "bits per trunk parameter"), ("β", &f.head, "bits per head parameter")],
                )
            }
            (None, Some(_)) => {
                s += "\nTrunk/head split: none (it needs sizes with a plateau both with and without head parameters).\n"
            }
            (None, None) => {}
        }
        if let Some(f) = &self.embedding_split {
            s += &rates(
                "Embedding split, capacity ≈ a·embedding + b·other",
                f.sizes,
                [
                    ("a", &f.embedding, "bits per embedding parameter"),
                    ("b", &f.other, "bits per other parameter (blocks, final norm, an untied head)"),
                ],
            );
        }
        s += &self.size_table();
        s += &self.position_table();
        s += &self.tuning_table();
        s
    }

    /// The step budget in words: one for every run, or one per size.
    fn budget(&self) -> String {
        if self.steps_per_size.is_empty() {
            return format!("{} steps", self.steps);
        }
        let each: Vec<String> = self.steps_per_size.iter().map(|(d, s)| format!("{s} at d {d}")).collect();
        format!("the size's steps ({})", each.join(", "))
    }

    /// The first lines: what the figures are worth.
    fn status(&self) -> String {
        let mut s = String::new();
        if self.quick {
            s += &format!(
                "**NOT CONVERGED (`--quick`)**: {} steps a run, a test of the pipeline. These figures are not capacities; \
                 every head says `\"converged\": false`.\n\n",
                self.steps
            );
        }
        let (certified, total): (usize, usize) =
            self.heads.values().fold((0, 0), |(c, t), h| (c + h.certified_points, t + h.points.len()));
        s += &if self.certify {
            format!(
                "{certified} of {total} points certified (rerun at 2× {}, within 2%); only those enter a capacity or a fit.\n\n",
                self.budget()
            )
        } else {
            format!(
                "{total} points at {}, **none certified** (no `--certify`): no capacity is claimed.\n\n",
                self.budget()
            )
        };
        if self.lrs.iter().any(|c| c.lr_at_edge) {
            s += "**WARNING**: a learning rate at an end of the rates tried (marked `!` below): widen `--lrs`.\n\n";
        }
        if self.waiting_for_tuning {
            s += "This shard ran its share of the tuning and waits for the other shards': run it again once they are done.\n\n";
        }
        s
    }

    fn size_table(&self) -> String {
        let mut s = String::from("\n## Capacity per model size (the plateau past the knee, certified points)\n\n");
        s += "The rule: from certified points only, the knee is the smallest dataset whose mean memorized bits \
              (over seeds) is below 90% of its dataset bits; the plateau needs at least 2 datasets from the knee \
              on, each mean within max(its 95% interval, 2%) of their mean, and capacity is that mean (per seed: \
              the mean of the seed's past-knee points). Otherwise the size has no capacity. The last column \
              is the range of the 2× changes of the points that stored under 90% of their dataset, and how \
              many were gains: all gains, the size still gains with the budget; losses too, its runs do not \
              gain consistently at 2× (they scatter, or collapse at too high a rate).\n\n";
        s += "| head | d | params | non-emb params | lr | certified | knee (bits/param) | plateau datasets | capacity bits (95% CI) | bits/param | 2× change, unsaturated points |\n";
        s += "|---|---|---|---|---|---|---|---|---|---|---|\n";
        for (name, h) in &self.heads {
            s += &sizes_rows(name, h);
        }
        s
    }

    fn position_table(&self) -> String {
        position_table(&self.heads)
    }

    fn tuning_table(&self) -> String {
        let most = if self.lr_tie == 0.0 {
            "the most bits stored".to_string()
        } else {
            // Rounded, so that 0.07 reads 7%, not 7.000000000000001%.
            format!("the smallest rate within {}% of the most bits stored", (1e5 * self.lr_tie).round() / 1e3)
        };
        let rule = match self.certify {
            true => format!("each rate also at 2× the steps; {most} at the lower of the two wins"),
            false => format!("{most} wins"),
        };
        let (data, rule) = match &self.tune_data_bits {
            None => ("knee dataset".to_string(), rule),
            Some(b) => (format!("datasets of {b:?} bits/param"), format!("{rule}, summed over the datasets")),
        };
        let mut s = format!("\n## Learning-rate tuning (full budget, {data}, seed {}; {rule})\n\n", super::TUNE_SEED);
        s += "| head | d | n | lr | memorized bits | at 2× | dataset bits |\n|---|---|---|---|---|---|---|\n";
        for t in &self.tuning {
            s += &format!(
                "| {} | {} | {} | {:e} | {} | {} | {} |\n",
                t.head,
                t.d_model,
                t.n,
                t.lr,
                num(t.memorized_bits, 0),
                t.memorized_bits_2x.map_or("–".into(), |b| num(Some(b), 0)),
                num(t.dataset_bits, 0)
            );
        }
        s
    }
}

/// A per-position head's bits at its first positions, which see too little of the sequence to
/// tell it apart, against the rest: certified points, mean over seeds per size and dataset.
pub(crate) fn position_table(heads: &BTreeMap<String, HeadCapacity>) -> String {
    let mut rows = String::new();
    for (name, h) in heads {
        let mut groups: BTreeMap<(usize, usize), Vec<&Vec<f64>>> = BTreeMap::new();
        for p in h.points.iter().filter(|p| p.is_certified()) {
            if let Some(bits) = &p.bits_by_position {
                groups.entry((p.d_model, p.n)).or_default().push(bits);
            }
        }
        for ((d, n), runs) in groups {
            let l = runs[0].len();
            // The mean over seeds and over the positions in `range`; "—" for an empty range.
            let mean = |range: std::ops::Range<usize>| {
                let cells = runs.iter().flat_map(|r| r[range.clone()].iter()).sum::<f64>();
                let count = runs.len() * range.len();
                (count > 0).then(|| cells / count as f64)
            };
            let cell = |x: Option<f64>| x.map_or("—".to_string(), |v| format!("{v:.2}"));
            let first: Vec<String> = (0..4).map(|t| cell((t < l).then(|| mean(t..t + 1)).flatten())).collect();
            let per_sample = mean(0..l).unwrap_or(0.0) * l as f64;
            rows += &format!(
                "| {name} | {d} | {n} | {} | {} | {} | {per_sample:.1} |\n",
                runs.len(),
                first.join(" | "),
                cell(mean(4.min(l)..l))
            );
        }
    }
    if rows.is_empty() {
        return rows;
    }
    "\n## Bits per position (per-position heads, certified points, mean over seeds)\n\nBits stored per \
     sample at each position (at most 8): position t has seen t + 1 bytes of its sequence.\n\n\
     | head | d | samples | seeds | pos 0 | pos 1 | pos 2 | pos 3 | mean of pos 4.. | bits per sample |\n\
     |---|---|---|---|---|---|---|---|---|---|\n"
        .to_string()
        + &rows
}

fn sizes_rows(name: &str, h: &HeadCapacity) -> String {
    let mut s = String::new();
    for z in &h.sizes {
        let plateau = if z.flat {
            format!("{} flat", z.plateau_n.len())
        } else if z.max_at_largest {
            format!("{} rising: grid too small", z.plateau_n.len())
        } else {
            format!("{} not flat", z.plateau_n.len())
        };
        s += &format!(
            "| {name} | {} | {} | {} | {:e}{} | {} of {} | {} | {plateau} | {}{} | {} | {} |\n",
            z.d_model,
            z.params,
            z.nonembedding_params,
            z.lr,
            if z.lr_at_edge { " !" } else { "" },
            z.certified_points,
            z.points,
            num(z.knee_data_bits, 2),
            num(z.capacity_bits, 0),
            ci(z.capacity_ci95, 0),
            num(z.bits_per_param, 2),
            changes(&z.unsaturated_changes_2x),
        );
    }
    s
}

/// "-5.3% … +5.4% (2 of 4 gains)", or "—" when no unsaturated point has a 2× run.
fn changes(sorted: &[f64]) -> String {
    let (Some(lo), Some(hi)) = (sorted.first(), sorted.last()) else {
        return "—".into();
    };
    let gains = sorted.iter().filter(|&&c| c > 0.0).count();
    format!("{:+.1}% … {:+.1}% ({gains} of {} gains)", 100.0 * lo, 100.0 * hi, sorted.len())
}

/// One line of a two-rate fit: its title, what it was fitted on, then each rate with its interval
/// over seeds.
fn rates(title: &str, sizes: usize, each: [(&str, &Stat, &str); 2]) -> String {
    let said: Vec<String> =
        each.iter().map(|(name, x, unit)| format!("{name} = {:.2}{} {unit}", x.mean, ci(x.ci95, 2))).collect();
    let exact = if sizes == 2 { ", an exact solve of the two" } else { "" };
    format!(
        "\n{title} (certified plateaus of {sizes} sizes; per seed{exact}, then the mean and 95% CI over {} seeds): {}.\n",
        each[0].1.n,
        said.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_change_column_gives_the_range_and_the_gains() {
        assert_eq!(super::changes(&[-0.053, 0.012, 0.054]), "-5.3% … +5.4% (2 of 3 gains)");
        assert_eq!(super::changes(&[0.028, 0.047]), "+2.8% … +4.7% (2 of 2 gains)");
        assert_eq!(super::changes(&[]), "—");
    }
}
