//! Mail addresses as accounts and aliases know them.
//!
//! Stored addresses are lower-case (`local@domain`); lookups lower-case their input. The
//! local part is restricted to dot-atom characters, so quoted local parts, `%` routing and
//! `!` bang paths can never name an account.

/// A validated, lower-case address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

/// Why a string is not an acceptable address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed address {input:?}: {reason}")]
pub struct AddressError {
    input: String,
    reason: &'static str,
}

fn atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

/// Validates a domain name and returns it lower-cased.
pub fn parse_domain(input: &str) -> Result<String, AddressError> {
    let err = |reason| AddressError {
        input: input.to_owned(),
        reason,
    };
    let d = input.trim_end_matches('.').to_lowercase();
    if d.is_empty() || d.len() > 253 {
        return Err(err("domain must be 1 to 253 characters"));
    }
    for label in d.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(err("each domain label must be 1 to 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(err("a domain label cannot start or end with '-'"));
        }
        if !label.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
        }) {
            return Err(err("a domain may hold only letters, digits, '-' and '.'"));
        }
    }
    // One stored form for both spellings of an IDN: A-labels, as DNS and DMARC use them.
    mailkeep_imap::author::normalize_domain(&d)
        .map_err(|_| err("not a valid internationalised domain name"))
}

impl Address {
    /// Parses `local@domain` (no brackets, no display name).
    pub fn parse(input: &str) -> Result<Address, AddressError> {
        let err = |reason| AddressError {
            input: input.to_owned(),
            reason,
        };
        let (local, domain) = input.rsplit_once('@').ok_or_else(|| err("missing '@'"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(err("local part must be 1 to 64 characters"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(err("local part has a misplaced '.'"));
        }
        if !local.chars().all(|c| c == '.' || atext(c)) || local.contains(['%', '!']) {
            return Err(err("local part holds a character not allowed here"));
        }
        Ok(Address {
            local: local.to_lowercase(),
            domain: parse_domain(domain)?,
        })
    }

    /// Local part.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// Domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The address with a `+tag` subaddress removed, if it had one.
    pub fn without_tag(&self) -> Option<Address> {
        let (base, _) = self.local.split_once('+')?;
        (!base.is_empty()).then(|| Address {
            local: base.to_owned(),
            domain: self.domain.clone(),
        })
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases() {
        let a = Address::parse("Alice.B@Example.ORG").unwrap();
        assert_eq!(a.to_string(), "alice.b@example.org");
        assert_eq!(
            Address::parse("alice+news@example.org")
                .unwrap()
                .without_tag()
                .unwrap()
                .to_string(),
            "alice@example.org"
        );
        assert!(
            Address::parse("alice@example.org")
                .unwrap()
                .without_tag()
                .is_none()
        );
    }

    #[test]
    fn idn_domains_are_stored_as_a_labels() {
        assert_eq!(
            parse_domain("B\u{fc}cher.Example.").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            parse_domain("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            Address::parse("J\u{f6}rg@b\u{fc}cher.example")
                .unwrap()
                .to_string(),
            "j\u{f6}rg@xn--bcher-kva.example"
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "alice",
            "@example.org",
            "alice@",
            "a..b@x.org",
            ".a@x.org",
            "a b@x.org",
            "\"a\"@x.org",
            "a%b@x.org",
            "a@-x.org",
            "a@x..org",
            "a@x_y.org",
            "a\0@x.org",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
