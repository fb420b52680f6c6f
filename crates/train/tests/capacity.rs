//! The capacity measurement's parts: memorized bits on known probabilities, the random data's
//! layout, the plateau rule, and the models of the grid.

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

#[test]
fn a_fresh_model_has_stored_nothing_and_training_stores_bits() {
    let mut m = train::capacity::model(heads::HeadKind::Causal, 0).unwrap();
    m.d_ff = 12; // non-default, so the test does not depend on the grid's choice
    let mut c = train::TrainConfig::default_run();
    c.model = m;
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
