//! Rendering FETCH responses (RFC 9051 §7.5.2) for one message.

use std::borrow::Cow;
use std::fmt;

use crate::bodystructure::write_body_structure;
use crate::command::{FetchItem, Section, SectionSpec};
use crate::datetime::format_date_time;
use crate::encode::{write_astring, write_flag_list, write_literal, write_literal8};
use crate::envelope::write_envelope;
use crate::header;
use crate::mime::{self, Kind, MsgNode};
use crate::parsed::Parsed;

/// What the store knows about a message, besides its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// Message sequence number in the selected mailbox.
    pub seq: u32,
    /// UID.
    pub uid: u32,
    /// Flags: system flags with their backslash (`\Seen`) and keywords.
    pub flags: Vec<String>,
    /// INTERNALDATE as a unix timestamp (seconds, UTC).
    pub internal_date: i64,
    /// RFC822.SIZE: size of the message in octets.
    pub size: u64,
    /// MODSEQ (CONDSTORE).
    pub modseq: u64,
}

/// A FETCH item could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// An item needs the message content but `raw` was `None`.
    MissingBody,
    /// BINARY on a part whose Content-Transfer-Encoding is unknown: answer
    /// `NO [UNKNOWN-CTE]`.
    UnknownCte,
    /// The item is not supported.
    Unsupported(&'static str),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::MissingBody => f.write_str("message content not available"),
            FetchError::UnknownCte => f.write_str("unknown Content-Transfer-Encoding"),
            FetchError::Unsupported(what) => write!(f, "{what} is not supported"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Whether any item needs the message content (`raw` for [`render_fetch`]).
pub fn needs_body(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        !matches!(
            i,
            FetchItem::Flags
                | FetchItem::Uid
                | FetchItem::Rfc822Size
                | FetchItem::InternalDate
                | FetchItem::Modseq
        )
    })
}

/// Whether an item can be answered from a [`Parsed`] record alone: ENVELOPE,
/// BODYSTRUCTURE, BODY and the message's header section (whole or some fields).
fn from_parsed(item: &FetchItem) -> bool {
    match item {
        FetchItem::Envelope
        | FetchItem::BodyStructure
        | FetchItem::BodyPlain
        | FetchItem::Rfc822Header => true,
        FetchItem::Body { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.spec,
                    Some(
                        SectionSpec::Header
                            | SectionSpec::HeaderFields(_)
                            | SectionSpec::HeaderFieldsNot(_)
                    )
                )
        }
        _ => false,
    }
}

/// Whether any item needs the message content when a [`Parsed`] record is at hand.
pub fn needs_body_beside_parsed(items: &[FetchItem]) -> bool {
    items
        .iter()
        .any(|i| needs_body(std::slice::from_ref(i)) && !from_parsed(i))
}

/// Whether any item is answered from a [`Parsed`] record (so it is worth reading one).
pub fn uses_parsed(items: &[FetchItem]) -> bool {
    items.iter().any(from_parsed)
}

/// Appends [`FetchItem::Uid`] unless present (UID FETCH responses must
/// always carry the UID).
pub fn ensure_uid(items: &mut Vec<FetchItem>) {
    if !items.contains(&FetchItem::Uid) {
        items.push(FetchItem::Uid);
    }
}

/// Whether fetching `items` sets `\Seen` (in a read-write mailbox):
/// non-peek BODY[...], RFC822, RFC822.TEXT and non-peek BINARY[...].
pub fn sets_seen(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Body { peek: false, .. }
                | FetchItem::Rfc822
                | FetchItem::Rfc822Text
                | FetchItem::Binary { peek: false, .. }
        )
    })
}

/// Parsed structure, computed only when an item needs it.
struct Content<'r> {
    raw: &'r [u8],
    tree: Option<MsgNode>,
}

impl<'r> Content<'r> {
    fn tree(&mut self) -> &MsgNode {
        let raw = self.raw;
        self.tree.get_or_insert_with(|| mime::parse(raw))
    }

    fn header(&self) -> &'r [u8] {
        let raw = self.raw;
        raw.get(..header::header_len(raw)).unwrap_or(raw)
    }
}

