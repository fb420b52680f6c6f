//! The shared statistics (`lab::results`) on capped, bounded and degenerate inputs, and on
//! values worked by hand: no interval ever leaves its quantity's range (issue 25 §4).

use lab::results::{self, bounded::NON_NEGATIVE, capped, proportion, stat, stat_in, wilson, Bounds, Capped, Interval};
use serde_json::{json, Map, Value};

fn done(value: f64) -> Capped {
    Capped { value, reached: true }
}

fn at_cap(value: f64) -> Capped {
    Capped { value, reached: false }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn wilson_matches_a_hand_computed_case_and_stays_in_0_1() {
    // 9 of 10, z = 1.959964: centre (0.9 + z²/20)/(1 + z²/10) = 0.788976, half-width
    // z/(1 + z²/10)·√(0.009 + z²/400) = 0.193148: [0.59585, 0.98212].
    let [lo, hi] = wilson(9, 10).unwrap();
    assert!(close(lo, 0.595_850, 5e-6) && close(hi, 0.982_124, 5e-6), "{lo} {hi}");
    for (k, n) in [(0, 5), (5, 5), (1, 1), (0, 1), (37, 40)] {
        let [lo, hi] = wilson(k, n).unwrap();
        let p = k as f64 / n as f64;
        assert!((0.0..=p).contains(&lo) && (p..=1.0).contains(&hi) && lo < hi, "{k}/{n}: [{lo}, {hi}]");
    }
    assert_eq!(wilson(0, 0), None);
    let s = proportion(2, 3);
    assert_eq!((s.n, s.interval, s.range), (3, Interval::Wilson, Some([0.0, 1.0])));
    assert!(close(s.mean, 2.0 / 3.0, 1e-15));
}

#[test]
fn the_kaplan_meier_median_of_a_hand_worked_censored_sample() {
    // Memorized at 2, 4, 6, 9; stopped without at 5, 10, 10. At risk 7, 6, (5 censored) 4, 3:
    // S = 6/7, 5/7, 15/28 = 0.536, 5/14 = 0.357 → the median is 9 (ignoring the censoring, the
    // fourth of seven values would put it at 6). Greenwood: at 4, Σd/(n(n−d)) = 1/42 + 1/30,
    // se = 0.714·0.239 = 0.171, lower 0.380 ≤ 1/2 (at 2 it is 0.598): the interval starts at 4.
    // At 9 the upper band is 0.745 > 1/2: it never crosses, the upper end is the cap 10.
    let xs = [done(2.0), done(4.0), at_cap(5.0), done(6.0), done(9.0), at_cap(10.0), at_cap(10.0)];
    let s = capped(&xs);
    let v = s.survival.clone().unwrap();
    assert_eq!((v.median, v.median_censored, v.censored, v.cap), (9.0, false, 3, 10.0));
    assert_eq!((s.ci95, v.upper_censored, s.interval), (Some([4.0, 10.0]), true, Interval::KaplanMeier));
    assert_eq!(s.point(), 9.0);
    assert!(close(s.mean, 46.0 / 7.0, 1e-12), "the mean counts the censored at their value");
    // Order does not matter.
    let mut rev = xs;
    rev.reverse();
    assert_eq!(capped(&rev), s);
}

#[test]
fn a_capped_interval_never_goes_above_the_cap() {
    // The study's case: some runs stop at the 150-epoch cap. A t-interval of the values goes past
    // the cap; the Kaplan–Meier median's does not. S = 0.8, 0.6, 0.4: median 125; the lower band
    // is 0.449 at 100; the upper band (0.829 at 125) never reaches 1/2.
    let values = [100.0, 110.0, 125.0, 150.0, 150.0];
    assert!(stat(&values).ci95.unwrap()[1] > 150.0, "the old t-interval leaves the range");
    let xs: Vec<Capped> = values.iter().map(|&x| if x < 150.0 { done(x) } else { at_cap(x) }).collect();
    let s = capped(&xs);
    let v = s.survival.clone().unwrap();
    assert_eq!((v.median, v.median_censored, v.upper_censored, v.censored), (125.0, false, true, 2));
    assert_eq!(s.ci95, Some([100.0, 150.0]));
    assert_eq!(s.range, Some([0.0, 150.0]));
    assert_eq!(s.show(|x| format!("{x:.1}")), "125.0 [100.0, ≥ 150.0] (2/5 at the cap)");
    // Fewer than half got there: the median is only known to be ≥ the cap.
    let few = capped(&[done(40.0), at_cap(150.0), at_cap(150.0)]);
    let v = few.survival.clone().unwrap();
    assert_eq!((v.median, v.median_censored), (150.0, true));
    assert!(few.ci95.unwrap()[1] <= 150.0 && few.ci95.unwrap()[0] >= 40.0, "{:?}", few.ci95);
    assert_eq!(few.show(|x| format!("{x:.1}")), "≥ 150.0 (2/3 at the cap)");
}

#[test]
fn all_at_the_cap_is_a_censored_median_at_the_cap() {
    let s = capped(&[at_cap(150.0); 4]);
    let v = s.survival.clone().unwrap();
    assert_eq!((v.median, v.median_censored, v.upper_censored, v.censored), (150.0, true, true, 4));
    assert_eq!((s.mean, s.ci95), (150.0, Some([150.0, 150.0])));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["survival"]["median_censored"], true);
    assert_eq!(json["interval"], "kaplan_meier");
}

