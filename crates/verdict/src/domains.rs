//! Domain names as a reader sees them: the registrable domain (the public suffix list),
//! the Unicode form of punycode, confusable skeletons (Unicode UTS #39) and closeness.

use unicode_security::MixedScript;

/// The registrable domain of `host` ("login.example.co.uk" → "example.co.uk"), lower-cased;
/// `None` for an IP literal or a bare public suffix.
pub fn registrable(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if is_ip(&host) {
        return None;
    }
    let ascii = idna::domain_to_ascii(&host).ok()?;
    psl::domain_str(&ascii).map(str::to_owned)
}

/// `host` is an IPv4 or IPv6 literal (also in brackets, or as a plain number).
pub fn is_ip(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.parse::<std::net::IpAddr>().is_ok()
        || (!h.is_empty() && h.bytes().all(|b| b.is_ascii_digit()))
}

/// The Unicode form of `host` (punycode labels decoded), lower-cased.
pub fn unicode(host: &str) -> String {
    static MADE: Memo = Memo::new();
    MADE.get_or_make(host, || idna::domain_to_unicode(&host.to_lowercase()).0)
}

/// `host` has a label in punycode (`xn--`).
pub fn has_punycode(host: &str) -> bool {
    host.split('.')
        .any(|l| l.to_ascii_lowercase().starts_with("xn--"))
}

/// Some label of `host`, in Unicode, mixes scripts (Latin with Cyrillic, say), the classic
/// homograph.
pub fn mixes_scripts(host: &str) -> bool {
    unicode(host).split('.').any(|l| !l.is_single_script())
}

/// The UTS #39 skeleton of a domain's Unicode form: two domains a reader cannot tell apart
/// have the same skeleton ("pаypal.com" with a Cyrillic а and "paypal.com").
pub fn skeleton(domain: &str) -> String {
    static MADE: Memo = Memo::new();
    // The skeleton maps some characters to capitals ("0" to "O"): fold case afterwards.
    MADE.get_or_make(domain, || {
        unicode_security::skeleton(&unicode(domain))
            .collect::<String>()
            .to_lowercase()
    })
}

/// Results remembered process-wide: every message is compared with the same trusted
/// domains (brands, ours), whose Unicode forms and skeletons need making once, not per
/// message on every thread.
struct Memo(std::sync::Mutex<Option<std::collections::HashMap<String, String>>>);

impl Memo {
    /// Past this many, the memo starts again (a bound on memory, not a cache policy).
    const MOST: usize = 4096;

    const fn new() -> Memo {
        Memo(std::sync::Mutex::new(None))
    }

    fn get_or_make(&self, key: &str, make: impl FnOnce() -> String) -> String {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(v) = lock().as_ref().and_then(|m| m.get(key)) {
            return v.clone();
        }
        // Made outside the lock: two threads may both make it, which is harmless.
        let v = make();
        let mut m = lock();
        let m = m.get_or_insert_with(Default::default);
        if m.len() >= Self::MOST {
            m.clear();
        }
        m.insert(key.to_owned(), v.clone());
        v
    }
}

/// How `candidate` resembles `known` without being it: `Some(reason)` when it does.
pub fn resembles(candidate: &str, known: &str) -> Option<Resemblance> {
    // Compared as a reader sees them: punycode decoded.
    let (c, k) = (unicode(candidate), unicode(known));
    if c == k || c.is_empty() || k.is_empty() {
        return None;
    }
    if skeleton(&c) == skeleton(&k) {
        return Some(Resemblance::Confusable);
    }
    // Compare the names without their common suffix: "examp1e.com" vs "example.com".
    // The same name under another suffix ("example.co.uk") is most often the same owner.
    let (cn, kn) = (name_part(&c), name_part(&k));
    let len = kn.chars().count();
    if len >= 5 {
        // One letter off in a short name is too often a different, honest name
        // ("qmail" and "gmail"); short names are caught when they are drawn alike.
        let d = strsim::damerau_levenshtein(cn, kn);
        if (d == 1 && len >= 6) || (d == 2 && len >= 10) {
            return Some(Resemblance::Edit(d));
        }
        // The known name inside a longer one: "example-secure.com", "example.com.evil.io".
        if cn != kn && (cn.contains(kn) || c.starts_with(&format!("{k}."))) {
            return Some(Resemblance::Contains);
        }
    }
    None
}

