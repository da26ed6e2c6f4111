//! MTA-STS (RFC 8461) for outbound mail: the `_mta-sts` TXT record says a policy exists and
//! its id; the policy comes over HTTPS from `mta-sts.<domain>` (a certificate that verifies,
//! no redirects) and is cached for its `max_age`, refetched when the id changes.

use std::sync::Arc;
use std::time::Duration;

use mail_auth::common::cache::NoCache;
use mail_auth::mta_sts::MtaSts;
use mail_auth::{IpLookupStrategy, MessageAuthenticator};
use mailkeep_core::mta_sts::{self, Policy};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest policy body read.
const MAX_POLICY: usize = 64 * 1024;

/// The policy stored for `domain` that has not expired, with the id it was fetched under.
/// Stored, not cached in memory: every node and every restart keeps trusting what was seen.
async fn stored(store: &crate::Store, domain: &str, now: i64) -> Option<(String, Policy)> {
    let (store, d) = (store.clone(), domain.to_owned());
    let found = match crate::blocking(move || store.sts_policy(&d)).await? {
        Ok(found) => found?,
        Err(e) => {
            tracing::warn!(%domain, error = %e, "reading the stored MTA-STS policy failed");
            return None;
        }
    };
    if found.expires_at <= now {
        return None;
    }
    Some((found.id, mta_sts::parse(&found.text)?))
}

async fn store_policy(
    store: &crate::Store,
    domain: &str,
    id: String,
    text: String,
    policy: &Policy,
    now: i64,
) {
    let expires_at = now.saturating_add(policy.max_age as i64);
    let (store, d) = (store.clone(), domain.to_owned());
    let record = mailkeep_core::store::StsPolicy {
        id,
        text,
        expires_at,
    };
    if let Some(Err(e)) = crate::blocking(move || store.put_sts_policy(&d, &record)).await {
        tracing::warn!(%domain, error = %e, "storing the MTA-STS policy failed");
    }
}

/// The policy that applies to `domain`, if any.
pub async fn policy(
    resolver: &MessageAuthenticator,
    store: &crate::Store,
    roots: &Arc<rustls::RootCertStore>,
    domain: &str,
    port: u16,
    now: i64,
) -> Option<Policy> {
    let cached = stored(store, domain, now).await;
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
        Ok((p, text)) => {
            store_policy(store, domain, id, text, &p, now).await;
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
) -> Result<(Policy, String), String> {
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
    let policy = mta_sts::parse(body).ok_or_else(|| format!("{host}: not a valid STSv1 policy"))?;
    Ok((policy, body.to_owned()))
}
