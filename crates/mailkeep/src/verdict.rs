//! `mailkeep verdict`: what the spam and phishing verdict sees in a message.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use mailkeep_verdict::{Classifier, Context as Known, Policy, View, judge, links};

#[derive(Subcommand)]
pub enum VerdictCmd {
    /// Print what each signal saw in a message file, the score and the action.
    Explain {
        /// The message (RFC 5322, as stored or received).
        file: PathBuf,
        /// Our own domains, for the look-alike checks (comma-separated).
        #[arg(long, value_delimiter = ',')]
        own_domain: Vec<String>,
    },
}

pub fn run(cmd: VerdictCmd) -> Result<()> {
    match cmd {
        VerdictCmd::Explain { file, own_domain } => {
            let raw = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let view = View::of(&raw);
            let ctx = Known {
                own_domains: own_domain,
                ..Known::default()
            };
            if let Some(f) = &view.from {
                println!("from: {:?} <{}>", f.name, f.address);
            }
            for r in &view.reply_to {
                println!("reply-to: {:?} <{}>", r.name, r.address);
            }
            for l in links::links(&view) {
                println!(
                    "link: {} (shows {:?}{})",
                    l.href,
                    l.text,
                    if l.attached { ", in an attachment" } else { "" }
                );
            }
            for f in links::forms(&view) {
                println!(
                    "form: posts to {:?}, password field: {}",
                    f.action_host, f.password
                );
            }
            let v = judge(&view, &ctx, &Classifier::new(), &Policy::default());
            for f in &v.fired {
                println!(
                    "signal {} ({:+.1}): {}",
                    f.signal.name(),
                    f.points,
                    f.detail
                );
            }
            println!("X-Mailkeep-Verdict: {}", v.header());
            if let Some(w) = v.warning() {
                println!("warning: {w}");
            }
            Ok(())
        }
    }
}
