//! `mailkeep.toml`: the configuration file, its defaults and the commented template `init`
//! writes.
//!
//! Every key has a default, so a file may hold only what differs. Unknown keys are errors (a
//! typo must not silently fall back to a default). Relative paths are relative to the data
//! directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server's own host name: greeting, `Received:`, TLS certificate.
    pub hostname: String,
    /// Listeners.
    #[serde(default)]
    pub listen: Listen,
    /// TLS certificate and key.
    #[serde(default)]
    pub tls: Tls,
    /// SMTP limits.
    #[serde(default)]
    pub smtp: Smtp,
    /// IMAP limits.
    #[serde(default)]
    pub imap: Imap,
    /// Account policy.
    #[serde(default)]
    pub accounts: Accounts,
    /// Limits on what authenticated users send.
    #[serde(default)]
    pub submission: Submission,
    /// Throttling of password guessing.
    #[serde(default)]
    pub auth: Auth,
    /// The outbound queue and delivery to other servers.
    #[serde(default)]
    pub outbound: Outbound,
    /// Where DNS questions go.
    #[serde(default)]
    pub dns: Dns,
    /// What happens to inbound mail that fails authentication.
    #[serde(default)]
    pub inbound: Inbound,
    /// The spam and phishing verdict on inbound mail.
    #[serde(default)]
    pub verdict: Verdict,
    /// The tamper-evident journal.
    #[serde(default)]
    pub journal: Journal,
    /// How long message bodies are kept.
    #[serde(default)]
    pub retention: Retention,
    /// Memory that message content in flight may take.
    #[serde(default)]
    pub memory: Memory,
    /// Where metadata lives: this data directory (the default) or a PostgreSQL database
    /// shared by several nodes.
    #[serde(default)]
    pub store: StoreConfig,
    /// Where message bodies live: with the metadata (the default), or an S3 object store
    /// shared by the nodes.
    #[serde(default)]
    pub blobs: BlobsConfig,
}

/// Which backend holds metadata and bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// SQLite and segment files in the data directory.
    #[default]
    Embedded,
    /// PostgreSQL, shared by every node that points at it.
    Postgres,
}

/// `[store]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The backend.
    pub backend: BackendKind,
    /// For `postgres`: the database, `postgres://user@host:port/db` (no password in it).
    pub url: Option<String>,
    /// A file holding the database password (first line), readable by the server only.
    pub password_file: Option<std::path::PathBuf>,
    /// Or the environment variable holding it.
    pub password_env: Option<String>,
    /// TLS to the database, the server's certificate verified against the system's roots
    /// and `ca_file`. Also on when the URL says `sslmode=require`.
    pub tls: bool,
    /// Extra trusted certificates (PEM) for the database's certificate, such as a private CA.
    pub ca_file: Option<std::path::PathBuf>,
}

impl StoreConfig {
    /// Whether connections to the database must be TLS.
    pub fn tls_required(&self) -> bool {
        self.tls
            || self.ca_file.is_some()
            || self
                .url
                .as_deref()
                .is_some_and(|u| u.contains("sslmode=require"))
    }

    /// A PostgreSQL store needs a URL, and the URL no password: one there would be in every
    /// copy of the configuration and in error messages.
    pub fn validate(&self) -> Result<(), String> {
        match (self.backend, &self.url) {
            (BackendKind::Postgres, None) => {
                Err("store.url is required with backend = \"postgres\"".into())
            }
            (BackendKind::Postgres, Some(url)) if url_has_password(url) => Err(
                "store.url must not contain a password; use store.password_file or store.password_env"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// The database password from its file or variable (`None`: the URL needs none).
    pub fn password(&self) -> Result<Option<String>, String> {
        secret_from("store.password", &self.password_file, &self.password_env)
    }
}

/// Where message bodies go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobsKind {
    /// With the metadata: segment files (embedded) or the database (PostgreSQL).
    #[default]
    Store,
    /// An S3-compatible object store (AWS S3, Garage, Ceph RGW, MinIO).
    S3,
}

/// `[blobs]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsConfig {
    /// The backend.
    pub backend: BlobsKind,
    /// The store's URL (`http://127.0.0.1:3900` for a local Garage node); unset for AWS S3.
    pub endpoint: Option<String>,
    /// The bucket (it must exist).
    pub bucket: Option<String>,
    /// The region (`garage` for Garage; AWS: the bucket's region).
    pub region: Option<String>,
    /// The access key id.
    pub key_id: Option<String>,
    /// A file holding the secret key (first line), readable by the server only.
    pub secret_file: Option<std::path::PathBuf>,
    /// Or the environment variable holding it.
    pub secret_env: Option<String>,
    /// Keys go under this prefix (default `bodies`).
    pub prefix: Option<String>,
}

impl BlobsConfig {
    /// S3 needs a bucket, a key and its secret, and the PostgreSQL store: the embedded
    /// store's segment files are its bodies.
    pub fn validate(&self, store: BackendKind) -> Result<(), String> {
        if self.backend != BlobsKind::S3 {
            return Ok(());
        }
        if store != BackendKind::Postgres {
            return Err(
                "blobs.backend = \"s3\" needs store.backend = \"postgres\" (the embedded store keeps bodies in its own files)"
                    .into(),
            );
        }
        for (name, v) in [("bucket", &self.bucket), ("key_id", &self.key_id)] {
            if v.as_deref().is_none_or(str::is_empty) {
                return Err(format!("blobs.{name} is required with backend = \"s3\""));
            }
        }
        if self.secret_file.is_none() && self.secret_env.is_none() {
            return Err(
                "blobs.secret_file or blobs.secret_env is required with backend = \"s3\"".into(),
            );
        }
        Ok(())
    }

