//! What the verdict reads of a message, taken from its MIME structure once: the sender
//! fields, the header fields, the decoded text, every HTML source (bodies and HTML
//! attachments) and the attachments' types and names.

use mail_parser::{MessageParser, MimeHeaders, PartType};

/// An address as written: display name and address.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mailbox {
    /// The display name, trimmed; empty when there is none.
    pub name: String,
    /// The address, lower-cased.
    pub address: String,
}

impl Mailbox {
    /// The domain after the last `@`, lower-cased (empty when there is none).
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// An HTML source of the message.
#[derive(Clone, Debug)]
pub struct Html {
    /// The decoded HTML.
    pub source: String,
    /// It came as an attachment (opened in a browser, outside the mail client's care).
    pub attached: bool,
}

/// An attachment.
#[derive(Clone, Debug)]
pub struct Attachment {
    /// `type/subtype`, lower-cased.
    pub mime: String,
    /// Its file name, when it has one.
    pub name: Option<String>,
}

/// The parts of a message the signals look at.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Every header field: name as written and its raw value.
    pub headers: Vec<(String, String)>,
    /// The first From address.
    pub from: Option<Mailbox>,
    /// Every Reply-To address.
    pub reply_to: Vec<Mailbox>,
    /// The decoded subject.
    pub subject: String,
    /// The decoded text of every body part (HTML bodies turned to text).
    pub text: String,
    /// Every HTML body and HTML attachment.
    pub html: Vec<Html>,
    /// Every attachment.
    pub attachments: Vec<Attachment>,
    /// The message's size in bytes.
    pub size: usize,
}

/// At most this much of a message is parsed.
pub const PARSED_BYTES: usize = 1 << 20;

/// Bodies beyond this many bytes of text are not read further (spam puts its point early;
/// the bound keeps the verdict's time per message flat).
const TEXT_LIMIT: usize = 256 * 1024;

impl View {
    /// Parses `raw`. Broken MIME gives what could be read; never fails.
    pub fn of(raw: &[u8]) -> View {
        let mut v = View {
            size: raw.len(),
            ..View::default()
        };
        // Parsing decodes every part: a 40 MB message would cost its size again in memory
        // on the delivery path. What gives spam and phishing away is in the first megabyte.
        let Some(m) = MessageParser::default().parse(&raw[..raw.len().min(PARSED_BYTES)]) else {
            return v;
        };
        v.headers = m
            .headers_raw()
            .map(|(n, val)| (n.to_owned(), val.trim().to_owned()))
            .collect();
        let mailbox = |a: &mail_parser::Addr<'_>| Mailbox {
            name: a.name().unwrap_or_default().trim().to_owned(),
            address: a.address().unwrap_or_default().trim().to_lowercase(),
        };
        v.from = m.from().and_then(|a| a.first()).map(mailbox);
        v.reply_to = m
            .reply_to()
            .map(|a| a.iter().map(mailbox).collect())
            .unwrap_or_default();
        v.subject = m.subject().unwrap_or_default().to_owned();
        for i in 0..m.text_body_count().max(m.html_body_count()) {
            if v.text.len() >= TEXT_LIMIT {
                break;
            }
            if let Some(t) = m.body_text(i) {
                let room = TEXT_LIMIT.saturating_sub(v.text.len());
                v.text.push_str(cut(&t, room));
                v.text.push('\n');
            }
        }
        for part in m.html_bodies() {
            if let Some(h) = part.text_contents() {
                v.html.push(Html {
                    source: cut(h, TEXT_LIMIT).to_owned(),
                    attached: false,
                });
            }
        }
        for part in m.attachments() {
            let mime = part
                .content_type()
                .map(|ct| {
                    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream"))
                        .to_lowercase()
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            let name = part.attachment_name().map(str::to_owned);
            let html_named = name.as_deref().is_some_and(|n| {
                n.to_lowercase().ends_with(".htm") || n.to_lowercase().ends_with(".html")
            });
            if (mime == "text/html" || html_named)
                && let PartType::Html(h) | PartType::Text(h) = &part.body
            {
                v.html.push(Html {
                    source: cut(h, TEXT_LIMIT).to_owned(),
                    attached: true,
                });
            } else if html_named && let PartType::Binary(b) = &part.body {
                v.html.push(Html {
                    source: String::from_utf8_lossy(&b[..b.len().min(TEXT_LIMIT)]).into_owned(),
                    attached: true,
                });
            }
            v.attachments.push(Attachment { mime, name });
        }
        v
    }

    /// The raw value of the first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
