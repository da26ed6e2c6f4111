//! The CAPABILITY list this codec supports.

/// Capabilities parsed by this crate in every state.
const BASE: &str = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE UNSELECT UIDPLUS MOVE IDLE \
                    NAMESPACE CHILDREN SPECIAL-USE ESEARCH";

/// Capabilities of extensions this crate parses but the server does not (yet)
/// implement. Pass the ones a server implements to [`capabilities_with`]
/// instead of advertising all of them.
pub const EXTRA_CAPABILITIES: &str = "CONDSTORE QRESYNC LIST-EXTENDED LIST-STATUS SORT \
                                      THREAD=REFERENCES THREAD=ORDEREDSUBJECT QUOTA \
                                      QUOTA=RES-STORAGE STATUS=SIZE";

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

/// Like [`capabilities`], with the space-separated capabilities of `extra`
/// (e.g. some of [`EXTRA_CAPABILITIES`]) appended in every state. Extra
/// whitespace and names already in the list are ignored, so the result never
/// holds a duplicate or an empty name.
pub fn capabilities_with(
    tls_active: bool,
    starttls_available: bool,
    authenticated: bool,
    extra: &str,
) -> String {
    let mut caps = capabilities(tls_active, starttls_available, authenticated);
    for cap in extra.split_ascii_whitespace() {
        if !caps.split(' ').any(|c| c.eq_ignore_ascii_case(cap)) {
            caps.push(' ');
            caps.push_str(cap);
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

    #[test]
    fn with_extra() {
        for (tls, starttls, auth) in [
            (false, true, false),
            (true, true, false),
            (true, false, true),
            (false, false, false),
        ] {
            let base = capabilities(tls, starttls, auth);
            assert_eq!(capabilities_with(tls, starttls, auth, ""), base);
            assert_eq!(capabilities_with(tls, starttls, auth, "  \t "), base);
            let all = capabilities_with(tls, starttls, auth, EXTRA_CAPABILITIES);
            assert_eq!(all, format!("{base} {EXTRA_CAPABILITIES}"));
            assert!(!all.contains("  ") && !all.ends_with(' '));
        }
        let words: Vec<&str> = EXTRA_CAPABILITIES.split(' ').collect();
        assert_eq!(
            words,
            [
                "CONDSTORE",
                "QRESYNC",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "SORT",
                "THREAD=REFERENCES",
                "THREAD=ORDEREDSUBJECT",
                "QUOTA",
                "QUOTA=RES-STORAGE",
                "STATUS=SIZE",
            ]
        );
        // none of them is advertised by default
        for w in &words {
            assert!(!capabilities(true, false, true).split(' ').any(|c| c == *w));
        }
        // duplicates and stray whitespace are dropped
        assert_eq!(
            capabilities_with(true, false, true, " SORT  idle\nSORT QUOTA "),
            format!("{BASE} SORT QUOTA")
        );
    }
}
