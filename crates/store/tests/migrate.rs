//! Upgrading a data directory written by an older mailkeep: nothing may be lost.

use mailkeep_store::api::prelude::*;
use std::path::Path;

use mailkeep_store::{OpenOptions, Store, format};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn format_1_fixture_upgrades_without_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-1"),
        &dir,
    );
    assert_eq!(format::read(&dir).unwrap(), Some(1));

    let store = Store::open(&dir, OpenOptions::exclusive()).unwrap();
    assert_eq!(format::read(&dir).unwrap(), Some(format::CURRENT));
    assert!(store.integrity_check().unwrap().is_empty());

    let names: Vec<String> = store
        .accounts()
        .unwrap()
        .into_iter()
        .map(|a| a.address)
        .collect();
    assert_eq!(names, ["alice@example.org", "bob@example.org"]);
    assert_eq!(
        store.alias_target("sales@example.org").unwrap().as_deref(),
        Some("alice@example.org")
    );
    let alice = store.account("alice@example.org").unwrap().unwrap();
    let inbox = store.mailbox(alice.id, "INBOX").unwrap().unwrap();
    assert_eq!(inbox.uidnext, 3);
    let msgs = store.messages(inbox.id).unwrap();
    assert_eq!(msgs.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2]);
    let small = store.read_blob(&msgs[0].hash).unwrap();
    let large = store.read_blob(&msgs[1].hash).unwrap();
    assert!(String::from_utf8_lossy(&small).contains("Hello from format 1."));
    assert!(large.len() > 64 * 1024, "the segment-stored body survived");
    assert!(String::from_utf8_lossy(&large).contains("line 001999 of a body"));
    assert_eq!(store.mailboxes(alice.id).unwrap().len(), 6);

    // What format 2 adds works on the upgraded data: a deleted mailbox frees its name.
    store.create_mailbox(alice.id, "Projects", 9).unwrap();
    store.delete_mailbox(alice.id, "Projects", 1).unwrap();
    store.create_mailbox(alice.id, "Projects", 10).unwrap();
    // New deliveries continue the UID sequence.
    let placed = store
        .deliver(
            b"Subject: new\r\n\r\nx\r\n".to_vec(),
            vec![mailkeep_store::Target::inbox(alice.id)],
            2,
            "n",
        )
        .unwrap();
    assert_eq!(placed[0].uid, 3);
    store.close();
    drop(store);
    // Opening again is a no-op.
    let again = Store::open(&dir, OpenOptions::exclusive()).unwrap();
    assert_eq!(again.messages(inbox.id).unwrap().len(), 3);
}

#[test]
fn format_8_journal_keeps_its_signed_roots_and_grows_on() {
    use mailkeep_journal::merkle;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-8"),
        &dir,
    );
    assert_eq!(format::read(&dir).unwrap(), Some(8));

    let store = Store::open(&dir, OpenOptions::exclusive()).unwrap();
    assert_eq!(format::read(&dir).unwrap(), Some(format::CURRENT));
    assert!(store.integrity_check().unwrap().is_empty());
    let size = store.journal_size().unwrap();
    assert_eq!(size, 42);
    let checkpoints = store.checkpoints().unwrap();
    assert_eq!(checkpoints.len(), 1);
    // The nodes moved: the root they give is still the one format 8 signed.
    assert_eq!(checkpoints[0].size, 42);
    assert_eq!(store.journal_root(42).unwrap(), checkpoints[0].root);
    let leaves = store.journal_leaves(0, size).unwrap();
    assert_eq!(leaves.len(), 42);
    for l in &leaves {
        assert_eq!(l.node, Some(merkle::leaf_hash(&l.leaf)), "leaf {}", l.idx);
    }

    // Appends continue the same tree: recomputed from the leaves alone, every root and proof
    // agrees with what the store serves.
    let alice = store.account("alice@example.org").unwrap().unwrap();
    let inbox = store.mailbox(alice.id, "INBOX").unwrap().unwrap();
    for i in 0..23 {
        let body = format!("Subject: after the upgrade {i}\r\n\r\nx\r\n").into_bytes();
        store
            .deliver(body, vec![mailkeep_store::Target::inbox(alice.id)], 2, "n")
            .unwrap();
    }
    let size = store.journal_size().unwrap();
    assert_eq!(size, 42 + 23);
    let hashes: Vec<_> = store
        .journal_leaves(0, size)
        .unwrap()
        .iter()
        .map(|l| merkle::leaf_hash(&l.leaf))
        .collect();
    let memory = merkle::InMemory::new(hashes.clone());
    assert_eq!(merkle::root(&memory, 42).unwrap(), checkpoints[0].root);
    for n in [1, 41, 42, 43, 64, size] {
        assert_eq!(
            store.journal_root(n).unwrap(),
            merkle::root(&memory, n).unwrap()
        );
    }
    let root = store.journal_root(size).unwrap();
    for idx in [0, 17, 41, 42, size - 1] {
        let proof = store.journal_inclusion(idx, size).unwrap();
        assert!(merkle::verify_inclusion(
            &hashes[idx as usize],
            idx,
            size,
            &proof,
            &root
        ));
    }
    assert_eq!(store.messages(inbox.id).unwrap().len(), 38 + 23);
}
