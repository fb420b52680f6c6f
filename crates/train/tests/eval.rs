//! Which windows an evaluation reads (eval.rs), and the memory guard of a step.

use heads::HeadKind;
use train::data::Split;
use train::eval::{EvalPlan, EXACT_EVAL_MAX, FINAL_EVAL_MAX};
use train::TrainConfig;

fn split(len: usize, l: usize, per_position: bool, val: Option<f64>) -> Split {
    Split::new(len, l, per_position, None, val, "test").unwrap()
}

#[test]
fn few_training_windows_are_all_evaluated_every_time() {
    // 432 windows, any head: the memorized count is exact.
    for per_position in [false, true] {
        let s = Split::new(3900, 32, per_position, Some(432), None, "t").unwrap();
        let plan = EvalPlan::new(&s, None, 14 * 32);
        assert_eq!(plan.train, (0..432).collect::<Vec<_>>());
        assert!(plan.val.is_empty() && plan.final_val.is_empty());
    }
}

#[test]
fn many_windows_are_sampled_in_proportion_to_the_training_between_evaluations() {
    // The nanoGPT recipe's shape: 1 MB, L = 64, batch 12, an evaluation every 100 steps.
    let s = split(1_115_394, 64, true, Some(0.1));
    let plan = EvalPlan::new(&s, None, 100 * 12);
    assert!(s.train_windows > EXACT_EVAL_MAX);
    // A tenth of the run: 0.1 · 3 forward passes a step · 1200 windows, over 2 splits.
    assert_eq!(plan.train.len(), 180);
    assert_eq!(plan.val.len(), 180);
    // Causal: non-overlapping windows, each byte predicted once, spread over the whole split.
    for w in plan.val.windows(2).chain(plan.train.windows(2)) {
        assert!(w[1] - w[0] >= 64 && (w[1] - w[0]) % 64 == 0, "{w:?}");
    }
    assert!(*plan.train.last().unwrap() > s.train_windows / 2);
    // The final pass reads the whole validation tail in non-overlapping windows.
    assert_eq!(plan.final_val.len(), s.val_windows.div_ceil(64));
    assert_eq!(plan.final_val[0], s.val_start);
    assert!(plan.final_val.windows(2).all(|w| w[1] - w[0] == 64));
    // Twice the training between evaluations, twice the sample.
    assert_eq!(EvalPlan::new(&s, None, 200 * 12).val.len(), 360);
}

#[test]
fn a_window_head_validates_on_every_window_up_to_the_cap() {
    let s = split(1_115_394, 32, false, Some(0.1));
    let plan = EvalPlan::new(&s, None, 100 * 32);
    assert_eq!(plan.final_val.len(), FINAL_EVAL_MAX.min(s.val_windows));
    assert_eq!(plan.val.len(), 480);
    // A window head's windows each predict a different byte: stride 1 is each byte once.
    let small = split(40_000, 32, false, Some(0.1));
    let plan = EvalPlan::new(&small, None, 3200);
    assert_eq!(plan.final_val, (small.val_start..small.val_start + small.val_windows).collect::<Vec<_>>());
}

#[test]
fn eval_windows_fixes_the_sample() {
    let s = split(1_115_394, 64, true, Some(0.1));
    let plan = EvalPlan::new(&s, Some(1000), 1200);
    assert_eq!((plan.train.len(), plan.val.len()), (1000, 1000));
    // At or below the cap, every training window, overlapping ones included (exact memorization).
    let s = Split::new(200_000, 64, true, Some(900), None, "t").unwrap();
    assert_eq!(EvalPlan::new(&s, Some(1000), 1200).train.len(), 900);
}

#[test]
fn the_memory_guard_counts_every_micro_batch_of_gradients() {
    // ~150M parameters: 2.4 GB of weights and Adam state, and tiny activations at micro-batch 1.
    // But every micro-batch's parameter gradients are held until they are summed in order:
    // 1024 micro-batches of 600 MB. The guard used to count two micro-batches of activations only.
    let mut c = TrainConfig::default_run();
    c.model.d_model = 1024;
    c.model.num_heads = 16;
    c.model.d_ff = 4096;
    c.model.num_blocks = 12;
    c.model.seq_length = 8;
    c.model.head = HeadKind::Causal;
    c.batch_size = 1024;
    c.micro_batch = 1;
    let err = c.validate().unwrap_err().to_string();
    // The message names the flag whose change saves most, and lists every other that helps.
    assert!(err.starts_with("--d-model:") && err.contains("1024 micro-batches"), "{err}");
    assert!(err.contains("--micro-batch doubled (−") && err.contains("--batch-size halved (−"), "{err}");
    c.batch_size = 2;
    c.validate().unwrap();
}

