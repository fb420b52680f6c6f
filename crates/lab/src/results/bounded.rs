//! Statistics over runs whose intervals never leave the range of their quantity (issue 25 §4):
//! a t-interval for a quantity without bounds, the t-interval clamped to [lo, hi] for a bounded
//! one, a percentile bootstrap for a mean of fractions, Wilson's interval for a proportion of
//! counts, and for a capped quantity (epochs to memorize, where a run that never memorized stops
//! at its cap) the Kaplan–Meier median with its interval.
//!
//! Degenerate inputs stay sane: no value gives a null mean (NaN, which serde_json writes as
//! null) and no interval; one value gives no interval; equal values give the point as interval.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The 0.975 quantile of the standard normal.
pub const Z975: f64 = 1.959_963_984_540_054;

/// How a [`Stat`]'s `ci95` was computed.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// No interval: fewer than two values (or no counts).
    None,
    /// mean ± t(0.975, n−1)·std/√n: a quantity without bounds.
    T,
    /// The t-interval clamped to the quantity's `range`.
    TClamped,
    /// The 2.5% and 97.5% percentiles of the means of resamples of the values (a fixed seed, so
    /// a table is reproducible); inside [min, max] of the values, so inside any range they obey.
    Bootstrap,
    /// Wilson's score interval of k successes in n trials.
    Wilson,
    /// The interval of the Kaplan–Meier median: where the pointwise 95% band of the curve
    /// (Greenwood's variance) crosses 1/2. See [`Survival`].
    KaplanMeier,
}

/// What values a quantity can take: its interval is computed so that it stays there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bounds {
    /// Any real number (e.g. bits stored, which a model worse than uniform makes negative).
    Real,
    /// Within [lo, hi] (hi may be ∞): losses, bits, times and counts are ≥ 0.
    Range(f64, f64),
    /// A fraction in [0, 1] (accuracy, memorized fraction), averaged over runs.
    Fraction,
}

pub const NON_NEGATIVE: Bounds = Bounds::Range(0.0, f64::INFINITY);

/// Statistics of one quantity over a group's runs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Stat {
    /// The mean (null without values). For a capped quantity, runs that did not reach the event
    /// count at their cap: a lower bound of the mean; its `survival.median` is the estimate.
    pub mean: f64,
    /// Sample standard deviation (n − 1); null for fewer than two values.
    pub std: Option<f64>,
    /// The 95% interval (see `interval`); null for fewer than two values. Never outside `range`.
    pub ci95: Option<[f64; 2]>,
    /// Runs that have this quantity (a null field, e.g. val_loss without a split, is left out).
    pub n: usize,
    /// How ci95 was computed.
    pub interval: Interval,
    /// The range of the quantity (an infinite end is written null); null when it has none. For
    /// a capped quantity, [0, the largest value seen].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
    /// For a capped quantity: the Kaplan–Meier median, and how many runs stopped at their cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survival: Option<Survival>,
}

/// The Kaplan–Meier estimate of a capped quantity; `Stat::ci95` is its median's interval.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Survival {
    /// The first value at which the curve (share of runs not yet done) is ≤ 1/2; the cap when
    /// it never is (then `median_censored`).
    pub median: f64,
    /// Fewer than half the runs reached the event: the median is only known to be ≥ the cap.
    pub median_censored: bool,
    /// The band's upper curve never fell to 1/2: ci95's upper end is the cap, a lower bound.
    pub upper_censored: bool,
    /// Runs that stopped at their cap without the event (censored).
    pub censored: usize,
    /// The largest value seen (the cap when some run reached it): no interval goes beyond it.
    pub cap: f64,
}

/// One run's capped value: when the event happened, or the cap at which the run stopped
/// without it (`reached: false`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Capped {
    pub value: f64,
    pub reached: bool,
}

impl Stat {
    /// The point estimate: the Kaplan–Meier median for a capped quantity, else the mean.
    pub fn point(&self) -> f64 {
        self.survival.as_ref().map_or(self.mean, |s| s.median)
    }

