//! The SASL mechanisms of SMTP AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login). Decoding only; the caller checks the credentials.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A mechanism the session can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616: one response `authzid NUL authcid NUL password`.
    Plain,
    /// Two responses, user name then password (a de-facto standard Outlook and others use).
    Login,
}

impl Mechanism {
    /// The mechanism named in an AUTH command (case-insensitive).
    pub(crate) fn from_name(name: &str) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case("LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// Decoded credentials, ready to be checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The mechanism that carried them.
    pub mechanism: Mechanism,
    /// The identity to act as (PLAIN's authzid); empty means the same as `username`.
    pub authzid: String,
    /// The identity whose password this is.
    pub username: String,
    /// The password, as sent.
    pub password: String,
}

// The password must never reach a log through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("mechanism", &self.mechanism)
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a response could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaslError {
    /// The client sent `*` (RFC 4954 §4).
    Cancelled,
    /// Not base64, not UTF-8, or not the mechanism's shape.
    Malformed,
}

/// Decodes one client response line (without CRLF); `=` is the empty response.
pub(crate) fn decode_response(line: &str) -> Result<Vec<u8>, SaslError> {
    let line = line.trim_end_matches([' ', '\t']);
    if line == "*" {
        return Err(SaslError::Cancelled);
    }
    if line == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(line).map_err(|_| SaslError::Malformed)
}

fn text(bytes: Vec<u8>) -> Result<String, SaslError> {
    let s = String::from_utf8(bytes).map_err(|_| SaslError::Malformed)?;
    if s.chars().any(|c| c == '\0') {
        return Err(SaslError::Malformed);
    }
    Ok(s)
}

/// Splits a PLAIN message into its three parts.
pub(crate) fn plain(message: Vec<u8>) -> Result<Credentials, SaslError> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let creds = Credentials {
        mechanism: Mechanism::Plain,
        authzid: text(authzid.to_vec())?,
        username: text(user.to_vec())?,
        password: text(pass.to_vec())?,
    };
    if creds.username.is_empty() {
        return Err(SaslError::Malformed);
    }
    Ok(creds)
}

/// LOGIN's two responses.
pub(crate) fn login(user: Vec<u8>, pass: Vec<u8>) -> Result<Credentials, SaslError> {
    let username = text(user)?;
    if username.is_empty() {
        return Err(SaslError::Malformed);
    }
    Ok(Credentials {
        mechanism: Mechanism::Login,
        authzid: String::new(),
        username,
        password: text(pass)?,
    })
}

/// LOGIN's challenges, base64 of `Username:` and `Password:`.
pub(crate) const LOGIN_USER_PROMPT: &str = "VXNlcm5hbWU6";
pub(crate) const LOGIN_PASS_PROMPT: &str = "UGFzc3dvcmQ6";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_splits_three_parts() {
        let c = plain(b"\0alice@example.org\0secret pass".to_vec()).unwrap();
        assert_eq!(c.username, "alice@example.org");
        assert_eq!(c.password, "secret pass");
        assert_eq!(c.authzid, "");
        assert!(plain(b"alice\0secret".to_vec()).is_err());
        assert!(plain(b"a\0b\0c\0d".to_vec()).is_err());
        assert!(plain(b"\0\0secret".to_vec()).is_err());
        assert!(plain(b"\0al\xffice\0x".to_vec()).is_err());
    }

    #[test]
    fn responses_decode_cancel_and_empty() {
        assert_eq!(decode_response("*"), Err(SaslError::Cancelled));
        assert_eq!(decode_response("="), Ok(Vec::new()));
        assert_eq!(decode_response("YWxpY2U="), Ok(b"alice".to_vec()));
        assert_eq!(decode_response("not base64!"), Err(SaslError::Malformed));
    }

    #[test]
    fn debug_hides_password() {
        let c = login(b"u".to_vec(), b"hunter22".to_vec()).unwrap();
        assert!(!format!("{c:?}").contains("hunter22"));
    }
}
