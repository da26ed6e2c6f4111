//! The disk fails the store (injected: `fault-injection` feature). A failed fsync or write is
//! never acknowledged; after a failed fsync the store refuses writes until it is reopened
//! (retrying an fsync can report success for data the kernel already dropped); on reopen —
//! even after the unsynced bytes are lost, as a power cut would lose them — everything
//! acknowledged is there and intact, and writing works again.

use mailkeep_store::api::prelude::*;
use mailkeep_store::faults::{Fault, arm};
use mailkeep_store::{Error, OpenOptions, Store, segments};

/// Over the inline threshold, so it goes to a segment file.
fn large(tag: &str) -> Vec<u8> {
    let mut m = format!("Subject: {tag}\r\n\r\n").into_bytes();
    while m.len() <= segments::INLINE_MAX {
        m.extend_from_slice(format!("{tag} 0123456789abcdefghijklmnopqrstuvwxyz\r\n").as_bytes());
    }
    m
}

fn bodies(store: &Store, account: i64) -> Vec<Vec<u8>> {
    let inbox = store.mailbox(account, "INBOX").unwrap().unwrap();
    store
        .messages(inbox.id)
        .unwrap()
        .iter()
        .map(|m| store.read_blob(&m.hash).unwrap())
        .collect()
}

#[test]
fn failed_fsyncs_and_writes_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    Store::create(dir.path()).unwrap();
    let open = || Store::open(dir.path(), OpenOptions::exclusive()).unwrap();
    let store = open();
    store.add_domain("example.org", 0).unwrap();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    let deliver = |s: &Store, tag: &str| {
        s.deliver(large(tag), vec![mailkeep_store::Target::inbox(a)], 0, tag)
    };
    deliver(&store, "one").unwrap();
    let seg = dir.path().join("blobs/00000001.seg");
    let synced = std::fs::metadata(&seg).unwrap().len();

    // fsync fails: not acknowledged, and the store stops taking writes.
    arm(Fault::SegmentSync);
    assert!(deliver(&store, "two").is_err());
    assert!(matches!(deliver(&store, "three"), Err(Error::Poisoned(_))));
    assert!(matches!(
        store.deliver(
            b"Subject: small\r\n\r\nx\r\n".to_vec(),
            vec![mailkeep_store::Target::inbox(a)],
            0,
            "s"
        ),
        Err(Error::Poisoned(_))
    ));
    store.close();
    drop(store);

    // A power cut drops what was written but never synced.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(synced)
        .unwrap();
    let store = open();
    assert_eq!(bodies(&store, a), [large("one")]);
    deliver(&store, "four").unwrap();
    assert_eq!(bodies(&store, a), [large("one"), large("four")]);

    // A write fails: not acknowledged either; reopened, the store goes on.
    arm(Fault::SegmentWrite);
    assert!(deliver(&store, "five").is_err());
    store.close();
    drop(store);
    let store = open();
    deliver(&store, "six").unwrap();
    assert_eq!(
        bodies(&store, a),
        [large("one"), large("four"), large("six")]
    );
    assert!(store.integrity_check().unwrap().is_empty());
}
