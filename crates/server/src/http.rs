//! A small, strict HTTP/1.1 responder for the few documents mail clients and other servers
//! fetch: the MTA-STS policy of our domains (RFC 8461 §3.3) and the client autoconfiguration
//! file Thunderbird and others ask for. GET and HEAD only, one request per connection, the
//! request head capped at 8 KiB and 10 seconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Kind, Shared, blocking};

const MAX_HEAD: usize = 8 * 1024;

/// A parsed request: method, path (query removed), query, Host without port.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub host: String,
}

/// Parses a request head (up to and including the blank line).
pub(crate) fn parse_request(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut host = String::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("host")
        {
            let v = v.trim();
            // Strip a port; an IPv6 literal keeps its brackets and colons.
            let name = if let Some(end) = v.strip_prefix('[').and_then(|r| r.find(']')) {
                &v[..end + 2]
            } else {
                match v.rsplit_once(':') {
                    Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
                    _ => v,
                }
            };
            host = name.trim_end_matches('.').to_ascii_lowercase();
        }
    }
    Some(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        host,
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn first_port(addrs: &[SocketAddr], default: u16) -> u16 {
    addrs.first().map_or(default, SocketAddr::port)
}

/// The Thunderbird autoconfig document (clientConfig v1.1) for `domain`.
pub(crate) fn autoconfig(shared: &Shared, domain: &str) -> String {
    let host = xml_escape(&shared.config.hostname);
    let domain = xml_escape(domain);
    let l = &shared.config.listen;
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{domain}">
    <domain>{domain}</domain>
    <displayName>{domain} mail (mailkeep)</displayName>
    <incomingServer type="imap">
      <hostname>{host}</hostname>
      <port>{imaps}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>{host}</hostname>
      <port>{submissions}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"#,
        imaps = first_port(&l.imaps, 993),
        submissions = first_port(&l.submissions, 465),
    )
}

fn response(status: &str, content_type: &str, body: &str, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: max-age=300\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Answers one request.
async fn answer(shared: &Arc<Shared>, req: &Request) -> Vec<u8> {
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return response("405 Method Not Allowed", "text/plain", "GET only\n", false);
    }
    let store = shared.store.clone();
    let domains: Vec<String> = blocking(move || store.domains())
        .await
        .and_then(Result::ok)
        .map(|d| d.into_iter().map(|d| d.name).collect())
        .unwrap_or_default();
    let not_found = || response("404 Not Found", "text/plain", "not found\n", head_only);
    match req.path.as_str() {
        "/.well-known/mta-sts.txt" => {
            // Served only as https://mta-sts.<our domain>/ (RFC 8461 §3.3).
            match req.host.strip_prefix("mta-sts.") {
                Some(d) if domains.iter().any(|x| x == d) => response(
                    "200 OK",
                    "text/plain",
                    &mailkeep_core::mta_sts::own_policy(&shared.config.hostname),
                    head_only,
                ),
                _ => not_found(),
            }
        }
        "/mail/config-v1.1.xml" | "/.well-known/autoconfig/mail/config-v1.1.xml" => {
            // The domain from ?emailaddress=, else from the Host (autoconfig.<domain>).
            let from_query = req
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("emailaddress="))
                .map(|a| a.replace("%40", "@"))
                .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()));
            let domain =
                from_query.or_else(|| req.host.strip_prefix("autoconfig.").map(str::to_owned));
            match domain {
                Some(d) if domains.contains(&d) => response(
                    "200 OK",
                    "application/xml",
                    &autoconfig(shared, &d),
                    head_only,
                ),
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

pub(crate) async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, kind: Kind) {
    // A refused HTTP client is closed without a word (MTA-STS fetchers retry).
    let admitted = crate::conn::admit(
        &shared.http_limits,
        &shared.tls,
        stream,
        peer,
        kind == Kind::Https,
        |_| "",
    );
    let Some((mut conn, _slot)) = admitted.await else {
        return;
    };
    let work = async {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 2048];
        let reply = loop {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break match parse_request(&head[..end + 4]) {
                    Some(req) => answer(&shared, &req).await,
                    None => response("400 Bad Request", "text/plain", "bad request\n", false),
                };
            }
            if head.len() > MAX_HEAD {
                break response(
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    "request head too large\n",
                    false,
                );
            }
        };
        conn.write_all(&reply).await?;
        conn.flush().await?;
        Ok::<_, std::io::Error>(())
    };
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(10), work).await {
        tracing::debug!(%peer, error = %e, "http connection ended");
    }
    let _ = conn.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        let r = parse_request(
            b"GET /mail/config-v1.1.xml?emailaddress=a%40example.org HTTP/1.1\r\nHost: Autoconfig.Example.org:8080\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.path, "/mail/config-v1.1.xml");
        assert_eq!(r.query, "emailaddress=a%40example.org");
        assert_eq!(r.host, "autoconfig.example.org");
        let r = parse_request(b"HEAD / HTTP/1.0\r\nhost: [::1]:443\r\n\r\n").unwrap();
        assert_eq!(r.host, "[::1]");
        assert!(parse_request(b"GET /\r\n\r\n").is_none());
        assert!(parse_request(b"GET / HTTP/1.1 extra\r\n\r\n").is_none());
        assert!(parse_request(b"GET / SMTP/1.0\r\n\r\n").is_none());
        assert!(parse_request(b"\xff\xfe / HTTP/1.1\r\n\r\n").is_none());
    }
}
