//! `mailkeep fsck`: finds what is damaged in a data directory and salvages what it still
//! holds. Segment records are self-describing (`MKB1`, length, SHA-256, data), so bodies can
//! be found without the index; the index can be repaired from them, and bodies no mailbox
//! entry references any more are written out for the administrator.

use crate::api::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate as store;
use crate::segments::{self, Hash, Location};
use crate::{OpenOptions, Store};

/// What fsck found and did.
#[derive(Debug, Default)]
pub struct Report {
    /// Index entries checked.
    pub blobs: usize,
    /// Segment records seen.
    pub records: usize,
    /// Damage found, one precise sentence each.
    pub problems: Vec<String>,
    /// What `--repair` fixed.
    pub repaired: Vec<String>,
    /// Messages whose bytes are gone for good.
    pub lost: Vec<String>,
    /// Files written to `DIR/recovered/`.
    pub recovered: Vec<PathBuf>,
    /// Not damage, but worth fixing: files and directories others may read.
    pub warnings: Vec<String>,
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_recovered(dir: &Path, hash: &Hash, loc: Location, r: &mut Report) {
    let reader = segments::SegmentReader::new(&dir.join("blobs"));
    if let Ok(bytes) = reader.read(hash, loc) {
        save_recovered(dir, hash, &bytes, r);
    }
}

fn save_recovered(dir: &Path, hash: &Hash, bytes: &[u8], r: &mut Report) {
    let out = dir.join("recovered");
    let path = out.join(format!("{}.eml", hex(hash)));
    let write = |path: &Path| {
        use std::io::Write;
        crate::private::create_file(path)?.write_all(bytes)
    };
    if crate::private::create_dir(&out).is_ok() && write(&path).is_ok() {
        r.recovered.push(path);
    }
}

/// Checks `dir`; with `repair`, fixes the index from intact segment copies and writes
/// unreferenced intact bodies to `dir/recovered/`. The server must not be running.
pub fn fsck(dir: &Path, repair: bool, admin: store::Actor) -> Result<Report, store::Error> {
    let mut r = Report::default();
    // Before the store is opened: opening puts the data directory's own mode right.
    for (path, mode) in crate::private::too_open(dir) {
        r.warnings.push(format!(
            "{} has mode {mode:o}: other users may read mail or keys (chmod {})",
            path.display(),
            if path.is_dir() { "700" } else { "600" }
        ));
    }
    let found = segments::scan(&dir.join("blobs"))?;
    r.records = found.len();
    let mut intact: HashMap<Hash, Location> = HashMap::new();
    for f in &found {
        if f.intact {
            intact.entry(f.hash).or_insert(f.loc);
        }
    }
    let store = match Store::open(dir, OpenOptions::exclusive()) {
        Ok(s) => s,
        Err(e @ store::Error::Locked(_)) => return Err(e),
        Err(e) => {
            r.problems.push(format!(
                "the database cannot be opened ({e}); every body stored in segment files is salvageable, bodies kept inside the database (up to 64 KiB) need the last backup"
            ));
            if repair {
                for f in found.iter().filter(|f| f.intact) {
                    write_recovered(dir, &f.hash, f.loc, &mut r);
                }
            }
            return Ok(r);
        }
    };
    let mut store = store;
    let damage = store
        .integrity_check()
        .unwrap_or_else(|e| vec![e.to_string()]);
    for p in &damage {
        r.problems.push(format!("database: {p}"));
    }
    if !damage.is_empty() && repair {
        store.close();
        drop(store);
        match store::salvage::salvage(dir) {
            Ok(s) => {
                let rows: u64 = s.copied.iter().map(|(_, n)| n).sum();
                r.repaired.push(format!(
                    "database rebuilt from every readable row ({rows} rows); the damaged file is kept as {}",
                    s.damaged.display()
                ));
                for l in s.lost {
                    r.problems.push(format!("database: not salvageable: {l}"));
                }
            }
            Err(e) => {
                r.problems
                    .push(format!("database: salvaging its rows failed: {e}"));
                return Ok(r);
            }
        }
        store = Store::open(dir, OpenOptions::exclusive())?;
    }
    let entries = match store.all_entries() {
        Ok(e) => e,
        Err(e) => {
            r.problems.push(format!(
                "database: its mailbox entries cannot be read ({e}); `fsck --repair` copies every readable row into a new database"
            ));
            store.close();
            return Ok(r);
        }
    };
    let mut users: HashMap<Hash, Vec<String>> = HashMap::new();
    for e in &entries {
        users
            .entry(e.blob)
            .or_default()
            .push(format!("{} {} UID {}", e.account, e.mailbox, e.uid));
    }
    let who = |h: &Hash| {
        users
            .get(h)
            .map_or("no mailbox entry".into(), |v| v.join(", "))
    };
    let mut indexed: std::collections::HashSet<Hash> = Default::default();
    for b in store.all_blobs()? {
        r.blobs += 1;
        indexed.insert(b.hash);
        if b.purged {
            continue;
        }
        if store.read_blob(&b.hash).is_ok() {
            continue;
        }
        let name = who(&b.hash);
        match intact.get(&b.hash) {
            Some(&loc) if loc != b.loc => {
                r.problems.push(format!(
                    "body {} ({name}) is damaged where the index points, but an intact copy exists in segment {}",
                    hex(&b.hash),
                    loc.segment
                ));
                if repair {
                    store.relocate_blob(b.hash, loc)?;
                    r.repaired.push(format!(
                        "body {} now read from its intact copy",
                        hex(&b.hash)
                    ));
                }
            }
            _ => {
                r.problems.push(format!(
                    "body {} ({name}) is damaged and no intact copy exists",
                    hex(&b.hash)
                ));
                r.lost.push(name);
            }
        }
    }
    for (mailbox_id, uid, hash) in store.entries_without_blob()? {
        let name = who(&hash);
        match intact.get(&hash) {
            Some(&loc) => {
                r.problems.push(format!(
                    "the index lost body {} ({name}); an intact copy is in segment {}",
                    hex(&hash),
                    loc.segment
                ));
                if repair {
                    store.relocate_blob(hash, loc)?;
                    r.repaired
                        .push(format!("index entry of body {} rebuilt", hex(&hash)));
                }
            }
            None => {
                r.problems.push(format!(
                    "message in mailbox {mailbox_id} UID {uid} ({name}) has no body anywhere"
                ));
                r.lost.push(name);
            }
        }
    }
    // Intact bodies nothing references (a crash between append and commit leaves these too,
    // and so does a salvage that lost their entries).
    if repair {
        for f in found
            .iter()
            .filter(|f| f.intact && !indexed.contains(&f.hash))
        {
            if !users.contains_key(&f.hash) {
                write_recovered(dir, &f.hash, f.loc, &mut r);
            }
        }
        for b in store.all_blobs()? {
            if b.purged || users.contains_key(&b.hash) || b.loc.segment != segments::INLINE {
                continue;
            }
            if let Ok(bytes) = store.read_blob(&b.hash) {
                save_recovered(dir, &b.hash, &bytes, &mut r);
            }
        }
    }
    r.lost.sort();
    r.lost.dedup();
    if repair && !(r.repaired.is_empty() && r.recovered.is_empty()) {
        // A journal that lost rows cannot take new leaves; the report says so either way.
        if let Err(e) = store.acting(admin).audit(
            "",
            &format!(
                "fsck --repair: {} repaired, {} recovered to files, {} lost",
                r.repaired.len(),
                r.recovered.len(),
                r.lost.len()
            ),
        ) {
            r.problems
                .push(format!("journal: the repair could not be journaled ({e})"));
        }
    }
    store.close();
    Ok(r)
}
