//! What to do with mail from the world once its authentication is known: DMARC's reject and
//! quarantine, and the protection of our own domains (the phishing defence). Pure: the
//! network front end runs SPF, DKIM, ARC and DMARC and hands the findings here, so that every
//! front end decides the same way.

use mailkeep_imap::author::normalize_domain;

use crate::config::Inbound;

/// Header field names as a verifier reads them: the bytes before the colon. A name with
/// whitespace inside (`Fr om`) is what lenient parsers, and so some mail clients, read as the
/// field without it; DMARC must not judge a different From than the reader sees.
fn header_names(message: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = mailkeep_imap::header_fields_len(message);
    message[..end]
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty() && line[0] != b' ' && line[0] != b'\t')
        .filter_map(|line| line.iter().position(|&b| b == b':').map(|i| &line[..i]))
}

/// Why the From header cannot be judged, if it cannot.
pub fn ambiguous_from(message: &[u8]) -> Option<&'static str> {
    let mut exact = 0;
    for name in header_names(message) {
        if name.eq_ignore_ascii_case(b"from") {
            exact += 1;
        } else {
            let squeezed: Vec<u8> = name
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            if squeezed.eq_ignore_ascii_case(b"from") {
                return Some("a header field name resembling From: contains whitespace");
            }
        }
    }
    (exact > 1).then_some("more than one From: header field")
}

/// The policy a failing domain published (`p=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcPolicy {
    /// `p=none`: report only.
    None,
    /// `p=quarantine`: deliver as junk.
    Quarantine,
    /// `p=reject`: refuse.
    Reject,
}

/// DMARC's verdict on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dmarc {
    /// Aligned and authenticated.
    Pass,
    /// Failed, under the policy its domain published.
    Fail(DmarcPolicy),
    /// No policy, or it could not be evaluated.
    Other,
}

/// What the checks found, in the policy's terms (no resolver types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    /// The author's domain (From:), normalised.
    pub from_domain: String,
    /// Domains of the Sender: field, which clients show as "on behalf of".
    pub sender_domains: Vec<String>,
    /// `d=` of every DKIM signature that verified.
    pub dkim_pass: Vec<String>,
    /// SPF passed for [`Findings::mail_from_domain`].
    pub spf_pass: bool,
    /// The MAIL FROM domain (the HELO name for the null sender), normalised.
    pub mail_from_domain: String,
    /// DMARC's verdict for the From domain.
    pub dmarc: Dmarc,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Deliver; to Junk with `junk` (DMARC quarantine).
    Accept {
        /// File as junk.
        junk: bool,
    },
    /// Refuse at the end of DATA with this text (`550 5.7.1`).
    Reject(String),
}

/// Whether `signer` is aligned with `domain` in DMARC's relaxed sense (same organisational
/// domain, approximated as equal or one a subdomain of the other).
pub fn aligned(signer: &str, domain: &str) -> bool {
    let (s, f) = (signer.to_ascii_lowercase(), domain.to_ascii_lowercase());
    s == f || s.ends_with(&format!(".{f}")) || f.ends_with(&format!(".{s}"))
}

