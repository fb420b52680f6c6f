//! Training runs end to end through the library: determinism, resume, memorization of real text,
//! generation from a memorized model, and generalisation of the causal head.

mod common;

use common::*;
use overfit::heads::HeadKind;
use overfit::heads::ModelConfig;
use overfit::train::generate::{generate_vec, Sampling};
use overfit::train::{Checkpoint, RunDir, Session, Stopped, TrainConfig};

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn same_seed_same_losses_bit_for_bit_on_any_thread_count() {
    let losses = |threads: usize| {
        in_pool(threads, || {
            let mut s = Session::new(short(40)).unwrap();
            (0..40).map(|_| s.train_step().loss.to_bits()).collect::<Vec<_>>()
        })
    };
    let one = losses(1);
    assert_eq!(one, losses(1), "the same run twice");
    assert_eq!(one, losses(2), "1 thread vs 2");
    assert_eq!(one, losses(3), "1 thread vs 3");
    // and a different seed gives a different run
    let mut other = short(40);
    other.seed = 1;
    let mut s = Session::new(other).unwrap();
    assert_ne!(s.train_step().loss.to_bits(), one[0]);
}

/// With one micro-batch the kernels of the step split their work across threads (products,
/// attention, cross-entropy over a per-position head's 1,024 rows), and the step is driven
/// through `system::on_workers` as the binary drives it: still the same bits on 1, 2 and 3
/// threads, for a window head and a per-position one.
#[test]
fn one_micro_batch_splits_its_kernels_and_keeps_the_bits_on_any_thread_count() {
    use overfit::train::system::on_workers;
    for head in [HeadKind::Flatten, HeadKind::Causal] {
        let mut c = short(25);
        c.model.head = head;
        c.micro_batch = c.batch_size;
        assert_eq!(c.micro_batches(), 1, "the split path, not the serial micro-batches");
        let run = |threads: usize| {
            in_pool(threads, || {
                on_workers(|| {
                    let mut s = Session::new(c.clone()).unwrap();
                    let losses: Vec<u64> = (0..25).map(|_| s.train_step().loss.to_bits()).collect();
                    (losses, param_bits(&s))
                })
            })
        };
        let (losses, params) = run(1);
        for threads in [2, 3] {
            let (l, p) = run(threads);
            assert_eq!(losses, l, "{head:?}: losses on 1 thread vs {threads}");
            assert!(params == p, "{head:?}: parameters on 1 thread vs {threads}");
        }
    }
}

#[test]
fn resume_reaches_exactly_the_state_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    for head in ["flatten", "causal"] {
        let mut config = short(50);
        config.model.head = head.parse().unwrap();
        config.checkpoint_every = 0;
        let (straight_report, straight) = run(config.clone(), dir.path());
        // Half, then resume from the checkpoint for the rest (50 is not a whole number of epochs:
        // the resume starts mid-epoch).
        let mut half = config.clone();
        half.steps = Some(23);
        let (r, _) = run(half, dir.path());
        let ck = Checkpoint::load(&RunDir { path: r.run_dir.into() }.file("checkpoint.bin")).unwrap();
        assert_eq!(ck.step, 23);
        let mut resumed = Session::resume(ck, config.clone(), "checkpoint").unwrap();
        let run2 = RunDir::create_next(dir.path()).unwrap();
        overfit::train::train(&mut resumed, &run2, &mut overfit::train::Silent, &NEVER).unwrap();
        assert_eq!(resumed.step, 50);
        assert!(param_bits(&straight) == param_bits(&resumed), "{head}: parameters differ after resume");
        assert!(straight.adam == resumed.adam, "{head}: optimizer state differs after resume");
        // And the metrics it logs after the resume are the uninterrupted run's, running mean included.
        let rows = |p: &std::path::Path| RunDir { path: p.to_path_buf() }.read_metrics();
        let a: Vec<_> = rows(std::path::Path::new(&straight_report.run_dir))
            .into_iter()
            .filter(|r| r.step > 23)
            .map(|r| (r.step, r.loss.to_bits(), r.accuracy.map(f64::to_bits), r.memorized))
            .collect();
        let b: Vec<_> = rows(&run2.path)
            .into_iter()
            .map(|r| (r.step, r.loss.to_bits(), r.accuracy.map(f64::to_bits), r.memorized))
            .collect();
        assert!(!a.is_empty() && a == b, "{head}: metrics after resume differ:\n{a:?}\n{b:?}");
    }
}