fn write_part_path(out: &mut Vec<u8>, part: &[u32]) {
    for (i, n) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

/// Writes `BODY[section]` (the response item name, without partial).
fn write_section_name(out: &mut Vec<u8>, section: &Section) {
    out.extend_from_slice(b"BODY[");
    write_part_path(out, &section.part);
    if let Some(spec) = &section.spec {
        if !section.part.is_empty() {
            out.push(b'.');
        }
        let (name, fields) = match spec {
            SectionSpec::Header => ("HEADER", None),
            SectionSpec::Text => ("TEXT", None),
            SectionSpec::Mime => ("MIME", None),
            SectionSpec::HeaderFields(f) => ("HEADER.FIELDS", Some(f)),
            SectionSpec::HeaderFieldsNot(f) => ("HEADER.FIELDS.NOT", Some(f)),
        };
        out.extend_from_slice(name.as_bytes());
        if let Some(fields) = fields {
            out.extend_from_slice(b" (");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_astring(out, f.as_bytes());
            }
            out.push(b')');
        }
    }
    out.push(b']');
}

/// The octets of a message-level section (HEADER, TEXT, HEADER.FIELDS...)
/// of the message `header`/`text`.
fn message_section<'a>(header: &'a [u8], text: &'a [u8], spec: &SectionSpec) -> Cow<'a, [u8]> {
    match spec {
        SectionSpec::Header => Cow::Borrowed(header),
        SectionSpec::Text => Cow::Borrowed(text),
        SectionSpec::HeaderFields(f) => Cow::Owned(header::filter_fields(header, f, false)),
        SectionSpec::HeaderFieldsNot(f) => Cow::Owned(header::filter_fields(header, f, true)),
        // Not valid at message level (the parser rejects it).
        SectionSpec::Mime => Cow::Borrowed(&[]),
    }
}

/// The octets of `section`, or `None` if the part does not exist.
fn section_bytes<'r>(c: &mut Content<'r>, section: &Section) -> Option<Cow<'r, [u8]>> {
    let raw = c.raw;
    if section.part.is_empty() {
        let header = c.header();
        let text = raw.get(header.len()..).unwrap_or_default();
        return Some(match &section.spec {
            None => Cow::Borrowed(raw),
            Some(spec) => message_section(header, text, spec),
        });
    }
    let node = c.tree().find(&section.part)?;
    Some(match &section.spec {
        None => Cow::Borrowed(raw.get(node.body.clone()).unwrap_or_default()),
        Some(SectionSpec::Mime) => Cow::Borrowed(raw.get(node.header.clone()).unwrap_or_default()),
        Some(spec) => match &node.kind {
            Kind::Message(m) => {
                let header = raw.get(m.header()).unwrap_or_default();
                let text = raw.get(m.text()).unwrap_or_default();
                message_section(header, text, spec)
            }
            // HEADER/TEXT of a part that is not a message: the part's body
            // seen as a message (an opaque message/rfc822), else nothing.
            _ if node.info.is("message", "rfc822") || node.info.is("message", "global") => {
                let body = raw.get(node.body.clone()).unwrap_or_default();
                let h = header::header_len(body);
                let (header, text) = body.split_at(h.min(body.len()));
                message_section(header, text, spec)
            }
            _ => Cow::Borrowed(&[]),
        },
    })
}

fn slice_partial(data: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    match partial {
        None => data,
        Some((offset, len)) => {
            let start = (offset as usize).min(data.len());
            let end = start.saturating_add(len as usize).min(data.len());
            data.get(start..end).unwrap_or_default()
        }
    }
}

fn write_partial_origin(out: &mut Vec<u8>, partial: Option<(u32, u32)>) {
    if let Some((offset, _)) = partial {
        out.extend_from_slice(format!("<{offset}>").as_bytes());
    }
}

fn write_section_data(out: &mut Vec<u8>, data: Option<&[u8]>) {
    match data {
        None => out.extend_from_slice(b"NIL"),
        Some([]) => out.extend_from_slice(b"\"\""),
        Some(d) => write_literal(out, d),
    }
}

fn decode_base64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue, // whitespace and stray characters
        };
        acc = ((acc << 6) | u32::from(v)) & 0xff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

