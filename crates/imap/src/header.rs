//! Raw RFC 5322 header block handling: splitting header from body, fields,
//! unfolding and HEADER.FIELDS filtering. Works on bytes, never panics.

/// One header field as it appears in the message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    /// Name before the colon (trailing whitespace removed); `None` for a
    /// malformed line without a colon.
    pub name: Option<&'a [u8]>,
    /// The whole field including continuation lines and line endings.
    pub raw: &'a [u8],
    /// The value after the colon, still folded, without the final line end.
    pub value: &'a [u8],
}

/// Length of the header block of `msg`, including the blank line that ends
/// it. If there is no blank line the whole input is header.
pub fn header_len(msg: &[u8]) -> usize {
    let (fields, blank) = header_split(msg);
    fields + blank
}

/// Length of the header fields of `msg`: the header block without the blank
/// line that ends it (each field keeps its line ending). Every part of
/// mailkeep that needs the header of a message takes this one reading of it.
pub fn header_fields_len(msg: &[u8]) -> usize {
    header_split(msg).0
}

/// Where the header fields end, and the length of the blank line after them
/// (0 when there is none).
fn header_split(msg: &[u8]) -> (usize, usize) {
    let mut i = 0usize;
    loop {
        let rest = msg.get(i..).unwrap_or_default();
        if rest.is_empty() {
            return (msg.len(), 0);
        }
        if rest.starts_with(b"\r\n") {
            return (i, 2);
        }
        if rest.starts_with(b"\n") {
            return (i, 1);
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(p) => i += p + 1,
            None => return (msg.len(), 0),
        }
    }
}

/// Splits a header block into fields; stops at the blank line.
pub(crate) fn fields<'a>(block: &'a [u8]) -> Vec<Field<'a>> {
    let mut out: Vec<Field<'a>> = Vec::new();
    let mut i = 0usize;
    let mut start: Option<usize> = None;
    let close = |out: &mut Vec<Field<'a>>, s: usize, e: usize| {
        let raw = block.get(s..e).unwrap_or_default();
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let n = line.get(..c).unwrap_or_default();
                let n = n.trim_ascii_end();
                let first_line_end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
                if c < first_line_end && !n.is_empty() && !n.iter().any(|b| b.is_ascii_whitespace())
                {
                    (Some(n), line.get(c + 1..).unwrap_or_default())
                } else {
                    (None, line)
                }
            }
            None => (None, line),
        };
        out.push(Field { name, raw, value });
    };
    while i < block.len() {
        let rest = block.get(i..).unwrap_or_default();
        if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            break;
        }
        let line_len = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |p| p + 1);
        let continuation = matches!(rest.first(), Some(b' ') | Some(b'\t'));
        if !continuation {
            if let Some(s) = start {
                close(&mut out, s, i);
            }
            start = Some(i);
        } else if start.is_none() {
            start = Some(i);
        }
        i += line_len;
    }
    if let Some(s) = start {
        close(&mut out, s, i);
    }
    out
}

/// Unfolds a field value (removes CR and LF) and trims surrounding
/// whitespace.
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    v.trim_ascii().to_vec()
}

/// The unfolded values of every field named `name` (case-insensitive), in order, read
/// by the same splitter as ENVELOPE, so that SEARCH and SORT see the fields a client sees.
pub fn field_values(block: &[u8], name: &str) -> Vec<String> {
    fields(block)
        .into_iter()
        .filter(|f| {
            f.name
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        })
        .map(|f| String::from_utf8_lossy(&unfold(f.value)).into_owned())
        .collect()
}

/// The raw (folded) value of the first field named `name` (case-insensitive).
pub(crate) fn first_value<'a>(block: &'a [u8], name: &str) -> Option<&'a [u8]> {
    fields(block)
        .into_iter()
        .find(|f| {
            f.name
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        })
        .map(|f| f.value)
}

/// HEADER.FIELDS / HEADER.FIELDS.NOT: the matching (or, with `not`, the
/// non-matching) fields in their original form and order, followed by a
/// blank line.
pub(crate) fn filter_fields(block: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields(block) {
        let listed = f
            .name
            .is_some_and(|n| names.iter().any(|w| n.eq_ignore_ascii_case(w.as_bytes())));
        if listed != not {
            out.extend_from_slice(f.raw);
            if !f.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Number of text lines in `body` (a last line without line ending counts).
pub(crate) fn count_lines(body: &[u8]) -> usize {
    let lf = body.iter().filter(|&&b| b == b'\n').count();
    if body.last().is_some_and(|&b| b != b'\n') {
        lf + 1
    } else {
        lf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@b\r\nSubject: hello\r\n  world\r\nX-A: 1\r\n\r\nbody\r\n";

    #[test]
    fn split() {
        assert_eq!(header_len(MSG), 46);
        assert_eq!(&MSG[header_len(MSG)..], b"body\r\n");
        assert_eq!(header_len(b"\r\nbody"), 2);
        assert_eq!(header_len(b"A: b\r\n"), 6);
        assert_eq!(header_len(b"A: b\n\nx"), 6);
        assert_eq!(header_fields_len(MSG), 44);
        assert_eq!(header_fields_len(b"A: b\n\nx"), 5);
        assert_eq!(header_fields_len(b"\r\nbody"), 0);
        assert_eq!(header_fields_len(b"A: b\r\n"), 6);
        assert_eq!(header_len(b""), 0);
    }

    #[test]
    fn field_split_and_filter() {
        let f = fields(MSG);
        assert_eq!(f.len(), 3);
        assert_eq!(f[1].name, Some(&b"Subject"[..]));
        assert_eq!(unfold(f[1].value), b"hello  world");
        assert_eq!(first_value(MSG, "x-a"), Some(&b" 1"[..]));
        assert_eq!(
            filter_fields(MSG, &["SUBJECT".into()], false),
            b"Subject: hello\r\n  world\r\n\r\n"
        );
        assert_eq!(
            filter_fields(MSG, &["subject".into()], true),
            b"From: a@b\r\nX-A: 1\r\n\r\n"
        );
        assert_eq!(filter_fields(MSG, &["nope".into()], false), b"\r\n");
        assert_eq!(
            filter_fields(b"A: x", &["a".into()], false),
            b"A: x\r\n\r\n"
        );
        // garbage never panics
        let g = fields(b" leading\r\nno colon\r\n:\r\n\xff: \xfe\r\n");
        assert_eq!(g.len(), 4);
        assert_eq!(g[3].name, Some(&b"\xff"[..]));
    }

    #[test]
    fn lines() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\r\n"), 1);
        assert_eq!(count_lines(b"a\r\nb"), 2);
    }
}
