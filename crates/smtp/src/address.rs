//! Path and mailbox syntax (RFC 5321 §4.1.2 and §4.5.3.1, RFC 6531 §3.3).
//!
//! The checks accept UTF-8 in local parts and U-labels in domains; whether
//! non-ASCII is allowed at all (the SMTPUTF8 parameter) is decided by the
//! caller.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest local part in octets (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_PART: usize = 64;
/// Longest domain in octets (RFC 5321 §4.5.3.1.2).
const MAX_DOMAIN: usize = 255;
/// Longest path in octets including the angle brackets (RFC 5321 §4.5.3.1.3).
const MAX_PATH: usize = 256;
/// Longest ASCII domain label (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathError {
    /// Not a valid mailbox.
    Syntax,
    /// A well-formed source route (`<@a,@b:user@domain>`).
    SourceRoute,
}

/// Splits a leading `<…>` off `s`: returns the text between the brackets and
/// the text after the closing bracket. A `>` inside a quoted local part does
/// not close the path.
pub(crate) fn split_angle(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('<')?;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some((body.get(..i)?, body.get(i + 1..)?)),
            _ => {}
        }
    }
    None
}

/// Checks the text between the angle brackets of a non-null path.
pub(crate) fn check_path(inner: &str) -> Result<(), PathError> {
    if inner.len().saturating_add(2) > MAX_PATH {
        return Err(PathError::Syntax);
    }
    if let Some(route) = inner.strip_prefix('@') {
        let Some((adl, mailbox)) = route.split_once(':') else {
            return Err(PathError::Syntax);
        };
        let route_ok = adl
            .split(",@")
            .all(|d| is_domain(d, true) || is_address_literal(d));
        return if route_ok && is_mailbox(mailbox) {
            Err(PathError::SourceRoute)
        } else {
            Err(PathError::Syntax)
        };
    }
    if is_mailbox(inner) {
        Ok(())
    } else {
        Err(PathError::Syntax)
    }
}

/// Whether `s` is a valid EHLO/HELO argument: an ASCII domain or an address literal.
pub(crate) fn is_hello_domain(s: &str) -> bool {
    if s.starts_with('[') {
        is_address_literal(s)
    } else {
        is_domain(s, false)
    }
}

fn is_mailbox(s: &str) -> bool {
    let Some((local, domain)) = split_mailbox(s) else {
        return false;
    };
    if local.len() > MAX_LOCAL_PART || !is_local_part(local) {
        return false;
    }
    if domain.starts_with('[') {
        is_address_literal(domain)
    } else {
        is_domain(domain, true)
    }
}

/// Splits `local@domain`, honouring a quoted local part that may contain `@`.
fn split_mailbox(s: &str) -> Option<(&str, &str)> {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                '"' => {
                    // `i` indexes `quoted`; the local part includes both quotes.
                    let local = s.get(..i + 2)?;
                    let domain = s.get(i + 2..)?.strip_prefix('@')?;
                    return Some((local, domain));
                }
                _ => {}
            }
        }
        None
    } else {
        s.split_once('@')
    }
}

/// Non-ASCII characters allowed by RFC 6531 (UTF8-non-ascii), minus
/// controls and whitespace.
fn is_utf8_char(c: char) -> bool {
    !c.is_ascii() && !c.is_control() && !c.is_whitespace()
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || is_utf8_char(c)
}

fn is_local_part(local: &str) -> bool {
    match local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(content) if local.len() >= 2 => is_quoted_content(content),
        _ => local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext)),
    }
}

