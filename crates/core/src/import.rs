//! Reading existing mail for import: an mbox file, a Maildir, or a tree of Maildirs
//! (Dovecot/Courier "Maildir++" with `.Sub.Folder` directories, or plain nested Maildirs).
//!
//! Messages are produced one at a time, so a mailbox of any size is read in bounded memory.
//! Line endings become CRLF (what IMAP serves); everything else is kept byte for byte.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// One message to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Target mailbox, relative to the import's base (empty: the base itself).
    pub folder: String,
    /// The message, CRLF line endings.
    pub bytes: Vec<u8>,
    /// IMAP flags (from a Maildir `:2,` suffix).
    pub flags: Vec<String>,
    /// Arrival time, unix seconds, when the source records one.
    pub date: Option<i64>,
}

/// What a path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An mbox file.
    Mbox(PathBuf),
    /// Maildirs, each with the folder it maps to ("" for the root).
    Maildirs(Vec<(String, PathBuf)>),
}

/// Why a path cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not a file nor a directory holding Maildirs.
    #[error("{0} is neither an mbox file nor a Maildir (or a tree of them)")]
    Unrecognised(PathBuf),
    /// Reading failed.
    #[error("reading {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ImportError + '_ {
    move |cause| ImportError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

fn is_maildir(p: &Path) -> bool {
    p.join("cur").is_dir() || p.join("new").is_dir()
}

/// Looks at a path and says how to read it.
pub fn detect(path: &Path) -> Result<Source, ImportError> {
    if path.is_file() {
        return Ok(Source::Mbox(path.to_path_buf()));
    }
    if !path.is_dir() {
        return Err(ImportError::Unrecognised(path.to_path_buf()));
    }
    let mut found = Vec::new();
    collect_maildirs(path, "", &mut found)?;
    if found.is_empty() {
        return Err(ImportError::Unrecognised(path.to_path_buf()));
    }
    found.sort();
    Ok(Source::Maildirs(found))
}

fn collect_maildirs(
    dir: &Path,
    folder: &str,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), ImportError> {
    if is_maildir(dir) {
        out.push((folder.to_owned(), dir.to_path_buf()));
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if matches!(name.as_str(), "cur" | "new" | "tmp") {
            continue;
        }
        let child = if let Some(plus) = name.strip_prefix('.') {
            // Maildir++: ".Sub.Folder" is Sub/Folder, directly under the root.
            if plus.is_empty() || !is_maildir(&e.path()) {
                continue;
            }
            let mapped: Vec<String> = plus.split('.').map(folder_name).collect();
            out.push((join(folder, &mapped.join("/")), e.path()));
            continue;
        } else {
            join(folder, &folder_name(&name))
        };
        collect_maildirs(&e.path(), &child, out)?;
    }
    Ok(())
}

/// A folder's name on disk as the mailbox name: Dovecot and Courier store non-ASCII names
/// in modified UTF-7 (RFC 3501 §5.1.3), e.g. `Entw&APw-rfe` for "Entwürfe". A name that is
/// not valid modified UTF-7 is taken as it is.
fn folder_name(on_disk: &str) -> String {
    if !on_disk.contains('&') {
        return on_disk.to_owned();
    }
    mailkeep_imap::mutf7::decode(on_disk.as_bytes()).unwrap_or_else(|_| on_disk.to_owned())
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a}/{b}")
    }
}

/// Appends `line` (without its ending) and a CRLF.
fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
}

