//! Outbound delivery rules that need no network: retry timing, what a reply means for a
//! recipient, and the delivery status notifications (RFC 3464) sent to senders.

use crate::time::rfc5322;

/// When to try a recipient again after `attempts` failed attempts (1 = the first failed):
/// `initial`, doubled each time, capped at `max` (RFC 5321 §4.5.4.1 asks for at least 30 min
/// between retries to one destination in steady state; the first ones may come sooner).
pub fn retry_delay(attempts: u32, initial: u64, max: u64) -> u64 {
    let shift = attempts.saturating_sub(1).min(32);
    initial.saturating_mul(1u64 << shift).min(max.max(initial))
}

/// What one attempt's answer means for a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered.
    Sent,
    /// Try again later.
    Temporary,
    /// Never try again; bounce.
    Permanent,
}

/// Classifies an SMTP reply code (RFC 5321 §4.2.1, RFC 3463).
pub fn classify(code: u16) -> Verdict {
    match code {
        200..=299 => Verdict::Sent,
        500..=599 => Verdict::Permanent,
        _ => Verdict::Temporary,
    }
}

/// One recipient in a status notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// The address.
    pub address: String,
    /// The last reply or error text.
    pub diagnostic: String,
    /// The host that gave it, if one did.
    pub remote_mta: Option<String>,
}

/// Failed (bounce) or delayed (warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnKind {
    /// Permanent failure or expiry: RFC 3464 `Action: failed`.
    Failed,
    /// Still trying: `Action: delayed`.
    Delayed,
}

/// The enhanced status code in a diagnostic like `550 5.1.1 …`, else a generic one.
fn status_of(diagnostic: &str, kind: DsnKind) -> String {
    diagnostic
        .split_whitespace()
        .nth(1)
        .filter(|s| {
            let p: Vec<&str> = s.split('.').collect();
            p.len() == 3
                && p.iter()
                    .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| match kind {
            DsnKind::Failed => "5.0.0".into(),
            DsnKind::Delayed => "4.0.0".into(),
        })
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Builds a `multipart/report; report-type=delivery-status` message (RFC 3464, RFC 6522)
/// from `postmaster@hostname` to `sender`, with the original's header section attached.
#[allow(clippy::too_many_arguments)]
pub fn build_dsn(
    kind: DsnKind,
    hostname: &str,
    sender: &str,
    queue_id: &str,
    recipients: &[DsnRecipient],
    original: &[u8],
    now: i64,
    boundary_seed: u64,
) -> Vec<u8> {
    let boundary = format!("=_mailkeep_dsn_{boundary_seed:016x}");
    let (subject, intro) = match kind {
        DsnKind::Failed => (
            "Undelivered Mail Returned to Sender",
            "Your message could not be delivered to one or more recipients.\r\n\
             It will not be retried. The details follow.",
        ),
        DsnKind::Delayed => (
            "Delayed Mail (still being retried)",
            "Your message has not been delivered yet to one or more recipients.\r\n\
             mailkeep keeps trying; you do not need to resend it.",
        ),
    };
    let header_end = mailkeep_imap::header_fields_len(original);
    let original_headers = String::from_utf8_lossy(&original[..header_end]);
    let mut m = String::new();
    m.push_str(&format!(
        "From: Mail Delivery System <postmaster@{hostname}>\r\n"
    ));
    m.push_str(&format!("To: <{sender}>\r\n"));
    m.push_str(&format!("Subject: {subject}\r\n"));
    m.push_str(&format!("Date: {}\r\n", rfc5322(now)));
    m.push_str(&format!(
        "Message-ID: <dsn.{queue_id}.{boundary_seed:x}@{hostname}>\r\n"
    ));
    m.push_str("Auto-Submitted: auto-replied\r\n");
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str("This is a MIME-encapsulated delivery status notification.\r\n\r\n");
    m.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ));
    m.push_str(intro);
    m.push_str("\r\n\r\n");
    for r in recipients {
        m.push_str(&format!(
            "<{}>: {}\r\n",
            one_line(&r.address),
            one_line(&r.diagnostic)
        ));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
    ));
    m.push_str(&format!("Reporting-MTA: dns; {hostname}\r\n"));
    m.push_str(&format!("X-Mailkeep-Queue-ID: {queue_id}\r\n"));
    m.push_str(&format!("Arrival-Date: {}\r\n", rfc5322(now)));
    for r in recipients {
        let action = match kind {
            DsnKind::Failed => "failed",
            DsnKind::Delayed => "delayed",
        };
        m.push_str("\r\n");
        m.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\n",
            one_line(&r.address)
        ));
        m.push_str(&format!("Action: {action}\r\n"));
        m.push_str(&format!("Status: {}\r\n", status_of(&r.diagnostic, kind)));
        if let Some(mta) = &r.remote_mta {
            m.push_str(&format!("Remote-MTA: dns; {}\r\n", one_line(mta)));
        }
        m.push_str(&format!(
            "Diagnostic-Code: smtp; {}\r\n",
            one_line(&r.diagnostic)
        ));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    m.push_str(&original_headers);
    m.push_str(&format!("\r\n--{boundary}--\r\n"));
    m.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(retry_delay(1, 300, 14_400), 300);
        assert_eq!(retry_delay(2, 300, 14_400), 600);
        assert_eq!(retry_delay(5, 300, 14_400), 4800);
        assert_eq!(retry_delay(7, 300, 14_400), 14_400);
        assert_eq!(retry_delay(1000, 300, 14_400), 14_400);
        assert_eq!(retry_delay(1, 2, 1), 2);
    }

    #[test]
    fn codes_classify() {
        assert_eq!(classify(250), Verdict::Sent);
        assert_eq!(classify(451), Verdict::Temporary);
        assert_eq!(classify(550), Verdict::Permanent);
        assert_eq!(classify(0), Verdict::Temporary);
    }

    #[test]
    fn dsn_is_a_delivery_status_report() {
        let original = b"From: a@example.org\r\nSubject: hello\r\n\r\nsecret body\r\n";
        let dsn = build_dsn(
            DsnKind::Failed,
            "mail.example.org",
            "a@example.org",
            "ABC",
            &[DsnRecipient {
                address: "x@remote.example".into(),
                diagnostic: "550 5.1.1 no such user\r\nInjected: yes".into(),
                remote_mta: Some("mx.remote.example".into()),
            }],
            original,
            0,
            7,
        );
        let text = String::from_utf8(dsn.clone()).unwrap();
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains("Action: failed\r\nStatus: 5.1.1\r\n"));
        assert!(text.contains("Final-Recipient: rfc822; x@remote.example\r\n"));
        assert!(text.contains("Subject: hello"), "original headers attached");
        assert!(!text.contains("secret body"), "the body is not returned");
        assert!(
            !text.contains("\r\nInjected: yes"),
            "diagnostics cannot add lines"
        );
        let parsed = mail_parser::MessageParser::default().parse(&dsn).unwrap();
        assert_eq!(
            parsed.subject(),
            Some("Undelivered Mail Returned to Sender")
        );
        assert!(parsed.parts.len() >= 4);
    }
}
