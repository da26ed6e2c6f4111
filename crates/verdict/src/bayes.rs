//! The statistical content classifier: naive Bayes over a message's tokens, with Gary
//! Robinson's smoothing of rare tokens and Fisher's method for combining their evidence
//! (the approach SpamBayes and mox use). Training is incremental: a message is learnt or
//! forgotten by adding or subtracting its tokens, so a user moving mail in and out of Junk
//! trains the model exactly, and the counts can be stored and merged as plain numbers.

use std::collections::{HashMap, HashSet};

/// Token counts learnt from spam and from ham.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Classifier {
    /// Per token: (spam messages, ham messages) containing it.
    tokens: HashMap<String, (u32, u32)>,
    spams: u32,
    hams: u32,
}

/// How strongly an unseen or rarely seen token is pulled towards 0.5 (Robinson's `s`).
const STRENGTH: f64 = 0.45;
/// The probability assumed for a token never seen (Robinson's `x`).
const UNKNOWN: f64 = 0.5;
/// Tokens whose probability is closer than this to 0.5 say nothing and are left out.
const MIN_DEVIATION: f64 = 0.1;
/// At most this many of the most telling tokens decide.
const MAX_DISCRIMINATORS: usize = 150;

impl Classifier {
    /// An empty model.
    pub fn new() -> Classifier {
        Classifier::default()
    }

    /// Messages learnt: (spam, ham).
    pub fn trained(&self) -> (u32, u32) {
        (self.spams, self.hams)
    }

    /// Learns one message's tokens as spam or ham.
    pub fn learn(&mut self, tokens: &HashSet<String>, spam: bool) {
        self.change(tokens, spam, true);
    }

    /// Forgets one message learnt before (the user changed their mind).
    pub fn forget(&mut self, tokens: &HashSet<String>, spam: bool) {
        self.change(tokens, spam, false);
    }

    fn change(&mut self, tokens: &HashSet<String>, spam: bool, add: bool) {
        let step = |n: &mut u32| {
            *n = if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        step(if spam {
            &mut self.spams
        } else {
            &mut self.hams
        });
        for t in tokens {
            let e = self.tokens.entry(t.clone()).or_default();
            step(if spam { &mut e.0 } else { &mut e.1 });
            if *e == (0, 0) {
                self.tokens.remove(t);
            }
        }
    }

    /// The probability that a message with these tokens is spam, from 0 to 1, and the
    /// tokens that decided it (most telling first). 0.5 when the model knows too little.
    pub fn score(&self, tokens: &HashSet<String>) -> (f64, Vec<(String, f64)>) {
        if self.spams == 0 || self.hams == 0 {
            return (0.5, Vec::new());
        }
        let mut telling: Vec<(&String, f64)> = tokens
            .iter()
            .filter_map(|t| {
                let p = self.probability(t)?;
                ((p - 0.5).abs() >= MIN_DEVIATION).then_some((t, p))
            })
            .collect();
        telling.sort_by(|a, b| {
            (b.1 - 0.5)
                .abs()
                .total_cmp(&(a.1 - 0.5).abs())
                .then_with(|| a.0.cmp(b.0))
        });
        telling.truncate(MAX_DISCRIMINATORS);
        if telling.is_empty() {
            return (0.5, Vec::new());
        }
        let n = telling.len() as f64;
        let (mut ln_spam, mut ln_ham) = (0.0f64, 0.0f64);
        for (_, p) in &telling {
            ln_spam += (1.0 - p).ln();
            ln_ham += p.ln();
        }
        // Fisher: how unlikely these probabilities are if the tokens were random, both ways.
        let s = 1.0 - chi2_survival(-2.0 * ln_spam, 2.0 * n);
        let h = 1.0 - chi2_survival(-2.0 * ln_ham, 2.0 * n);
        let score = (1.0 + s - h) / 2.0;
        (
            score,
            telling.into_iter().map(|(t, p)| (t.clone(), p)).collect(),
        )
    }

    /// A token's smoothed spam probability; `None` for one never seen.
    fn probability(&self, token: &str) -> Option<f64> {
        let &(s, h) = self.tokens.get(token)?;
        let spam_ratio = f64::from(s) / f64::from(self.spams);
        let ham_ratio = f64::from(h) / f64::from(self.hams);
        let p = spam_ratio / (spam_ratio + ham_ratio);
        let n = f64::from(s + h);
        Some((STRENGTH * UNKNOWN + n * p) / (STRENGTH + n))
    }

    /// The model as bytes (for storage): a line per token, `spam ham token`, after a header.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("mailkeep-bayes 1 {} {}\n", self.spams, self.hams);
        let mut tokens: Vec<_> = self.tokens.iter().collect();
        tokens.sort();
        for (t, (s, h)) in tokens {
            out.push_str(&format!("{s} {h} {t}\n"));
        }
        out.into_bytes()
    }

    /// Reads what [`Classifier::encode`] wrote; `None` when it is not such a model.
    pub fn decode(bytes: &[u8]) -> Option<Classifier> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let mut head = lines.next()?.split(' ');
        if (head.next(), head.next()) != (Some("mailkeep-bayes"), Some("1")) {
            return None;
        }
        let mut c = Classifier {
            spams: head.next()?.parse().ok()?,
            hams: head.next()?.parse().ok()?,
            tokens: HashMap::new(),
        };
        for line in lines {
            let mut f = line.splitn(3, ' ');
            let s = f.next()?.parse().ok()?;
            let h = f.next()?.parse().ok()?;
            c.tokens.insert(f.next()?.to_owned(), (s, h));
        }
        Some(c)
    }
}

/// P(X ≥ x) for X chi-square distributed with `dof` (even) degrees of freedom.
fn chi2_survival(x: f64, dof: f64) -> f64 {
    let m = x / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..(dof / 2.0) as usize {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(words: &str) -> HashSet<String> {
        words.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn learns_forgets_and_round_trips() {
        let mut c = Classifier::new();
        assert_eq!(c.score(&set("cheap pills")).0, 0.5, "untrained: no opinion");
        for _ in 0..20 {
            c.learn(&set("cheap pills viagra offer now"), true);
            c.learn(&set("meeting agenda tomorrow offer"), false);
        }
        let (spam, why) = c.score(&set("cheap viagra"));
        assert!(spam > 0.95, "{spam}");
        assert!(why.iter().any(|(t, _)| t == "viagra"));
        let (ham, _) = c.score(&set("agenda tomorrow"));
        assert!(ham < 0.05, "{ham}");
        // A neutral token alone says nothing.
        assert!((c.score(&set("offer")).0 - 0.5).abs() < 0.2);

        let copy = Classifier::decode(&c.encode()).unwrap();
        assert_eq!(copy, c);
        let before = c.clone();
        c.learn(&set("odd words"), true);
        c.forget(&set("odd words"), true);
        assert_eq!(c, before, "forgetting undoes learning exactly");
        assert!(Classifier::decode(b"something else").is_none());
    }

    #[test]
    fn chi2_matches_known_values() {
        // With 2 degrees of freedom the survival function is exp(-x/2).
        assert!((chi2_survival(3.0, 2.0) - (-1.5f64).exp()).abs() < 1e-12);
        assert!((chi2_survival(0.0, 10.0) - 1.0).abs() < 1e-12);
        assert!(chi2_survival(200.0, 10.0) < 1e-30);
    }
}
