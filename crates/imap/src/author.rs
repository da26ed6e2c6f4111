//! The author of a message (RFC 5322 §3.6.2 `From:`) and domain normalisation.
//!
//! DMARC, own-domain protection and IMAP `ENVELOPE` must judge the same address, or a
//! spelling one of them reads differently (`alice@(x)example.org`, `alice@example.org.`)
//! slips past the check while the reader sees our domain. So the author is taken from the
//! very field and address-list parser that `ENVELOPE` uses, and everything that is not
//! exactly one address with a valid domain is refused (RFC 7489 §6.6.1).

use crate::envelope::parse_address_list_strict;
use crate::header;

/// The one author address of a message, domain normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Local part as written (quotes removed), lossily decoded.
    pub local: String,
    /// Domain in canonical form: lower case, no trailing dot, A-labels.
    pub domain: String,
}

impl Author {
    /// `local@domain`.
    pub fn address(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

/// Normalises a domain for comparison and storage: UTS #46 mapping to A-labels (which
/// also lower-cases), one trailing dot dropped, then strict LDH syntax. Both spellings
/// of an IDN (`bücher.example`, `xn--bcher-kva.example`) give the same result.
pub fn normalize_domain(input: &str) -> Result<String, &'static str> {
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.is_empty() {
        return Err("empty domain");
    }
    let ascii = idna::domain_to_ascii(trimmed).map_err(|_| "domain is not a valid IDN")?;
    if ascii.is_empty() || ascii.len() > 253 {
        return Err("domain must be 1 to 253 characters");
    }
    for label in ascii.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each domain label must be 1 to 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a domain label cannot start or end with '-'");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("a domain may hold only letters, digits, '-' and '.'");
        }
    }
    Ok(ascii)
}

/// Bytes no header field value may carry: NUL and other controls, and a CR or LF that is
/// not part of a CRLF line end. Parsers disagree on them, so they decide nothing here.
fn has_forbidden_bytes(value: &[u8]) -> bool {
    value.iter().enumerate().any(|(i, &b)| match b {
        b'\t' => false,
        b'\r' => value.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || value.get(i - 1) != Some(&b'\r'),
        0x7f => true,
        _ => b < 0x20,
    })
}

/// The author of the message whose header block (or whole message) is `message`, or why
/// there is not exactly one.
pub fn author(message: &[u8]) -> Result<Author, &'static str> {
    let block = message
        .get(..header::header_len(message))
        .unwrap_or_default();
    let mut froms = header::fields(block)
        .into_iter()
        .filter(|f| f.name.is_some_and(|n| n.eq_ignore_ascii_case(b"from")));
    let field = froms.next().ok_or("there is no From: header field")?;
    if froms.next().is_some() {
        return Err("more than one From: header field");
    }
    if has_forbidden_bytes(field.value) {
        return Err("the From: header field holds control characters");
    }
    let (list, clean) = parse_address_list_strict(field.value);
    if !clean {
        return Err("the From: header field is not a valid address list");
    }
    if list.iter().any(|a| a.host.is_none()) {
        return Err("the From: header field holds a group");
    }
    let [one] = list.as_slice() else {
        return Err("the From: header field must hold exactly one address");
    };
    let local = one.mailbox.as_deref().unwrap_or_default();
    if local.is_empty() || local.contains(&b'@') {
        return Err("the From: address has no valid local part");
    }
    let host = one.host.as_deref().unwrap_or_default();
    let host = std::str::from_utf8(host).map_err(|_| "the From: domain is not UTF-8")?;
    if host.starts_with('[') {
        return Err("the From: address has a domain literal instead of a domain");
    }
    let domain = normalize_domain(host).map_err(|_| "the From: address has no valid domain")?;
    Ok(Author {
        local: String::from_utf8_lossy(local).into_owned(),
        domain,
    })
}

