//! Parsing of one command line (RFC 5321 §4.1) and of the arguments of MAIL,
//! RCPT and BDAT. The session decides about state; this module only decides
//! about syntax and turns syntax errors into the replies to send.

use crate::address::{self, PathError};
use crate::reply::Reply;

/// The command verbs the session knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    Auth,
    StartTls,
    Unknown,
}

const VERBS: [(&str, Verb); 14] = [
    ("EHLO", Verb::Ehlo),
    ("HELO", Verb::Helo),
    ("MAIL", Verb::Mail),
    ("RCPT", Verb::Rcpt),
    ("DATA", Verb::Data),
    ("BDAT", Verb::Bdat),
    ("RSET", Verb::Rset),
    ("NOOP", Verb::Noop),
    ("QUIT", Verb::Quit),
    ("VRFY", Verb::Vrfy),
    ("EXPN", Verb::Expn),
    ("HELP", Verb::Help),
    ("AUTH", Verb::Auth),
    ("STARTTLS", Verb::StartTls),
];

/// Splits a command line (without its line ending) into verb and
/// arguments; surrounding blanks are removed from the arguments.
pub(crate) fn split_verb(line: &str) -> (Verb, &str) {
    let line = line.trim_end_matches([' ', '\t']);
    let (word, args) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    let verb = VERBS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map_or(Verb::Unknown, |&(_, verb)| verb);
    (verb, args.trim_start_matches([' ', '\t']))
}

/// `s` without `prefix`, compared ASCII case-insensitively.
pub(crate) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Whether the EHLO/HELO argument is one domain or address literal.
pub(crate) fn is_hello_arg(args: &str) -> bool {
    !args.contains([' ', '\t']) && address::is_hello_domain(args)
}

/// Parsed MAIL FROM arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MailArgs<'a> {
    /// Reverse-path without brackets; empty for the null sender.
    pub path: &'a str,
    /// SIZE parameter; `u64::MAX` when the number does not fit.
    pub size: Option<u64>,
    /// BODY=8BITMIME was given.
    pub body_8bit: bool,
    /// SMTPUTF8 was given.
    pub smtputf8: bool,
    /// REQUIRETLS was given (RFC 8689).
    pub requiretls: bool,
}

fn r(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(code, Some(enhanced), text)
}

fn params_syntax() -> Reply {
    r(501, (5, 5, 4), "Syntax error in parameters")
}

fn unsupported_param() -> Reply {
    r(555, (5, 5, 4), "Unsupported parameter")
}

fn needs_smtputf8() -> Reply {
    r(553, (5, 6, 7), "Non-ASCII address requires SMTPUTF8")
}

enum ParamError {
    /// The path is not followed by a space.
    Separator,
    /// A parameter is not `keyword[=value]`.
    Malformed,
}

/// Parses `SP keyword[=value] *(SP keyword[=value])` (RFC 5321 §4.1.2).
fn parse_params(rest: &str) -> Result<Vec<(&str, Option<&str>)>, ParamError> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    if !rest.starts_with(' ') {
        return Err(ParamError::Separator);
    }
    let mut params = Vec::new();
    for token in rest.split(' ').filter(|t| !t.is_empty()) {
        let (key, value) = match token.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (token, None),
        };
        if !is_keyword(key) || value.is_some_and(|v| !is_value(v)) {
            return Err(ParamError::Malformed);
        }
        params.push((key, value));
    }
    Ok(params)
}

fn is_keyword(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_value(v: &str) -> bool {
    !v.is_empty()
        && v.chars().all(|c| {
            (c.is_ascii_graphic() && c != '=')
                || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
        })
}

/// Parses the arguments of MAIL: `FROM:<path> [params]`.
pub(crate) fn parse_mail(args: &str) -> Result<MailArgs<'_>, Reply> {
    let bad_sender = || r(501, (5, 1, 7), "Bad sender address syntax");
    let Some(after) = strip_prefix_ci(args, "FROM:") else {
        return Err(r(501, (5, 5, 4), "Syntax: MAIL FROM:<address>"));
    };
    let Some((path, rest)) = address::split_angle(after.trim_start_matches(' ')) else {
        return Err(bad_sender());
    };
    let params = match parse_params(rest) {
        Ok(p) => p,
        Err(ParamError::Separator) => return Err(bad_sender()),
        Err(ParamError::Malformed) => return Err(params_syntax()),
    };
    let mut mail = MailArgs {
        path,
        size: None,
        body_8bit: false,
        smtputf8: false,
        requiretls: false,
    };
    let (mut seen_body, mut seen_utf8) = (false, false);
    for (key, value) in params {
        if key.eq_ignore_ascii_case("SIZE") {
            let digits = value.filter(|v| v.bytes().all(|b| b.is_ascii_digit()));
            match digits {
                Some(v) if mail.size.is_none() => {
                    mail.size = Some(v.parse::<u64>().unwrap_or(u64::MAX));
                }
                _ => return Err(params_syntax()),
            }
        } else if key.eq_ignore_ascii_case("BODY") {
            if seen_body {
                return Err(params_syntax());
            }
            seen_body = true;
            match value {
                Some(v) if v.eq_ignore_ascii_case("7BIT") => mail.body_8bit = false,
                Some(v) if v.eq_ignore_ascii_case("8BITMIME") => mail.body_8bit = true,
                _ => return Err(unsupported_param()),
            }
        } else if key.eq_ignore_ascii_case("SMTPUTF8") {
            if seen_utf8 || value.is_some() {
                return Err(params_syntax());
            }
            seen_utf8 = true;
            mail.smtputf8 = true;
        } else if key.eq_ignore_ascii_case("REQUIRETLS") {
            if mail.requiretls || value.is_some() {
                return Err(params_syntax());
            }
            mail.requiretls = true;
        } else if key.eq_ignore_ascii_case("AUTH") {
            // RFC 4954 §5: the original submitter, for trusted relays; we relay for no one,
            // so it is accepted and not used.
            if value.is_none() {
                return Err(params_syntax());
            }
        } else {
            return Err(unsupported_param());
        }
    }
    if !path.is_empty() && address::check_path(path).is_err() {
        return Err(bad_sender());
    }
    if !path.is_ascii() && !mail.smtputf8 {
        return Err(needs_smtputf8());
    }
    Ok(mail)
}