    /// The statistic as a table cell, numbers by `f`: "point [lo, hi]", the point alone without
    /// an interval, "–" without values. A capped quantity shows its median, "≥" where only a
    /// lower bound is known, and how many runs stopped at their cap.
    pub fn show(&self, f: impl Fn(f64) -> String) -> String {
        let at_cap = |v: &Survival| format!("{}/{} at the cap", v.censored, self.n);
        match (&self.survival, self.ci95) {
            _ if self.n == 0 => "–".into(),
            (Some(v), _) if v.median_censored => format!("≥ {} ({})", f(v.cap), at_cap(v)),
            (Some(v), Some([lo, hi])) => {
                let hi = if v.upper_censored { format!("≥ {}", f(hi)) } else { f(hi) };
                let note = if v.censored > 0 { format!(" ({})", at_cap(v)) } else { String::new() };
                format!("{} [{}, {hi}]{note}", f(v.median), f(lo))
            }
            (_, Some([lo, hi])) => format!("{} [{}, {}]", f(self.mean), f(lo), f(hi)),
            _ => f(self.point()),
        }
    }

    fn empty(n: usize, mean: f64, range: Option<[f64; 2]>) -> Stat {
        Stat { mean, std: None, ci95: None, n, interval: Interval::None, range, survival: None }
    }
}

/// Mean and sample standard deviation (None below two values); NaN mean for none.
fn moments(xs: &[f64]) -> (f64, Option<f64>) {
    let n = xs.len();
    let mean = if n == 0 { f64::NAN } else { xs.iter().sum::<f64>() / n as f64 };
    let std = (n >= 2).then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    (mean, std)
}

/// n, mean, sample std and the t-interval of the mean: for a quantity without bounds.
pub fn stat(xs: &[f64]) -> Stat {
    stat_in(xs, Bounds::Real)
}

/// n, mean, sample std and a 95% interval of the mean that stays within `bounds`.
pub fn stat_in(xs: &[f64], bounds: Bounds) -> Stat {
    let (mean, std) = moments(xs);
    let range = match bounds {
        Bounds::Real => None,
        Bounds::Range(lo, hi) => Some([lo, hi]),
        Bounds::Fraction => Some([0.0, 1.0]),
    };
    let Some(sd) = std else { return Stat::empty(xs.len(), mean, range) };
    let (ci, interval) = match bounds {
        Bounds::Fraction => (bootstrap(xs), Interval::Bootstrap),
        _ => {
            let half = t975(xs.len() - 1) * sd / (xs.len() as f64).sqrt();
            let [lo, hi] = range.unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
            let kind = if range.is_some() { Interval::TClamped } else { Interval::T };
            ([(mean - half).clamp(lo, hi), (mean + half).clamp(lo, hi)], kind)
        }
    };
    Stat { mean, std, ci95: Some(ci), n: xs.len(), interval, range, survival: None }
}

/// Resamples of the values: enough that the percentiles move by less than a table's last digit.
const RESAMPLES: usize = 4000;