/// `host` carries `known` as labels of a longer name it does not belong to
/// ("paypal.com.account-verify.net").
pub fn embeds(host: &str, known: &str) -> bool {
    let (h, k) = (host.to_lowercase(), known.to_lowercase());
    (h.starts_with(&format!("{k}.")) || h.contains(&format!(".{k}.")))
        && registrable(&h).as_deref() != Some(k.as_str())
}

/// How one domain resembles another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resemblance {
    /// Drawn the same (a confusable skeleton).
    Confusable,
    /// This many letters apart.
    Edit(usize),
    /// Contains the other's name.
    Contains,
}

/// The domain without its public suffix ("example" of "example.co.uk").
fn name_part(domain: &str) -> &str {
    match psl::suffix_str(domain) {
        Some(suffix) if domain.len() > suffix.len() + 1 && domain.ends_with(suffix) => {
            &domain[..domain.len() - suffix.len() - 1]
        }
        _ => domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains_follow_the_public_suffix_list() {
        assert_eq!(
            registrable("login.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(
            registrable("a.b.example.com.").as_deref(),
            Some("example.com")
        );
        assert_eq!(registrable("192.0.2.7"), None);
        assert_eq!(registrable("co.uk"), None);
        assert!(is_ip("[2001:db8::1]") && is_ip("3232235777") && !is_ip("example.com"));
    }

    #[test]
    fn look_alikes_are_found_and_strangers_are_not() {
        // Cyrillic а (U+0430) in place of Latin a.
        assert_eq!(
            resembles("p\u{430}ypal.com", "paypal.com"),
            Some(Resemblance::Confusable)
        );
        assert!(mixes_scripts("p\u{430}ypal.com") && !mixes_scripts("paypal.com"));
        let puny = idna::domain_to_ascii("p\u{430}ypal.com").unwrap();
        assert!(has_punycode(&puny));
        assert_eq!(
            resembles(&puny, "paypal.com"),
            Some(Resemblance::Confusable)
        );
        assert_eq!(
            resembles("rnicrosoft.com", "microsoft.com"),
            Some(Resemblance::Confusable)
        );
        assert_eq!(
            resembles("examp1e.com", "example.com"),
            Some(Resemblance::Confusable)
        );
        assert_eq!(
            resembles("exmaple.com", "example.com"),
            Some(Resemblance::Edit(1))
        );
        assert_eq!(
            resembles("example-login.com", "example.com"),
            Some(Resemblance::Contains)
        );
        assert_eq!(resembles("example.com", "example.com"), None);
        assert_eq!(resembles("github.com", "gitlab.com"), None);
        assert!(embeds("paypal.com.account-verify.net", "paypal.com"));
        assert!(embeds("www.paypal.com.evil.io", "paypal.com"));
        assert!(!embeds("www.paypal.com", "paypal.com"));
        assert_eq!(
            resembles("ibm.com", "ibn.com"),
            None,
            "short names are too close to judge"
        );
        assert_eq!(resembles("qmail.org", "gmail.com"), None);
        assert_eq!(
            resembles("yahoo.co.uk", "yahoo.com"),
            None,
            "the same name elsewhere"
        );
        assert_eq!(
            resembles("micros0ft.com", "microsoft.com"),
            Some(Resemblance::Confusable)
        );
        assert_eq!(
            resembles("micosoft.com", "microsoft.com"),
            Some(Resemblance::Edit(1))
        );
    }
}