fn decode_qp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for line in data.split_inclusive(|&b| b == b'\n') {
        let (content, eol): (&[u8], &[u8]) = if let Some(c) = line.strip_suffix(b"\r\n") {
            (c, b"\r\n")
        } else if let Some(c) = line.strip_suffix(b"\n") {
            (c, b"\n")
        } else {
            (line, b"")
        };
        // Transport padding: trailing whitespace is not part of the data.
        let content = if eol.is_empty() {
            content
        } else {
            content.trim_ascii_end()
        };
        let mut i = 0usize;
        let mut soft_break = false;
        while let Some(&b) = content.get(i) {
            if b == b'=' {
                match (
                    content.get(i + 1).copied().and_then(hex),
                    content.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h << 4) | l);
                        i += 3;
                        continue;
                    }
                    _ if i + 1 == content.len() => {
                        soft_break = true;
                        i += 1;
                        continue;
                    }
                    _ => out.push(b'='),
                }
            } else {
                out.push(b);
            }
            i += 1;
        }
        if !soft_break {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// Decoded content of a part for BINARY, `None` if the part does not exist.
fn binary_bytes<'r>(
    c: &mut Content<'r>,
    part: &[u32],
) -> Result<Option<Cow<'r, [u8]>>, FetchError> {
    let raw = c.raw;
    if part.is_empty() {
        return Ok(Some(Cow::Borrowed(raw)));
    }
    let Some(node) = c.tree().find(part) else {
        return Ok(None);
    };
    let body = raw.get(node.body.clone()).unwrap_or_default();
    if !matches!(node.kind, Kind::Leaf) {
        return Ok(Some(Cow::Borrowed(body)));
    }
    let hdr = raw.get(node.header.clone()).unwrap_or_default();
    let cte = header::first_value(hdr, "content-transfer-encoding")
        .map(header::unfold)
        .unwrap_or_default()
        .to_ascii_lowercase();
    match cte.as_slice() {
        b"" | b"7bit" | b"8bit" | b"binary" => Ok(Some(Cow::Borrowed(body))),
        b"base64" => Ok(Some(Cow::Owned(decode_base64(body)))),
        b"quoted-printable" => Ok(Some(Cow::Owned(decode_qp(body)))),
        _ => Err(FetchError::UnknownCte),
    }
}

