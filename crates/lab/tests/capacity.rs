//! The capacity measurement's parts: memorized bits on known probabilities (and clipped per
//! sample), the random data's layout, the plateau rule, and a capacity run's schedule.

use train::config::Plateau;
use train::data::{Batch, Corpus, Split};
use train::eval::{cross_entropy, memorized_bits};

/// Logits over 257 tokens: all 0 but the target's, set so that the target gets probability `p`.
fn row_with(p: f64, target: usize) -> Vec<f32> {
    let mut row = vec![0.0f32; 257];
    // softmax(target) = e^a / (e^a + 256) = p  ⇔  e^a = 256·p / (1 − p).
    row[target] = (256.0 * p / (1.0 - p)).ln() as f32;
    row
}

#[test]
fn memorized_bits_on_known_probabilities() {
    // p = 1/2 → 1 bit of cross-entropy → 7 bits stored; p = 1/4 → 6; p = 1/256 → 0; a uniform
    // guess over all 257 tokens → 8 − log2(257), slightly below 0.
    let rows = [(row_with(0.5, 3), 3, 7.0), (row_with(0.25, 200), 200, 6.0), (row_with(1.0 / 256.0, 9), 9, 0.0)];
    let uniform = vec![0.0f32; 257];
    let mut total = 0.0;
    for (row, t, bits) in &rows {
        let ce = cross_entropy(row, *t);
        assert!((memorized_bits(ce, 1) - bits).abs() < 1e-5, "p row {t}: {}", memorized_bits(ce, 1));
        total += ce;
    }
    total += cross_entropy(&uniform, 42);
    let expected = 7.0 + 6.0 + 0.0 + (8.0 - 257f64.log2());
    let got = memorized_bits(total / 4.0, 4);
    assert!((got - expected).abs() < 1e-5, "{got} against {expected}");
}

#[test]
fn random_data_is_seeded_and_its_samples_are_independent() {
    let (n, l) = (50, 8);
    let a = Corpus::random(7, n, l);
    assert_eq!(a.bytes(), Corpus::random(7, n, l).bytes(), "the same seed gives the same bytes");
    assert_ne!(a.bytes(), Corpus::random(8, n, l).bytes());
    assert_eq!(a.bytes().len(), n * (l + 1));
    // Every byte value appears (450 draws of 256 values would miss some only by a fluke; this seed does not).
    let window = Split::independent(n, l, false).unwrap();
    let mut batch = Batch::default();
    batch.fill(a.bytes(), &window, [0, 1, 49].into_iter());
    let b = a.bytes();
    // Sample i is bytes i·(L+1) .. i·(L+1)+L and its target the next: no byte is shared.
    let ids: Vec<u32> = [0, 1, 49].iter().flat_map(|&i| b[i * 9..i * 9 + 8].iter().map(|&x| x as u32)).collect();
    assert_eq!(batch.ids, ids);
    assert_eq!(batch.targets, vec![b[8] as u32, b[17] as u32, b[49 * 9 + 8] as u32]);
    // A per-position head predicts bytes 1..=L of each sample.
    let per_position = Split::independent(n, l, true).unwrap();
    batch.fill(a.bytes(), &per_position, [1].into_iter());
    assert_eq!(batch.targets, b[10..18].iter().map(|&x| x as u32).collect::<Vec<_>>());
}

#[test]
fn the_plateau_rule() {
    let rule = Plateau { patience: 3, min_delta: 0.01 };
    // Still falling by more than 0.01 within the last 3 evaluations: go on.
    assert!(!rule.reached(&[5.5, 5.0, 4.0, 3.0, 2.9]));
    // The best of the last 3 is 0.005 below the best before them: a plateau.
    assert!(rule.reached(&[5.5, 5.0, 4.0, 4.01, 3.995, 4.2]));
    // A loss that rose is a plateau too.
    assert!(rule.reached(&[5.5, 3.0, 3.5, 3.6, 3.2]));
    // Too short a history says nothing.
    assert!(!rule.reached(&[5.5, 5.5, 5.5]));
}

/// seed-id4's causal model at L 8, d 8: small enough for a test to train.
fn small_causal() -> heads::ModelConfig {
    let mut m = heads::ModelConfig::preset("seed-id4").unwrap();
    (m.head, m.seq_length, m.d_model, m.d_ff) = (heads::HeadKind::Causal, 8, 8, 12);
    m
}