    /// The secret key from its file or variable.
    pub fn secret(&self) -> Result<String, String> {
        secret_from("blobs.secret", &self.secret_file, &self.secret_env)
            .map(Option::unwrap_or_default)
    }
}

/// A secret's first line from a file, or an environment variable (`None`: neither given).
fn secret_from(
    what: &str,
    file: &Option<std::path::PathBuf>,
    env: &Option<String>,
) -> Result<Option<String>, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{what}_file {}: {e}", path.display()))?;
        return Ok(Some(text.lines().next().unwrap_or("").to_owned()));
    }
    if let Some(var) = env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| format!("{what}_env: ${var} is not set"));
    }
    Ok(None)
}

/// Memory for message content in flight. While a message arrives (SMTP DATA/BDAT, IMAP
/// APPEND) a connection holds at most 64 KiB of it in memory and spools the rest to a file;
/// the complete message is read back to be checked and stored only within this budget.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Memory {
    /// Bytes of complete messages in memory at once, server-wide (each counted twice: the
    /// checks and the store each may hold a copy). A message larger than the whole budget
    /// waits until it has the budget to itself.
    pub message_bytes: u64,
    /// Seconds a message waits for budget before it is answered "try again later"
    /// (SMTP 451 4.3.1, IMAP NO [UNAVAILABLE]).
    pub wait_secs: u64,
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            message_bytes: 112 * 1024 * 1024,
            wait_secs: 30,
        }
    }
}

/// Retention: how long after arrival a message's bytes must be kept, deleted or not.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// `7y`, `90d`, `26w`, or `forever`.
    pub keep: String,
    /// Per-domain overrides, e.g. `{ "example.org" = "10y" }`.
    pub domains: std::collections::BTreeMap<String, String>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep: "7y".into(),
            domains: Default::default(),
        }
    }
}

/// The longest setting in seconds (a year).
const MAX_DURATION_SECS: u64 = 366 * 86_400;

/// The longest finite retention period (100,000 years): past it, say `forever`.
const MAX_PERIOD_DAYS: i64 = 100_000 * 366;

/// Parses a retention period into seconds; `None` means forever.
pub fn parse_period(s: &str) -> Result<Option<i64>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    let unit = s.chars().last().ok_or("empty retention period")?;
    let n: i64 = s[..s.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| format!("retention period {s:?}: expected e.g. 7y, 90d, 26w or forever"))?;
    if n < 0 {
        return Err(format!("retention period {s:?} is negative"));
    }
    let days = match unit {
        'y' => n.checked_mul(365).and_then(|d| d.checked_add(n / 4)),
        'w' => n.checked_mul(7),
        'd' => Some(n),
        _ => {
            return Err(format!(
                "retention period {s:?}: the unit must be y, w or d"
            ));
        }
    };
    // A period too long to count in seconds would wrap into a short one and purge early.
    let secs = days
        .filter(|&d| d <= MAX_PERIOD_DAYS)
        .map(|d| d * 86_400)
        .ok_or_else(|| {
            format!("retention period {s:?} is longer than 100000 years; use forever")
        })?;
    Ok(Some(secs))
}

impl Retention {
    /// The policy in one line, as the journal records it: `keep=7y; example.org=10y`.
    pub fn describe(&self) -> String {
        let mut s = format!("keep={}", self.keep);
        for (d, p) in &self.domains {
            s.push_str(&format!("; {d}={p}"));
        }
        s
    }

    /// The period for a domain, in seconds (`None`: forever).
    pub fn for_domain(&self, domain: &str) -> Option<i64> {
        let s = self.domains.get(domain).unwrap_or(&self.keep);
        parse_period(s).ok().flatten()
    }
}

/// The journal (DESIGN §4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Journal {
    /// Seconds between signed checkpoints (written only when the journal grew).
    pub checkpoint_secs: u64,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            checkpoint_secs: 300,
        }
    }
}

/// Limits on authenticated senders (RFC 6409).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Submission {
    /// Messages one account may submit per hour (`451 4.7.1` beyond).
    pub max_messages_per_hour: u32,
    /// Recipients per submitted message (`452 4.5.3` beyond).
    pub max_recipients_per_message: usize,
    /// Concurrent connections to the submission and submissions listeners in all (a pool of
    /// their own: a flood of the MX listener cannot take them).
    pub max_connections: usize,
    /// Concurrent submission connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Of `max_connections`, slots only authenticated sessions may hold; when the rest are
    /// all taken by connections not authenticated, the oldest of those is closed for a new one.
    pub reserved_for_authenticated: usize,
}