/// The domains of every address in every `name:` field (`Sender:`, `Reply-To:`), each
/// normalised like the author's. Lenient on purpose: a malformed field still yields what
/// a reader would take from it, so that a spelling cannot hide one of our domains.
pub fn field_domains(message: &[u8], name: &str) -> Vec<String> {
    let block = message
        .get(..header::header_len(message))
        .unwrap_or_default();
    let mut out = Vec::new();
    for field in header::fields(block) {
        if !field
            .name
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        {
            continue;
        }
        let (list, _) = parse_address_list_strict(field.value);
        for host in list.iter().filter_map(|a| a.host.as_deref()) {
            let host = String::from_utf8_lossy(host);
            let host = host.trim();
            out.push(normalize_domain(host).unwrap_or_else(|_| host.to_lowercase()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(from: &str) -> Result<String, &'static str> {
        author(format!("From: {from}\r\nSubject: x\r\n\r\nbody").as_bytes()).map(|a| a.domain)
    }

    #[test]
    fn spellings_of_one_domain_agree() {
        for f in [
            "alice@example.org",
            "alice@(x)example.org",
            "alice @ example.org",
            "alice@example.org.",
            "alice@EXAMPLE.org",
            "Alice <alice@example.org>",
            "\"Bob, evil@ext.test\" <alice@example.org>",
            "alice@example.org (evil@ext.test)",
            "<@ext.test:alice@example.org>",
            "alice@example\r\n .org",
            "alice@exa(c)mple.org",
            "=?utf-8?q?evil=40ext.test?= <alice@example.org>",
        ] {
            assert_eq!(dom(f).as_deref(), Ok("example.org"), "{f:?}");
        }
    }

    #[test]
    fn refused() {
        for f in [
            "evil@ext.test, alice@example.org",
            "G: alice@example.org;",
            "undisclosed-recipients:;",
            "",
            "alice",
            "<>",
            "alice@",
            "alice@[127.0.0.1]",
            "alice@example.org..",
            "alice@example.org@ext.test",
            "\"a@b\"@example.org",
            "Alice <alice@example.org> evil@ext.test",
            "Alice <alice@example.org",
            "alice@exa\0mple.org",
            "alice@example.org\rFrom: evil@ext.test",
            "=?utf-8?q?alice@example.org?=",
            "alice@ex_ample.org",
            "alice@-example.org",
        ] {
            assert!(dom(f).is_err(), "{f:?} gave {:?}", dom(f));
        }
        assert!(author(b"From: a@b.example\r\nfrom: c@example.org\r\n\r\n").is_err());
        assert!(author(b"Subject: none\r\n\r\nFrom: a@example.org\r\n").is_err());
    }

    #[test]
    fn sender_domains_are_normalised_and_all_returned() {
        let msg = b"From: a@ext.test\r\nSender: alice@(x)EXAMPLE.org.\r\n\
sender: b@B\xc3\xbccher.example, c@ext.test\r\n\r\nSender: body@not.this\r\n";
        assert_eq!(
            field_domains(msg, "sender"),
            ["example.org", "xn--bcher-kva.example", "ext.test"]
        );
        assert!(field_domains(msg, "reply-to").is_empty());
    }

    #[test]
    fn idn_is_mapped_to_a_labels() {
        assert_eq!(
            dom("a@b\u{fc}cher.example").as_deref(),
            Ok("xn--bcher-kva.example")
        );
        assert_eq!(
            dom("a@XN--BCHER-KVA.example.").as_deref(),
            Ok("xn--bcher-kva.example")
        );
        assert_eq!(
            normalize_domain("B\u{dc}CHER.Example."),
            Ok("xn--bcher-kva.example".into())
        );
        // Full-width letters map to ASCII under UTS #46.
        assert_eq!(
            normalize_domain("\u{ff45}xample.org"),
            Ok("example.org".into())
        );
        assert!(normalize_domain("").is_err());
        assert!(normalize_domain(".").is_err());
        assert!(normalize_domain("a..b").is_err());
    }
}
