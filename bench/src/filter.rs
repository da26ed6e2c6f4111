//! The verdict on a labelled corpus by k-fold cross-validation: for each fold, a fresh
//! classifier learns the other folds and judges this one. The folds come from a file the
//! peers' runs (SpamAssassin, rspamd in `bench/filter/run.sh`) read too, so all are
//! measured on the same split. Prints the confusion matrix and the verdict's speed, and
//! writes one line per message (`fold class verdict score path bayes header`) for the comparison.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mailkeep_verdict::{Action, Classifier, Context as Ctx, Policy, View, judge, learnable};

/// One labelled message of the folds file (`fold<TAB>spam|ham<TAB>path`).
struct Labelled {
    fold: usize,
    spam: bool,
    path: PathBuf,
}

fn read_folds(folds: &Path) -> Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(folds).with_context(|| folds.display().to_string())?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let (Some(fold), Some(class), Some(path)) = (f.next(), f.next(), f.next()) else {
                bail!("bad folds line: {l}");
            };
            Ok(Labelled {
                fold: fold.parse()?,
                spam: match class {
                    "spam" => true,
                    "ham" => false,
                    other => bail!("class {other}?"),
                },
                path: path.into(),
            })
        })
        .collect()
}

pub fn run(folds: &Path, out: &Path) -> Result<()> {
    let all = read_folds(folds)?;
    let k = all.iter().map(|m| m.fold).max().map_or(0, |m| m + 1);
    let raws: Vec<Vec<u8>> = all
        .iter()
        .map(|m| std::fs::read(&m.path).with_context(|| m.path.display().to_string()))
        .collect::<Result<_>>()?;
    let t = Instant::now();
    let tokens: Vec<_> = raws.iter().map(|r| learnable(&View::of(r))).collect();
    let tokenise = t.elapsed();

    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let policy = Policy::default();
    let ctx = Ctx::default();
    let (mut tp, mut fp, mut tn, mut fneg) = (0u32, 0u32, 0u32, 0u32);
    let mut took = Vec::with_capacity(all.len());
    for fold in 0..k {
        let mut model = Classifier::new();
        for (m, t) in all.iter().zip(&tokens) {
            if m.fold != fold {
                model.learn(t, m.spam);
            }
        }
        for (m, raw) in all.iter().zip(&raws) {
            if m.fold != fold {
                continue;
            }
            let t = Instant::now();
            let v = judge(&View::of(raw), &ctx, &model, &policy);
            took.push(t.elapsed().as_secs_f64());
            let said_spam = matches!(v.action, Action::Junk | Action::Refuse);
            match (m.spam, said_spam) {
                (true, true) => tp += 1,
                (true, false) => fneg += 1,
                (false, true) => fp += 1,
                (false, false) => tn += 1,
            }
            writeln!(
                w,
                "{fold}\t{}\t{}\t{:.2}\t{}\t{:.4}\t{}\t{}",
                if m.spam { "spam" } else { "ham" },
                if said_spam { "spam" } else { "ham" },
                v.score,
                m.path.display(),
                v.bayes,
                v.header(),
                v.fired
                    .iter()
                    .filter(|f| f.signal.name().starts_with("bayes"))
                    .map(|f| f.detail.as_str())
                    .collect::<String>()
            )?;
        }
    }
    w.flush()?;
    took.sort_by(f64::total_cmp);
    let pct = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)] * 1000.0;
    let total: f64 = took.iter().sum();
    println!(
        "mailkeep verdict, {k}-fold cross-validation over {} messages",
        all.len()
    );
    print_matrix("mailkeep", tp, fp, tn, fneg);
    println!(
        "verdict speed (one core): {:.0} messages/s; per message p50 {:.2} ms, p99 {:.2} ms; tokenising for training {:.0} messages/s",
        took.len() as f64 / total,
        pct(0.5),
        pct(0.99),
        all.len() as f64 / tokenise.as_secs_f64()
    );
    Ok(())
}

/// Prints a confusion matrix with precision, recall, F1 and the false-positive rate.
pub fn print_matrix(name: &str, tp: u32, fp: u32, tn: u32, fneg: u32) {
    let (tp_, fp_, tn_, fn_) = (tp as f64, fp as f64, tn as f64, fneg as f64);
    let precision = tp_ / (tp_ + fp_).max(1.0);
    let recall = tp_ / (tp_ + fn_).max(1.0);
    let f1 = 2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE);
    println!(
        "{name}: spam caught {tp}, spam missed {fneg}, ham kept {tn}, ham flagged {fp}; \
         precision {:.4}, recall {:.4}, F1 {:.4}, false positives {:.3}% of ham",
        precision,
        recall,
        f1,
        100.0 * fp_ / (fp_ + tn_).max(1.0)
    );
}
