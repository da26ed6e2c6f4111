//! The journal as the administrator and outsiders use it: the signing key, checkpoints,
//! verification of the whole store against the journal, and inclusion proofs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::store::journal::checkpoint::{self, Signer};
use crate::store::journal::merkle::{self, Hash};
use crate::store::journal::{Checkpoint, Event, Kind, leaf};
use crate::store::{self, Backend, StoredCheckpoint};

/// Where the journal signing key lives in a data directory.
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("keys").join("journal-ed25519.pem")
}

/// The log's name in checkpoints.
pub fn origin(hostname: &str) -> String {
    format!("{hostname}/mailkeep-journal")
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn pem_decode(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    B64.decode(body).ok()
}

/// Why the key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("journal key {path}: {cause}")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        cause: std::io::Error,
    },
    /// The file is not an Ed25519 PKCS#8 key.
    #[error("journal key {0}: not an Ed25519 private key in PEM")]
    Invalid(PathBuf),
}

/// Creates the key file (mode 0600, fsynced) unless it exists.
pub fn create_key(dir: &Path) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = key_path(dir);
    if path.exists() {
        return Ok(());
    }
    let io = |cause| KeyError::Io {
        path: path.clone(),
        cause,
    };
    let der = Signer::generate_pkcs8().ok_or_else(|| KeyError::Invalid(path.clone()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    f.write_all(pem_encode(&der).as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

/// Loads the signing key, creating it first in a data directory made before the journal.
pub fn load_signer(dir: &Path, hostname: &str) -> Result<Signer, KeyError> {
    create_key(dir)?;
    let path = key_path(dir);
    let text = std::fs::read_to_string(&path).map_err(|cause| KeyError::Io {
        path: path.clone(),
        cause,
    })?;
    let der = pem_decode(&text).ok_or_else(|| KeyError::Invalid(path.clone()))?;
    Signer::from_pkcs8(hostname, &der).ok_or(KeyError::Invalid(path))
}

/// Writes a signed checkpoint of the current tree (`force`: even if it did not grow).
pub fn checkpoint(
    store: &dyn Backend,
    signer: std::sync::Arc<Signer>,
    hostname: &str,
    force: bool,
) -> Result<Option<StoredCheckpoint>, store::Error> {
    store.checkpoint(force, signing(signer, hostname))
}

/// The store's signing callback for checkpoints of this host's journal.
pub fn signing(signer: std::sync::Arc<Signer>, hostname: &str) -> store::Signer {
    let origin = origin(hostname);
    Box::new(move |size, root, time| {
        signer.sign(&Checkpoint {
            origin,
            size,
            root,
            time,
        })
    })
}

/// What `journal verify` found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Leaves checked.
    pub leaves: u64,
    /// Signed checkpoints checked (stored ones and the external one).
    pub checkpoints: usize,
    /// Mailbox entries checked against the journal.
    pub entries: usize,
    /// Message bodies read and checked against their SHA-256.
    pub bodies: usize,
    /// Every problem, one precise sentence each. Empty: all is well.
    pub problems: Vec<String>,
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Leaves read from the store at a time by [`verify`] (a few in unit tests, so that they
/// cross chunk boundaries).
const VERIFY_CHUNK: u64 = if cfg!(test) { 5 } else { 4096 };
/// Bodies handed to the store to read at once.
const BODY_BATCH: usize = if cfg!(test) { 3 } else { 512 };

/// Recomputes the tree from the stored leaves and checks it against every stored checkpoint,
/// the stored nodes, an optional checkpoint kept outside (`external`), every mailbox entry,
/// and every live message's bytes.
///
/// One pass over the leaves, a chunk at a time: the tree is kept as a [`merkle::Frontier`]
/// and each leaf as what the mailbox check needs, so memory grows with the number of
/// mailbox entries, not with the journal's bytes.
pub fn verify(
    store: &dyn Backend,
    verifier_key: &str,
    external: Option<&str>,
) -> Result<Report, store::Error> {
    let mut r = Report::default();
    // Checkpoints first: their sizes are the prefixes whose heads the pass must keep.
    let mut claims: Vec<(String, Result<Checkpoint, String>)> = Vec::new();
    for cp in store.checkpoints()? {
        let label = format!("stored checkpoint of size {}", cp.size);
        claims.push((
            label,
            checkpoint::verify(&cp.note, verifier_key).map_err(|e| e.to_string()),
        ));
    }
    if let Some(note) = external {
        let label = "the checkpoint given with --from".to_owned();
        claims.push((
            label,
            checkpoint::verify(note, verifier_key).map_err(|e| e.to_string()),
        ));
    }
    let mut heads: HashMap<u64, Hash> = HashMap::new();
    let wanted: std::collections::HashSet<u64> = claims
        .iter()
        .filter_map(|(_, c)| c.as_ref().ok().map(|c| c.size))
        .collect();
    let mut tree = merkle::Frontier::default();
    if wanted.contains(&0) {
        heads.insert(0, tree.root());
    }
    // 1. Leaves: contiguous, decodable, hashing to the stored leaf nodes.
    // Per entry, the newest leaf that placed it and the commitment that leaf made to its bytes.
    let mut placed: HashMap<(i64, u32), (u64, Kind, Option<Hash>)> = HashMap::new();
    // Every commitment any leaf made: each stored body must be one of them.
    let mut committed: std::collections::HashSet<Hash> = std::collections::HashSet::new();
    let mut expunged: HashMap<(i64, u32), u64> = HashMap::new();
    let mut purged: HashMap<(i64, u32), u64> = HashMap::new();
    let size = store.journal_size()?;
    'leaves: while tree.size() < size {
        let from = tree.size();
        let mut chunk = store.journal_leaves(from, size.min(from + VERIFY_CHUNK))?;
        // A whole chunk deleted: look further for the next leaf there is, to name it.
        let mut next = from + VERIFY_CHUNK;
        while chunk.is_empty() && next < size {
            chunk = store.journal_leaves(next, size.min(next + VERIFY_CHUNK))?;
            next += VERIFY_CHUNK;
        }
        if chunk.is_empty() {
            r.problems.push(format!(
                "journal leaves from {from} on are missing: leaves were deleted"
            ));
            break;
        }
        for l in chunk {
            let expected = tree.size();
            if l.idx != expected {
                r.problems.push(format!(
                    "journal leaf {expected} is missing (the next stored leaf is {}): leaves were deleted",
                    l.idx
                ));
                break 'leaves;
            }
            let h = merkle::leaf_hash(&l.leaf);
            if l.node != Some(h) {
                r.problems.push(format!(
                    "journal leaf {} does not match the hash recorded when it was appended: the leaf was rewritten",
                    l.idx
                ));
            }
            match Event::decode(&l.leaf) {
                None => r
                    .problems
                    .push(format!("journal leaf {} cannot be decoded", l.idx)),
                Some(ev) => {
                    let key = (ev.mailbox_id, ev.uid);
                    if let Some(c) = ev.commitment {
                        committed.insert(c);
                    }
                    match ev.kind {
                        Some(kind) if kind.places_message() => {
                            placed.insert(key, (l.idx, kind, ev.commitment));
                        }
                        Some(Kind::Expunged) => {
                            expunged.insert(key, l.idx);
                        }
                        Some(Kind::Purged) => {
                            purged.insert(key, l.idx);
                        }
                        _ => {}
                    }
                }
            }
            tree.push(h);
            if wanted.contains(&tree.size()) {
                heads.insert(tree.size(), tree.root());
            }
        }
    }
    let n = tree.size();
    r.leaves = n;
    let computed = tree.root();
    if store.journal_root(n).ok().is_some_and(|s| s != computed) {
        r.problems.push(format!(
            "the stored Merkle nodes give a different tree head than the leaves for size {n}: nodes were altered"
        ));
    }
    // 2. Checkpoints: signed by our key, and the head of the recomputed tree at their size.
    //    (Then the journal extends each of them by construction: one pass over the same
    //    leaves gave both heads, so no consistency proof is needed.)
    for (label, claim) in claims {
        r.checkpoints += 1;
        match claim {
            Err(e) => r.problems.push(format!("{label}: {e}")),
            Ok(cp) if cp.size > n => r.problems.push(format!(
                "{label} covers {} leaves but the journal holds only {n}: the journal was truncated",
                cp.size
            )),
            Ok(cp) => {
                let at = heads.get(&cp.size).copied().unwrap_or_default();
                if at != cp.root {
                    r.problems.push(format!(
                        "{label} (size {}, root {}) does not match the journal's first {} leaves (root {}): history was rewritten",
                        cp.size,
                        hex(&cp.root),
                        cp.size,
                        hex(&at)
                    ));
                }
            }
        }
    }
    // 3. Mailbox entries against the journal: every entry placed by a leaf, every removal
    //    expunged by one.
    let entries = store.all_entries()?;
    let mut seen = std::collections::HashSet::new();
    // Bodies are read in batches, so a store that reads over a network can overlap them.
    let mut unread: Vec<(Hash, String)> = Vec::new();
    let check_bodies = |unread: &mut Vec<(Hash, String)>, r: &mut Report| {
        // One body may be in several mailboxes: each of them is named if it is damaged.
        let mut names: HashMap<Hash, Vec<String>> = HashMap::new();
        for (hash, name) in unread.drain(..) {
            names.entry(hash).or_default().push(name);
        }
        let hashes: Vec<Hash> = names.keys().copied().collect();
        store.check_blobs(&hashes, &mut |hash, result| {
            if let Err(err) = result {
                for name in names.get(hash).into_iter().flatten() {
                    r.problems.push(format!(
                        "message {name}: its bytes are damaged or missing ({err})"
                    ));
                }
            }
        });
    };
    for e in &entries {
        r.entries += 1;
        let key = (e.mailbox_id, e.uid);
        seen.insert(key);
        let name = format!("{} {} UID {}", e.account, e.mailbox, e.uid);
        let placing = placed.get(&key);
        if placing.is_none() {
            r.problems.push(format!(
                "message {name} is in the store but no journal leaf records its arrival"
            ));
        }
        match (e.expunged_at, expunged.get(&key)) {
            (Some(_), None) => r.problems.push(format!(
                "message {name} was removed from view without an expunge in the journal"
            )),
            (None, Some(i)) => r.problems.push(format!(
                "message {name} is live although journal leaf {i} records its expunge"
            )),
            _ => {}
        }
        // Bodies: live or expunged, present unless a journaled purge removed them.
        match (store.purged_at(&e.blob)?, purged.get(&key)) {
            (Some(_), None) => r.problems.push(format!(
                "message {name}: its bytes were purged without a purge record in the journal"
            )),
            (None, Some(i)) => r.problems.push(format!(
                "message {name}: journal leaf {i} records a purge, but the bytes are still marked present"
            )),
            (Some(_), Some(_)) => {}
            (None, None) => {
                r.bodies += 1;
                unread.push((e.blob, name.clone()));
                if unread.len() >= BODY_BATCH {
                    check_bodies(&mut unread, &mut r);
                }
                // The bytes' hash is checked above; the leaf's commitment ties that hash
                // to this entry, so a body reference pointed elsewhere shows here.
                if let Some((idx, _, promised)) = placing {
                    let now = store
                        .message_secret(&e.blob)?
                        .map(|secret| leaf::commitment(&secret, &e.blob));
                    if now.is_none() || now != *promised {
                        r.problems.push(format!(
                            "message {name}: its bytes are not the ones journal leaf {idx} committed to: the message's body reference or the body's secret was altered"
                        ));
                    }
                }
            }
        }
    }
    check_bodies(&mut unread, &mut r);
    // 4. Bodies against the journal: every stored body is one some leaf committed to.
    store.for_each_live_blob(&mut |hash, secret| {
        let known = secret.is_some_and(|s| committed.contains(&leaf::commitment(&s, &hash)));
        if !known {
            r.problems.push(format!(
                "message body {} is stored but no journal leaf commits to it: a body was inserted or its secret altered behind the journal's back",
                hex(&hash)
            ));
        }
    })?;
    for (key, (idx, kind, _)) in &placed {
        if !seen.contains(key) {
            // Rare: read the leaf again for the names it recorded.
            let who = store
                .journal_leaves(*idx, idx + 1)?
                .first()
                .and_then(|l| Event::decode(&l.leaf))
                .map(|e| format!("{} {} UID {}", e.account, e.mailbox, e.uid))
                .unwrap_or_default();
            r.problems.push(format!(
                "message {who} ({} by journal leaf {idx}) is gone from the store without a trace: deleted behind the journal's back",
                kind.name()
            ));
        }
    }
    r.problems.sort();
    Ok(r)
}

/// An inclusion proof of the newest leaf about one message, against a signed checkpoint.
#[derive(Debug, Clone)]
pub struct Proof {
    /// The leaf's index.
    pub index: u64,
    /// The leaf bytes.
    pub leaf: Vec<u8>,
    /// The audit path.
    pub path: Vec<Hash>,
    /// The checkpoint it is proved against.
    pub checkpoint: StoredCheckpoint,
}

/// Proves that the leaves about a message are in the journal: the newest one, against the
/// newest checkpoint (written first if none covers it yet).
pub fn prove(
    store: &dyn Backend,
    signer: std::sync::Arc<Signer>,
    hostname: &str,
    mailbox_id: i64,
    uid: u32,
) -> Result<Option<Proof>, store::Error> {
    let Some(&index) = store.journal_leaves_of(mailbox_id, uid)?.last() else {
        return Ok(None);
    };
    let latest = store.checkpoints()?.into_iter().last();
    let cp = match latest {
        Some(cp) if cp.size > index => cp,
        _ => match checkpoint(store, signer, hostname, true)? {
            Some(cp) => cp,
            None => return Ok(None),
        },
    };
    let path = store.journal_inclusion(index, cp.size)?;
    let leaf = store
        .journal_leaves(index, index + 1)?
        .pop()
        .map(|l| l.leaf)
        .unwrap_or_default();
    Ok(Some(Proof {
        index,
        leaf,
        path,
        checkpoint: cp,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::{OpenOptions, Store};
    use crate::store::prelude::*;

    fn append(store: &dyn Backend, account: i64, from: usize, to: usize) {
        let (tx, rx) = std::sync::mpsc::channel();
        for i in from..to {
            let tx = tx.clone();
            let body = format!("Subject: {i}\r\n\r\nmessage {i}\r\n").into_bytes();
            store.append_if_absent_then(
                account,
                "INBOX",
                body,
                vec![],
                1,
                Box::new(move |r| tx.send(r.map(|_| ())).unwrap()),
            );
        }
        for _ in from..to {
            rx.recv().unwrap().unwrap();
        }
    }

    #[test]
    fn verify_reads_the_journal_in_chunks_and_names_a_gap_across_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        Store::create(&dir).unwrap();
        let store = Store::open(&dir, OpenOptions::exclusive()).unwrap();
        crate::accounts::add_domain(&store, "example.org", 1).unwrap();
        crate::accounts::add_user(&store, "a@example.org", "a long enough password", 12, 1, 1)
            .unwrap();
        let acc = store.account("a@example.org").unwrap().unwrap();
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        let signer = std::sync::Arc::new(load_signer(&dir, "mail.example.org").unwrap());
        let key = signer.verifier_key();
        append(&store, acc.id, 0, 30);
        let first = checkpoint(&store, signer.clone(), "mail.example.org", false)
            .unwrap()
            .unwrap();
        append(&store, acc.id, 30, 41);
        checkpoint(&store, signer, "mail.example.org", false).unwrap();
        let size = store.journal_size().unwrap();
        assert!(
            size > 40 && !first.size.is_multiple_of(VERIFY_CHUNK),
            "{size} {}",
            first.size
        );

        let r = verify(&store, &key, Some(&first.note)).unwrap();
        assert_eq!(r.problems, Vec::<String>::new());
        assert_eq!((r.leaves, r.checkpoints, r.entries), (size, 3, 41));
        store.close();
        drop(store);

        // Leaves 10..27 gone: more than three chunks in a row.
        let db = rusqlite::Connection::open(dir.join("meta.sqlite")).unwrap();
        db.execute("DELETE FROM journal WHERE idx >= 10 AND idx < 28", [])
            .unwrap();
        drop(db);
        let store = Store::open(&dir, OpenOptions::exclusive()).unwrap();
        let r = verify(&store, &key, None).unwrap();
        assert_eq!(r.leaves, 10);
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("journal leaf 10 is missing (the next stored leaf is 28)")),
            "{:?}",
            r.problems
        );
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("the journal was truncated")),
            "{:?}",
            r.problems
        );
    }
}