#[test]
fn seed_id4_flatten_memorizes_the_first_432_windows_of_shakespeare_and_recites_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TrainConfig::default_run();
    c.data = Some(shakespeare().display().to_string());
    c.samples = Some(432);
    let (report, s) = run(c, dir.path());
    assert_eq!(report.stopped, Stopped::Memorized, "{report:?}");
    assert_eq!(report.memorized, 432);
    assert_eq!(report.train_accuracy, 1.0);

    // Greedy generation from the first window recites the training text that follows it.
    let text = std::fs::read(shakespeare()).unwrap();
    let l = s.config.model.seq_length;
    let out = generate_vec(
        &s.model,
        &s.params,
        &text[..l],
        300,
        Sampling { greedy: true, temperature: 0.0, top_k: 0, seed: 0 },
    );
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&text[l..l + 300]));
}

#[test]
fn the_bottleneck_of_run_id2_learns_less_than_flatten_in_the_same_budget() {
    // The log's finding, in miniature: same data, seed and step budget.
    let dir = tempfile::tempdir().unwrap();
    let mut c = short(300);
    c.model.head = HeadKind::Bottleneck;
    let (bottleneck, _) = run(c.clone(), dir.path());
    c.model.head = HeadKind::Flatten;
    let (flatten, _) = run(c, dir.path());
    assert!(
        flatten.memorized > bottleneck.memorized,
        "flatten {} vs bottleneck {}",
        flatten.memorized,
        bottleneck.memorized
    );
}

fn unigram_entropy_nats(bytes: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    bytes.iter().for_each(|&b| counts[b as usize] += 1);
    let n = bytes.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| -(c as f64 / n) * (c as f64 / n).ln()).sum()
}

#[test]
fn the_causal_head_generalises_below_the_unigram_entropy() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(shakespeare()).unwrap();
    let mut c = short(400);
    c.model = ModelConfig { head: HeadKind::Causal, ..ModelConfig::preset("seed-id4").unwrap() };
    c.data = Some(shakespeare().display().to_string());
    c.samples = None;
    c.val_fraction = Some(0.1);
    c.lr = 3e-3;
    c.eval_windows = Some(512);
    let (report, _) = run(c, dir.path());
    let unigram = unigram_entropy_nats(&text[..text.len() * 9 / 10]);
    let val = report.val_loss.unwrap();
    assert!(val < unigram - 0.4, "validation loss {val:.3} nats vs unigram entropy {unigram:.3}");
    assert!((report.bits_per_byte - val / std::f64::consts::LN_2).abs() < 1e-12);
    // The final validation pass reads the whole tail once, in non-overlapping windows.
    let tail = text.len() - (text.len() as f64 * 0.9).floor() as usize;
    assert_eq!(report.val_windows, (tail - 32).div_ceil(32));
    // Evaluation is timed apart from training: in every evaluated row and in the report.
    let rows = RunDir { path: report.run_dir.clone().into() }.read_metrics();
    assert!(rows.iter().all(|r| r.eval_loss.is_some() == (r.eval_seconds > 0.0)));
    let periodic: f64 = rows.iter().map(|r| r.eval_seconds).sum();
    assert!(report.eval_seconds > periodic && report.eval_seconds < report.wall_seconds, "{report:?}");
}

#[test]
fn eval_every_sets_its_own_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = short(30);
    c.log_every = Some(5);
    c.eval_every = Some(10);
    let (report, _) = run(c, dir.path());
    let rows = RunDir { path: report.run_dir.into() }.read_metrics();
    let evaluated: Vec<u64> = rows.iter().filter(|r| r.memorized.is_some()).map(|r| r.step).collect();
    // A row before training (step 0), every 5 steps, evaluations every 10.
    assert_eq!(rows.iter().map(|r| r.step).collect::<Vec<_>>(), [0, 5, 10, 15, 20, 25, 30]);
    assert_eq!(evaluated, [0, 10, 20, 30]);
    assert!(rows[0].grad_norm.is_none() && rows[0].loss == rows[0].eval_loss.unwrap());
    assert!((rows[0].loss - 257f64.ln()).abs() < 0.3, "an untrained byte model starts near ln 257: {}", rows[0].loss);
    assert!(rows.iter().all(|r| r.accuracy.is_some() == r.memorized.is_some() && r.loss.is_finite()));
}

#[test]
fn every_head_trains_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    for spec in overfit::heads::specs() {
        let mut c = short(15);
        c.model.head = spec.name.parse().unwrap();
        let (report, _) = run(c, dir.path());
        assert_eq!(report.head.name(), spec.name);
        assert!(
            report.final_loss.is_finite() && report.final_loss < 257f64.ln(),
            "{}: {}",
            spec.name,
            report.final_loss
        );
        let runp = RunDir { path: report.run_dir.into() };
        for f in ["checkpoint.bin", "report.json", "metrics.jsonl", "curves.svg"] {
            assert!(runp.file(f).exists(), "{}: {f}", spec.name);
        }
    }
}