fn render_item(
    meta: &MessageMeta,
    content: &mut Option<Content<'_>>,
    parsed: Option<&Parsed>,
    item: &FetchItem,
    out: &mut Vec<u8>,
) -> Result<(), FetchError> {
    if let Some(p) = parsed.filter(|_| from_parsed(item)) {
        match item {
            FetchItem::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                out.extend_from_slice(&p.envelope);
            }
            FetchItem::BodyStructure => {
                out.extend_from_slice(b"BODYSTRUCTURE ");
                out.extend_from_slice(&p.bodystructure);
            }
            FetchItem::BodyPlain => {
                out.extend_from_slice(b"BODY ");
                out.extend_from_slice(&p.body);
            }
            FetchItem::Rfc822Header => {
                out.extend_from_slice(b"RFC822.HEADER ");
                write_section_data(out, Some(&p.header));
            }
            FetchItem::Body {
                section, partial, ..
            } => {
                let data = match &section.spec {
                    Some(spec) => message_section(&p.header, &[], spec),
                    None => Cow::Borrowed(&[][..]),
                };
                write_section_name(out, section);
                write_partial_origin(out, *partial);
                out.push(b' ');
                write_section_data(out, Some(slice_partial(&data, *partial)));
            }
            _ => {}
        }
        return Ok(());
    }
    match item {
        FetchItem::Flags => {
            out.extend_from_slice(b"FLAGS ");
            write_flag_list(out, &meta.flags);
        }
        FetchItem::Uid => out.extend_from_slice(format!("UID {}", meta.uid).as_bytes()),
        FetchItem::Rfc822Size => {
            out.extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes())
        }
        FetchItem::InternalDate => {
            out.extend_from_slice(b"INTERNALDATE \"");
            out.extend_from_slice(format_date_time(meta.internal_date).as_bytes());
            out.push(b'"');
        }
        FetchItem::Modseq => out.extend_from_slice(format!("MODSEQ ({})", meta.modseq).as_bytes()),
        FetchItem::Envelope => {
            let c = content.as_mut().ok_or(FetchError::MissingBody)?;
            out.extend_from_slice(b"ENVELOPE ");
            write_envelope(out, c.header());
        }
        FetchItem::BodyStructure | FetchItem::BodyPlain => {
            let c = content.as_mut().ok_or(FetchError::MissingBody)?;
            let ext = matches!(item, FetchItem::BodyStructure);
            out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
            let raw = c.raw;
            write_body_structure(out, raw, c.tree(), ext);
        }
        FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
            let c = content.as_mut().ok_or(FetchError::MissingBody)?;
            let (name, spec) = match item {
                FetchItem::Rfc822 => ("RFC822 ", None),
                FetchItem::Rfc822Header => ("RFC822.HEADER ", Some(SectionSpec::Header)),
                _ => ("RFC822.TEXT ", Some(SectionSpec::Text)),
            };
            let data = section_bytes(c, &Section { part: vec![], spec });
            out.extend_from_slice(name.as_bytes());
            write_section_data(out, data.as_deref());
        }
        FetchItem::Body {
            section, partial, ..
        } => {
            let c = content.as_mut().ok_or(FetchError::MissingBody)?;
            let data = section_bytes(c, section);
            write_section_name(out, section);
            write_partial_origin(out, *partial);
            out.push(b' ');
            write_section_data(out, data.as_deref().map(|d| slice_partial(d, *partial)));
        }
        FetchItem::Binary { part, partial, .. } => {
            let c = content.as_mut().ok_or(FetchError::MissingBody)?;
            let data = binary_bytes(c, part)?;
            out.extend_from_slice(b"BINARY[");
            write_part_path(out, part);
            out.push(b']');
            write_partial_origin(out, *partial);
            out.push(b' ');
            match data.as_deref().map(|d| slice_partial(d, *partial)) {
                None => out.extend_from_slice(b"NIL"),
                Some(d) if d.contains(&0) => write_literal8(out, d),
                Some(d) => write_section_data(out, Some(d)),
            }
        }
        FetchItem::BinarySize(part) => {
            let c = content.as_mut().ok_or(FetchError::MissingBody)?;
            let size = binary_bytes(c, part)?.map_or(0, |d| d.len());
            out.extend_from_slice(b"BINARY.SIZE[");
            write_part_path(out, part);
            out.extend_from_slice(format!("] {size}").as_bytes());
        }
    }
    Ok(())
}

/// Writes `* <seq> FETCH (...)\r\n` for one message, items in request
/// order. `raw` is the full RFC 5322 message; it may be `None` when
/// [`needs_body`] is false. For UID FETCH the caller includes
/// [`FetchItem::Uid`]. On error nothing is written to `out`.
pub fn render_fetch(
    meta: &MessageMeta,
    raw: Option<&[u8]>,
    items: &[FetchItem],
    out: &mut Vec<u8>,
) -> Result<(), FetchError> {
    render_fetch_parsed(meta, raw, None, items, out)
}

/// [`render_fetch`] with a [`Parsed`] record of the message: the items it holds are
/// answered from it, and `raw` may be `None` unless [`needs_body_beside_parsed`].
pub fn render_fetch_parsed(
    meta: &MessageMeta,
    raw: Option<&[u8]>,
    parsed: Option<&Parsed>,
    items: &[FetchItem],
    out: &mut Vec<u8>,
) -> Result<(), FetchError> {
    let mut content = raw.map(|raw| Content { raw, tree: None });
    let mut buf = format!("* {} FETCH (", meta.seq).into_bytes();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b' ');
        }
        render_item(meta, &mut content, parsed, item, &mut buf)?;
    }
    buf.extend_from_slice(b")\r\n");
    out.extend_from_slice(&buf);
    Ok(())
}

/// Writes the section name used in a FETCH response for `section`
/// (`BODY[1.HEADER.FIELDS (FROM)]`), e.g. for logging.
pub fn section_name(section: &Section) -> String {
    let mut out = Vec::new();
    write_section_name(&mut out, section);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
