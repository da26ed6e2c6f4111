//! Links and forms: where a message sends its reader, and whether it hides that.

use std::sync::OnceLock;

use regex::Regex;

use crate::domains;
use crate::view::View;

/// One link: where it goes and what the reader sees.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The target as written.
    pub href: String,
    /// The target's host, lower-cased (empty when it has none, as `mailto:`).
    pub host: String,
    /// The target names a user before its host (`https://bank.com@evil.io/`).
    pub userinfo: bool,
    /// The text shown for it (HTML anchors; the URL itself in plain text).
    pub text: String,
    /// It was in an HTML attachment.
    pub attached: bool,
}

/// A form that asks for something.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    /// Where it posts (host, lower-cased; empty: the page itself).
    pub action_host: String,
    /// It has a password field.
    pub password: bool,
    /// It was in an HTML attachment.
    pub attached: bool,
}

/// At most this many links are looked at (a message with thousands is spam's, not a reader's).
const MAX_LINKS: usize = 500;

fn anchor_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?is)<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>"#,
        )
        .expect("anchor pattern")
    })
}

fn form_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?is)<form\b([^>]*)>(.*?)(?:</form\s*>|$)").expect("form pattern")
    })
}

fn action_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?is)\baction\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#)
            .expect("action pattern")
    })
}

fn password_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?is)<input\b[^>]*\btype\s*=\s*["']?password"#).expect("password pattern")
    })
}

fn url_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)\b(?:https?://|www\.)[^\s<>"'()\[\]]+"#).expect("url pattern")
    })
}

fn tag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?s)<[^>]*>").expect("tag pattern"))
}

/// Every link of the message: HTML anchors, and URLs written in the text.
pub fn links(view: &View) -> Vec<Link> {
    let mut out = Vec::new();
    for h in &view.html {
        for c in anchor_re().captures_iter(&h.source).take(MAX_LINKS) {
            let href = c
                .get(1)
                .or(c.get(2))
                .or(c.get(3))
                .map_or("", |m| m.as_str());
            let text = c.get(4).map_or("", |m| m.as_str());
            let text = entities(&tag_re().replace_all(text, " "));
            out.push(link(
                &entities(href),
                text.split_whitespace().collect::<Vec<_>>().join(" "),
                h.attached,
            ));
        }
    }
    for m in url_re().find_iter(&view.text).take(MAX_LINKS) {
        let url = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if !out.iter().any(|l| l.href == url) {
            out.push(link(url, url.to_owned(), false));
        }
    }
    out.truncate(MAX_LINKS);
    out
}

fn link(href: &str, text: String, attached: bool) -> Link {
    let (host, userinfo) = host_of(href);
    Link {
        href: href.to_owned(),
        host,
        userinfo,
        text,
        attached,
    }
}

/// The host of a URL (lower-cased) and whether a user is named before it.
pub fn host_of(href: &str) -> (String, bool) {
    let href = href.trim();
    let with_scheme = if href.to_ascii_lowercase().starts_with("www.") {
        format!("http://{href}")
    } else {
        href.to_owned()
    };
    match url::Url::parse(&with_scheme) {
        Ok(u) => (
            u.host_str().unwrap_or_default().to_lowercase(),
            !u.username().is_empty() || u.password().is_some(),
        ),
        Err(_) => (String::new(), false),
    }
}

/// Every form of the message's HTML.
pub fn forms(view: &View) -> Vec<Form> {
    let mut out = Vec::new();
    for h in &view.html {
        for c in form_re().captures_iter(&h.source).take(MAX_LINKS) {
            let attrs = c.get(1).map_or("", |m| m.as_str());
            let inner = c.get(2).map_or("", |m| m.as_str());
            let action = action_re()
                .captures(attrs)
                .and_then(|a| a.get(1).or(a.get(2)).or(a.get(3)))
                .map_or(String::new(), |m| host_of(&entities(m.as_str())).0);
            out.push(Form {
                action_host: action,
                password: password_re().is_match(inner),
                attached: h.attached,
            });
        }
    }
    out
}

/// The host a link's text shows, when the text looks like an address ("www.bank.com",
/// "https://bank.com/login", "bank.com").
pub fn shown_host(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches(['.', ',', '/']);
    if t.contains(char::is_whitespace) || !t.contains('.') {
        return None;
    }
    let (host, _) = host_of(t);
    if !host.is_empty() {
        return Some(host);
    }
    // A bare domain: letters, digits, dots and hyphens with a known suffix.
    let bare = t.split('/').next()?.to_lowercase();
    let plausible = bare
        .chars()
        .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        && psl::suffix(bare.as_bytes()).is_some_and(|s| s.is_known())
        && domains::registrable(&bare).is_some();
    plausible.then_some(bare)
}

/// The common character references decoded (enough for hosts and anchor text).
fn entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // Bytes, not a slice: the 12th byte may fall inside a character.
        let end = rest.bytes().take(12).position(|b| b == b';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::Html;

    fn html(source: &str) -> View {
        View {
            html: vec![Html {
                source: source.into(),
                attached: false,
            }],
            ..View::default()
        }
    }

    #[test]
    fn anchors_give_target_and_shown_text() {
        let v = html(
            r#"<p>Sign in at <A HREF="https://bit.ly/3xYz">https://<b>login.example.com</b></A>
               or <a class=x href='http://bank.example@198.51.100.7/a?b=1&amp;c=2'>here</a>
               <a href=https://&#x65;vil.test/>x</a>"#,
        );
        let l = links(&v);
        assert_eq!(l.len(), 3, "{l:?}");
        assert_eq!(l[0].host, "bit.ly");
        assert_eq!(l[0].text, "https:// login.example.com");
        assert_eq!(l[1].host, "198.51.100.7");
        assert!(l[1].userinfo);
        assert_eq!(l[1].href, "http://bank.example@198.51.100.7/a?b=1&c=2");
        assert_eq!(l[2].host, "evil.test");
        assert_eq!(
            shown_host("www.Example.com").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            shown_host("example.co.uk/login").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(shown_host("Click here."), None);
        assert_eq!(shown_host("v1.2"), None);
    }

    #[test]
    fn text_urls_and_forms() {
        let mut v = html(
            r#"<form method=post action="https://collect.test/p"><input name=u>
               <input type="password" name=p></form><form action=/search><input name=q></form>"#,
        );
        v.text = "See www.example.org/news, or https://a.test/x.".into();
        let l = links(&v);
        assert_eq!(
            l.iter().map(|l| l.host.as_str()).collect::<Vec<_>>(),
            ["www.example.org", "a.test"]
        );
        let f = forms(&v);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].action_host, "collect.test");
        assert!(f[0].password && !f[1].password);
    }
}