#[test]
fn fractions_near_one_stay_at_or_below_one() {
    // The study's "0.996 [0.990, 1.002]" kind of case.
    let xs = [0.99, 1.0, 1.0, 0.996, 1.0];
    assert!(stat(&xs).ci95.unwrap()[1] > 1.0, "the plain t-interval leaves [0, 1]");
    let s = stat_in(&xs, Bounds::Fraction);
    let [lo, hi] = s.ci95.unwrap();
    assert!(hi <= 1.0 && lo >= 0.99 && lo < s.mean && s.mean < hi, "[{lo}, {hi}] around {}", s.mean);
    assert_eq!((s.interval, s.range), (Interval::Bootstrap, Some([0.0, 1.0])));
    assert_eq!(stat_in(&xs, Bounds::Fraction), s, "a fixed seed: the same table every time");
    // Near 0 too.
    let [lo, _] = stat_in(&[0.0, 0.0, 0.02, 0.0], Bounds::Fraction).ci95.unwrap();
    assert!(lo >= 0.0);
}

#[test]
fn small_non_negative_values_with_a_big_spread_stay_non_negative() {
    // "0.006 [−0.004, 0.016]" bits: mean 0.006, the t half-width 4.303·0.0104/√3 = 0.0258.
    let xs = [0.0, 0.0, 0.018];
    assert!(stat(&xs).ci95.unwrap()[0] < 0.0);
    let s = stat_in(&xs, NON_NEGATIVE);
    let [lo, hi] = s.ci95.unwrap();
    assert_eq!((lo, s.interval), (0.0, Interval::TClamped));
    assert!(close(hi, 0.006 + 4.302_653 * 0.018 / 3f64.sqrt() / 3f64.sqrt(), 1e-6), "{hi}");
    // An upper bound clamps too (memorized windows of at most 432).
    let [_, hi] = stat_in(&[400.0, 432.0, 432.0], Bounds::Range(0.0, 432.0)).ci95.unwrap();
    assert_eq!(hi, 432.0);
}

#[test]
fn degenerate_inputs_give_sane_outputs() {
    for bounds in [Bounds::Real, NON_NEGATIVE, Bounds::Fraction] {
        let none = stat_in(&[], bounds);
        assert_eq!((none.n, none.std, none.ci95, none.interval), (0, None, None, Interval::None));
        assert!(none.mean.is_nan());
        let json = serde_json::to_string(&none).unwrap();
        assert!(json.contains("\"mean\":null") && !json.contains("NaN"), "{json}");
        assert_eq!(none.show(|x| x.to_string()), "–");
        let one = stat_in(&[0.5], bounds);
        assert_eq!((one.n, one.mean, one.std, one.ci95), (1, 0.5, None, None), "one run: no interval");
        assert_eq!(one.show(|x| x.to_string()), "0.5");
        let same = stat_in(&[0.25, 0.25, 0.25], bounds);
        assert_eq!((same.mean, same.std, same.ci95), (0.25, Some(0.0), Some([0.25, 0.25])));
    }
    let none = capped(&[]);
    assert_eq!((none.n, none.ci95, none.survival.is_none()), (0, None, true));
    assert!(!serde_json::to_string(&none).unwrap().contains("NaN"));
    let one = capped(&[done(12.0)]);
    assert_eq!((one.ci95, one.point()), (None, 12.0));
    let same = capped(&[done(12.0); 3]);
    assert_eq!((same.point(), same.ci95), (12.0, Some([12.0, 12.0])));
    assert_eq!(proportion(0, 0).ci95, None);
}