/// Decides what happens to a message with these findings, under `config`, when the domains
/// in `own_domains` are hosted here.
pub fn decide(f: &Findings, config: &Inbound, own_domains: &[String]) -> Decision {
    if f.dmarc == Dmarc::Fail(DmarcPolicy::Reject) && config.enforce_dmarc {
        return Decision::Reject(format!(
            "Message rejected: it fails the DMARC policy (p=reject) of {}",
            f.from_domain
        ));
    }
    if config.protect_own_domains {
        let claimed = std::iter::once(&f.from_domain).chain(f.sender_domains.iter());
        for (i, domain) in claimed.enumerate() {
            let same = |d: &String| normalize_domain(d).is_ok_and(|d| d == *domain);
            let own = own_domains.iter().any(same) && !config.unprotected_domains.iter().any(same);
            if !own {
                continue;
            }
            let dkim_ok = f.dkim_pass.iter().any(|d| aligned(d, domain));
            let spf_ok = f.spf_pass && aligned(&f.mail_from_domain, domain);
            let dmarc_ok = i == 0 && f.dmarc == Dmarc::Pass;
            if !(dkim_ok || spf_ok || dmarc_ok) {
                let field = if i == 0 { "From" } else { "Sender" };
                return Decision::Reject(format!(
                    "Message refused: its {field}: claims {domain}, which is hosted here, \
                     but it is not authenticated (no aligned DKIM signature or SPF pass)"
                ));
            }
        }
    }
    Decision::Accept {
        junk: f.dmarc == Dmarc::Fail(DmarcPolicy::Quarantine),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(from: &str) -> Findings {
        Findings {
            from_domain: from.into(),
            sender_domains: vec![],
            dkim_pass: vec![],
            spf_pass: false,
            mail_from_domain: "elsewhere.example".into(),
            dmarc: Dmarc::Other,
        }
    }

    const OWN: &[&str] = &["example.org"];

    fn own() -> Vec<String> {
        OWN.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dmarc_reject_refuses_when_enforced_and_quarantine_files_as_junk() {
        let mut f = findings("bank.example");
        f.dmarc = Dmarc::Fail(DmarcPolicy::Reject);
        let config = Inbound::default();
        assert!(
            matches!(decide(&f, &config, &own()), Decision::Reject(t) if t.contains("p=reject"))
        );
        let lax = Inbound {
            enforce_dmarc: false,
            ..Inbound::default()
        };
        assert_eq!(decide(&f, &lax, &own()), Decision::Accept { junk: false });
        f.dmarc = Dmarc::Fail(DmarcPolicy::Quarantine);
        assert_eq!(decide(&f, &config, &own()), Decision::Accept { junk: true });
        f.dmarc = Dmarc::Fail(DmarcPolicy::None);
        assert_eq!(
            decide(&f, &config, &own()),
            Decision::Accept { junk: false }
        );
    }

    #[test]
    fn our_own_domain_needs_aligned_authentication_in_from_and_sender() {
        let config = Inbound::default();
        let f = findings("example.org");
        assert!(matches!(decide(&f, &config, &own()), Decision::Reject(t) if t.contains("From:")));
        let mut signed = f.clone();
        signed.dkim_pass = vec!["mail.example.org".into()];
        assert_eq!(
            decide(&signed, &config, &own()),
            Decision::Accept { junk: false }
        );
        let mut spf = f.clone();
        spf.spf_pass = true;
        spf.mail_from_domain = "example.org".into();
        assert_eq!(
            decide(&spf, &config, &own()),
            Decision::Accept { junk: false }
        );
        let mut other_signer = f.clone();
        other_signer.dkim_pass = vec!["example.org.evil".into()];
        assert!(matches!(
            decide(&other_signer, &config, &own()),
            Decision::Reject(_)
        ));

        let mut sender = findings("stranger.example");
        sender.sender_domains = vec!["example.org".into()];
        assert!(
            matches!(decide(&sender, &config, &own()), Decision::Reject(t) if t.contains("Sender:"))
        );
        // DMARC pass speaks for From: only.
        sender.dmarc = Dmarc::Pass;
        assert!(matches!(
            decide(&sender, &config, &own()),
            Decision::Reject(_)
        ));

        let exempt = Inbound {
            unprotected_domains: vec!["EXAMPLE.ORG".into()],
            ..Inbound::default()
        };
        assert_eq!(
            decide(&f, &exempt, &own()),
            Decision::Accept { junk: false }
        );
        let off = Inbound {
            protect_own_domains: false,
            ..Inbound::default()
        };
        assert_eq!(decide(&f, &off, &own()), Decision::Accept { junk: false });
    }

    #[test]
    fn ambiguous_from_is_detected() {
        assert_eq!(
            ambiguous_from(b"From: a@b.example\r\nSubject: x\r\n\r\nbody"),
            None
        );
        assert_eq!(
            ambiguous_from(b"Subject: no from\r\n\r\nFrom: in body\r\n"),
            None
        );
        assert!(ambiguous_from(b"Fr om: ceo@example.org\r\nFrom: x@y.example\r\n\r\n").is_some());
        assert!(ambiguous_from(b"From : a@b.example\r\n\r\n").is_some());
        assert!(ambiguous_from(b"From: a@b.example\r\nFROM: c@d.example\r\n\r\n").is_some());
    }

    #[test]
    fn alignment_is_relaxed() {
        assert!(aligned("example.org", "example.org"));
        assert!(aligned("mail.example.org", "example.org"));
        assert!(!aligned("example.org.evil", "example.org"));
        assert!(!aligned("badexample.org", "example.org"));
    }
}