/// Converts bare LF line endings to CRLF.
pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line.ends_with(b"\n") {
            push_line(&mut out, line);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Maildir info flags (`:2,DFRST`) as IMAP flags.
pub fn maildir_flags(file_name: &str) -> Vec<String> {
    let Some((_, info)) = file_name.rsplit_once(":2,") else {
        return Vec::new();
    };
    info.chars()
        .filter_map(|c| match c {
            'D' => Some("\\Draft"),
            'F' => Some("\\Flagged"),
            'P' => Some("$Forwarded"),
            'R' => Some("\\Answered"),
            'S' => Some("\\Seen"),
            'T' => Some("\\Deleted"),
            _ => None,
        })
        .map(str::to_owned)
        .collect()
}

/// The date of an mbox `From ` line (`From sender Tue Nov 27 01:46:59 2026`), as UTC.
fn from_line_date(line: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(line).ok()?;
    let t: Vec<&str> = text.split_whitespace().collect();
    let n = t.len();
    if n < 6 {
        return None;
    }
    let (mon, day, time, year) = (t[n - 4], t[n - 3], t[n - 2], t[n - 1]);
    let month = mailkeep_imap::datetime::month_from_name(mon).filter(|_| mon.len() == 3)?;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m, s) = (
        hms.next()??,
        hms.next()??,
        hms.next().flatten().unwrap_or(0),
    );
    let days = mailkeep_imap::datetime::days_from_civil(year, month, day as u32);
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// Reads an mbox (mboxo or mboxrd) message by message; `progress` gets bytes read so far.
pub fn read_mbox(
    path: &Path,
    mut each: impl FnMut(Message, u64) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let mut reader = BufReader::new(File::open(path).map_err(io(path))?);
    let mut line = Vec::new();
    let mut current: Option<Message> = None;
    let mut read = 0u64;
    let mut previous_blank = true;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io(path))?;
        read += n as u64;
        if n == 0 {
            break;
        }
        if previous_blank && line.starts_with(b"From ") {
            if let Some(mut m) = current.take() {
                // The blank line before "From " belongs to the separator.
                if m.bytes.ends_with(b"\r\n\r\n") {
                    m.bytes.truncate(m.bytes.len() - 2);
                }
                each(m, read)?;
            }
            current = Some(Message {
                folder: String::new(),
                bytes: Vec::new(),
                flags: Vec::new(),
                date: from_line_date(&line),
            });
            previous_blank = false;
            continue;
        }
        let trimmed = line.strip_suffix(b"\n").unwrap_or(&line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        previous_blank = trimmed.is_empty();
        let Some(m) = current.as_mut() else {
            continue; // text before the first "From " line is not a message
        };
        // mboxrd/mboxo quoting: ">From " (and ">>From " …) lose one '>'.
        let quoted = trimmed.iter().take_while(|&&b| b == b'>').count();
        if quoted > 0 && trimmed[quoted..].starts_with(b"From ") {
            push_line(&mut m.bytes, &trimmed[1..]);
        } else {
            push_line(&mut m.bytes, trimmed);
        }
    }
    if let Some(mut m) = current.take() {
        if m.bytes.ends_with(b"\r\n\r\n") {
            m.bytes.truncate(m.bytes.len() - 2);
        }
        each(m, read)?;
    }
    Ok(())
}

/// The mailbox an imported folder goes to, under the rules IMAP `CREATE` applies, or why it
/// cannot be one.
pub fn mailbox_name(name: &str) -> Result<String, String> {
    mailkeep_imap::command::MailboxName::new(name)
        .map_err(|e| e.to_string())
        .and_then(|m| m.creatable().map(str::to_owned).map_err(|e| e.to_string()))
}

/// The message files of a Maildir (`cur/` and `new/`), in name order (delivery order for
/// standard names). Anything but a directory is listed, so that a file that cannot be read
/// (a dangling link, no permission) is reported by [`read_maildir_message`], not passed over.
pub fn maildir_files(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&d).map_err(io(&d))? {
            let e = e.map_err(io(&d))?;
            if !e.path().is_dir() {
                files.push(e.path());
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Reads one Maildir message file.
pub fn read_maildir_message(path: &Path, folder: &str) -> Result<Message, ImportError> {
    let raw = std::fs::read(path).map_err(io(path))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let date = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    Ok(Message {
        folder: folder.to_owned(),
        bytes: to_crlf(&raw),
        flags: maildir_flags(&name),
        date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf7_folder_names_are_decoded() {
        assert_eq!(folder_name("Entw&APw-rfe"), "Entwürfe");
        assert_eq!(folder_name("Sent"), "Sent");
        assert_eq!(folder_name("Tom &- Jerry"), "Tom & Jerry");
        assert_eq!(folder_name("odd&name"), "odd&name");
    }

    #[test]
    fn flags_from_maildir_names() {
        assert_eq!(
            maildir_flags("1.2.host:2,FRS"),
            ["\\Flagged", "\\Answered", "\\Seen"]
        );
        assert!(maildir_flags("1.2.host").is_empty());
    }

    #[test]
    fn crlf() {
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
    }

    #[test]
    fn mbox_split_unquote_and_dates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        std::fs::write(
            &p,
            "From a@b Tue Nov 27 01:46:59 2026\nSubject: one\n\nhello\n>From the start\n>>From deeper\n\nFrom c@d Wed Nov 28 00:00:00 2026\nSubject: two\n\nbye\n",
        )
        .unwrap();
        let mut got = Vec::new();
        read_mbox(&p, |m, _| {
            got.push(m);
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].bytes,
            b"Subject: one\r\n\r\nhello\r\nFrom the start\r\n>From deeper\r\n"
        );
        assert_eq!(got[1].bytes, b"Subject: two\r\n\r\nbye\r\n");
        assert_eq!(got[0].date, Some(1_795_744_019));
    }

    #[test]
    fn maildir_tree_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "cur",
            "new",
            "tmp",
            ".Sent/cur",
            ".Lists.Rust/new",
            "Archive/2020/cur",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let Source::Maildirs(found) = detect(root).unwrap() else {
            panic!("not maildirs")
        };
        let folders: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(folders, ["", "Archive/2020", "Lists/Rust", "Sent"]);
        assert!(matches!(
            detect(&root.join("nope")),
            Err(ImportError::Unrecognised(_))
        ));
    }
}
