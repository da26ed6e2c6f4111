//! An SMTP client connection to another server (RFC 5321), with opportunistic STARTTLS
//! (RFC 3207, RFC 7435), PIPELINING, CHUNKING, and per-recipient results.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailkeep_smtp::client::{Extensions, ServerReply, dot_stuff, extensions, parse_reply};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How much a connection's TLS must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// STARTTLS when offered; a certificate that does not verify is still used (RFC 7435:
    /// encryption against passive listeners), and noted, so REQUIRETLS can refuse it.
    Opportunistic,
    /// STARTTLS without it: a retry after a failed handshake.
    Plain,
    /// STARTTLS with a certificate valid for the MX name, or no delivery (MTA-STS enforce).
    Verified,
}

/// Checks the certificate against the trusted roots and records the outcome; with `required`
/// a failure ends the handshake, otherwise it is only recorded. The handshake signature is
/// always checked, so the peer must hold the key it presents.
#[derive(Debug)]
struct Recording {
    provider: Arc<rustls::crypto::CryptoProvider>,
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    verified: Arc<std::sync::atomic::AtomicBool>,
    required: bool,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = match &self.webpki {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::General(
                "no trusted certificate authorities".into(),
            )),
        };
        match checked {
            Ok(ok) => {
                self.verified
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(ok)
            }
            Err(e) if self.required => Err(e),
            Err(_) => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The trusted roots: the system's bundle plus the configured extra file.
pub fn load_roots(extra: Option<&std::path::Path>) -> rustls::RootCertStore {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let system = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ];
    let files = system
        .iter()
        .map(std::path::Path::new)
        .filter(|p| p.exists())
        .take(1)
        .chain(extra);
    for file in files {
        match CertificateDer::pem_file_iter(file) {
            Ok(certs) => {
                let (added, ignored) = roots.add_parsable_certificates(certs.flatten());
                tracing::debug!(file = %file.display(), added, ignored, "trusted certificates loaded");
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot read trusted certificates")
            }
        }
    }
    roots
}

/// A connector for one connection, and the flag its verifier sets.
pub fn connector(
    roots: &Arc<rustls::RootCertStore>,
    required: bool,
) -> Result<
    (
        tokio_rustls::TlsConnector,
        Arc<std::sync::atomic::AtomicBool>,
    ),
    String,
> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let webpki = if roots.is_empty() {
        None
    } else {
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .ok()
    };
    let verified = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let verifier = Recording {
        provider: provider.clone(),
        webpki,
        verified: verified.clone(),
        required,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), verified))
}

/// A message to send over an open connection.
pub struct Outgoing<'a> {
    /// Envelope sender.
    pub sender: &'a str,
    /// Recipients.
    pub recipients: &'a [String],
    /// The bytes (CRLF line endings).
    pub body: &'a [u8],
    /// Needs SMTPUTF8.
    pub smtputf8: bool,
    /// Contains 8-bit bytes.
    pub body_8bit: bool,
    /// REQUIRETLS.
    pub requiretls: bool,
}

/// What the peer said about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    /// Accepted (the final reply).
    Sent(String),
    /// Temporary failure.
    Temporary(String),
    /// Permanent failure.
    Permanent(String),
}

fn judge(reply: &ServerReply) -> RcptResult {
    if reply.is_positive() {
        RcptResult::Sent(reply.text())
    } else if reply.is_transient() {
        RcptResult::Temporary(reply.text())
    } else {
        RcptResult::Permanent(reply.text())
    }
}

/// An open, greeted session.
pub struct Client {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    ext: Extensions,
    tls: bool,
    verified: bool,
    timeout: Duration,
    /// The MX host name (for logs and bounces).
    pub host: String,
}

