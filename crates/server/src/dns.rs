//! The one DNS resolver of the process (mail-auth's, on hickory): SPF, DKIM, DMARC, ARC and
//! MX lookups all go through it and share its cache.

use std::time::Duration;

use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};

/// Builds the resolver: the configured `HOST:PORT` (tests point it at a server on loopback),
/// or the system's resolvers.
pub fn resolver(
    configured: Option<std::net::SocketAddr>,
    offline: bool,
) -> Result<MessageAuthenticator, String> {
    resolver_with_timeout(configured, offline, Duration::from_secs(5))
}

/// [`resolver`] with a chosen per-query timeout.
pub fn resolver_with_timeout(
    configured: Option<std::net::SocketAddr>,
    offline: bool,
    timeout: Duration,
) -> Result<MessageAuthenticator, String> {
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    // Each check asks afresh: an admin re-running a check after fixing a record, and the
    // test suite reusing names across scenarios, must not see stale answers.
    opts.cache_size = 0;
    opts.attempts = 2;
    if offline {
        return MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], vec![]), opts)
            .map_err(|e| format!("DNS resolver: {e}"));
    }
    match configured {
        Some(addr) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
            MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], vec![ns]), opts)
                .map_err(|e| format!("DNS resolver {addr}: {e}"))
        }
        None => MessageAuthenticator::new_system_conf()
            .map_err(|e| format!("system DNS configuration: {e}")),
    }
}

/// The SPF verdict for one identity (RFC 7208 `check_host()`): the MAIL FROM address, or
/// `postmaster@<helo>` when it is empty. Returns the result keyword and the explanation of a
/// `fail`, if the domain gives one.
pub async fn check_spf(
    resolver: &MessageAuthenticator,
    ip: std::net::IpAddr,
    helo: &str,
    mail_from: &str,
    hostname: &str,
) -> (String, Option<String>) {
    use mail_auth::spf::verify::SpfParameters;
    let params = if mail_from.is_empty() {
        SpfParameters::verify_ehlo(ip, helo, hostname)
    } else {
        SpfParameters::verify_mail_from(ip, helo, hostname, mail_from)
    };
    let out = resolver.verify_spf(params).await;
    let word = match out.result() {
        mail_auth::SpfResult::Pass => "pass",
        mail_auth::SpfResult::Fail => "fail",
        mail_auth::SpfResult::SoftFail => "softfail",
        mail_auth::SpfResult::Neutral => "neutral",
        mail_auth::SpfResult::TempError => "temperror",
        mail_auth::SpfResult::PermError => "permerror",
        mail_auth::SpfResult::None => "none",
    };
    (word.to_owned(), out.explanation().map(str::to_owned))
}