fn run(seed: u64, report: Value) -> results::RunRecord {
    let mut config = Map::new();
    config.insert("seed".into(), json!(seed));
    results::RunRecord { dir: format!("id-{seed}"), config, report }
}

#[test]
fn results_json_respects_each_report_fields_range() {
    // Three seeds: one never memorized within its 150 epochs; accuracies near 1; tiny bits.
    let reports = [
        json!({"epochs": 40.0, "epochs_to_memorize": 40.0, "train_accuracy": 1.0, "bits_per_byte": 0.0, "memorized_bits": -3.0}),
        json!({"epochs": 150.0, "epochs_to_memorize": null, "train_accuracy": 0.99, "bits_per_byte": 0.0, "memorized_bits": 5.0}),
        json!({"epochs": 60.0, "epochs_to_memorize": 60.0, "train_accuracy": 1.0, "bits_per_byte": 0.018, "memorized_bits": 1.0}),
    ];
    let runs: Vec<_> = reports.into_iter().enumerate().map(|(i, r)| run(i as u64, r)).collect();
    let groups = results::group(&runs, &[]);
    let m = serde_json::to_value(&groups[0].metrics).unwrap();
    let ci = |f: &str| (m[f]["ci95"][0].as_f64().unwrap(), m[f]["ci95"][1].as_f64().unwrap());
    let e = &m["epochs_to_memorize"];
    assert_eq!((e["n"].as_u64(), e["interval"].as_str()), (Some(3), Some("kaplan_meier")), "{e}");
    assert_eq!((e["survival"]["median"].as_f64(), e["survival"]["censored"].as_u64()), (Some(60.0), Some(1)));
    assert!(ci("epochs_to_memorize").1 <= 150.0 && ci("epochs_to_memorize").0 >= 0.0);
    let (lo, hi) = ci("train_accuracy");
    assert!(lo >= 0.0 && hi <= 1.0 && m["train_accuracy"]["interval"] == "bootstrap", "{}", m["train_accuracy"]);
    assert_eq!(ci("bits_per_byte").0, 0.0, "bits ≥ 0");
    assert!(ci("epochs").0 >= 0.0);
    assert!(ci("memorized_bits").0 < 0.0 && m["memorized_bits"]["interval"] == "t", "a signed field keeps its t");
    assert_eq!(results::bounds_of("params.total"), NON_NEGATIVE);
}

#[test]
fn the_t_interval_of_the_mean() {
    use lab::results::{stat, t975};
    // scipy.stats.t.ppf(0.975, df) for df = 1, 4, 30, 60, 1000
    for (df, want) in
        [(1, 12.706_204_736), (4, 2.776_445_105), (30, 2.042_272_456), (60, 2.000_297_822), (1000, 1.962_339_081)]
    {
        assert!((t975(df) - want).abs() < 2e-4, "df {df}: {} vs {want}", t975(df));
    }
    // Values 1..5: mean 3, std √2.5, half-width t(4)·√2.5/√5 = 2.776445·0.7071068 = 1.963243.
    let s = stat(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!((s.mean, s.n), (3.0, 5));
    assert!((s.std.unwrap() - 2.5f64.sqrt()).abs() < 1e-12);
    let [lo, hi] = s.ci95.unwrap();
    assert!((hi - 3.0 - 1.963_243).abs() < 1e-5 && (3.0 - lo - 1.963_243).abs() < 1e-5, "{lo} {hi}");
    let one = stat(&[2.5]);
    assert_eq!((one.mean, one.std, one.ci95), (2.5, None, None), "one seed: no interval, not a zero-width one");
}