impl Client {
    /// Connects, reads the greeting, says EHLO and upgrades to TLS as `tls` asks.
    pub async fn connect(
        addr: SocketAddr,
        host: &str,
        helo: &str,
        timeout: Duration,
        tls: TlsPolicy,
        roots: &Arc<rustls::RootCertStore>,
    ) -> Result<Client, String> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connection to {host} [{addr}] timed out"))?
            .map_err(|e| format!("connection to {host} [{addr}] failed: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Client {
            io: Box::new(tcp),
            buf: Vec::new(),
            ext: Extensions::default(),
            tls: false,
            verified: false,
            timeout,
            host: host.to_owned(),
        };
        let greeting = c.read_reply().await?;
        if !greeting.is_positive() {
            return Err(format!("{host} greeted with {}", greeting.text()));
        }
        c.hello(helo).await?;
        if tls == TlsPolicy::Verified && !c.ext.starttls {
            return Err(format!(
                "{host} does not offer STARTTLS, which the domain's MTA-STS policy requires"
            ));
        }
        if tls != TlsPolicy::Plain && c.ext.starttls {
            let r = c.command(b"STARTTLS\r\n").await?;
            if r.code != 220 && tls == TlsPolicy::Verified {
                return Err(format!("{host} refused STARTTLS: {}", r.text()));
            }
            if r.code == 220 {
                let name = ServerName::try_from(host.to_owned())
                    .unwrap_or(ServerName::IpAddress(addr.ip().into()));
                let (connector, verified) = connector(roots, tls == TlsPolicy::Verified)?;
                let io = std::mem::replace(&mut c.io, Box::new(tokio::io::duplex(1).0));
                let stream = tokio::time::timeout(timeout, connector.connect(name, io))
                    .await
                    .map_err(|_| format!("TLS handshake with {host} timed out"))?
                    .map_err(|e| format!("TLS handshake with {host} failed: {e}"))?;
                c.io = Box::new(stream);
                c.tls = true;
                c.verified = verified.load(std::sync::atomic::Ordering::Relaxed);
                c.buf.clear();
                c.hello(helo).await?;
            }
        }
        Ok(c)
    }

    async fn hello(&mut self, helo: &str) -> Result<(), String> {
        let r = self.command(format!("EHLO {helo}\r\n").as_bytes()).await?;
        if r.is_positive() {
            self.ext = extensions(&r);
            return Ok(());
        }
        let r = self.command(format!("HELO {helo}\r\n").as_bytes()).await?;
        if r.is_positive() {
            self.ext = Extensions::default();
            Ok(())
        } else {
            Err(format!("{} refused HELO: {}", self.host, r.text()))
        }
    }

    /// Whether the session is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the peer's certificate verified for its MX name.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    async fn read_reply(&mut self) -> Result<ServerReply, String> {
        loop {
            match parse_reply(&self.buf, 4096, 200) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(format!("{} sent a malformed reply ({e:?})", self.host)),
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(self.timeout, self.io.read(&mut chunk))
                .await
                .map_err(|_| format!("{} did not answer in time", self.host))?
                .map_err(|e| format!("reading from {}: {e}", self.host))?;
            if n == 0 {
                return Err(format!("{} closed the connection", self.host));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let host = self.host.clone();
        tokio::time::timeout(self.timeout, async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        })
        .await
        .map_err(|_| format!("writing to {host} timed out"))?
        .map_err(|e| format!("writing to {host}: {e}"))
    }

    async fn command(&mut self, line: &[u8]) -> Result<ServerReply, String> {
        self.write(line).await?;
        self.read_reply().await
    }

