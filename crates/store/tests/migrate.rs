//! Upgrading a data directory written by an older mailkeep: nothing may be lost.

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

    let store = Store::open(&dir, OpenOptions { exclusive: true }).unwrap();
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
            vec![(alice.id, "INBOX".into())],
            2,
            "n",
        )
        .unwrap();
    assert_eq!(placed[0].uid, 3);
    store.close();
    drop(store);
    // Opening again is a no-op.
    let again = Store::open(&dir, OpenOptions { exclusive: true }).unwrap();
    assert_eq!(again.messages(inbox.id).unwrap().len(), 3);
}
