//! The spam and phishing verdict on mail arriving on the MX listener: what delivery knows
//! goes to [`mailkeep_verdict::judge`], and its action goes into the delivery plan — refused
//! at SMTP time, filed in Junk, or delivered, with a warning for the reader when the message
//! deceives. Every judged message carries one `X-Mailkeep-Verdict:` field; the stored bytes,
//! and so the journal's hash of them, include it.

use mailkeep_core::config;
use mailkeep_core::delivery::Plan;
use mailkeep_verdict::{Action, Auth, Classifier, Context, Mailbox, Policy, Verdict, View, judge};

/// What the verdict adds to a message: header fields (CRLF-terminated) and maybe a banner.
pub(crate) struct Judged {
    /// `X-Mailkeep-Verdict:` and, when warned, `X-Mailkeep-Warning:`.
    pub header: String,
    /// The message, with those fields that arrived from outside removed and the banner in.
    pub body: Vec<u8>,
}

/// What delivery knows of the message besides its bytes.
pub(crate) struct Known<'a> {
    /// The envelope sender.
    pub mail_from: &'a str,
    /// The local recipients' addresses.
    pub recipients: Vec<String>,
    /// Our domains.
    pub own_domains: &'a [String],
    /// Every local address (for colleagues' names), asked for only when the sender's
    /// display name could be one.
    pub local_addresses: &'a dyn Fn() -> Vec<String>,
    /// Authentication results, when checked.
    pub auth: Option<Auth>,
}

/// Judges `body` and files the outcome into `plan`.
pub(crate) fn apply(
    settings: &config::Verdict,
    known: Known<'_>,
    body: Vec<u8>,
    plan: &mut Plan,
) -> Judged {
    // Only we write these: one arriving from outside could pass for our verdict.
    let body = crate::auth_in::strip_fields(body, |line| {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let name = String::from_utf8_lossy(name);
        let name = name.trim();
        name.eq_ignore_ascii_case("X-Mailkeep-Verdict")
            || name.eq_ignore_ascii_case("X-Mailkeep-Warning")
    });
    // The first recipient's domain decides the settings (one reply after DATA for all).
    let domain = known
        .recipients
        .first()
        .and_then(|r| r.rsplit_once('@'))
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    let settings = settings.for_domain(&domain);
    if !settings.enabled {
        return Judged {
            header: String::new(),
            body,
        };
    }
    let policy = Policy {
        junk_at: settings.junk_at,
        refuse_at: settings.refuse_at,
        refuse_lookalikes: settings.refuse_lookalikes,
        banner: settings.banner,
        allow: settings.allow.clone(),
    };
    let view = View::of(&body);
    // A colleague's name has two words or more (see `colleague`).
    let may_borrow_a_name = view
        .from
        .as_ref()
        .is_some_and(|f| f.name.split_whitespace().count() >= 2);
    let ctx = Context {
        own_domains: known.own_domains.to_vec(),
        colleagues: if may_borrow_a_name {
            (known.local_addresses)()
                .iter()
                .filter_map(|a| colleague(a))
                .collect()
        } else {
            Vec::new()
        },
        mail_from: known.mail_from.to_owned(),
        auth: known.auth,
        ..Context::default()
    };
    let verdict = judge(&view, &ctx, &Classifier::new(), &policy);
    tracing::debug!(verdict = %verdict.header(), "verdict");
    let mut header = format!("X-Mailkeep-Verdict: {}\r\n", verdict.header());
    let mut body = body;
    match verdict.action {
        Action::Refuse => plan.reject_all(&verdict.refusal()),
        Action::Junk => plan.file_in("Junk"),
        Action::Warn | Action::Deliver => {}
    }
    if verdict.action != Action::Refuse
        && let Some(warning) = warning_for(&verdict, &policy)
    {
        header.push_str(&format!("X-Mailkeep-Warning: {}\r\n", fold(&warning)));
        if let Some(with_banner) = with_banner(&body, &warning) {
            body = with_banner;
        }
    }
    Judged { header, body }
}

fn warning_for(verdict: &Verdict, policy: &Policy) -> Option<String> {
    policy.banner.then(|| verdict.warning()).flatten()
}

/// A colleague as the verdict knows one: the name an address's local part spells, when it
/// is a first and last name ("alice.smith" is Alice Smith). One word is too common a name
/// to tell an impostor by.
fn colleague(address: &str) -> Option<Mailbox> {
    let local = address.split('@').next()?;
    let words: Vec<String> = local
        .split(['.', '_', '-'])
        .filter(|w| w.chars().all(char::is_alphabetic) && w.len() >= 2)
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        })
        .collect();
    (words.len() >= 2).then(|| Mailbox {
        name: words.join(" "),
        address: address.to_ascii_lowercase(),
    })
}

