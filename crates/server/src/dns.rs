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
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_secs(5);
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
