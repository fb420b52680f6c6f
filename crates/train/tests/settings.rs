//! The one config merge (defaults < preset < file < flags), the resume rules, and the statistics
//! of `overfit results`.

use serde_json::json;
use train::settings::{resolve, resume, Overrides, Sources};
use train::TrainConfig;

fn flags(v: serde_json::Value) -> Overrides {
    v.as_object().unwrap().clone()
}

#[test]
fn flags_beat_the_file_which_beats_the_preset_which_beats_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.json");
    // A partial file: a model field and a training field.
    std::fs::write(&file, r#"{"lr": 0.02, "batch_size": 8, "model": {"d_model": 32, "num_heads": 4}}"#).unwrap();
    let from_file = resolve(&Sources { file: Some(&file), ..Default::default() }).unwrap();
    assert_eq!((from_file.lr, from_file.batch_size, from_file.model.d_model), (0.02, 8, 32));
    assert_eq!(from_file.clip, TrainConfig::default_run().clip, "the rest: defaults");
    // A preset replaces the file's model; flags beat both.
    let c = resolve(&Sources {
        preset: Some("small"),
        file: Some(&file),
        flags: flags(json!({"lr": 0.005, "head": "tied"})),
    })
    .unwrap();
    assert_eq!((c.model.d_model, c.model.head.name(), c.lr, c.batch_size), (64, "tied", 0.005, 8));
    assert_eq!(c.preset, "small");
}

#[test]
fn the_ties_between_fields() {
    let c = resolve(&Sources {
        flags: flags(json!({"data": "x.txt", "optimizer": "adamw", "steps": 50})),
        ..Default::default()
    });
    // x.txt does not exist, but the merge happens before any file is opened.
    let c = c.unwrap();
    assert_eq!(c.samples, None, "a data file means every window of it");
    assert_eq!(c.weight_decay, 0.01, "adamw brings its customary decay");
    assert_eq!((c.steps, c.epochs, c.until_memorized), (Some(50), None, false));
    let c = resolve(&Sources {
        flags: flags(json!({"optimizer": "adamw", "weight_decay": 0.1, "epochs": 3, "until_memorized": true})),
        ..Default::default()
    })
    .unwrap();
    assert_eq!((c.weight_decay, c.steps, c.epochs, c.until_memorized), (0.1, None, Some(3), true));
}

#[test]
fn a_misspelt_or_wrongly_typed_flag_is_named() {
    let e = resolve(&Sources { flags: flags(json!({"learning_rate": 0.1})), ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--learning-rate:") && e.contains("lr"), "{e}");
    let e =
        resolve(&Sources { flags: flags(json!({"d_model": "wide"})), ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("d-model") || e.contains("d_model"), "{e}");
}

#[test]
fn a_resume_may_change_the_course_but_not_the_run() {
    let saved = TrainConfig::default_run();
    let given = json!({"steps": 500, "log_every": 7, "lr": 0.001, "clip": 0.5, "schedule": "cosine"});
    let (c, changes) = resume(&saved, &flags(given), "ck").unwrap();
    assert_eq!((c.steps, c.epochs, c.log_every, c.clip), (Some(500), None, Some(7), 0.5));
    let fields: Vec<&str> = changes.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        fields,
        ["schedule", "clip", "steps", "epochs", "until_memorized", "log_every"],
        "the repeated --lr is no change"
    );
    for (f, flag) in [
        (json!({"head": "tied"}), "--head"),
        (json!({"data": "x"}), "--data"),
        (json!({"seed": 3}), "--seed"),
        (json!({"batch_size": 8}), "--batch-size"),
        (json!({"d_model": 32}), "--d-model"),
    ] {
        let e = resume(&saved, &flags(f), "ck").unwrap_err().to_string();
        assert!(e.starts_with(flag) && e.contains("cannot change on --resume") && e.contains("--lr"), "{e}");
    }
}