/// Parses the arguments of RCPT: `TO:<path>`; returns the path without
/// brackets. No RCPT parameters are supported.
pub(crate) fn parse_rcpt(args: &str, smtputf8: bool) -> Result<&str, Reply> {
    let bad_rcpt = || r(501, (5, 1, 3), "Bad recipient address syntax");
    let Some(after) = strip_prefix_ci(args, "TO:") else {
        return Err(r(501, (5, 5, 4), "Syntax: RCPT TO:<address>"));
    };
    let Some((path, rest)) = address::split_angle(after.trim_start_matches(' ')) else {
        return Err(bad_rcpt());
    };
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(bad_rcpt());
    }
    if !path.eq_ignore_ascii_case("postmaster") {
        if path.is_empty() {
            return Err(bad_rcpt());
        }
        match address::check_path(path) {
            Ok(()) => {}
            Err(PathError::SourceRoute) => {
                return Err(r(501, (5, 1, 3), "Source routes are not accepted"));
            }
            Err(PathError::Syntax) => return Err(bad_rcpt()),
        }
    }
    if !rest.trim_start_matches(' ').is_empty() {
        return Err(unsupported_param());
    }
    if !path.is_ascii() && !smtputf8 {
        return Err(needs_smtputf8());
    }
    Ok(path)
}

/// Parses the arguments of BDAT: `chunk-size [LAST]` (RFC 3030 §2).
pub(crate) fn parse_bdat(args: &str) -> Option<(u64, bool)> {
    let mut tokens = args.split(' ').filter(|t| !t.is_empty());
    let size = tokens.next()?;
    if !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let size = size.parse::<u64>().ok()?;
    let last = match tokens.next() {
        None => false,
        Some(t) if t.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return None,
    };
    if tokens.next().is_some() {
        return None;
    }
    Some((size, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        assert_eq!(split_verb("ehlo  x.y  "), (Verb::Ehlo, "x.y"));
        assert_eq!(split_verb("MaIl FROM:<a@b>"), (Verb::Mail, "FROM:<a@b>"));
        assert_eq!(split_verb("StartTLS"), (Verb::StartTls, ""));
        assert_eq!(split_verb("MAILX"), (Verb::Unknown, ""));
        assert_eq!(split_verb(""), (Verb::Unknown, ""));
    }

    #[test]
    fn malformed_rcpt_paths_are_501_5_1_3() {
        for bad in [
            "TO:<<bob@example.org>>",
            "TO:<bob@example.org>>",
            "TO:<<bob@example.org>",
            "TO:< bob@example.org>",
            "TO:<bob@@example.org>",
            "TO:<bob@example.org><x>",
            "TO:bob@example.org",
            "TO:<bob@example.org.>",
            "TO:<<>>",
            "TO:<>",
        ] {
            let reply = parse_rcpt(bad, true).unwrap_err();
            assert!(reply.to_string().starts_with("501 5.1.3"), "{bad}: {reply}");
        }
        assert_eq!(
            parse_rcpt("TO:<bob@example.org>", false),
            Ok("bob@example.org")
        );
    }

    #[test]
    fn mail_args() {
        let m = parse_mail("FROM:<a@b> SIZE=10 BODY=8bitmime SMTPUTF8").unwrap();
        assert_eq!(
            (m.path, m.size, m.body_8bit, m.smtputf8),
            ("a@b", Some(10), true, true)
        );
        let m = parse_mail("from: <>").unwrap();
        assert_eq!(m.path, "");
        assert_eq!(
            parse_mail("FROM:<a@b> SIZE=99999999999999999999999")
                .unwrap()
                .size,
            Some(u64::MAX)
        );
        assert_eq!(parse_mail("FROM:<a@b> SIZE=").unwrap_err().code, 501);
        assert_eq!(parse_mail("FROM:<a@b> SIZE=+1").unwrap_err().code, 501);
        assert_eq!(
            parse_mail("FROM:<a@b> SIZE=1 SIZE=2").unwrap_err().code,
            501
        );
        assert_eq!(
            parse_mail("FROM:<a@b>SIZE=1").unwrap_err().enhanced,
            Some((5, 1, 7))
        );
        assert_eq!(parse_mail("FROM:<a@b> SMTPUTF8=yes").unwrap_err().code, 501);
        assert_eq!(parse_mail("FROM:<a@b> =x").unwrap_err().code, 501);
        assert_eq!(
            parse_mail("TO:<a@b>").unwrap_err().enhanced,
            Some((5, 5, 4))
        );
    }

    #[test]
    fn bdat_args() {
        assert_eq!(parse_bdat("10"), Some((10, false)));
        assert_eq!(parse_bdat("0 last"), Some((0, true)));
        assert_eq!(
            parse_bdat("18446744073709551615 LAST"),
            Some((u64::MAX, true))
        );
        for bad in [
            "",
            "x",
            "-1",
            "+1",
            "18446744073709551616",
            "1 LAST x",
            "1 FIRST",
            "1.5",
        ] {
            assert_eq!(parse_bdat(bad), None, "{bad:?}");
        }
    }
}
