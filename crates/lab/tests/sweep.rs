//! Sweeps under Slurm: an array task finds its shard.

#[test]
fn a_slurm_array_task_finds_its_shard_contiguous_or_stepped() {
    use lab::sweep::shard_from_slurm;
    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k: &str| vars.iter().find(|v| v.0 == k).map(|v| v.1.to_string())
    }
    assert_eq!(shard_from_slurm(env(&[])).unwrap(), None, "not an array job");
    let contiguous = [("SLURM_ARRAY_TASK_ID", "7"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "4")];
    assert_eq!(shard_from_slurm(env(&contiguous)).unwrap(), Some((3, 4)));
    // --array=1-7:2 runs tasks 1, 3, 5, 7: task 5 is the third of four.
    let stepped = [
        ("SLURM_ARRAY_TASK_ID", "5"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
        ("SLURM_ARRAY_TASK_STEP", "2"),
    ];
    assert_eq!(shard_from_slurm(env(&stepped)).unwrap(), Some((3, 4)));
    let outside = [("SLURM_ARRAY_TASK_ID", "9"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "4")];
    assert!(shard_from_slurm(env(&outside)).unwrap_err().to_string().starts_with("--shard"));
    let partial = [("SLURM_ARRAY_TASK_ID", "9")];
    assert!(shard_from_slurm(env(&partial)).unwrap_err().to_string().contains("SLURM_ARRAY_TASK_MIN"));
}
