//! The tokens the classifier learns from: words of the decoded text and subject, the
//! sender, header field names and a few values that mark mailers, the hosts of links, and
//! the message's structure. Each kind has its own prefix, so "free" in a subject and
//! "free" in the text are different evidence.

use std::collections::HashSet;

use crate::view::View;

/// Words longer than this are spam's padding or encodings: a token for their length only.
const MAX_WORD: usize = 20;
/// Word pairs are taken from this many words at most.
const MAX_PAIRS: usize = 2000;

/// A message's tokens, each once.
pub fn tokens(view: &View, link_hosts: &[String]) -> HashSet<String> {
    let mut out = HashSet::new();
    words(&view.subject, "s:", &mut out);
    if view.subject.chars().filter(|c| c.is_alphabetic()).count() > 4
        && !view.subject.chars().any(|c| c.is_lowercase())
    {
        out.insert("s:ALLCAPS".into());
    }
    words(&view.text, "", &mut out);
    // Shouting is spam's: words in capitals are tokens of their own too.
    for w in view.text.split(|c: char| !c.is_alphanumeric()) {
        let n = w.chars().count();
        if (3..=MAX_WORD).contains(&n)
            && w.chars().any(char::is_uppercase)
            && w.chars().all(|c| c.is_uppercase() || c.is_ascii_digit())
        {
            out.insert(format!("UP:{w}"));
        }
    }
    if let Some(f) = &view.from {
        out.insert(format!("from:{}", f.address));
        out.insert(format!("from@{}", f.domain()));
        words(&f.name, "fromname:", &mut out);
        if f.name.is_empty() {
            out.insert("fromname:none".into());
        }
    } else {
        out.insert("from:none".into());
    }
    for (name, value) in &view.headers {
        // Which fields are present says more about the systems a message passed through
        // on its way to the collector than about the sender (measured: learning them costs
        // recall on the corpus), so only their values below are tokens.
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "received" => received(value, &mut out),
            "x-mailer" | "user-agent" | "x-mimeole" => words(value, "mailer:", &mut out),
            "content-type" => {
                if let Some(t) = value.split(';').next() {
                    out.insert(format!("ct:{}", t.trim().to_ascii_lowercase()));
                }
                if let Some(cs) = value.to_ascii_lowercase().split("charset=").nth(1) {
                    let cs = cs.trim_matches(|c: char| c == '"' || c.is_whitespace());
                    let cs = cs.split([';', '"', ' ']).next().unwrap_or_default();
                    out.insert(format!("charset:{cs}"));
                }
            }
            "content-transfer-encoding" => {
                out.insert(format!("cte:{}", value.to_ascii_lowercase()));
            }
            "message-id" => {
                let domain = value.rsplit_once('@').map_or("", |(_, d)| d);
                out.insert(format!("msgid@{}", domain.trim_end_matches('>')));
                out.insert(format!("msgid-shape:{}", shape(value)));
            }
            _ => {}
        }
    }
    let received = view
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("received"))
        .count();
    out.insert(format!("received:{}", received.min(8)));
    // Pairs of neighbouring words: "click here" says more than "click" and "here".
    let text: Vec<String> = view
        .text
        .split_whitespace()
        .take(MAX_PAIRS)
        .map(str::to_lowercase)
        .collect();
    for pair in text.windows(2) {
        if pair[0].len() >= 3 && pair[1].len() >= 3 && pair[0].len() + pair[1].len() < 30 {
            out.insert(format!("{} {}", pair[0], pair[1]));
        }
    }
    for host in link_hosts {
        out.insert(format!("url:{host}"));
        if let Some(d) = crate::domains::registrable(host) {
            out.insert(format!("urldomain:{d}"));
        }
    }
    for a in &view.attachments {
        out.insert(format!("attach:{}", a.mime));
    }
    if !view.html.is_empty() {
        out.insert("html".into());
        for h in &view.html {
            html_marks(&h.source, &mut out);
        }
    }
    out.insert(format!("size:{}", size_bucket(view.size)));
    out
}

/// Hosts and address blocks a Received field names: where the mail has been.
fn received(value: &str, out: &mut HashSet<String>) {
    for w in value.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | ';')) {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_ascii_lowercase();
        if w.parse::<std::net::Ipv4Addr>().is_ok() {
            let mut prefix = String::new();
            for octet in w.split('.').take(3) {
                prefix.push_str(octet);
                out.insert(format!("rcvd-ip:{prefix}"));
                prefix.push('.');
            }
        } else if w.contains('.')
            && let Some(d) = crate::domains::registrable(&w)
        {
            out.insert(format!("rcvd:{d}"));
        }
    }
}

/// A value's shape: letters as `a`, digits as `9`, runs collapsed ("<3D64FA3C.13325@x>" is
/// "<9a9a.9@a>").
fn shape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars().take(80) {
        let k = if c.is_ascii_digit() {
            '9'
        } else if c.is_alphabetic() {
            'a'
        } else {
            c
        };
        if !out.ends_with(k) || !matches!(k, '9' | 'a') {
            out.push(k);
        }
    }
    out
}

/// Words of `text`, lower-cased, with `prefix`.
fn words(text: &str, prefix: &str, out: &mut HashSet<String>) {
    for w in text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '$' | '\'' | '-' | '!'))) {
        let w = w.trim_matches(|c: char| matches!(c, '\'' | '-'));
        let n = w.chars().count();
        if n < 3 && !w.contains('$') {
            continue;
        }
        if n > MAX_WORD {
            let first = w.chars().next().unwrap_or('?');
            out.insert(format!("{prefix}skip:{first}{}", n / 10 * 10));
            continue;
        }
        out.insert(format!("{prefix}{}", w.to_lowercase()));
    }
}

/// Marks of how the HTML is made: hidden text, images, colours and forms are spam's tools.
fn html_marks(html: &str, out: &mut HashSet<String>) {
    let lower = html.to_ascii_lowercase();
    for (needle, token) in [
        ("<img", "html:img"),
        ("<font", "html:font"),
        ("<table", "html:table"),
        ("<form", "html:form"),
        ("<script", "html:script"),
        ("<iframe", "html:iframe"),
        ("display:none", "html:hidden"),
        ("<center", "html:center"),
        ("bgcolor", "html:bgcolor"),
        ("color=\"#ff0000\"", "html:red"),
        ("<!--", "html:comment"),
        ("&#", "html:entities"),
    ] {
        if lower.contains(needle) {
            out.insert(token.into());
        }
    }
}

fn size_bucket(n: usize) -> usize {
    // Powers of two: 1 KiB, 2 KiB, …
    (usize::BITS - (n / 1024).leading_zeros()) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_kind() {
        let raw = b"From: \"Big Deals\" <promo@deals.example>\r\nSubject: FREE MONEY NOW\r\n\
                    X-Mailer: Mass Mailer 3.1\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\n\
                    Click here for FREE money: http://deals.example/x\r\n\
                    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let view = View::of(raw);
        let t = tokens(&view, &["deals.example".into()]);
        for want in [
            "s:free",
            "s:ALLCAPS",
            "free",
            "money",
            "from:promo@deals.example",
            "from@deals.example",
            "fromname:deals",
            "mailer:mass",
            "ct:text/plain",
            "charset:us-ascii",
            "url:deals.example",
            "skip:a40",
            "UP:FREE",
        ] {
            assert!(t.contains(want), "{want} missing from {t:?}");
        }
        assert!(!t.iter().any(|t| t.starts_with("h:")));
    }
}
