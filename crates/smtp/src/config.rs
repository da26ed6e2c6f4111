//! Session configuration.

use std::time::Duration;

/// What to do with a bare CR or bare LF (one that is not part of a CRLF
/// pair) inside message content received with DATA or BDAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BareNewline {
    /// Store each bare CR and each bare LF as CRLF. A bare line ending never
    /// terminates DATA and never starts a line for dot-unstuffing.
    #[default]
    Normalize,
    /// Consume the content up to the real end of the message, then refuse the
    /// message with `550 5.5.2`.
    Reject,
}

/// Limits and settings of one SMTP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Host name used in the greeting, in the EHLO/HELO reply and in `421`
    /// replies. Control characters and whitespace are removed.
    pub hostname: String,
    /// Longest command line accepted, in bytes including the CRLF
    /// (RFC 5321 §4.5.3.1.4 requires at least 512).
    pub max_command_line: usize,
    /// Longest line inside DATA content, in bytes including the CRLF
    /// (RFC 5321 §4.5.3.1.6 requires at least 1000).
    pub max_data_line: usize,
    /// Largest message accepted, counted in decoded body bytes; advertised
    /// with the SIZE extension (RFC 1869).
    pub max_message_size: usize,
    /// Most recipients accepted in one transaction (RFC 5321 §4.5.3.1.8
    /// requires at least 100).
    pub max_recipients: usize,
    /// Error replies tolerated; the next one is followed by `421 4.7.0` and
    /// the connection is closed.
    pub max_errors: usize,
    /// Idle timeout while waiting for a command (RFC 5321 §4.5.3.2.7).
    pub command_timeout: Duration,
    /// Idle timeout while receiving DATA or BDAT content (RFC 5321 §4.5.3.2.6).
    pub data_timeout: Duration,
    /// Longest a whole session may last, however busy (RFC 5321 only times each step, so
    /// a client sending `NOOP` within every command timeout would otherwise stay forever).
    /// Answered `421 4.4.2`.
    pub max_session: Duration,
    /// `NOOP`, `RSET`, `VRFY` and `HELP` commands tolerated before each further one counts
    /// as an error (Postfix's `smtpd_junk_command_limit`); reset when a message is accepted.
    pub max_junk_commands: usize,
    /// Slowest DATA/BDAT content accepted, bytes per second, after a start of
    /// `data_timeout` (Postfix's `smtpd_min_data_rate`): a client trickling a byte now
    /// and then is cut off with `421 4.4.2`. 0 turns the check off.
    pub min_data_rate: u64,
    /// Treatment of bare CR and bare LF in message content.
    pub bare_newline: BareNewline,
    /// Whether the listener can perform STARTTLS (RFC 3207).
    pub starttls_available: bool,
    /// AUTH PLAIN and LOGIN (RFC 4954) are offered, but only once TLS is active: before
    /// that AUTH is answered `538 5.7.11` and not advertised.
    pub auth_available: bool,
    /// A submission listener (RFC 6409): MAIL before a successful AUTH is answered
    /// `530 5.7.0`.
    pub require_auth: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".to_owned(),
            max_command_line: 2048,
            max_data_line: 65536,
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            max_errors: 10,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            max_session: Duration::from_secs(3600),
            max_junk_commands: 100,
            min_data_rate: 500,
            bare_newline: BareNewline::Normalize,
            starttls_available: false,
            auth_available: false,
            require_auth: false,
        }
    }
}