    /// Sends one message. `Ok` carries a result per recipient (in order); `Err` means the
    /// connection failed and the results are unknown.
    pub async fn send(&mut self, m: &Outgoing<'_>) -> Result<Vec<RcptResult>, String> {
        let all = |r: RcptResult| vec![r; m.recipients.len()];
        // RFC 8689 §4.2: TLS with a certificate that verifies, and a peer that keeps the
        // promise further (it offers REQUIRETLS).
        if m.requiretls && !(self.tls && self.verified && self.ext.requiretls) {
            let why = if !self.tls {
                "offers no TLS"
            } else if !self.verified {
                "presents a certificate that does not verify"
            } else {
                "does not offer REQUIRETLS"
            };
            return Ok(all(RcptResult::Permanent(format!(
                "550 5.7.10 REQUIRETLS was requested but {} {why}",
                self.host
            ))));
        }
        if m.smtputf8 && !self.ext.smtputf8 {
            return Ok(all(RcptResult::Permanent(format!(
                "553 5.6.7 {} does not support SMTPUTF8, which this message needs",
                self.host
            ))));
        }
        if m.body_8bit && !self.ext.eightbitmime {
            return Ok(all(RcptResult::Permanent(format!(
                "554 5.6.3 {} does not accept 8-bit messages (no 8BITMIME)",
                self.host
            ))));
        }
        if self
            .ext
            .size
            .is_some_and(|s| s > 0 && (m.body.len() as u64) > s)
        {
            return Ok(all(RcptResult::Permanent(format!(
                "552 5.3.4 message too big for {}",
                self.host
            ))));
        }
        let mut mail = format!("MAIL FROM:<{}>", m.sender);
        if self.ext.size.is_some() {
            mail.push_str(&format!(" SIZE={}", m.body.len()));
        }
        if m.body_8bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if m.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        if m.requiretls {
            mail.push_str(" REQUIRETLS");
        }
        mail.push_str("\r\n");
        let rcpt_lines: Vec<String> = m
            .recipients
            .iter()
            .map(|r| format!("RCPT TO:<{r}>\r\n"))
            .collect();
        let (mail_reply, rcpt_replies) = if self.ext.pipelining {
            let mut batch = mail.into_bytes();
            for l in &rcpt_lines {
                batch.extend_from_slice(l.as_bytes());
            }
            self.write(&batch).await?;
            let mail_reply = self.read_reply().await?;
            let mut replies = Vec::new();
            for _ in &rcpt_lines {
                replies.push(self.read_reply().await?);
            }
            (mail_reply, replies)
        } else {
            let mail_reply = self.command(mail.as_bytes()).await?;
            let mut replies = Vec::new();
            if mail_reply.is_positive() {
                for l in &rcpt_lines {
                    replies.push(self.command(l.as_bytes()).await?);
                }
            }
            (mail_reply, replies)
        };
        if !mail_reply.is_positive() {
            let _ = self.command(b"RSET\r\n").await;
            return Ok(all(judge(&mail_reply)));
        }
        let mut results: Vec<Option<RcptResult>> = rcpt_replies
            .iter()
            .map(|r| (!r.is_positive()).then(|| judge(r)))
            .collect();
        if results.iter().all(Option::is_some) {
            let _ = self.command(b"RSET\r\n").await;
            return Ok(results.into_iter().flatten().collect());
        }
        let final_reply = if self.ext.chunking {
            let mut bdat = format!("BDAT {} LAST\r\n", m.body.len()).into_bytes();
            bdat.extend_from_slice(m.body);
            self.command(&bdat).await?
        } else {
            let go = self.command(b"DATA\r\n").await?;
            if go.code != 354 {
                go
            } else {
                self.command(&dot_stuff(m.body)).await?
            }
        };
        let verdict = judge(&final_reply);
        for r in results.iter_mut().filter(|r| r.is_none()) {
            *r = Some(verdict.clone());
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// Ends the session politely.
    pub async fn quit(mut self) {
        let _ = self.command(b"QUIT\r\n").await;
        let _ = self.io.shutdown().await;
    }

    /// Resets between messages on one connection.
    pub async fn reset(&mut self) -> Result<(), String> {
        let r = self.command(b"RSET\r\n").await?;
        if r.is_positive() {
            Ok(())
        } else {
            Err(format!("{} refused RSET: {}", self.host, r.text()))
        }
    }
}