impl Default for Submission {
    fn default() -> Self {
        Submission {
            max_messages_per_hour: 300,
            max_recipients_per_message: 50,
            max_connections: 500,
            max_connections_per_ip: 20,
            reserved_for_authenticated: 100,
        }
    }
}

/// Throttling of failed logins (SMTP AUTH, IMAP LOGIN/AUTHENTICATE).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Failures from one address (an IPv6 /64) within `window_secs` before it is refused
    /// outright, right password or not, until the oldest failure leaves the window.
    pub max_failures_per_ip: u32,
    /// Failures for one user name, from anywhere, before that name is refused the same way.
    /// Higher than the per-address limit: an attacker can use it to lock a user out.
    pub max_failures_per_account: u32,
    /// The window failures are counted in.
    pub window_secs: u64,
    /// A failure is answered after this many milliseconds times the failures so far from
    /// that address (growing), at most ten times this.
    pub failure_delay_ms: u64,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            max_failures_per_ip: 10,
            max_failures_per_account: 30,
            window_secs: 3600,
            failure_delay_ms: 1000,
        }
    }
}

/// The outbound queue (RFC 5321 §4.5.4.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbound {
    /// The port MX hosts are contacted on (25; tests use others).
    pub port: u16,
    /// Give up and bounce after this many seconds in the queue (default 5 days).
    pub expiry_secs: u64,
    /// Send the sender a delay warning after this many seconds; 0 = never.
    pub delay_warning_secs: u64,
    /// Wait before the first retry; doubled for every further one.
    pub retry_initial_secs: u64,
    /// Longest wait between retries.
    pub retry_max_secs: u64,
    /// Destinations delivered to at once.
    pub workers: usize,
    /// Seconds to wait for a TCP connection and for each reply.
    pub timeout_secs: u64,
    /// Extra trusted CA certificates (PEM) for verifying peers, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Port MTA-STS policies are fetched from (443; tests use others).
    pub mta_sts_port: u16,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            port: 25,
            expiry_secs: 5 * 24 * 3600,
            delay_warning_secs: 4 * 3600,
            retry_initial_secs: 300,
            retry_max_secs: 4 * 3600,
            workers: 4,
            timeout_secs: 300,
            ca_file: None,
            mta_sts_port: 443,
        }
    }
}

/// DNS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// `HOST:PORT` of the resolver to ask (UDP and TCP); unset: the system's resolvers.
    pub resolver: Option<SocketAddr>,
    /// Ask no one: every lookup fails at once (SPF/DMARC temperror, remote mail deferred).
    /// For isolated test machines; `MAILKEEP_DNS_RESOLVER=none` sets it too.
    pub offline: bool,
}

/// Policy for inbound mail on the MX listener (SPF, DKIM, DMARC, ARC).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Inbound {
    /// Check SPF, DKIM, DMARC and ARC and add `Authentication-Results:`.
    pub authenticate: bool,
    /// Reject (`550 5.7.1`) mail failing DMARC of a domain with `p=reject`; `p=quarantine`
    /// failures go to Junk either way.
    pub enforce_dmarc: bool,
    /// Reject unauthenticated mail on the MX port whose From is one of our own domains even
    /// if that domain publishes no DMARC policy (the anti-spoofing rule).
    pub protect_own_domains: bool,
    /// Own domains exempt from that rule (e.g. one whose mail also leaves through a
    /// third-party service that does not sign).
    pub unprotected_domains: Vec<String>,
}

impl Default for Inbound {
    fn default() -> Self {
        Inbound {
            authenticate: true,
            enforce_dmarc: true,
            protect_own_domains: true,
            unprotected_domains: Vec::new(),
        }
    }
}

/// `[verdict]`: the spam and phishing verdict on mail arriving on the MX listener. A score
/// adds up what the verdict saw (`mailkeep verdict explain FILE` shows it for a message).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Verdict {
    /// Judge inbound mail at all.
    pub enabled: bool,
    /// At or above this score a message goes to Junk.
    pub junk_at: f64,
    /// At or above this score it is refused during the SMTP transaction (`550 5.7.1`).
    pub refuse_at: f64,
    /// A sender imitating one of our own domains is refused whatever the score.
    pub refuse_lookalikes: bool,
    /// Mail delivered despite signs of deception carries a warning at the top of its text.
    pub banner: bool,
    /// Senders (addresses, or domains as `@example.com`) always delivered.
    pub allow: Vec<String>,
    /// Per recipient domain, any of the fields above.
    pub domains: std::collections::HashMap<String, VerdictOverride>,
}

/// `[verdict.domains."example.org"]`: what differs for one recipient domain.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerdictOverride {
    /// See [`Verdict::enabled`].
    pub enabled: Option<bool>,
    /// See [`Verdict::junk_at`].
    pub junk_at: Option<f64>,
    /// See [`Verdict::refuse_at`].
    pub refuse_at: Option<f64>,
    /// See [`Verdict::refuse_lookalikes`].
    pub refuse_lookalikes: Option<bool>,
    /// See [`Verdict::banner`].
    pub banner: Option<bool>,
    /// Added to [`Verdict::allow`].
    pub allow: Vec<String>,
}