/// Content of a Quoted-string (RFC 5321 §4.1.2: qtextSMTP / quoted-pairSMTP).
fn is_quoted_content(content: &str) -> bool {
    let mut chars = content.chars();
    while let Some(c) = chars.next() {
        let ok = match c {
            '\\' => chars.next().is_some_and(|n| (' '..='~').contains(&n)),
            ' ' | '!' | '#'..='[' | ']'..='~' => true,
            c => is_utf8_char(c),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Dot-separated labels of letters, digits and inner hyphens; with
/// `utf8`, non-ASCII characters count as letters (U-labels).
fn is_domain(d: &str, utf8: bool) -> bool {
    !d.is_empty() && d.len() <= MAX_DOMAIN && d.split('.').all(|label| is_label(label, utf8))
}

fn is_label(label: &str, utf8: bool) -> bool {
    let let_dig = |c: char| c.is_ascii_alphanumeric() || (utf8 && is_utf8_char(c));
    let (Some(first), Some(last)) = (label.chars().next(), label.chars().next_back()) else {
        return false;
    };
    (!label.is_ascii() || label.len() <= MAX_LABEL)
        && let_dig(first)
        && let_dig(last)
        && label.chars().all(|c| let_dig(c) || c == '-')
}

/// `[1.2.3.4]` or `[IPv6:…]` (RFC 5321 §4.1.3). General address literals
/// are not accepted.
fn is_address_literal(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return false;
    };
    match crate::command::strip_prefix_ci(inner, "IPv6:") {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            inner.split('.').all(|p| (1..=3).contains(&p.len()))
                && inner.parse::<Ipv4Addr>().is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_mailboxes() {
        for ok in [
            "a@b",
            "user.name+tag@example.com",
            "x@[1.2.3.4]",
            "x@[IPv6:::1]",
            "x@[ipv6:2001:db8::1]",
            "\"john doe\"@example.com",
            "\"a\\\"b@c\"@example.com",
            "\"\"@example.com",
            "!#$%&'*+-/=?^_`{|}~@x-y.z",
            "用户@例子.广告",
            "a@xn--bcher-kva.example",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn invalid_mailboxes() {
        for bad in [
            "",
            "a",
            "a@",
            "@b",
            "a@b@c",
            ".a@b",
            "a.@b",
            "a..b@c",
            "a b@c",
            "a@-b",
            "a@b-",
            "a@b..c",
            "a@.b",
            "a@b.",
            "a@[1.2.3]",
            "a@[999.1.1.1]",
            "a@[IPv6:zz]",
            "a@[x:y]",
            "\"a@b",
            "\"a\"b@c",
            "a@b_c",
            "a\u{7f}@b",
            "a@b c",
            "a@[01.2.3.4444]",
        ] {
            assert_eq!(check_path(bad), Err(PathError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn source_routes() {
        assert_eq!(check_path("@a,@b:u@d"), Err(PathError::SourceRoute));
        assert_eq!(check_path("@a:u@d"), Err(PathError::SourceRoute));
        assert_eq!(check_path("@a,b:u@d"), Err(PathError::Syntax));
        assert_eq!(check_path("@:u@d"), Err(PathError::Syntax));
    }

    #[test]
    fn length_limits() {
        let local64 = "a".repeat(64);
        let local65 = "a".repeat(65);
        assert_eq!(check_path(&format!("{local64}@b")), Ok(()));
        assert_eq!(check_path(&format!("{local65}@b")), Err(PathError::Syntax));
        let label63 = "b".repeat(63);
        assert_eq!(check_path(&format!("a@{label63}")), Ok(()));
        assert_eq!(check_path(&format!("a@{label63}b")), Err(PathError::Syntax));
        // 254 octets between the brackets is the largest path.
        let domain = [
            "c".repeat(60),
            "c".repeat(60),
            "c".repeat(60),
            "c".repeat(60),
        ]
        .join(".");
        let ok = format!("{}@{}", "a".repeat(254 - 1 - domain.len()), domain);
        assert_eq!(ok.len(), 254);
        assert_eq!(check_path(&ok), Ok(()));
        let long = format!("a{ok}");
        assert_eq!(check_path(&long), Err(PathError::Syntax));
    }

    #[test]
    fn split_angle_respects_quotes() {
        assert_eq!(split_angle("<a@b> X"), Some(("a@b", " X")));
        assert_eq!(split_angle("<\"a>b\"@c>"), Some(("\"a>b\"@c", "")));
        assert_eq!(
            split_angle("<\"a\\\">b\"@c>z"),
            Some(("\"a\\\">b\"@c", "z"))
        );
        assert_eq!(split_angle("a@b"), None);
        assert_eq!(split_angle("<a@b"), None);
    }

    #[test]
    fn hello_domains() {
        assert!(is_hello_domain("mail.example.com"));
        assert!(is_hello_domain("localhost"));
        assert!(is_hello_domain("[127.0.0.1]"));
        assert!(is_hello_domain("[IPv6:::1]"));
        assert!(!is_hello_domain(""));
        assert!(!is_hello_domain("bad_host"));
        assert!(!is_hello_domain("例子.广告"));
        assert!(!is_hello_domain("[1.2.3.4"));
    }
}
