//! MTA-STS policies (RFC 8461 §3.2): parsing the policy file and matching MX hosts.

/// What a domain asks senders to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to matching MX hosts over verified TLS.
    Enforce,
    /// Report failures but deliver anyway.
    Testing,
    /// No policy.
    None,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// MX patterns: a host name, or `*.` plus a name (one leftmost label).
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
}

/// Largest `max_age` honoured (RFC 8461 §3.2: up to 31557600).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// Parses a policy file; `None` if it is not a valid STSv1 policy.
pub fn parse(text: &str) -> Option<Policy> {
    let mut version = false;
    let mut mode = None;
    let mut mx = Vec::new();
    let mut max_age = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "version" => version = value == "STSv1",
            "mode" => {
                mode = match value {
                    "enforce" => Some(Mode::Enforce),
                    "testing" => Some(Mode::Testing),
                    "none" => Some(Mode::None),
                    _ => return None,
                }
            }
            "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
            "max_age" => max_age = value.parse::<u64>().ok(),
            _ => {}
        }
    }
    let mode = mode?;
    if !version || (mode != Mode::None && mx.is_empty()) {
        return None;
    }
    Some(Policy {
        mode,
        mx,
        max_age: max_age?.min(MAX_AGE_LIMIT),
    })
}

impl Policy {
    /// Whether `host` (an MX target) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => *p == host,
        })
    }
}

/// The policy file mailkeep serves for its own domains: enforce, our host as the only MX.
pub fn own_policy(hostname: &str) -> String {
    format!("version: STSv1\r\nmode: enforce\r\nmx: {hostname}\r\nmax_age: 604800\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let p = parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n").unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 86400);
        assert!(p.allows("mail.example.com."));
        assert!(p.allows("MX1.example.net"));
        assert!(!p.allows("a.b.example.net"), "a wildcard covers one label");
        assert!(!p.allows("example.net"));
        assert!(!p.allows("evil-mail.example.com"));
        assert_eq!(
            parse(&own_policy("mx.example.org")).unwrap().mx,
            ["mx.example.org"]
        );
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert!(
            parse("mode: enforce\nmx: a\nmax_age: 1\n").is_none(),
            "no version"
        );
        assert!(parse("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_none());
        assert!(
            parse("version: STSv1\nmode: enforce\nmax_age: 1\n").is_none(),
            "no mx"
        );
        assert!(
            parse("version: STSv1\nmode: enforce\nmx: a\n").is_none(),
            "no max_age"
        );
        assert_eq!(
            parse("version: STSv1\nmode: none\nmax_age: 99999999999\n")
                .unwrap()
                .max_age,
            MAX_AGE_LIMIT
        );
    }
}