impl Default for Verdict {
    fn default() -> Self {
        Verdict {
            enabled: true,
            junk_at: 4.5,
            refuse_at: 15.0,
            refuse_lookalikes: true,
            banner: true,
            allow: Vec::new(),
            domains: std::collections::HashMap::new(),
        }
    }
}

impl Verdict {
    /// The settings for mail to `domain`: the defaults with its overrides.
    pub fn for_domain(&self, domain: &str) -> Verdict {
        let mut v = self.clone();
        v.domains.clear();
        if let Some(o) = self.domains.get(&domain.to_ascii_lowercase()) {
            v.enabled = o.enabled.unwrap_or(v.enabled);
            v.junk_at = o.junk_at.unwrap_or(v.junk_at);
            v.refuse_at = o.refuse_at.unwrap_or(v.refuse_at);
            v.refuse_lookalikes = o.refuse_lookalikes.unwrap_or(v.refuse_lookalikes);
            v.banner = o.banner.unwrap_or(v.banner);
            v.allow.extend(o.allow.iter().cloned());
        }
        v
    }
}

/// Socket addresses per listener kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Inbound MX (SMTP with STARTTLS).
    pub smtp: Vec<SocketAddr>,
    /// Submission (STARTTLS).
    pub submission: Vec<SocketAddr>,
    /// Submission over implicit TLS.
    pub submissions: Vec<SocketAddr>,
    /// IMAP with STARTTLS.
    pub imap: Vec<SocketAddr>,
    /// IMAP over implicit TLS.
    pub imaps: Vec<SocketAddr>,
    /// HTTP: client autoconfiguration (none by default).
    pub http: Vec<SocketAddr>,
    /// HTTPS: autoconfiguration and the MTA-STS policy of our domains (none by default).
    pub https: Vec<SocketAddr>,
}

fn loopback(port: u16) -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], port))]
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            smtp: loopback(2525),
            submission: loopback(2587),
            submissions: loopback(2465),
            imap: loopback(2143),
            imaps: loopback(2993),
            http: Vec::new(),
            https: Vec::new(),
        }
    }
}

/// Certificate and key, PEM.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cert: "keys/tls-cert.pem".into(),
            key: "keys/tls-key.pem".into(),
        }
    }
}

/// What to do with a bare CR or LF inside a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BareNewline {
    /// Turn it into CRLF (Postfix ≥ 3.9's default).
    Normalize,
    /// Refuse the message with 550 5.5.2.
    Reject,
}

/// SMTP limits (RFC 5321 §4.5.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    /// Largest message accepted, bytes (advertised as SIZE).
    pub max_message_size: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Longest command line, bytes including CRLF.
    pub max_command_line: usize,
    /// Longest line inside a message, bytes including CRLF.
    pub max_data_line: usize,
    /// Error replies before the connection is closed.
    pub max_errors: usize,
    /// Seconds to wait for a command.
    pub command_timeout_secs: u64,
    /// Seconds to wait for each chunk of message data.
    pub data_timeout_secs: u64,
    /// Seconds a whole session may last.
    pub max_session_secs: u64,
    /// NOOP/RSET/VRFY/HELP tolerated before each counts as an error (Postfix
    /// smtpd_junk_command_limit).
    pub max_junk_commands: usize,
    /// Slowest message data accepted, bytes per second (Postfix smtpd_min_data_rate); 0 = off.
    pub min_data_rate: u64,
    /// Concurrent MX connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Concurrent MX (`smtp` listener) connections in all; submission has its own.
    pub max_connections: usize,
    /// Bare CR/LF policy.
    pub bare_newline: BareNewline,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            max_command_line: 2048,
            max_data_line: 65536,
            max_errors: 10,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            max_session_secs: 3600,
            max_junk_commands: 100,
            min_data_rate: 500,
            max_connections_per_ip: 20,
            max_connections: 1000,
            bare_newline: BareNewline::Normalize,
        }
    }
}

/// IMAP limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Imap {
    /// Longest command line (excluding literals), bytes.
    pub max_line: usize,
    /// Largest literal (e.g. APPEND), bytes.
    pub max_literal: u64,
    /// Seconds of inactivity before autologout (RFC 9051 requires at least 30 minutes).
    pub idle_timeout_secs: u64,
    /// Seconds before an unauthenticated connection is dropped.
    pub login_timeout_secs: u64,
    /// Concurrent connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Concurrent IMAP connections in all.
    pub max_connections: usize,
    /// Of `max_connections`, slots only logged-in sessions may hold; when the rest are all
    /// taken by connections not logged in, the oldest of those is closed for a new one.
    pub reserved_for_authenticated: usize,
    /// Concurrent logged-in sessions of one account.
    pub max_sessions_per_account: usize,
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            max_line: 65536,
            max_literal: 50 * 1024 * 1024,
            idle_timeout_secs: 1800,
            login_timeout_secs: 60,
            max_connections_per_ip: 20,
            max_connections: 1000,
            reserved_for_authenticated: 200,
            max_sessions_per_account: 50,
        }
    }
}

