//! MTA-STS (RFC 8461) for outbound mail: the `_mta-sts` TXT record says a policy exists and
//! its id; the policy comes over HTTPS from `mta-sts.<domain>` (a certificate that verifies,
//! no redirects) and is cached for its `max_age`, refetched when the id changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_auth::common::cache::NoCache;
use mail_auth::mta_sts::MtaSts;
use mail_auth::{IpLookupStrategy, MessageAuthenticator};
use mailkeep_core::mta_sts::{self, Policy};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest policy body read.
const MAX_POLICY: usize = 64 * 1024;

struct Cached {
    id: String,
    policy: Policy,
    expires: i64,
}

/// Policies fetched so far, by domain.
#[derive(Default)]
pub struct Cache {
    map: Mutex<HashMap<String, Cached>>,
}

impl Cache {
    fn get(&self, domain: &str, now: i64) -> Option<(String, Policy)> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(domain)
            .filter(|c| c.expires > now)
            .map(|c| (c.id.clone(), c.policy.clone()))
    }

    fn put(&self, domain: &str, id: String, policy: Policy, now: i64) {
        let expires = now + policy.max_age as i64;
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(
            domain.to_owned(),
            Cached {
                id,
                policy,
                expires,
            },
        );
    }
}

/// The policy that applies to `domain`, if any.
pub async fn policy(
    resolver: &MessageAuthenticator,
    cache: &Cache,
    roots: &Arc<rustls::RootCertStore>,
    domain: &str,
    port: u16,
    now: i64,
) -> Option<Policy> {
    let cached = cache.get(domain, now);
    let record = resolver
        .txt_lookup::<MtaSts>(format!("_mta-sts.{domain}."), None::<&NoCache<_, _>>)
        .await;
    let id = match record {
        Ok(r) => r.id.clone(),
        // No record (or DNS trouble): a cached policy still holds until it expires (§5.1).
        Err(_) => return cached.map(|(_, p)| p),
    };
    if let Some((cached_id, p)) = &cached
        && *cached_id == id
    {
        return Some(p.clone());
    }
    match fetch(resolver, roots, domain, port).await {
        Ok(p) => {
            cache.put(domain, id, p.clone(), now);
            Some(p)
        }
        Err(e) => {
            tracing::warn!(%domain, error = %e, "MTA-STS policy fetch failed");
            cached.map(|(_, p)| p)
        }
    }
}

async fn fetch(
    resolver: &MessageAuthenticator,
    roots: &Arc<rustls::RootCertStore>,
    domain: &str,
    port: u16,
) -> Result<Policy, String> {
    let host = format!("mta-sts.{domain}");
    let ips = resolver
        .ip_lookup(
            &host,
            IpLookupStrategy::Ipv4thenIpv6,
            4,
            None::<&NoCache<_, _>>,
            None::<&NoCache<_, _>>,
        )
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let ip = ips
        .first()
        .ok_or_else(|| format!("{host} has no address"))?;
    let work = async {
        let tcp = tokio::net::TcpStream::connect((*ip, port))
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let (connector, _) = super::client::connector(roots, true)?;
        let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        // HTTP/1.0: the answer ends with the connection and cannot be chunked.
        let req = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: mailkeep\r\n\r\n"
        );
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let mut body = Vec::new();
        (&mut tls)
            .take(MAX_POLICY as u64 + 4096)
            .read_to_end(&mut body)
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        Ok::<_, String>(body)
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .map_err(|_| format!("{host}: timed out"))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{host}: malformed HTTP response"))?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        // Redirects are not followed (RFC 8461 §3.3).
        return Err(format!("{host}: {status}"));
    }
    mta_sts::parse(body).ok_or_else(|| format!("{host}: not a valid STSv1 policy"))
}
