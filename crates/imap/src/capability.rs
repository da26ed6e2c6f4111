//! The CAPABILITY list this codec supports.

/// Capabilities parsed by this crate in every state.
const BASE: &str = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE UNSELECT UIDPLUS MOVE IDLE \
                    NAMESPACE CHILDREN SPECIAL-USE ESEARCH";

/// Builds the capability list (without the leading `CAPABILITY`).
///
/// Before authentication on a connection without TLS, `LOGINDISABLED` is
/// listed (plaintext passwords are refused) and `STARTTLS` when the server
/// can upgrade. Under TLS `AUTH=PLAIN` is listed. After authentication only
/// the base list is given.
pub fn capabilities(tls_active: bool, starttls_available: bool, authenticated: bool) -> String {
    let mut caps = String::from(BASE);
    if !authenticated {
        if tls_active {
            caps.push_str(" AUTH=PLAIN");
        } else {
            if starttls_available {
                caps.push_str(" STARTTLS");
            }
            caps.push_str(" LOGINDISABLED");
        }
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants() {
        let pre = capabilities(false, true, false);
        assert!(pre.starts_with("IMAP4rev1 IMAP4rev2 "));
        assert!(pre.contains("STARTTLS") && pre.contains("LOGINDISABLED"));
        assert!(!pre.contains("AUTH=PLAIN"));
        let tls = capabilities(true, true, false);
        assert!(tls.contains("AUTH=PLAIN") && !tls.contains("STARTTLS"));
        assert!(!tls.contains("LOGINDISABLED"));
        let auth = capabilities(true, true, true);
        assert_eq!(auth, BASE);
        assert!(!capabilities(false, false, false).contains("STARTTLS"));
        for caps in [&pre, &tls, &auth] {
            let words: Vec<&str> = caps.split(' ').collect();
            for c in [
                "UIDPLUS",
                "MOVE",
                "IDLE",
                "NAMESPACE",
                "CHILDREN",
                "SPECIAL-USE",
                "LITERAL+",
                "UNSELECT",
                "ESEARCH",
            ] {
                assert_eq!(words.iter().filter(|w| **w == c).count(), 1, "{c}");
            }
            assert!(!caps.contains("  ") && !caps.ends_with(' '));
        }
    }
}
