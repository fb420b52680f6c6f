//! `overfit summary`'s table and notes: the exact counts beside the research log's formulas, and
//! the log's own GPT-2 and CTRL arithmetic. (The counts themselves are tested in `heads`.)

use heads::{HeadKind, ModelConfig};
use train::summary::Summary;

fn seed_id4() -> ModelConfig {
    ModelConfig::preset("seed-id4").unwrap()
}

#[test]
fn seed_id4_table_shows_the_logs_ratio_beside_the_exact_one() {
    let table = Summary::of(&seed_id4()).unwrap().table();
    assert!(table.contains("131,841") && table.contains("1/128.5") && table.contains("1/76.3"), "{table}");
    let untied = Summary::of(&ModelConfig { head: HeadKind::Causal, untied: true, ..seed_id4() });
    let table = untied.unwrap().table();
    assert!(table.starts_with("Model: head causal --untied, L=32"), "{table}");
    assert!(
        table.contains("n_params_dense ≈ L·d·V") && table.contains("one Linear(d, V) shared by every position"),
        "{table}"
    );
}

#[test]
fn the_logs_gpt2_and_ctrl_arithmetic_is_explained() {
    let xl = Summary::of(&ModelConfig::preset("gpt2-xl").unwrap()).unwrap();
    assert!(
        xl.explain.iter().any(|n| n.contains("the log's GPT-2 arithmetic") && n.contains("1,475,561,600")),
        "{:?}",
        xl.explain
    );
    let ctrl = Summary::of(&ModelConfig::preset("ctrl").unwrap()).unwrap();
    assert!(ctrl.explain.iter().any(|n| n.contains("8192 is CTRL's feed-forward width")), "{:?}", ctrl.explain);
}

#[test]
fn the_json_keeps_the_counts_at_the_top_level_then_the_notes() {
    let json = serde_json::to_string(&Summary::of(&seed_id4()).unwrap()).unwrap();
    let at = |key: &str| json.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key} in {json}"));
    let keys = ["config", "head", "params", "ratio", "approx", "blocks_breakdown", "layers", "explain"];
    assert!(keys.windows(2).all(|k| at(k[0]) < at(k[1])), "{json}");
}
