//! The documents name source paths and Rust items; every one of them must exist, so that a reader
//! who follows ARCHITECTURE.md, the README or a report to the code finds it.
//!
//! Checked: every `crates/…`, `benches/…`, `tests/…` and `scripts/…` path, and every
//! `crate::module::item` path whose first part is a workspace crate (the modules are followed
//! through `src/`; what is left must be a word of the file reached, or of the crate's tests, which
//! is how ROBUSTNESS.md names its tests).

use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CRATES: [&str; 10] =
    ["tensor", "autograd", "layers", "heads", "plot", "train", "weights", "lab", "cli", "overfit"];

fn documents() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut docs: Vec<PathBuf> = ["ARCHITECTURE.md", "README.md", "REPORT.md", "BENCHMARKS.md", "ROBUSTNESS.md"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    for dir in ["docs", "capacity", "study"] {
        markdown_under(&root.join(dir), &mut docs);
    }
    docs
}

fn markdown_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            markdown_under(&p, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

/// Maximal runs of the characters a path or a Rust path is made of, starting at each place where
/// `prefix` begins a token.
fn tokens<'a>(text: &'a str, prefix: &str, allowed: fn(char) -> bool) -> Vec<&'a str> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        if text[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '/' || c == ':') {
            continue;
        }
        let end = text[i..].find(|c: char| !allowed(c)).map_or(text.len(), |n| i + n);
        found.push(text[i..end].trim_end_matches(['.', '/', ':']));
    }
    found
}

fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

fn is_rust_path_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == ':'
}

fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word)
        .any(|(i, _)| !text[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_'))
}

/// Follows `krate::a::b::item` through `crates/krate/src`; what is left (an item, or a type and
/// its member) must be words of the file it reaches, or of one of the crate's test files.
fn rust_path_exists(path: &str) -> bool {
    let mut segs = path.split("::");
    let krate = segs.next().unwrap_or_default();
    let mut base = if krate == "overfit" {
        Path::new(ROOT).join("src")
    } else {
        Path::new(ROOT).join("crates").join(krate).join("src")
    };
    let mut file = if base.join("lib.rs").exists() { base.join("lib.rs") } else { base.join("main.rs") };
    let rest: Vec<&str> = segs.collect();
    let mut i = 0;
    while i < rest.len() {
        let (as_file, as_dir) = (base.join(format!("{}.rs", rest[i])), base.join(rest[i]).join("mod.rs"));
        file = match (as_file.exists(), as_dir.exists()) {
            (true, _) => as_file,
            (_, true) => as_dir,
            _ => break,
        };
        base = base.join(rest[i]);
        i += 1;
    }
    let items = &rest[i..];
    // Only the last part may be a lower-case item (a function, a test); a lower-case part before
    // it is a module, and it was not found.
    if items.len() > 1 && items[..items.len() - 1].iter().any(|s| s.starts_with(|c: char| c.is_lowercase())) {
        return false;
    }
    let mut texts = vec![fs::read_to_string(&file).unwrap_or_default()];
    if let Ok(tests) = fs::read_dir(Path::new(ROOT).join("crates").join(krate).join("tests")) {
        texts.extend(tests.flatten().filter_map(|e| fs::read_to_string(e.path()).ok()));
    }
    items.iter().all(|item| texts.iter().any(|t| contains_word(t, item)))
}

#[test]
fn every_source_path_and_item_the_documents_name_exists() {
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let Ok(text) = fs::read_to_string(&doc) else { continue };
        let name = doc.strip_prefix(ROOT).unwrap_or(&doc).display().to_string();
        for prefix in ["crates/", "benches/", "tests/", "scripts/"] {
            for p in tokens(&text, prefix, is_path_char) {
                checked += 1;
                if !Path::new(ROOT).join(p).exists() {
                    missing.push(format!("{name}: {p}"));
                }
            }
        }
        for krate in CRATES {
            for p in tokens(&text, &format!("{krate}::"), is_rust_path_char) {
                checked += 1;
                if p.contains("::") && !rust_path_exists(p) {
                    missing.push(format!("{name}: {p}"));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} names found: is the scan broken?");
    assert!(missing.is_empty(), "named in a document but not in the tree:\n{}", missing.join("\n"));
}

#[test]
fn the_check_fails_on_a_name_that_does_not_exist() {
    assert!(rust_path_exists("train::runner::run_all"));
    assert!(rust_path_exists("lab::sweep::plan"));
    assert!(!rust_path_exists("train::runner::no_such_function"));
    assert!(!rust_path_exists("train::sweep::plan"), "sweep moved to lab");
    let text = "see `crates/train/src/runner.rs`, and crates/lab/src/capacity/.";
    assert_eq!(tokens(text, "crates/", is_path_char), ["crates/train/src/runner.rs", "crates/lab/src/capacity"]);
}
