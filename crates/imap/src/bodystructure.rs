//! BODY and BODYSTRUCTURE (RFC 9051 §7.5.2) from the MIME part tree.

use crate::encode::{write_nstring, write_string};
use crate::envelope::write_envelope;
use crate::header;
use crate::mime::{self, Kind, MsgNode, Node};

/// Deepest message/rfc822 re-parse followed when mail-parser left an
/// encapsulated message opaque.
const MAX_DETACHED_DEPTH: usize = 4;

fn write_params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, k.to_ascii_uppercase().as_bytes());
        out.push(b' ');
        write_string(out, v.as_bytes());
    }
    out.push(b')');
}

fn raw_field(raw: &[u8], node: &Node, name: &str) -> Option<Vec<u8>> {
    let block = raw.get(node.header.clone()).unwrap_or_default();
    header::first_value(block, name).map(header::unfold)
}

fn write_disposition(out: &mut Vec<u8>, node: &Node) {
    match &node.info.disposition {
        Some((kind, params)) => {
            out.push(b'(');
            write_string(out, kind.to_ascii_uppercase().as_bytes());
            out.push(b' ');
            write_params(out, params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
}

fn write_language(out: &mut Vec<u8>, raw: &[u8], node: &Node) {
    let langs: Vec<Vec<u8>> = raw_field(raw, node, "content-language")
        .map(|v| {
            v.split(|&b| b == b',' || b == b' ' || b == b'\t')
                .filter(|s| !s.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default();
    match langs.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        [one] => write_string(out, one),
        many => {
            out.push(b'(');
            for (i, l) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string(out, l);
            }
            out.push(b')');
        }
    }
}

/// Writes the common tail of extension data: dsp, lang, loc.
fn write_ext_tail(out: &mut Vec<u8>, raw: &[u8], node: &Node) {
    out.push(b' ');
    write_disposition(out, node);
    out.push(b' ');
    write_language(out, raw, node);
    out.push(b' ');
    write_nstring(out, raw_field(raw, node, "content-location").as_deref());
}

fn write_node(out: &mut Vec<u8>, raw: &[u8], node: &Node, ext: bool, detached: usize) {
    match &node.kind {
        Kind::Multipart(children) => {
            out.push(b'(');
            if children.is_empty() {
                // "1*body": show an empty text part rather than break syntax.
                out.extend_from_slice(
                    b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
                );
            }
            for child in children {
                write_node(out, raw, child, ext, detached);
            }
            out.push(b' ');
            write_string(out, node.info.subtype.to_ascii_uppercase().as_bytes());
            if ext {
                out.push(b' ');
                write_params(out, &node.info.params);
                write_ext_tail(out, raw, node);
            }
            out.push(b')');
        }
        Kind::Leaf | Kind::Message(_) => write_single(out, raw, node, ext, detached),
    }
}

fn write_single(out: &mut Vec<u8>, raw: &[u8], node: &Node, ext: bool, detached: usize) {
    let info = &node.info;
    let body = raw.get(node.body.clone()).unwrap_or_default();
    let is_message = info.is("message", "rfc822") || info.is("message", "global");
    // An encapsulated message mail-parser did not descend into is parsed on
    // its own (ranges relative to its bytes), up to a small depth.
    let detached_msg;
    let (msg, msg_raw): (Option<&MsgNode>, &[u8]) = match &node.kind {
        Kind::Message(m) => (Some(m), raw),
        _ if is_message && detached < MAX_DETACHED_DEPTH => {
            detached_msg = mime::parse(body);
            (Some(&detached_msg), body)
        }
        _ => (None, raw),
    };
    let (mtype, subtype) = if is_message && msg.is_none() {
        ("APPLICATION".to_string(), "OCTET-STREAM".to_string())
    } else {
        (
            info.mtype.to_ascii_uppercase(),
            info.subtype.to_ascii_uppercase(),
        )
    };

    out.push(b'(');
    write_string(out, mtype.as_bytes());
    out.push(b' ');
    write_string(out, subtype.as_bytes());
    out.push(b' ');
    write_params(out, &info.params);
    out.push(b' ');
    write_nstring(out, raw_field(raw, node, "content-id").as_deref());
    out.push(b' ');
    write_nstring(out, raw_field(raw, node, "content-description").as_deref());
    out.push(b' ');
    let enc = raw_field(raw, node, "content-transfer-encoding")
        .filter(|e| !e.is_empty())
        .map(|e| e.to_ascii_uppercase())
        .unwrap_or_else(|| b"7BIT".to_vec());
    write_string(out, &enc);
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    if let Some(m) = msg {
        out.push(b' ');
        write_envelope(out, msg_raw.get(m.header()).unwrap_or_default());
        out.push(b' ');
        let next = match node.kind {
            Kind::Message(_) => detached,
            _ => detached + 1,
        };
        write_node(out, msg_raw, &m.root, ext, next);
        out.push(b' ');
        out.extend_from_slice(header::count_lines(body).to_string().as_bytes());
    } else if mtype.eq_ignore_ascii_case("TEXT") {
        out.push(b' ');
        out.extend_from_slice(header::count_lines(body).to_string().as_bytes());
    }
    if ext {
        out.push(b' ');
        write_nstring(out, raw_field(raw, node, "content-md5").as_deref());
        write_ext_tail(out, raw, node);
    }
    out.push(b')');
}

/// Writes BODYSTRUCTURE (`ext`) or BODY of a parsed message.
pub(crate) fn write_body_structure(out: &mut Vec<u8>, raw: &[u8], msg: &MsgNode, ext: bool) {
    write_node(out, raw, &msg.root, ext, 0);
}