/// Account policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Accounts {
    /// Shortest password accepted.
    pub min_password_length: usize,
    /// Storage each account may use, in bytes (IMAP QUOTA); 0 means no limit.
    pub quota_bytes: u64,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            min_password_length: 12,
            quota_bytes: 0,
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {cause}")]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        cause: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
}

/// Renders a TOML error on one line: where, the offending line, and what is wrong.
fn one_line_error(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let src = text.lines().nth(line - 1).unwrap_or("");
    let src = src.split(" #").next().unwrap_or(src).trim();
    format!("line {line}, column {col} ({src}): {}", e.message())
}

/// The config file's name inside the data directory.
pub const FILE_NAME: &str = "mailkeep.toml";

impl Config {
    /// Reads and validates `DIR/mailkeep.toml`.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::Read {
            path: path.clone(),
            cause,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.clone(),
            message,
        })?;
        // Test harnesses and containers point every instance at one resolver without
        // editing each file; a typo must not silently fall back to the system's resolver.
        if let Ok(v) = std::env::var("MAILKEEP_DNS_RESOLVER") {
            config.dns.offline = v == "none";
            if config.dns.offline {
                return Ok(config);
            }
            config.dns.resolver = Some(v.parse().map_err(|_| ConfigError::Invalid {
                path,
                message: format!("MAILKEEP_DNS_RESOLVER={v} is not HOST:PORT"),
            })?);
        }
        Ok(config)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| one_line_error(text, &e))?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), String> {
        self.store.validate()?;
        self.blobs.validate(self.store.backend)?;
        crate::address::parse_domain(&self.hostname).map_err(|e| format!("hostname: {e}"))?;
        if self.smtp.max_command_line < 512 {
            return Err("smtp.max_command_line must be at least 512 (RFC 5321 §4.5.3.1.4)".into());
        }
        if self.smtp.max_data_line < 1000 {
            return Err("smtp.max_data_line must be at least 1000 (RFC 5321 §4.5.3.1.6)".into());
        }
        if self.imap.idle_timeout_secs < 1800 {
            return Err("imap.idle_timeout_secs must be at least 1800 (RFC 9051 §5.4)".into());
        }
        // With every slot reserved for logged-in sessions, nobody could connect to log in.
        for (section, max, reserved) in [
            (
                "imap",
                self.imap.max_connections,
                self.imap.reserved_for_authenticated,
            ),
            (
                "submission",
                self.submission.max_connections,
                self.submission.reserved_for_authenticated,
            ),
        ] {
            if reserved >= max {
                return Err(format!(
                    "{section}.reserved_for_authenticated ({reserved}) must be less than \
                     {section}.max_connections ({max}): connections that are not logged in \
                     yet need a slot to log in"
                ));
            }
        }
        parse_period(&self.retention.keep).map_err(|e| format!("retention.keep: {e}"))?;
        for (d, p) in &self.retention.domains {
            parse_period(p).map_err(|e| format!("retention.domains.{d}: {e}"))?;
        }
        // Durations are added to clocks and timestamps; a year is far beyond any sensible
        // setting, and the bound keeps those sums from overflowing.
        let durations = [
            ("journal.checkpoint_secs", self.journal.checkpoint_secs),
            ("auth.window_secs", self.auth.window_secs),
            ("outbound.expiry_secs", self.outbound.expiry_secs),
            (
                "outbound.delay_warning_secs",
                self.outbound.delay_warning_secs,
            ),
            (
                "outbound.retry_initial_secs",
                self.outbound.retry_initial_secs,
            ),
            ("outbound.retry_max_secs", self.outbound.retry_max_secs),
            ("outbound.timeout_secs", self.outbound.timeout_secs),
            ("smtp.command_timeout_secs", self.smtp.command_timeout_secs),
            ("smtp.data_timeout_secs", self.smtp.data_timeout_secs),
            ("smtp.max_session_secs", self.smtp.max_session_secs),
            ("imap.idle_timeout_secs", self.imap.idle_timeout_secs),
            ("imap.login_timeout_secs", self.imap.login_timeout_secs),
        ];
        if let Some((key, _)) = durations.iter().find(|(_, v)| *v > MAX_DURATION_SECS) {
            return Err(format!(
                "{key} must be at most {MAX_DURATION_SECS} (a year)"
            ));
        }
        if self.auth.failure_delay_ms > 60_000 {
            return Err("auth.failure_delay_ms must be at most 60000 (a minute)".into());
        }
        if self.journal.checkpoint_secs < 1 {
            return Err("journal.checkpoint_secs must be at least 1".into());
        }
        if self.outbound.workers < 1 || self.outbound.retry_initial_secs < 1 {
            return Err(
                "outbound.workers and outbound.retry_initial_secs must be at least 1".into(),
            );
        }
        if self.smtp.max_recipients < 1 || self.smtp.max_errors < 1 {
            return Err("smtp.max_recipients and smtp.max_errors must be at least 1".into());
        }
        Ok(())
    }

    /// Resolves a configured path against the data directory.
    pub fn path(dir: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    }

    /// The commented file `init` writes: every key with its default.
    pub fn template(hostname: &str) -> String {
        let s = Smtp::default();
        let i = Imap::default();
        let a = Accounts::default();
        let sub = Submission::default();
        let au = Auth::default();
        let o = Outbound::default();
        format!(
            r#"# mailkeep configuration. Every key is shown with its default value; delete a line
# to use the default, change it to override. Paths are relative to this directory.

# This server's own name: SMTP greeting, Received: headers, TLS certificate.
hostname = "{hostname}"

# Where to listen. Each key is a list of socket addresses; [] disables that listener.
# The defaults are unprivileged loopback ports; for a real server use
# smtp 25, submission 587, submissions 465, imap 143, imaps 993 on public addresses.
[listen]
smtp = ["127.0.0.1:2525"]         # inbound mail from other servers (MX), STARTTLS offered
submission = ["127.0.0.1:2587"]   # mail clients sending, STARTTLS
submissions = ["127.0.0.1:2465"]  # mail clients sending, implicit TLS
imap = ["127.0.0.1:2143"]         # mail clients reading, STARTTLS
imaps = ["127.0.0.1:2993"]        # mail clients reading, implicit TLS
http = []                          # client autoconfig (Thunderbird & co.), e.g. ["0.0.0.0:80"]
https = []                         # autoconfig and MTA-STS policy, e.g. ["0.0.0.0:443"]

# PEM files. init generates a self-signed pair; point these at a real certificate.
[tls]
cert = "keys/tls-cert.pem"
key = "keys/tls-key.pem"

[smtp]
max_message_size = {mms}        # bytes; advertised as SIZE
max_recipients = {mr}               # per message (RFC 5321 requires at least 100)
max_command_line = {mcl}            # bytes incl. CRLF (RFC minimum 512)
max_data_line = {mdl}              # bytes incl. CRLF of one message line (RFC minimum 1000)
max_errors = {me}                    # error replies before the connection is closed
command_timeout_secs = {ct}         # RFC 5321 §4.5.3.2: at least 5 minutes
data_timeout_secs = {dt}            # per data chunk; RFC suggests 10 minutes for the end
max_session_secs = {mss}           # a whole session, however busy; then 421 4.4.2
max_junk_commands = {mjc}           # NOOP/RSET/VRFY/HELP; beyond, each is an error (reset per message)
min_data_rate = {mdr}               # bytes/s of DATA/BDAT after a start of data_timeout_secs; 0 = off
max_connections_per_ip = {mcpi}     # MX connections; submission has its own below
max_connections = {mc}
bare_newline = "normalize"         # bare CR or LF in a message: "normalize" to CRLF or "reject"

[imap]
max_line = {iml}                   # bytes of one command line, literals excluded
max_literal = {imlit}            # bytes of one literal (APPEND size)
idle_timeout_secs = {iit}           # autologout; RFC 9051 requires at least 30 minutes
login_timeout_secs = {ilt}            # an unauthenticated connection must log in within this
max_connections_per_ip = {imcpi}
max_connections = {imc}
reserved_for_authenticated = {imra}  # slots only logged-in sessions may take; when the rest are
                                   # full, the oldest connection not logged in makes room
max_sessions_per_account = {imspa}   # logged-in sessions of one user at once

[accounts]
min_password_length = {mpl}
quota_bytes = {qb}                 # storage per account (IMAP QUOTA); 0 = no limit

# Authenticated users sending mail (submission, submissions).
[submission]
max_messages_per_hour = {smph}      # per account; beyond: 451 4.7.1
max_recipients_per_message = {srpm}  # beyond: 452 4.5.3
max_connections = {smc}              # ports 587 and 465 together, apart from the MX pool
max_connections_per_ip = {smcpi}
reserved_for_authenticated = {smra}  # as for [imap]

# Password guessing: failed logins (SMTP AUTH, IMAP) per address and per user name.
[auth]
max_failures_per_ip = {amip}          # within window_secs; then refused, right password or not
max_failures_per_account = {ama}     # from anywhere; then that user name is refused the same way
window_secs = {aw}
failure_delay_ms = {ad}            # a failure waits this times the failures so far (max 10x)

# Delivery to other servers.
[outbound]
port = {op}                          # MX hosts are contacted on this port
expiry_secs = {oe}               # bounce after this long in the queue (5 days)
delay_warning_secs = {odw}          # tell the sender after this long; 0 = never
retry_initial_secs = {ori}          # first retry; doubled each time up to retry_max_secs
retry_max_secs = {orm}
workers = {ow}                        # destinations served at once
timeout_secs = {ot}                 # connect and per-reply timeout
# ca_file = "extra-ca.pem"          # trusted besides the system's CAs (MTA-STS, REQUIRETLS)
mta_sts_port = 443                  # where MTA-STS policies are fetched

[dns]
# resolver = "127.0.0.1:53"        # HOST:PORT; unset = the system's resolvers

# Mail arriving on the smtp (MX) listener.
[inbound]
authenticate = true                # SPF, DKIM, DMARC, ARC -> Authentication-Results:
enforce_dmarc = true               # p=reject failures are refused (550 5.7.1); quarantine -> Junk
protect_own_domains = true         # unauthenticated mail From: our own domains is refused
unprotected_domains = []           # own domains exempt from that rule

# The spam and phishing verdict on mail arriving on the smtp (MX) listener; see
# `mailkeep verdict explain FILE`. Each message gets an X-Mailkeep-Verdict: header.
[verdict]
enabled = true
junk_at = 4.5                      # score at which mail goes to Junk
refuse_at = 15.0                   # score at which it is refused (550 5.7.1)
refuse_lookalikes = true           # senders imitating our own domains are refused
banner = true                      # a warning at the top of deceptive mail that is delivered
allow = []                         # senders always delivered: "a@b.example", "@b.example"
# [verdict.domains."example.org"]  # per recipient domain: any of the above

# How long after arrival message bytes are kept, deleted or not; `mailkeep purge` deletes
# them after that, unless a legal hold (`mailkeep hold`) covers them.
[retention]
keep = "7y"                        # 7y, 90d, 26w or "forever"
domains = {{}}                     # per-domain overrides, e.g. {{ "example.org" = "10y" }}

# The tamper-evident journal of every delivery, submission, expunge and admin change.
[journal]
checkpoint_secs = 300              # a signed checkpoint this often, when the journal grew

# Message content in flight: each connection keeps 64 KiB of a message in memory and
# spools the rest; complete messages are read back within this server-wide budget.
[memory]
message_bytes = {memb}         # each message counts twice its size
wait_secs = {memw}                     # then 451 4.3.1 / NO [UNAVAILABLE]: try again later
"#,
            memb = Memory::default().message_bytes,
            memw = Memory::default().wait_secs,
            amip = au.max_failures_per_ip,
            ama = au.max_failures_per_account,
            aw = au.window_secs,
            ad = au.failure_delay_ms,
            mms = s.max_message_size,
            mr = s.max_recipients,
            mcl = s.max_command_line,
            mdl = s.max_data_line,
            me = s.max_errors,
            ct = s.command_timeout_secs,
            dt = s.data_timeout_secs,
            mss = s.max_session_secs,
            mjc = s.max_junk_commands,
            mdr = s.min_data_rate,
            mcpi = s.max_connections_per_ip,
            mc = s.max_connections,
            iml = i.max_line,
            imlit = i.max_literal,
            iit = i.idle_timeout_secs,
            ilt = i.login_timeout_secs,
            imcpi = i.max_connections_per_ip,
            imc = i.max_connections,
            imspa = i.max_sessions_per_account,
            mpl = a.min_password_length,
            qb = a.quota_bytes,
            smph = sub.max_messages_per_hour,
            srpm = sub.max_recipients_per_message,
            smc = sub.max_connections,
            smcpi = sub.max_connections_per_ip,
            smra = sub.reserved_for_authenticated,
            imra = i.reserved_for_authenticated,
            op = o.port,
            oe = o.expiry_secs,
            odw = o.delay_warning_secs,
            ori = o.retry_initial_secs,
            orm = o.retry_max_secs,
            ow = o.workers,
            ot = o.timeout_secs,
        )
    }
}

