//! Words in messages: "did you mean …?" for a misspelt name (a head, a results column, a config
//! field), the nearest allowed name when it is near enough to be a typo rather than another word;
//! and a count with its noun in the right number ("1 step", "2 steps").

/// `n` and its noun, singular for one: "1 step", "0 steps", "2 runs" (nouns that add an s).
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The allowed name nearest to `word`, if a typo could explain the difference: at most two edits,
/// or a third of the word's length when it is long, and never the whole word.
pub fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    allowed
        .iter()
        .map(|&name| (edit_distance(word, name), name))
        .filter(|&(d, _)| d <= limit && d < word.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

/// "did you mean `flatten`? " when a name is near `word`, else "": the start of a message that
/// then lists the allowed names.
pub fn did_you_mean(word: &str, allowed: &[&str]) -> String {
    closest(word, allowed).map_or(String::new(), |name| format!("did you mean `{name}`? "))
}

/// Levenshtein distance (insertions, deletions and substitutions of one character each cost 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // One row of the table at a time: row[j] is the distance from a's prefix to b[..j].
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_another_word_finds_none() {
        let heads = ["flatten", "bottleneck", "td-dense", "conv", "tied", "causal", "rnn", "last"];
        assert_eq!(closest("flaten", &heads), Some("flatten"));
        assert_eq!(closest("casual", &heads), Some("causal"));
        assert_eq!(closest("bogus", &heads), None);
        assert_eq!(closest("x", &heads), None);
        assert_eq!(did_you_mean("tide", &heads), "did you mean `tied`? ");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1, "step"), "1 step");
        assert_eq!(count(0, "run"), "0 runs");
        assert_eq!(count(2, "window"), "2 windows");
    }
}
