//! mailkeep's spam and phishing verdict: a pure function of a message, what delivery knows
//! about it (authentication, envelope, the recipient's correspondents and colleagues) and
//! a content classifier trained from what users do. No I/O: the caller passes everything
//! in, so the verdict is testable, fuzzable and explainable (`mailkeep verdict explain`).
//!
//! A verdict adds up the weights of the [`Signal`]s that fired; the content classifier
//! ([`bayes`]) contributes as one of them. The sum decides the [`Action`] against the
//! domain's [`Policy`]; signals of deception ([`Signal::deceives`]) also make a warning for
//! the reader when the mail is delivered.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bayes;
pub mod domains;
pub mod links;
pub mod sender;
pub mod signals;
pub mod tokens;
pub mod view;

use std::collections::{HashMap, HashSet};

pub use bayes::Classifier;
pub use signals::{Fired, Signal};
pub use view::{Mailbox, View};

/// The outcome of one authentication method, as delivery found it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcome {
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// Soft-failed (SPF `~all`).
    SoftFail,
    /// No opinion, an error, or not checked.
    #[default]
    None,
}

/// What authentication said about the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// SPF for the envelope sender.
    pub spf: Outcome,
    /// Any valid DKIM signature.
    pub dkim: Outcome,
    /// DMARC for the From domain.
    pub dmarc: Outcome,
}

/// Whom a recipient has exchanged mail with.
#[derive(Clone, Debug, Default)]
pub struct Correspondents {
    /// Addresses, lower-cased.
    pub addresses: HashSet<String>,
    /// Registrable domains, lower-cased.
    pub domains: HashSet<String>,
    /// Display names ([`sender::normalize_name`]) and the addresses they came with.
    pub names: HashMap<String, HashSet<String>>,
}

impl Correspondents {
    /// Records one correspondent.
    pub fn add(&mut self, mailbox: &Mailbox) {
        if mailbox.address.is_empty() {
            return;
        }
        self.addresses.insert(mailbox.address.clone());
        if let Some(d) = domains::registrable(mailbox.domain()) {
            self.domains.insert(d);
        }
        let name = sender::normalize_name(&mailbox.name);
        if !name.is_empty() {
            self.names
                .entry(name)
                .or_default()
                .insert(mailbox.address.clone());
        }
    }
}

/// How mail from a sender was judged and treated before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reputation {
    /// Messages kept as good (delivered and not moved to Junk, or moved out of it).
    pub good: u32,
    /// Messages judged spam or moved to Junk.
    pub bad: u32,
}

/// What delivery knows besides the message.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The domains this installation serves.
    pub own_domains: Vec<String>,
    /// The local users (names and addresses) of the recipient's domain.
    pub colleagues: Vec<Mailbox>,
    /// Whom the recipient has corresponded with.
    pub correspondents: Correspondents,
    /// [`Context::correspondents`] is the recipient's real history (so a sender missing from
    /// it is a first-time sender), not merely empty for want of knowledge.
    pub knows_correspondents: bool,
    /// The envelope sender (`MAIL FROM`), empty for bounces.
    pub mail_from: String,
    /// Authentication results; `None` when not known (a message read from a file).
    pub auth: Option<Auth>,
    /// The From address's history with this recipient.
    pub reputation: Option<Reputation>,
}

/// What the domain wants done with a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// At or above: delivered to Junk.
    pub junk_at: f64,
    /// At or above: refused at SMTP time (`550 5.7.1`).
    pub refuse_at: f64,
    /// A look-alike of one of our own domains is refused, whatever the score.
    pub refuse_lookalikes: bool,
    /// Mail with signs of deception that is delivered carries a warning banner.
    pub banner: bool,
    /// Senders (addresses or domains) whose mail is always delivered.
    pub allow: Vec<String>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            junk_at: 4.5,
            refuse_at: 15.0,
            refuse_lookalikes: true,
            banner: true,
            allow: Vec::new(),
        }
    }
}

/// What happens to the message for one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Into the inbox.
    Deliver,
    /// Into the inbox, with a warning for the reader.
    Warn,
    /// Into the Junk mailbox.
    Junk,
    /// Refused during the SMTP transaction (so never bounced to a forged sender).
    Refuse,
}

impl Action {
    /// Its name in headers and reports.
    pub fn name(self) -> &'static str {
        match self {
            Action::Deliver => "deliver",
            Action::Warn => "warn",
            Action::Junk => "junk",
            Action::Refuse => "refuse",
        }
    }
}

