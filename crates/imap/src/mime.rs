//! The MIME part tree of a message, with byte ranges into the raw message,
//! built from mail-parser's part offsets. Part numbering follows RFC 9051
//! §6.4.5.

use std::ops::Range;

use mail_parser::{Encoding, HeaderName, Message, MessageParser, MessagePart, PartType};

use crate::header;

/// Deepest MIME nesting followed; deeper parts are treated as opaque leaves.
const MAX_MIME_DEPTH: usize = 40;
/// Most nodes built for one message.
const MAX_NODES: usize = 20_000;

/// Content-Type (or Content-Disposition) as needed for BODYSTRUCTURE.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartInfo {
    /// Media type, e.g. `text`.
    pub mtype: String,
    /// Media subtype, e.g. `plain`.
    pub subtype: String,
    /// Content-Type parameters.
    pub params: Vec<(String, String)>,
    /// Content-Disposition type and parameters.
    pub disposition: Option<(String, Vec<(String, String)>)>,
}

impl PartInfo {
    pub fn is(&self, t: &str, s: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(t) && self.subtype.eq_ignore_ascii_case(s)
    }

    fn default_for(parent_digest: bool) -> Self {
        if parent_digest {
            PartInfo {
                mtype: "message".into(),
                subtype: "rfc822".into(),
                ..PartInfo::default()
            }
        } else {
            PartInfo {
                mtype: "text".into(),
                subtype: "plain".into(),
                params: vec![("charset".into(), "US-ASCII".into())],
                disposition: None,
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Leaf,
    Multipart(Vec<Node>),
    Message(Box<MsgNode>),
}

/// One MIME part.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The part's MIME header (for the top part: the message header).
    pub header: Range<usize>,
    /// The part's body (for message/rfc822: the whole encapsulated message).
    pub body: Range<usize>,
    pub kind: Kind,
    pub info: PartInfo,
}

/// A message (top level or encapsulated): its byte range and body part.
#[derive(Debug, Clone)]
pub(crate) struct MsgNode {
    /// The whole message.
    pub range: Range<usize>,
    /// End of its header block (blank line included).
    pub header_end: usize,
    pub root: Node,
}

impl MsgNode {
    pub fn header(&self) -> Range<usize> {
        self.range.start..self.header_end
    }

    pub fn text(&self) -> Range<usize> {
        self.header_end..self.range.end
    }

    /// The child `n` (1-based) of this message, by IMAP numbering: the n-th
    /// part of a multipart body, or the body itself as part 1.
    fn child(&self, n: u32) -> Option<&Node> {
        match &self.root.kind {
            Kind::Multipart(children) => children.get((n as usize).checked_sub(1)?),
            _ if n == 1 => Some(&self.root),
            _ => None,
        }
    }

    /// Resolves a part number path.
    pub fn find(&self, path: &[u32]) -> Option<&Node> {
        let (&first, rest) = path.split_first()?;
        let mut node = self.child(first)?;
        for &n in rest {
            node = match &node.kind {
                Kind::Multipart(children) => children.get((n as usize).checked_sub(1)?)?,
                Kind::Message(m) => m.child(n)?,
                Kind::Leaf => return None,
            };
        }
        Some(node)
    }
}

fn owned_params(ct: &mail_parser::ContentType<'_>) -> Vec<(String, String)> {
    ct.attributes()
        .unwrap_or_default()
        .iter()
        .map(|a| (a.name.to_string(), a.value.to_string()))
        .collect()
}

fn part_info(part: &MessagePart<'_>, parent_digest: bool) -> PartInfo {
    let mut info = PartInfo::default_for(parent_digest);
    for h in &part.headers {
        if h.name == HeaderName::ContentType {
            if let Some(ct) = h.value.as_content_type() {
                let mtype = ct.ctype().trim().to_string();
                if !mtype.is_empty() {
                    let subtype = match ct.subtype() {
                        Some(s) if !s.trim().is_empty() => s.trim().to_string(),
                        _ => match mtype.to_ascii_lowercase().as_str() {
                            "text" => "plain".into(),
                            "multipart" => "mixed".into(),
                            "message" => "rfc822".into(),
                            _ => "octet-stream".into(),
                        },
                    };
                    info.mtype = mtype;
                    info.subtype = subtype;
                    info.params = owned_params(ct);
                }
            }
        } else if h.name == HeaderName::ContentDisposition
            && let Some(cd) = h.value.as_content_type()
            && !cd.ctype().trim().is_empty()
        {
            info.disposition = Some((cd.ctype().trim().to_string(), owned_params(cd)));
        }
    }
    info
}

struct Builder {
    len: usize,
    nodes: usize,
}

impl Builder {
    fn clamp(&self, a: u32, b: u32) -> Range<usize> {
        let a = (a as usize).min(self.len);
        let b = (b as usize).min(self.len).max(a);
        a..b
    }

    fn node(
        &mut self,
        raw: &[u8],
        m: &Message<'_>,
        id: usize,
        parent_digest: bool,
        depth: usize,
    ) -> Option<Node> {
        let part = m.parts.get(id)?;
        self.nodes += 1;
        let header = self.clamp(part.offset_header, part.offset_body);
        let body = self.clamp(part.offset_body, part.offset_end);
        let mut info = part_info(part, parent_digest);
        let deeper = depth < MAX_MIME_DEPTH && self.nodes < MAX_NODES;
        let kind = match &part.body {
            PartType::Multipart(ids) if deeper && info.mtype.eq_ignore_ascii_case("multipart") => {
                let digest = info.subtype.eq_ignore_ascii_case("digest");
                let children = ids
                    .iter()
                    .map(|&c| c as usize)
                    .filter(|&c| c > id)
                    .filter_map(|c| self.node(raw, m, c, digest, depth + 1))
                    .collect();
                Kind::Multipart(children)
            }
            PartType::Message(inner) if deeper && part.encoding == Encoding::None => {
                match self.message(raw, inner, body.clone(), depth + 1) {
                    Some(msg) => Kind::Message(Box::new(msg)),
                    None => Kind::Leaf,
                }
            }
            _ => Kind::Leaf,
        };
        if matches!(kind, Kind::Leaf) && info.mtype.eq_ignore_ascii_case("multipart") {
            // A multipart without usable boundary is shown as plain text.
            info = PartInfo::default_for(false);
        }
        Some(Node {
            header,
            body,
            kind,
            info,
        })
    }

    fn message(
        &mut self,
        raw: &[u8],
        m: &Message<'_>,
        range: Range<usize>,
        depth: usize,
    ) -> Option<MsgNode> {
        let mut root = self.node(raw, m, 0, false, depth)?;
        let slice = raw.get(range.clone()).unwrap_or_default();
        let header_end = range.start + header::header_len(slice);
        // The encapsulated message's own part must stay inside its range.
        root.header = root.header.start.max(range.start).min(range.end)
            ..root.header.end.max(range.start).min(range.end);
        root.body = root.body.start.max(range.start).min(range.end)
            ..root.body.end.max(range.start).min(range.end);
        if root.body.start > root.body.end {
            root.body.end = root.body.start;
        }
        Some(MsgNode {
            range,
            header_end,
            root,
        })
    }
}

/// Builds the part tree of a whole raw message. Never fails: anything
/// mail-parser cannot make sense of becomes a single text/plain part.
pub(crate) fn parse(raw: &[u8]) -> MsgNode {
    // mail-parser is not ours to audit: keep a panic in it from taking the
    // connection down with it.
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
    let mut b = Builder {
        len: raw.len(),
        nodes: 0,
    };
    if let Ok(Some(m)) = parsed
        && let Some(mut msg) = b.message(raw, &m, 0..raw.len(), 0)
    {
        // The top part's header is the message header, from the start.
        msg.root.header.start = 0;
        return msg;
    }
    let h = header::header_len(raw);
    MsgNode {
        range: 0..raw.len(),
        header_end: h,
        root: Node {
            header: 0..h,
            body: h..raw.len(),
            kind: Kind::Leaf,
            info: PartInfo::default_for(false),
        },
    }
}