/// Whether a `postgres://user:password@…` URL (or a `password=` key) carries a password.
fn url_has_password(url: &str) -> bool {
    if url.split_whitespace().any(|kv| kv.starts_with("password=")) {
        return true;
    }
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        || rest.contains("password=")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_periods_count_in_seconds_and_never_wrap() {
        assert_eq!(parse_period("90d"), Ok(Some(90 * 86_400)));
        assert_eq!(parse_period("2w"), Ok(Some(14 * 86_400)));
        assert_eq!(parse_period("4y"), Ok(Some((4 * 365 + 1) * 86_400)));
        assert_eq!(parse_period(" Forever "), Ok(None));
        assert_eq!(
            parse_period("100000y"),
            Ok(Some((100_000 * 365 + 25_000) * 86_400))
        );
        // Found by fuzz/address: a huge count once wrapped into a short period.
        for huge in ["33333333336666w", "9223372036854775807y", "36600001d"] {
            let e = parse_period(huge).unwrap_err();
            assert!(e.contains("longer than 100000 years"), "{huge}: {e}");
        }
        assert!(parse_period("-1d").unwrap_err().contains("negative"));
        assert!(parse_period("5m").unwrap_err().contains("unit"));
        assert!(parse_period("").is_err());
    }

    #[test]
    fn durations_beyond_a_year_are_refused() {
        let base = Config::template("mail.example.org");
        let set = |key: &str, value: &str| {
            let text: String = base
                .lines()
                .map(|l| {
                    if l.starts_with(&format!("{key} ")) {
                        format!("{key} = {value}\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            Config::parse(&text)
        };
        assert!(set("retry_max_secs", "31622400").is_ok());
        let e = set("retry_max_secs", "18446744073709551615").unwrap_err();
        assert!(e.contains("outbound.retry_max_secs must be at most"), "{e}");
        let e = set("idle_timeout_secs", "31622401").unwrap_err();
        assert!(e.contains("imap.idle_timeout_secs"), "{e}");
        let e = set("failure_delay_ms", "60001").unwrap_err();
        assert!(e.contains("auth.failure_delay_ms"), "{e}");
    }

    #[test]
    fn template_parses_to_defaults() {
        let c = Config::parse(&Config::template("mail.example.org")).unwrap();
        assert_eq!(c.hostname, "mail.example.org");
        assert_eq!(c.listen.smtp, loopback(2525));
        assert_eq!(c.listen.imaps, loopback(2993));
        assert_eq!(c.smtp.max_message_size, Smtp::default().max_message_size);
        assert_eq!(c.accounts.min_password_length, 12);
        assert_eq!(c.smtp.bare_newline, BareNewline::Normalize);
        assert_eq!(c.outbound.expiry_secs, 432_000);
        assert_eq!(c.dns.resolver, None);
        assert!(c.inbound.protect_own_domains);
        assert_eq!(c.submission.max_messages_per_hour, 300);
    }

    #[test]
    fn minimal_file_uses_defaults() {
        let c = Config::parse("hostname = \"mx.example.org\"\n").unwrap();
        assert_eq!(c.imap.idle_timeout_secs, 1800);
        assert_eq!(c.tls.cert, PathBuf::from("keys/tls-cert.pem"));
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(Config::parse("hostname = \"a.b\"\n[smtp]\nmax_recipents = 5\n").is_err());
        assert!(Config::parse("hostname = \"a.b\"\n[imap]\nidle_timeout_secs = 60\n").is_err());
        assert!(Config::parse("hostname = \"a b\"\n").is_err());
        assert!(Config::parse("hostname = \"a.b\"\n[listen]\nsmtp = [\"nope\"]\n").is_err());
        let all_reserved = "hostname = \"a.b\"\n[imap]\nmax_connections = 110\n";
        let err = Config::parse(all_reserved).unwrap_err();
        assert!(
            err.contains("imap.reserved_for_authenticated (200)"),
            "{err}"
        );
    }

    #[test]
    fn the_postgres_backend_needs_a_url_without_a_password() {
        let base = "hostname = \"mx.example.org\"\n[store]\nbackend = \"postgres\"\n";
        assert!(
            Config::parse(base)
                .unwrap_err()
                .contains("store.url is required")
        );
        for bad in [
            "postgres://mk:secret@db.example:5432/mail",
            "host=db user=mk password=secret",
            "postgres://mk@db/mail?password=secret",
        ] {
            let text = format!("{base}url = \"{bad}\"\n");
            let e = Config::parse(&text).unwrap_err();
            assert!(e.contains("must not contain a password"), "{bad}: {e}");
        }
        let ok =
            format!("{base}url = \"postgres://mk@[::1]:5432/mail\"\npassword_env = \"PGPW\"\n");
        let c = Config::parse(&ok).unwrap();
        assert_eq!(c.store.backend, BackendKind::Postgres);
        assert!(c.store.password().unwrap_err().contains("$PGPW is not set"));
        let embedded = Config::parse("hostname = \"mx.example.org\"\n").unwrap();
        assert_eq!(embedded.store.backend, BackendKind::Embedded);
    }

    #[test]
    fn s3_bodies_need_postgres_a_bucket_a_key_and_a_secret_file() {
        let pg = "hostname = \"mx.example.org\"\n[store]\nbackend = \"postgres\"\nurl = \"postgres://mk@db/mail\"\n";
        let e = Config::parse("hostname = \"mx.example.org\"\n[blobs]\nbackend = \"s3\"\n")
            .unwrap_err();
        assert!(e.contains("needs store.backend = \"postgres\""), "{e}");
        let e = Config::parse(&format!("{pg}[blobs]\nbackend = \"s3\"\n")).unwrap_err();
        assert!(e.contains("blobs.bucket is required"), "{e}");
        let e = Config::parse(&format!(
            "{pg}[blobs]\nbackend = \"s3\"\nbucket = \"mail\"\nkey_id = \"GK1\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("blobs.secret_file or blobs.secret_env"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("s3-secret");
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        let c = Config::parse(&format!(
            "{pg}[blobs]\nbackend = \"s3\"\nendpoint = \"http://127.0.0.2:3900\"\nbucket = \"mail\"\n\
             region = \"garage\"\nkey_id = \"GK1\"\nsecret_file = \"{}\"\n",
            secret.display()
        ))
        .unwrap();
        assert_eq!(c.blobs.backend, BlobsKind::S3);
        assert_eq!(c.blobs.secret().unwrap(), "s3cr3t");
        assert_eq!(
            Config::parse(pg).unwrap().blobs.backend,
            BlobsKind::Store,
            "bodies stay with the metadata unless told"
        );
    }

    #[test]
    fn tls_to_the_database_is_asked_for_by_tls_a_ca_file_or_sslmode_require() {
        let store = |extra: &str| {
            Config::parse(&format!(
                "hostname = \"mx.example.org\"\n[store]\nbackend = \"postgres\"\n{extra}"
            ))
            .unwrap()
            .store
        };
        assert!(!store("url = \"postgres://mk@db/mail\"\n").tls_required());
        assert!(store("url = \"postgres://mk@db/mail\"\ntls = true\n").tls_required());
        assert!(
            store("url = \"postgres://mk@db/mail\"\nca_file = \"/etc/mk/db-ca.pem\"\n")
                .tls_required()
        );
        assert!(store("url = \"postgres://mk@db/mail?sslmode=require\"\n").tls_required());
    }
}
