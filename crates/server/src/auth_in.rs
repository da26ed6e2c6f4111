//! Authentication of inbound mail on the MX listener: SPF (RFC 7208), DKIM (RFC 6376),
//! ARC (RFC 8617) and DMARC (RFC 7489), the `Authentication-Results:` header (RFC 8601) and
//! the policy that rejects spoofed mail or files it as junk.

use std::net::IpAddr;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    SpfResult,
};
use mailkeep_core::config::Inbound;
use mailkeep_core::inbound_policy as policy;
use mailkeep_imap::author::normalize_domain;
use mailkeep_verdict::Outcome;

/// What to do with an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Store it with this `Authentication-Results:` field (CRLF-terminated) prepended; to
    /// Junk instead of INBOX with `junk`.
    Accept {
        /// The header field.
        header: String,
        /// DMARC asked for quarantine.
        junk: bool,
        /// The outcomes, for the spam and phishing verdict.
        auth: mailkeep_verdict::Auth,
    },
    /// Refuse at the end of DATA: `550 5.7.1 <text>`.
    Reject(String),
}

/// The connection facts the checks need.
pub struct Context<'a> {
    /// The client's address.
    pub ip: IpAddr,
    /// Its EHLO name.
    pub helo: &'a str,
    /// MAIL FROM (empty for `<>`).
    pub mail_from: &'a str,
    /// Our host name: the authserv-id.
    pub hostname: &'a str,
    /// Our domains (lower case).
    pub own_domains: &'a [String],
}

/// Removes `Authentication-Results:` fields that claim to come from us (authserv-id equal to
/// `hostname`, RFC 8601 §5): only we may write those, and a forged one could make a reader
/// or filter trust a message that never passed our checks.
pub fn strip_forged_results(message: Vec<u8>, hostname: &str) -> Vec<u8> {
    strip_fields(message, |line| is_our_result(line, hostname))
}

/// Removes every header field whose first line `drop` picks (with its folded lines).
pub fn strip_fields(mut message: Vec<u8>, drop: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let end = mailkeep_imap::header_fields_len(&message);
    // Compacted in place: a message may be tens of megabytes, and nearly always nothing
    // is dropped, so it is neither copied nor reallocated.
    let (mut read, mut write) = (0, 0);
    let mut dropping = false;
    while read < end {
        let len = message[read..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end - read, |i| i + 1);
        let line = &message[read..read + len];
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            dropping = drop(line);
        }
        if !dropping {
            if write != read {
                message.copy_within(read..read + len, write);
            }
            write += len;
        }
        read += len;
    }
    if write != read {
        message.copy_within(end.., write);
        message.truncate(message.len() - (read - write));
    }
    message
}

fn is_our_result(line: &[u8], hostname: &str) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = line[..colon].trim_ascii();
    let arc = name.eq_ignore_ascii_case(b"arc-authentication-results");
    if !arc && !name.eq_ignore_ascii_case(b"authentication-results") {
        return false;
    }
    let mut value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
    if arc {
        // RFC 8617 §4.1.1: `i=N;` comes before the authserv-id.
        value = value
            .split_once(';')
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
    }
    // A forger may put the id on the next (folded) line: an id we cannot find on this line
    // is treated as ours.
    match authserv_id(&value) {
        Some(id) => same_id(&id, hostname),
        None => true,
    }
}

/// The authserv-id of an RFC 8601 §2.2 value: after optional CFWS, a token or a
/// quoted-string (an authres-version may follow).
fn authserv_id(value: &str) -> Option<String> {
    let mut chars = value.chars().peekable();
    let mut depth = 0usize;
    while let Some(&c) = chars.peek() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            '\\' if depth > 0 => {
                chars.next();
            }
            c if depth > 0 || c.is_whitespace() => {}
            _ => break,
        }
        chars.next();
    }
    let mut id = String::new();
    if chars.peek() == Some(&'"') {
        chars.next();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => id.extend(chars.next()),
                '\r' | '\n' => {}
                c => id.push(c),
            }
        }
    } else {
        id.extend(chars.take_while(|&c| {
            !c.is_whitespace() && !c.is_control() && !"()<>@,;:\\\"/[]?=".contains(c)
        }));
    }
    (!id.is_empty()).then_some(id)
}