#[test]
fn a_fresh_model_has_stored_nothing_and_training_stores_bits() {
    let mut c = train::TrainConfig::default_run();
    c.model = small_causal();
    (c.random_data, c.samples, c.seed, c.lr, c.until_memorized, c.epochs) = (true, Some(40), 3, 1e-2, false, Some(60));
    c.checkpoint_every = 0;
    let dir = tempfile::tempdir().unwrap();
    let run = train::RunDir { path: dir.path().to_path_buf() };
    let mut s = train::Session::new(c.clone()).unwrap();
    let every: Vec<usize> = (0..40).collect();
    let fresh = memorized_bits(s.evaluate(&every).loss, 40 * 8);
    assert!(fresh.abs() < 0.02 * 40.0 * 8.0 * 8.0, "an untrained model stores ~0 bits, got {fresh}");
    let report = train::train(&mut s, &run, &mut train::Silent, &Default::default()).unwrap();
    let (bits, data) = (report.memorized_bits.unwrap(), report.dataset_bits.unwrap());
    assert_eq!(data, 40.0 * 8.0 * 8.0);
    assert!(bits > 0.2 * data && bits <= data, "{bits} of {data}");
    // The report's figure is the full evaluation's.
    assert!((bits - memorized_bits(s.evaluate(&every).loss, 320)).abs() < 1e-6);
}

#[test]
fn clipped_bits_sum_each_sample_clipped_at_zero() {
    // Hand-made cross-entropies (nats) of two samples of 2 targets: the first stores
    // (8 − 9) + (8 − 6) = 1 bit, the second (8 − 10) + (8 − 7) = −1 → clipped to 0.
    let ce = |bits: f64| bits * std::f64::consts::LN_2;
    assert!((train::eval::clipped_sample_bits([ce(9.0), ce(6.0)]) - 1.0).abs() < 1e-12);
    assert_eq!(train::eval::clipped_sample_bits([ce(10.0), ce(7.0)]), 0.0);
    // Through the evaluation of a briefly trained model, whose samples store bits of both signs:
    // the clipped sum is the sum of each sample's own figure clipped at 0, and above the plain sum.
    let mut c = train::TrainConfig::default_run();
    c.model = small_causal();
    (c.random_data, c.samples, c.seed, c.lr, c.until_memorized, c.steps, c.epochs) =
        (true, Some(300), 5, 1e-2, false, Some(25), None);
    c.checkpoint_every = 0;
    let dir = tempfile::tempdir().unwrap();
    let mut s = train::Session::new(c).unwrap();
    train::train(&mut s, &train::RunDir { path: dir.path().to_path_buf() }, &mut train::Silent, &Default::default())
        .unwrap();
    let per_sample: Vec<f64> = (0..300).map(|i| memorized_bits(s.evaluate(&[i]).loss, 8)).collect();
    let negative = per_sample.iter().filter(|&&b| b < 0.0).count();
    assert!(negative > 0 && negative < 300, "{negative} of 300 samples below 0: the test needs both signs");
    let every: Vec<usize> = (0..300).collect();
    let ev = s.evaluate(&every);
    let clipped = ev.memorized_bits_clipped.expect("random data evaluates per sample");
    let expected: f64 = per_sample.iter().map(|b| b.max(0.0)).sum();
    assert!((clipped - expected).abs() < 1e-3 * expected.abs().max(1.0), "{clipped} against {expected}");
    assert!(clipped > memorized_bits(ev.loss, 300 * 8), "clipping negatives raises the sum");
}

#[test]
fn a_capacity_run_takes_its_whole_budget_with_warmup_and_a_decay_to_zero() {
    let c = lab::capacity::run_config(small_causal(), 20, 0, 3e-3, 400);
    assert_eq!((c.steps, c.epochs, c.until_memorized, c.until_plateau), (Some(400), None, false, None));
    let dir = tempfile::tempdir().unwrap();
    let mut s = train::Session::new(c).unwrap();
    // Warm-up: rising to the peak at step 20 (5%), then down to 0 at the end.
    assert!(s.lr_at(0) < s.lr_at(10) && s.lr_at(10) < s.lr_at(19) && (s.lr_at(19) - 3e-3).abs() < 1e-12);
    assert!(s.lr_at(200) < 3e-3 && s.lr_at(399) < 1e-6);
    let report = train::train(
        &mut s,
        &train::RunDir { path: dir.path().to_path_buf() },
        &mut train::Silent,
        &Default::default(),
    )
    .unwrap();
    // 20 samples of a small model are memorized long before 400 steps: it still runs them all.
    assert_eq!((report.steps, report.stopped), (400, train::Stopped::MaxSteps));
    // Clipping only raises the sum (both come from the same f64 cross-entropies; 1e-9 covers the
    // order of summation).
    let (clipped, plain) = (report.memorized_bits_clipped.unwrap(), report.memorized_bits.unwrap());
    assert!(clipped >= plain - 1e-9 * plain.abs(), "{clipped} < {plain}");
}