/// The verdict on one message for one recipient.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// The sum of the fired signals' weights.
    pub score: f64,
    /// The content classifier's spam probability (0.5: no opinion).
    pub bayes: f64,
    /// The signals that fired, in a stable order.
    pub fired: Vec<Fired>,
}

impl Verdict {
    /// The value of the `X-Mailkeep-Verdict:` header.
    pub fn header(&self) -> String {
        let names: Vec<&str> = self.fired.iter().map(|f| f.signal.name()).collect();
        format!(
            "{}; score={:.1}; bayes={:.3}; signals={}",
            self.action.name(),
            self.score,
            self.bayes,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(",")
            }
        )
    }

    /// The plain-words warning for the reader, one sentence per deception seen; `None`
    /// when there is nothing to warn about.
    pub fn warning(&self) -> Option<String> {
        let mut lines: Vec<String> = self.fired.iter().filter_map(Fired::warning).collect();
        lines.dedup();
        (!lines.is_empty()).then(|| one_line(&(lines.join(". ") + ".")))
    }

    /// The refusal text for SMTP (after `550 5.7.1`), naming the reason.
    pub fn refusal(&self) -> String {
        let why: Vec<&str> = self
            .fired
            .iter()
            .filter(|f| f.points > 0.0)
            .map(|f| f.signal.name())
            .collect();
        one_line(&format!(
            "Message refused as spam or phishing ({})",
            why.join(", ")
        ))
    }
}

/// `text` fit for a header field or an SMTP reply: what it quotes from a message (names,
/// hosts) may carry control characters, which become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The tokens the classifier learns from and scores (also what training uses).
pub fn learnable(view: &View) -> HashSet<String> {
    let hosts: Vec<String> = links::links(view).into_iter().map(|l| l.host).collect();
    tokens::tokens(view, &hosts)
}

/// Judges a message for one recipient.
pub fn judge(view: &View, ctx: &Context, model: &Classifier, policy: &Policy) -> Verdict {
    let mut fired = Vec::new();
    let links = links::links(view);
    link_signals(view, &links, ctx, &mut fired);
    sender::signals(view, ctx, &mut fired);
    auth_signals(ctx, &mut fired);
    if let Some(r) = ctx.reputation {
        if r.good >= 2 && r.good > r.bad * 4 {
            fired.push(Fired::new(
                Signal::GoodReputation,
                format!("{} kept, {} spam", r.good, r.bad),
            ));
        } else if r.bad >= 2 && r.bad > r.good * 4 {
            fired.push(Fired::new(
                Signal::BadReputation,
                format!("{} kept, {} spam", r.good, r.bad),
            ));
        }
    }
    // A model that has learnt nothing has no opinion: the tokens are not worth making.
    let (bayes, why) = if model.trained().0 == 0 || model.trained().1 == 0 {
        (0.5, Vec::new())
    } else {
        let hosts: Vec<String> = links.iter().map(|l| l.host.clone()).collect();
        model.score(&tokens::tokens(view, &hosts))
    };
    let top: Vec<String> = why
        .iter()
        .take(5)
        .map(|(t, p)| format!("{t}={p:.2}"))
        .collect();
    // The classifier's evidence as points: the log-odds of its probability, so that each
    // tenfold in certainty adds about the same.
    if bayes != 0.5 {
        let p = bayes.clamp(1e-6, 1.0 - 1e-6);
        let points = (p / (1.0 - p))
            .ln()
            .clamp(-BAYES_MAX_POINTS, BAYES_MAX_POINTS);
        let signal = if points > 0.0 {
            Signal::BayesSpam
        } else {
            Signal::BayesHam
        };
        fired.push(Fired {
            points,
            ..Fired::new(signal, format!("{bayes:.4}: {}", top.join(" ")))
        });
    }
    fired.sort_by_key(|f| f.signal);
    fired.dedup_by_key(|f| f.signal);
    let score: f64 = fired.iter().map(|f| f.points).sum();
    let allowed = view.from.as_ref().is_some_and(|f| {
        policy.allow.iter().any(|a| {
            let a = a.to_lowercase();
            f.address == a || f.domain() == a.trim_start_matches('@')
        })
    });
    let deceives = fired.iter().any(|f| f.signal.deceives());
    let action = if allowed {
        Action::Deliver
    } else if score >= policy.refuse_at
        || (policy.refuse_lookalikes
            && fired.iter().any(|f| f.signal == Signal::LookalikeOwnDomain))
    {
        Action::Refuse
    } else if score >= policy.junk_at {
        Action::Junk
    } else if deceives && policy.banner {
        Action::Warn
    } else {
        Action::Deliver
    };
    Verdict {
        action,
        score,
        bayes,
        fired,
    }
}