/// The percentile bootstrap interval of the mean (a fixed seed: the same values, the same
/// interval). Each resampled mean lies in [min, max] of the values, so the interval does too.
fn bootstrap(xs: &[f64]) -> [f64; 2] {
    let mut rng = ChaCha8Rng::seed_from_u64(0x0b00_7575_2025);
    let n = xs.len();
    let mut means: Vec<f64> =
        (0..RESAMPLES).map(|_| (0..n).map(|_| xs[rng.random_range(0..n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * RESAMPLES as f64).round() as usize).min(RESAMPLES - 1)];
    [at(0.025), at(0.975)]
}

/// Wilson's 95% score interval of `k` successes in `n` trials; None for no trial.
pub fn wilson(k: usize, n: usize) -> Option<[f64; 2]> {
    if n == 0 {
        return None;
    }
    let (p, n, z2) = (k as f64 / n as f64, n as f64, Z975 * Z975);
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z975 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // The formula stays in [0, 1]; the clamp only removes rounding at k = 0 and k = n.
    Some([(centre - half).max(0.0), (centre + half).min(1.0)])
}

/// The proportion k of n with its Wilson interval.
pub fn proportion(k: usize, n: usize) -> Stat {
    let mut s = Stat::empty(n, if n == 0 { f64::NAN } else { k as f64 / n as f64 }, Some([0.0, 1.0]));
    if let Some(ci) = wilson(k, n) {
        (s.ci95, s.interval) = (Some(ci), Interval::Wilson);
    }
    s
}

/// One step of the Kaplan–Meier curve: at `value`, the share of runs not yet done and the
/// pointwise 95% band around it.
struct Step {
    value: f64,
    surv: f64,
    lower: f64,
    upper: f64,
}

/// The Kaplan–Meier curve at each value where some run reached the event. A run censored at a
/// value still counts at risk for events at that same value (the usual convention).
fn km_curve(xs: &[Capped]) -> Vec<Step> {
    let mut sorted = xs.to_vec();
    sorted.sort_by(|a, b| a.value.total_cmp(&b.value));
    let (mut surv, mut greenwood, mut steps) = (1.0f64, 0.0f64, Vec::new());
    let mut i = 0;
    while i < sorted.len() {
        let t = sorted[i].value;
        let at_risk = (sorted.len() - i) as f64;
        let tied = sorted[i..].iter().take_while(|c| c.value == t).count();
        let events = sorted[i..i + tied].iter().filter(|c| c.reached).count() as f64;
        i += tied;
        if events == 0.0 {
            continue;
        }
        surv *= 1.0 - events / at_risk;
        // Greenwood's term is infinite when every run at risk is done; the curve is then 0 for
        // certain (nobody is left to survive), so its band has no width.
        greenwood += if events < at_risk { events / (at_risk * (at_risk - events)) } else { 0.0 };
        let se = surv * greenwood.sqrt();
        steps.push(Step { value: t, surv, lower: (surv - Z975 * se).max(0.0), upper: (surv + Z975 * se).min(1.0) });
    }
    steps
}

/// A capped quantity: its mean (runs without the event at their cap, a lower bound), and its
/// Kaplan–Meier median with the median's 95% interval, never beyond the largest value (the cap).
pub fn capped(xs: &[Capped]) -> Stat {
    let values: Vec<f64> = xs.iter().map(|c| c.value).collect();
    let (mean, std) = moments(&values);
    let cap = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = Stat::empty(xs.len(), mean, None);
    s.std = std;
    if xs.is_empty() {
        return s;
    }
    let curve = km_curve(xs);
    // The first value at which a curve falls to 1/2 (a little slack for rounding at exactly 1/2).
    let crossing = |f: fn(&Step) -> f64| curve.iter().find(|st| f(st) <= 0.5 + 1e-12).map(|st| st.value);
    let median = crossing(|st| st.surv);
    let upper = crossing(|st| st.upper);
    s.range = Some([0.0, cap]);
    s.survival = Some(Survival {
        median: median.unwrap_or(cap),
        median_censored: median.is_none(),
        upper_censored: upper.is_none(),
        censored: xs.iter().filter(|c| !c.reached).count(),
        cap,
    });
    if xs.len() >= 2 {
        (s.ci95, s.interval) =
            (Some([crossing(|st| st.lower).unwrap_or(cap), upper.unwrap_or(cap)]), Interval::KaplanMeier);
    }
    s
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom: the table's values up to 30,
/// then the Cornish–Fisher expansion around the normal quantile (error below 1e-4 there).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139, 2.200985,
        2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873,
        2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
    ];
    if (1..=30).contains(&df) {
        return TABLE[df - 1];
    }
    let (z, d) = (Z975, df.max(1) as f64);
    z + (z.powi(3) + z) / (4.0 * d) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
}
