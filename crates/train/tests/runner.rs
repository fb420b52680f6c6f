//! `runner::prepare`, the start of `overfit train`: a fresh run in the next `id-N` folder, or a
//! checkpoint resumed in its own folder under the resume rules.

use std::sync::atomic::AtomicBool;
use train::runner::{prepare, train_in, Start};
use train::settings::{Overrides, Sources};
use train::{Silent, Stopped};

fn flags(pairs: &[(&str, serde_json::Value)]) -> Overrides {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[test]
fn a_fresh_run_then_its_resume_in_the_same_folder() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let sources = Sources { flags: flags(&[("steps", 3.into())]), ..Sources::default() };
    let (run, session) = prepare(&sources, Start::Fresh, &runs).unwrap();
    assert_eq!(run.path, runs.join("id-1"));
    let report = train_in(&run, session, &mut Silent, &AtomicBool::new(false)).unwrap();
    assert_eq!((report.steps, report.stopped), (3, Stopped::MaxSteps));
    let ck = run.file("checkpoint.bin");

    // Finished at its count: resuming it needs a flag that takes it further.
    let again = Sources::default();
    let err = prepare(&again, Start::Resume(&ck), &runs).err().expect("a finished run is refused").to_string();
    assert!(err.starts_with("--resume: ") && err.contains("finished (stopped: max_steps at step 3"), "{err}");

    // A preset or a config file would not continue the same run.
    let preset = Sources { preset: Some("small"), ..Sources::default() };
    let err = prepare(&preset, Start::Resume(&ck), &runs).err().expect("--preset is refused").to_string();
    assert!(err.starts_with("--preset: cannot change on --resume"), "{err}");

    let more = Sources { flags: flags(&[("steps", 5.into())]), ..Sources::default() };
    let (resumed, session) = prepare(&more, Start::Resume(&ck), &runs).unwrap();
    assert_eq!((resumed.path, session.step), (run.path, 3));
}