/// Whether an authserv-id names us: equal after the normalisation From: domains get (case,
/// trailing dot, UTS #46), or equal in its confusables skeleton, so that `mx.ex\u{430}mple.org`
/// (Cyrillic a) or `MX.EXAMPLE.ORG.` cannot pass as someone else.
fn same_id(id: &str, hostname: &str) -> bool {
    let norm = |s: &str| normalize_domain(s).unwrap_or_else(|_| s.to_lowercase());
    let (id, ours) = (norm(id), norm(hostname));
    id == ours || skeleton(&id) == skeleton(&ours)
}

/// A small confusables skeleton (after UTS #39): U-labels decoded, lower-cased, trailing
/// dots dropped, and letters that render like a Latin letter or digit mapped to it.
fn skeleton(s: &str) -> String {
    let (unicode, _) = idna::domain_to_unicode(s);
    let mut out: String = unicode
        .trim_end_matches('.')
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '\u{430}' | '\u{3b1}' => 'a',
            '\u{435}' | '\u{3b5}' => 'e',
            '\u{43e}' | '\u{3bf}' | '0' => 'o',
            '\u{440}' | '\u{3c1}' => 'p',
            '\u{441}' | '\u{3f2}' => 'c',
            '\u{445}' | '\u{3c7}' => 'x',
            '\u{443}' | '\u{3b3}' => 'y',
            '\u{456}' | '\u{3b9}' | '\u{131}' | '1' | '\u{4cf}' | '\u{406}' => 'l',
            '\u{458}' => 'j',
            '\u{455}' => 's',
            '\u{501}' => 'd',
            '\u{261}' => 'g',
            '\u{4bb}' => 'h',
            '\u{3bd}' => 'v',
            '\u{3ba}' => 'k',
            '\u{3c9}' => 'w',
            '\u{43c}' => 'm',
            '\u{43d}' => 'h',
            '\u{442}' => 't',
            '\u{432}' => 'b',
            c => c,
        })
        .collect();
    // i and l are one skeleton letter; so are rn and m.
    out = out.replace('i', "l").replace("rn", "m");
    out
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Runs every check and decides.
pub async fn check(
    resolver: &MessageAuthenticator,
    config: &Inbound,
    cx: &Context<'_>,
    message: &[u8],
) -> Decision {
    if let Some(why) = policy::ambiguous_from(message) {
        return Decision::Reject(format!("Message refused: {why}"));
    }
    // One parser (the one IMAP ENVELOPE shows) decides the author; anything but exactly
    // one address with a valid domain is refused, RFC 7489 §6.6.1.
    let author = match mailkeep_imap::author::author(message) {
        Ok(a) => a,
        Err(why) => return Decision::Reject(format!("Message refused: {why}")),
    };
    let Some(mut parsed) = AuthenticatedMessage::parse(message) else {
        return Decision::Reject("Message refused: header section cannot be parsed".into());
    };
    // mail-auth must evaluate exactly the domain we found, not its own reading of From:.
    parsed.from = vec![author.address()];
    let from_domain = author.domain.clone();
    let dkim = resolver.verify_dkim(&parsed).await;
    let helo = if cx.helo.is_empty() {
        "unknown"
    } else {
        cx.helo
    };
    let spf = resolver
        .verify_spf(SpfParameters::verify(
            cx.ip,
            helo,
            cx.hostname,
            cx.mail_from,
        ))
        .await;
    let arc = resolver.verify_arc(&parsed).await;
    let mail_from_domain = if cx.mail_from.is_empty() {
        helo
    } else {
        domain_of(cx.mail_from)
    };
    let mail_from_domain = &normalize_domain(mail_from_domain)
        .unwrap_or_else(|_| mail_from_domain.to_ascii_lowercase());
    let dmarc = resolver
        .verify_dmarc(mail_auth::dmarc::verify::DmarcParameters {
            message: &parsed,
            dkim_output: &dkim,
            dkim2_output: None,
            rfc5321_mail_from_domain: mail_from_domain,
            spf_output: &spf,
        })
        .await;
    let header = AuthenticationResults::new(cx.hostname)
        .with_dkim_results(&dkim, &from_domain)
        .with_spf_mailfrom_result(&spf, cx.ip, cx.mail_from, helo)
        .with_arc_result(&arc, cx.ip)
        .with_dmarc_result(&dmarc)
        .to_header();

    let findings = policy::Findings {
        sender_domains: mailkeep_imap::author::field_domains(message, "sender"),
        dkim_pass: dkim
            .iter()
            .filter(|d| *d.result() == DkimResult::Pass)
            .filter_map(|d| d.signature().map(|s| s.d.clone()))
            .collect(),
        spf_pass: spf.result() == SpfResult::Pass,
        mail_from_domain: mail_from_domain.clone(),
        dmarc: match dmarc.result() {
            DmarcResult::Pass => policy::Dmarc::Pass,
            DmarcResult::Fail(_) => policy::Dmarc::Fail(match dmarc.policy() {
                Policy::Reject => policy::DmarcPolicy::Reject,
                Policy::Quarantine => policy::DmarcPolicy::Quarantine,
                _ => policy::DmarcPolicy::None,
            }),
            _ => policy::Dmarc::Other,
        },
        from_domain,
    };
    let dkim_outcomes: Vec<&DkimResult> = dkim.iter().map(|d| d.result()).collect();
    let auth = mailkeep_verdict::Auth {
        spf: match spf.result() {
            SpfResult::Pass => Outcome::Pass,
            SpfResult::Fail => Outcome::Fail,
            SpfResult::SoftFail => Outcome::SoftFail,
            _ => Outcome::None,
        },
        dkim: if dkim_outcomes.contains(&&DkimResult::Pass) {
            Outcome::Pass
        } else if dkim_outcomes
            .iter()
            .any(|r| matches!(r, DkimResult::Fail(_)))
        {
            Outcome::Fail
        } else {
            Outcome::None
        },
        dmarc: match dmarc.result() {
            DmarcResult::Pass => Outcome::Pass,
            DmarcResult::Fail(_) => Outcome::Fail,
            _ => Outcome::None,
        },
    };
    match policy::decide(&findings, config, cx.own_domains) {
        policy::Decision::Accept { junk } => Decision::Accept { header, junk, auth },
        policy::Decision::Reject(text) => Decision::Reject(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_results_for_our_host_are_removed_others_kept() {
        let msg =
            b"Authentication-Results: mx.example.org;\r\n\tdkim=pass header.d=bank.example\r\n\
Authentication-Results: other.example; spf=fail\r\n\
authentication-results :MX.EXAMPLE.ORG; dmarc=pass\r\n\
Authentication-Results:\r\n mx.example.org; dmarc=pass\r\n\
Subject: hi\r\n\r\nAuthentication-Results: mx.example.org; body stays\r\n";
        let out = String::from_utf8(strip_forged_results(msg.to_vec(), "mx.example.org")).unwrap();
        assert_eq!(
            out,
            "Authentication-Results: other.example; spf=fail\r\nSubject: hi\r\n\r\n\
Authentication-Results: mx.example.org; body stays\r\n"
        );
    }

    #[test]
    fn forged_results_in_every_spelling_are_removed() {
        for forged in [
            "Authentication-Results: (comment) mx.example.org; dkim=pass",
            "Authentication-Results: \"mx.example.org\"; dkim=pass",
            "Authentication-Results: mx.example.org.; dkim=pass",
            "Authentication-Results: mx.example.org 1; dkim=pass",
            "Authentication-Results: mx.example.org(c); dkim=pass",
            "Authentication-Results: \"mx.example.org.\" 1 (v); dkim=pass",
            "Authentication-Results: MX.EXAMPLE.ORG; dkim=pass",
            "Authentication-Results: mx.ex\u{430}mple.org; dkim=pass",
            "Authentication-Results: mx.exampie.org; dkim=pass",
            "Authentication-Results: mx.\u{ff45}xample.org; dkim=pass",
            "Authentication-Results: mx.xn--exmple-4nf.org; dkim=pass",
            "ARC-Authentication-Results: i=1; mx.example.org; dkim=pass",
            "arc-authentication-results: i=2;\r\n mx.example.org.; dmarc=pass",
        ] {
            let msg = format!("{forged}\r\nSubject: hi\r\n\r\nbody\r\n");
            let out = strip_forged_results(msg.as_bytes().to_vec(), "mx.example.org");
            assert_eq!(out, b"Subject: hi\r\n\r\nbody\r\n", "{forged:?} kept");
        }
        for kept in [
            "Authentication-Results: other.example; spf=fail",
            "Authentication-Results: mx.example.org.evil; spf=fail",
            "ARC-Authentication-Results: i=1; relay.example.net; spf=pass",
        ] {
            let msg = format!("{kept}\r\nSubject: hi\r\n\r\n");
            let out = strip_forged_results(msg.as_bytes().to_vec(), "mx.example.org");
            assert_eq!(out, msg.as_bytes(), "{kept:?} removed");
        }
    }
}