#[test]
fn last_position_loss_is_the_cross_entropy_of_each_windows_last_prediction() {
    use autograd::Tape;
    for head in ["flatten", "causal"] {
        let mut c = TrainConfig::default_run();
        c.model.head = head.parse().unwrap();
        c.steps = Some(20);
        c.epochs = None;
        let mut s = train::Session::new(c).unwrap();
        for _ in 0..20 {
            s.train_step();
        }
        let starts: Vec<usize> = (0..100).map(|i| i * 3).collect();
        let ev = s.evaluate(&starts);
        // The same windows through the model's own loss, on the last position only.
        let l = s.split.seq_length;
        let mut batch = train::data::Batch::default();
        batch.fill(s.corpus.bytes(), &s.split, starts.iter().copied());
        let mut tape = Tape::no_record(&s.params);
        let logits = s.model.logits(&mut tape, &batch.ids);
        let (last_logits, last_targets) = if head == "causal" {
            let rows = tape.reshape(logits, &[starts.len(), l, 257]);
            let last = tape.slice(rows, 1, l - 1, 1);
            let last = tape.reshape(last, &[starts.len(), 257]);
            (last, batch.targets.chunks(l).map(|t| t[l - 1]).collect::<Vec<u32>>())
        } else {
            (logits, batch.targets.clone())
        };
        let want = tape.cross_entropy(last_logits, &last_targets);
        let want = tape.scalar(want) as f64;
        assert!((ev.last_loss - want).abs() < 1e-5 * want, "{head}: {} vs {want}", ev.last_loss);
        if head == "flatten" {
            assert_eq!(ev.last_loss, ev.loss, "a window head has one target per window: the same figure, to the bit");
        } else {
            assert!((ev.last_loss - ev.loss).abs() > 1e-3, "causal: the last position is not the average one");
        }
    }
}

#[test]
fn memorizing_a_sample_is_not_memorizing_the_data() {
    // Evaluate 4 of 432 windows: a run until memorized must still stop only when all 432 are.
    let mut c = TrainConfig::default_run();
    c.eval_windows = Some(4);
    c.checkpoint_every = 0;
    let dir = tempfile::tempdir().unwrap();
    let mut s = train::Session::new(c).unwrap();
    let run = train::RunDir::create_next(dir.path()).unwrap();
    let report = train::train(&mut s, &run, &mut train::Silent, &std::sync::atomic::AtomicBool::new(false)).unwrap();
    assert_eq!(report.stopped, train::Stopped::Memorized);
    let all: Vec<usize> = (0..432).collect();
    assert_eq!(s.evaluate(&all).memorized, 432, "stopped at step {} on a memorized sample", report.steps);
}

#[test]
fn train_validation_and_test_parts_never_share_a_target() {
    // 10,007 bytes, 10% test, 7% of the rest validation, L = 33: no window's bytes (its L inputs
    // and its target) cross into the next part.
    let (len, l) = (10_007, 33);
    for per_position in [false, true] {
        let s = Split::with_test(len, l, per_position, None, (Some(0.07), Some(0.1)), "t").unwrap();
        assert_eq!(s.test_start, 9006, "floor(10007 · 0.9)");
        assert_eq!(s.val_start, 8375, "floor(9006 · 0.93)");
        // The last byte each part's last window reads (its last target) stays inside the part.
        assert_eq!(s.train_windows - 1 + l, s.val_start - 1);
        assert_eq!(s.val_start + s.val_windows - 1 + l, s.test_start - 1);
        assert_eq!(s.test_start + s.test_windows - 1 + l, len - 1);
        let plan = EvalPlan::new(&s, None, 320);
        let stride = if per_position { l } else { 1 };
        assert_eq!(plan.test.first(), Some(&s.test_start));
        assert!(plan.test.windows(2).all(|w| w[1] - w[0] == stride));
        assert!(plan.test.iter().all(|&i| i + l < len));
    }
    let e = Split::with_test(len, l, false, None, (None, Some(0.003)), "t").unwrap_err().to_string();
    assert!(e.starts_with("--test-fraction") && e.contains("31 bytes for testing"), "{e}");
}