/// The most points the content classifier gives either way.
const BAYES_MAX_POINTS: f64 = 10.0;

/// Shorteners and redirectors: a link through one hides where it leads.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "t.ly",
    "s.id",
    "bl.ink",
    "v.gd",
    "lnkd.in",
    "shorte.st",
    "adf.ly",
    "bitly.com",
    "tinyurl.co",
    "qr.co",
];

fn link_signals(view: &View, links: &[links::Link], ctx: &Context, out: &mut Vec<Fired>) {
    let own = |d: &str| ctx.own_domains.iter().any(|o| o.eq_ignore_ascii_case(d));
    let from_domain = view
        .from
        .as_ref()
        .and_then(|f| domains::registrable(f.domain()));
    let mut fire = |signal, detail: String| {
        if !out.iter().any(|f: &Fired| f.signal == signal) {
            out.push(Fired::new(signal, detail));
        }
    };
    for l in links {
        if l.host.is_empty() {
            continue;
        }
        let reg = domains::registrable(&l.host);
        let shortened = SHORTENERS.contains(&l.host.trim_start_matches("www."));
        // A text showing another site than the target is also every newsletter's click
        // tracker: it deceives when the site shown is one the reader trusts (ours, a
        // correspondent's, a brand's), or when the target hides itself.
        if let Some(shown_reg) = links::shown_host(&l.text).and_then(|s| domains::registrable(&s))
            && Some(&shown_reg) != reg.as_ref()
            && (shortened
                || domains::is_ip(&l.host)
                || own(&shown_reg)
                || ctx.correspondents.domains.contains(&shown_reg)
                || sender::BRANDS.contains(&shown_reg.as_str()))
        {
            fire(
                Signal::LinkTextMismatch,
                format!(
                    "{shown_reg} but goes to {}",
                    reg.clone().unwrap_or_else(|| l.host.clone())
                ),
            );
        }
        if shortened {
            fire(Signal::Shortener, l.host.clone());
        }
        if domains::is_ip(&l.host) {
            fire(Signal::IpHost, l.host.clone());
        }
        if l.userinfo {
            fire(Signal::UserInfo, l.href.chars().take(80).collect());
        }
        if domains::has_punycode(&l.host) {
            fire(Signal::PunycodeHost, domains::unicode(&l.host));
        }
        if domains::mixes_scripts(&l.host) {
            fire(Signal::MixedScriptHost, domains::unicode(&l.host));
        }
        if let Some(reg) = &reg
            && !own(reg)
            && !ctx.correspondents.domains.contains(reg)
            && from_domain.as_deref() != Some(reg.as_str())
        {
            let known = ctx
                .own_domains
                .iter()
                .chain(ctx.correspondents.domains.iter())
                .map(String::as_str)
                .chain(sender::BRANDS.iter().copied())
                .find(|k| {
                    matches!(
                        domains::resembles(reg, k),
                        Some(domains::Resemblance::Confusable | domains::Resemblance::Edit(_))
                    ) || domains::embeds(&l.host, k)
                });
            if let Some(k) = known {
                fire(
                    Signal::LookalikeHost,
                    format!("{} imitates {k}", domains::unicode(reg)),
                );
            }
        }
        if l.attached {
            fire(Signal::HtmlAttachment, l.host.clone());
        }
    }
    for f in links::forms(view) {
        if f.password {
            fire(
                Signal::CredentialForm,
                if f.action_host.is_empty() {
                    "a password field".into()
                } else {
                    format!("a password field sent to {}", f.action_host)
                },
            );
        }
        if f.attached {
            fire(Signal::HtmlAttachment, "a form".into());
        }
    }
}

fn auth_signals(ctx: &Context, out: &mut Vec<Fired>) {
    let Some(a) = ctx.auth else {
        return;
    };
    let mut fire = |signal, detail: &str| out.push(Fired::new(signal, detail.to_owned()));
    match a.dmarc {
        Outcome::Fail => fire(Signal::DmarcFail, "DMARC fail"),
        Outcome::Pass => fire(Signal::DmarcPass, "DMARC pass"),
        _ => {}
    }
    match a.spf {
        Outcome::Fail => fire(Signal::SpfFail, "SPF fail"),
        Outcome::SoftFail => fire(Signal::SpfSoftFail, "SPF softfail"),
        _ => {}
    }
    if a.spf != Outcome::Pass && a.dkim != Outcome::Pass {
        fire(Signal::Unauthenticated, "neither SPF nor DKIM passed");
    }
}