/// `text` folded for a header field at word boundaries (RFC 5322 §2.2.3).
fn fold(text: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        if line > 0 && line + word.len() > 70 {
            out.push_str("\r\n\t");
            line = 0;
        } else if !out.is_empty() {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

/// The message with `warning` at the top of its text, when its text is one part in plain
/// text or HTML that is not transfer-encoded (so inserting keeps the structure and
/// declared encoding valid); `None` otherwise, and the header field alone carries it.
pub(crate) fn with_banner(message: &[u8], warning: &str) -> Option<Vec<u8>> {
    let split = mailkeep_imap::header_fields_len(message);
    let (head, rest) = message.split_at(split);
    let head_text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let field = |name: &str| -> Option<String> {
        let start = head_text
            .split("\r\n")
            .position(|l| l.starts_with(&format!("{name}:")))?;
        let lines: Vec<&str> = head_text.split("\r\n").collect();
        let mut value = lines[start][name.len() + 1..].to_owned();
        for l in &lines[start + 1..] {
            if l.starts_with([' ', '\t']) {
                value.push_str(l);
            } else {
                break;
            }
        }
        Some(value.trim().to_owned())
    };
    let ctype = field("content-type").unwrap_or_else(|| "text/plain".into());
    let cte = field("content-transfer-encoding").unwrap_or_else(|| "7bit".into());
    if !matches!(cte.as_str(), "7bit" | "8bit" | "binary") {
        return None;
    }
    let utf8 = ctype.contains("utf-8") || ctype.contains("\"utf-8\"");
    if !warning.is_ascii() && !utf8 {
        return None;
    }
    // The blank line ending the header section.
    let (sep, body) = if let Some(b) = rest.strip_prefix(b"\r\n") {
        (&b"\r\n"[..], b)
    } else {
        (&b""[..], rest)
    };
    let banner = if ctype.starts_with("text/plain") {
        format!("*** Warning from your mail server: {warning} ***\r\n\r\n").into_bytes()
    } else if ctype.starts_with("text/html") {
        let escaped = warning
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let banner = format!(
            "<div style=\"border:2px solid #b00;background:#fee;color:#000;padding:8px;margin:8px 0\">\
             <b>Warning from your mail server:</b> {escaped}</div>\r\n"
        );
        // After the opening <body> tag when there is one, else first.
        let lower = String::from_utf8_lossy(body).to_ascii_lowercase();
        if let Some(open) = lower.find("<body")
            && let Some(close) = lower[open..].find('>')
        {
            let at = open + close + 1;
            let mut out = Vec::with_capacity(message.len() + banner.len());
            out.extend_from_slice(head);
            out.extend_from_slice(sep);
            out.extend_from_slice(&body[..at]);
            out.extend_from_slice(banner.as_bytes());
            out.extend_from_slice(&body[at..]);
            return Some(out);
        }
        banner.into_bytes()
    } else {
        return None;
    };
    let mut out = Vec::with_capacity(message.len() + banner.len());
    out.extend_from_slice(head);
    out.extend_from_slice(sep);
    out.extend_from_slice(&banner);
    out.extend_from_slice(body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_go_into_plain_and_html_text_but_not_encoded_parts() {
        let plain = b"From: a@b.example\r\nSubject: x\r\n\r\nHello\r\n";
        let out = with_banner(plain, "Careful.").unwrap();
        assert_eq!(
            out,
            b"From: a@b.example\r\nSubject: x\r\n\r\n*** Warning from your mail server: Careful. ***\r\n\r\nHello\r\n"
        );
        let html = b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><BODY class=x><p>Hi</p></body></html>\r\n";
        let out = String::from_utf8(with_banner(html, "A <b> & c").unwrap()).unwrap();
        assert!(
            out.contains("<BODY class=x><div style=") && out.contains("A &lt;b&gt; &amp; c"),
            "{out}"
        );
        let b64 = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSGk=\r\n";
        assert!(with_banner(b64, "x").is_none());
        let multi = b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b--\r\n";
        assert!(with_banner(multi, "x").is_none());
        assert!(
            with_banner(plain, "Jos\u{e9}").is_none(),
            "non-ASCII into us-ascii text"
        );
    }

    #[test]
    fn colleagues_names_come_from_first_and_last_name_addresses() {
        assert_eq!(
            colleague("carol.white@example.org").map(|m| m.name),
            Some("Carol White".into())
        );
        assert_eq!(colleague("alice@example.org"), None);
        assert_eq!(colleague("it-2@example.org"), None);
    }

    #[test]
    fn long_warnings_are_folded() {
        let w = "word ".repeat(40);
        let folded = fold(w.trim());
        assert!(folded.split("\r\n").all(|l| l.len() <= 78), "{folded}");
        assert_eq!(folded.replace("\r\n\t", " "), w.trim());
    }
}
