//! Where mail for a domain goes (RFC 5321 §5.1): MX records in preference order, equal
//! preferences shuffled, the domain itself when it has no MX, and null MX (RFC 7505).

use std::net::SocketAddr;

use mail_auth::{DnsError, Error, IpLookupStrategy, MessageAuthenticator};

/// One host to try, with its addresses.
pub struct Target {
    /// Host name.
    pub name: String,
    /// Its addresses with the delivery port.
    pub addrs: Vec<SocketAddr>,
}

/// Why there is nowhere to go.
#[derive(Debug)]
pub enum RouteError {
    /// Bounce.
    Permanent(String),
    /// Try again later.
    Temporary(String),
}

/// NXDOMAIN or no records of the type: an answer, not a failure.
fn not_found(e: &Error) -> bool {
    matches!(e, Error::Dns(DnsError::RecordNotFound(_)))
}

/// The hosts to try for `domain`, best first.
pub async fn mx_hosts(
    resolver: &MessageAuthenticator,
    domain: &str,
    port: u16,
) -> Result<Vec<Target>, RouteError> {
    let names: Vec<String> = match resolver
        .mx_lookup(domain, None::<&mail_auth::common::cache::NoCache<_, _>>)
        .await
    {
        Ok(set) => {
            let mut mx: Vec<(u16, u64, String)> = Vec::new();
            for r in set.rrset.iter() {
                for ex in r.exchanges.iter() {
                    mx.push((
                        r.preference,
                        rand::random(),
                        ex.trim_end_matches('.').to_owned(),
                    ));
                }
            }
            if mx.len() == 1 && mx[0].2.is_empty() {
                return Err(RouteError::Permanent(format!(
                    "556 5.1.10 {domain} does not accept mail (null MX, RFC 7505)"
                )));
            }
            mx.sort();
            mx.into_iter()
                .map(|(_, _, n)| n)
                .filter(|n| !n.is_empty())
                .collect()
        }
        Err(e) if not_found(&e) => vec![domain.to_owned()],
        Err(e) => {
            return Err(RouteError::Temporary(format!(
                "451 4.4.3 MX lookup for {domain} failed: {e}"
            )));
        }
    };
    let mut targets = Vec::new();
    let mut last = None;
    for name in names {
        match resolver
            .ip_lookup(
                &name,
                IpLookupStrategy::Ipv4thenIpv6,
                8,
                None::<&mail_auth::common::cache::NoCache<_, _>>,
                None::<&mail_auth::common::cache::NoCache<_, _>>,
            )
            .await
        {
            Ok(ips) if !ips.is_empty() => targets.push(Target {
                addrs: ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect(),
                name,
            }),
            Ok(_) => {}
            Err(e) => last = Some((name, e)),
        }
    }
    if targets.is_empty() {
        return Err(match last {
            Some((name, e)) if not_found(&e) => RouteError::Permanent(format!(
                "550 5.1.2 {domain}: mail host {name} has no address"
            )),
            Some((name, e)) => {
                RouteError::Temporary(format!("451 4.4.3 address lookup of {name} failed: {e}"))
            }
            None => RouteError::Permanent(format!("550 5.1.2 {domain} has no mail host")),
        });
    }
    Ok(targets)
}
