//! Flag arithmetic every backend does the same way: flags are stored as one space-separated
//! text, compared without regard to case (RFC 9051 §2.3.2), and a change that leaves the set
//! as it was is no change (no new MODSEQ).

use crate::FlagMode;

/// The stored form's flags.
pub fn split(stored: &str) -> Vec<String> {
    stored.split_ascii_whitespace().map(str::to_owned).collect()
}

/// `flags` without repeats (the first spelling of each stays).
pub fn normalise(flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in flags {
        if !has(&out, f) {
            out.push(f.clone());
        }
    }
    out
}

fn has(set: &[String], flag: &str) -> bool {
    set.iter().any(|x| x.eq_ignore_ascii_case(flag))
}

impl FlagMode {
    /// The flags after applying `flags` to `old` this way; `None` when that changes nothing.
    pub fn apply(self, old: &[String], flags: &[String]) -> Option<Vec<String>> {
        let new: Vec<String> = match self {
            FlagMode::Replace => flags.to_vec(),
            FlagMode::Add => {
                let mut n = old.to_vec();
                n.extend(flags.iter().filter(|f| !has(old, f)).cloned());
                n
            }
            FlagMode::Remove => old.iter().filter(|f| !has(flags, f)).cloned().collect(),
        };
        let same = new.len() == old.len() && new.iter().all(|f| has(old, f));
        (!same).then_some(new)
    }
}

/// The lower-case domain of an address (`""` without one): the queue groups recipients by it.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        split(s)
    }

    #[test]
    fn modes_change_sets_without_regard_to_case() {
        let old = v("\\Seen $Work");
        assert_eq!(FlagMode::Add.apply(&old, &v("\\SEEN")), None);
        assert_eq!(
            FlagMode::Add.apply(&old, &v("\\Flagged")),
            Some(v("\\Seen $Work \\Flagged"))
        );
        assert_eq!(FlagMode::Remove.apply(&old, &v("$work")), Some(v("\\Seen")));
        assert_eq!(FlagMode::Remove.apply(&old, &v("\\Draft")), None);
        assert_eq!(FlagMode::Replace.apply(&old, &v("$WORK \\seen")), None);
        assert_eq!(FlagMode::Replace.apply(&old, &v("")), Some(vec![]));
        assert_eq!(normalise(&v("a A b a")), v("a b"));
        assert_eq!(domain_of("Bob@Example.ORG"), "example.org");
        assert_eq!(domain_of("postmaster"), "");
    }
}
