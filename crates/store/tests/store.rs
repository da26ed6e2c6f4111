//! Store behaviour against real SQLite and real files in a temp directory.

use mailkeep_store::api::prelude::*;
use std::sync::Arc;

use mailkeep_store::{Error, OpenOptions, Store, format, segments};

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    Store::create(dir.path()).unwrap();
    let store = Store::open(dir.path(), OpenOptions::exclusive()).unwrap();
    store.add_domain("example.org", 0).unwrap();
    (dir, store)
}

#[test]
fn open_refuses_uninitialised_dir() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Store::open(dir.path(), OpenOptions::default()),
        Err(Error::NotInitialised(_))
    ));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing created"
    );
}

#[test]
fn newer_format_is_refused_and_left_untouched() {
    let (dir, store) = fresh();
    store.close();
    drop(store);
    format::write(dir.path(), format::CURRENT + 1).unwrap();
    let before: Vec<_> = walk(dir.path());
    match Store::open(dir.path(), OpenOptions::exclusive()) {
        Err(Error::TooNew { found, supported }) => {
            assert_eq!(found, format::CURRENT + 1);
            assert_eq!(supported, format::CURRENT);
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("newer format opened"),
    }
    assert_eq!(before, walk(dir.path()), "no file was changed");
}

fn walk(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push((
                e.path().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn create_twice_is_refused() {
    let (dir, _store) = fresh();
    assert!(matches!(
        Store::create(dir.path()),
        Err(Error::AlreadyInitialised(_))
    ));
}

#[test]
fn accounts_aliases_and_conflicts() {
    let (_dir, store) = fresh();
    let id = store
        .add_account("alice@example.org", "example.org", "h", 0, 7)
        .unwrap();
    assert!(matches!(
        store.add_account("alice@example.org", "example.org", "h", 0, 7),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        store.add_account("bob@nowhere.org", "nowhere.org", "h", 0, 7),
        Err(Error::NotFound(_))
    ));
    let names: Vec<String> = store
        .mailboxes(id)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        names,
        ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );
    store
        .add_alias("sales@example.org", "example.org", "alice@example.org", 0)
        .unwrap();
    assert_eq!(
        store.alias_target("sales@example.org").unwrap().as_deref(),
        Some("alice@example.org")
    );
    assert!(matches!(
        store.add_alias("alice@example.org", "example.org", "alice@example.org", 0),
        Err(Error::Conflict(_))
    ));
    store.delete_account("alice@example.org", 1).unwrap();
    assert!(store.account("alice@example.org").unwrap().is_none());
    assert!(store.alias_target("sales@example.org").unwrap().is_none());
    // The address can be reused; the old account's mailboxes remain.
    let id2 = store
        .add_account("alice@example.org", "example.org", "h", 2, 8)
        .unwrap();
    assert_ne!(id, id2);
    assert_eq!(store.mailboxes(id).unwrap().len(), 6);
}

#[test]
fn delivery_stores_once_and_assigns_ascending_uids() {
    let (dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    let b = store
        .add_account("b@example.org", "example.org", "h", 0, 1)
        .unwrap();
    let seg = dir.path().join("blobs/00000001.seg");
    for msg in [small(), large()] {
        let placed = store
            .deliver(
                msg.clone(),
                vec![
                    mailkeep_store::Target::inbox(a),
                    mailkeep_store::Target::inbox(b),
                ],
                100,
                "X1",
            )
            .unwrap();
        assert_eq!(placed.len(), 2);
        store
            .deliver(
                msg.clone(),
                vec![mailkeep_store::Target::inbox(a)],
                101,
                "X2",
            )
            .unwrap();
    }
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    assert_eq!(inbox.uidnext, 5);
    let msgs = store.messages(inbox.id).unwrap();
    assert_eq!(msgs.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(store.read_blob(&msgs[0].hash).unwrap(), small());
    assert_eq!(store.read_blob(&msgs[3].hash).unwrap(), large());
    // The small body lives inline; the large one is one record in the segments, for three
    // entries.
    let len = std::fs::metadata(seg).unwrap().len();
    assert_eq!(len, segments::HEADER_LEN + large().len() as u64);
}

fn small() -> Vec<u8> {
    b"Subject: hi\r\n\r\nbody\r\n".to_vec()
}

/// Over the inline threshold, so it goes to a segment.
fn large() -> Vec<u8> {
    let mut m = b"Subject: big\r\n\r\n".to_vec();
    while m.len() <= segments::INLINE_MAX {
        m.extend_from_slice(
            b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuv\r\n",
        );
    }
    m
}

#[test]
fn failing_write_does_not_fail_its_batch_neighbours() {
    let (_dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for i in 0..40u32 {
        let s = store.clone();
        handles.push(std::thread::spawn(move || {
            let mailbox = if i % 4 == 0 { "NoSuchBox" } else { "INBOX" };
            s.deliver(
                format!("Subject: {i}\r\n\r\nx\r\n").into_bytes(),
                vec![mailkeep_store::Target {
                    account_id: a,
                    mailbox: mailbox.into(),
                    flags: vec![],
                }],
                0,
                "id",
            )
        }));
    }
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 30);
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(Error::NotFound(_))))
    );
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    let msgs = store.messages(inbox.id).unwrap();
    let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
    assert_eq!(
        uids,
        (1..=30).collect::<Vec<_>>(),
        "UIDs dense and ascending"
    );
    for m in &msgs {
        store.read_blob(&m.hash).unwrap();
    }
}

#[test]
fn uncommitted_segment_tail_is_dropped_on_reopen() {
    let (dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    let one = large();
    let mut two = large();
    two.extend_from_slice(b"two\r\n");
    store
        .deliver(one.clone(), vec![mailkeep_store::Target::inbox(a)], 0, "1")
        .unwrap();
    store.close();
    drop(store);
    let seg = dir.path().join("blobs/00000001.seg");
    let committed = std::fs::metadata(&seg).unwrap().len();
    // A crash after appending but before the commit leaves garbage behind.
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, b"MKB1 torn record").unwrap();
    drop(f);
    let store = Store::open(dir.path(), OpenOptions::exclusive()).unwrap();
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), committed);
    store
        .deliver(two.clone(), vec![mailkeep_store::Target::inbox(a)], 0, "2")
        .unwrap();
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    let bodies: Vec<Vec<u8>> = store
        .messages(inbox.id)
        .unwrap()
        .iter()
        .map(|m| store.read_blob(&m.hash).unwrap())
        .collect();
    assert_eq!(bodies, [one, two]);
}

#[test]
fn corrupted_blob_is_detected() {
    let (dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    store
        .deliver(large(), vec![mailkeep_store::Target::inbox(a)], 0, "1")
        .unwrap();
    store
        .deliver(small(), vec![mailkeep_store::Target::inbox(a)], 0, "2")
        .unwrap();
    let seg = dir.path().join("blobs/00000001.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("meta.sqlite")).unwrap();
    db.execute("UPDATE blobs SET data = X'00' WHERE segment = 0", [])
        .unwrap();
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    for m in store.messages(inbox.id).unwrap() {
        assert!(matches!(
            store.read_blob(&m.hash),
            Err(Error::Corrupt { .. })
        ));
    }
}

#[test]
fn second_writer_is_locked_out() {
    let (dir, _store) = fresh();
    assert!(matches!(
        Store::open(dir.path(), OpenOptions::exclusive()),
        Err(Error::Locked(_))
    ));
    // Metadata-only administration still works beside it.
    let admin = Store::open(dir.path(), OpenOptions::default()).unwrap();
    admin.add_domain("example.net", 0).unwrap();
}

#[test]
fn flags_change_modseq() {
    let (_dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    store
        .deliver(
            b"x\r\n".to_vec(),
            vec![mailkeep_store::Target::inbox(a)],
            0,
            "1",
        )
        .unwrap();
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    let before = store.messages(inbox.id).unwrap()[0].modseq;
    let changed = store
        .add_flags(inbox.id, vec![1], vec!["\\Seen".into()])
        .unwrap();
    assert_eq!(changed.len(), 1);
    assert!(changed[0].1 > before);
    assert!(
        store
            .add_flags(inbox.id, vec![1], vec!["\\seen".into()])
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.messages(inbox.id).unwrap()[0].flags, ["\\Seen"]);
}

#[test]
fn flags_added_to_many_messages_are_one_change() {
    let (_dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    for i in 0..5 {
        let body = format!("Subject: {i}\r\n\r\nx\r\n").into_bytes();
        store
            .deliver(
                body,
                vec![mailkeep_store::Target::inbox(a)],
                0,
                &i.to_string(),
            )
            .unwrap();
    }
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    store
        .add_flags(inbox.id, vec![2], vec!["\\Seen".into()])
        .unwrap();
    let changed = store
        .add_flags(inbox.id, vec![1, 2, 3, 4, 5], vec!["\\Seen".into()])
        .unwrap();
    let uids: Vec<u32> = changed.iter().map(|c| c.0).collect();
    assert_eq!(uids, [1, 3, 4, 5]);
    assert!(changed.iter().all(|c| c.1 == changed[0].1));
    let top = store.mailbox(a, "INBOX").unwrap().unwrap().highestmodseq;
    assert_eq!(top, changed[0].1);
}

/// Large and small bodies from many threads at once, some identical: every delivery
/// succeeds, identical large bodies are stored once even when they are in flight together.
#[test]
fn concurrent_mixed_deliveries_dedupe_across_batches() {
    let (dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    let store = Arc::new(store);
    let shared_large = large();
    let handles: Vec<_> = (0..48u32)
        .map(|i| {
            let s = store.clone();
            let body = match i % 3 {
                0 => shared_large.clone(),
                1 => format!("Subject: small {i}\r\n\r\nx\r\n").into_bytes(),
                _ => {
                    let mut b = large();
                    b.extend_from_slice(format!("unique {i}\r\n").as_bytes());
                    b
                }
            };
            std::thread::spawn(move || {
                s.deliver(
                    body.clone(),
                    vec![mailkeep_store::Target::inbox(a)],
                    0,
                    "id",
                )
                .unwrap();
                body
            })
        })
        .collect();
    let mut sent: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    let mut stored: Vec<Vec<u8>> = store
        .messages(inbox.id)
        .unwrap()
        .iter()
        .map(|m| store.read_blob(&m.hash).unwrap())
        .collect();
    sent.sort();
    stored.sort();
    assert_eq!(sent, stored);
    // 16 distinct large bodies plus the shared one, each once in the segments.
    let seg = std::fs::metadata(dir.path().join("blobs/00000001.seg"))
        .unwrap()
        .len();
    let expected: u64 = 17 * segments::HEADER_LEN
        + shared_large.len() as u64
        + (0..48u32)
            .filter(|i| i % 3 == 2)
            .map(|i| (large().len() + format!("unique {i}\r\n").len()) as u64)
            .sum::<u64>();
    assert_eq!(seg, expected);
}

mod mailbox_ops {
    use super::*;
    use mailkeep_store::FlagMode;

    fn setup() -> (tempfile::TempDir, Store, i64, i64) {
        let (dir, store) = fresh();
        let a = store
            .add_account("a@example.org", "example.org", "h", 0, 1)
            .unwrap();
        for i in 0..4 {
            store
                .deliver(
                    format!("Subject: {i}\r\n\r\nx\r\n").into_bytes(),
                    vec![mailkeep_store::Target::inbox(a)],
                    i,
                    "d",
                )
                .unwrap();
        }
        let inbox = store.mailbox(a, "INBOX").unwrap().unwrap().id;
        (dir, store, a, inbox)
    }

    fn uids(store: &Store, mailbox: i64) -> Vec<u32> {
        store
            .messages(mailbox)
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect()
    }

    #[test]
    fn create_delete_rename_subscribe() {
        let (_d, store, a, _) = setup();
        store.create_mailbox(a, "Work/2026/Q4", 5).unwrap();
        let names: Vec<String> = store
            .mailboxes(a)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert!(names.contains(&"Work".into()) && names.contains(&"Work/2026".into()));
        assert!(matches!(
            store.create_mailbox(a, "Work", 5),
            Err(Error::Conflict(_))
        ));
        store.rename_mailbox(a, "Work", "Job", 6, 0).unwrap();
        let names: Vec<String> = store
            .mailboxes(a)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert!(
            names.contains(&"Job/2026/Q4".into()) && !names.iter().any(|n| n.starts_with("Work"))
        );
        assert!(matches!(
            store.delete_mailbox(a, "INBOX", 0),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            store.delete_mailbox(a, "Nope", 0),
            Err(Error::NotFound(_))
        ));
        store.set_subscribed(a, "Job", false).unwrap();
        assert!(!store.mailbox(a, "Job").unwrap().unwrap().subscribed);
        store.delete_mailbox(a, "Job", 0).unwrap();
        assert!(store.mailbox(a, "Job").unwrap().is_none());
    }

    #[test]
    fn rename_inbox_moves_its_messages() {
        let (_d, store, a, inbox) = setup();
        store.rename_mailbox(a, "INBOX", "Old", 7, 0).unwrap();
        assert!(uids(&store, inbox).is_empty());
        let old = store.mailbox(a, "Old").unwrap().unwrap();
        assert_eq!(uids(&store, old.id), [1, 2, 3, 4]);
        assert_eq!(
            store.mailbox(a, "INBOX").unwrap().unwrap().uidnext,
            5,
            "UIDs never reused"
        );
    }

    #[test]
    fn flags_expunge_and_conditional_store() {
        let (_d, store, _a, inbox) = setup();
        let (changed, _) = store
            .store_flags(
                inbox,
                vec![1, 3],
                FlagMode::Add,
                vec!["\\Deleted".into(), "$Work".into()],
                None,
            )
            .unwrap();
        assert_eq!(changed.len(), 2);
        let since = changed[0].modseq;
        let (_, modified) = store
            .store_flags(
                inbox,
                vec![1, 2],
                FlagMode::Add,
                vec!["\\Seen".into()],
                Some(since - 1),
            )
            .unwrap();
        assert_eq!(modified, [1], "message 1 changed after UNCHANGEDSINCE");
        let (changed, _) = store
            .store_flags(
                inbox,
                vec![2],
                FlagMode::Remove,
                vec!["\\seen".into()],
                None,
            )
            .unwrap();
        assert!(changed[0].flags.is_empty());
        assert_eq!(store.expunge(inbox, Some(vec![3]), 9).unwrap(), [3]);
        assert_eq!(store.expunge(inbox, None, 9).unwrap(), [1]);
        assert_eq!(uids(&store, inbox), [2, 4]);
        assert_eq!(store.expunged_since(inbox, 0).unwrap(), [1, 3]);
        let m = store.messages(inbox).unwrap();
        assert!(m.iter().all(|m| !m.flags.iter().any(|f| f == "\\Deleted")));
    }

    #[test]
    fn append_copy_move() {
        let (_d, store, a, inbox) = setup();
        let ap = store
            .append(
                a,
                "Drafts",
                b"Subject: draft\r\n\r\n".to_vec(),
                vec!["\\Draft".into()],
                42,
            )
            .unwrap();
        assert_eq!(ap.uids, [(0, 1)]);
        let drafts = store.mailbox(a, "Drafts").unwrap().unwrap();
        assert_eq!(store.messages(drafts.id).unwrap()[0].flags, ["\\Draft"]);
        let c = store
            .copy_messages(a, inbox, vec![2, 4], "Archive", false, 0)
            .unwrap();
        assert_eq!(c.uids, [(2, 1), (4, 2)]);
        let m = store
            .copy_messages(a, inbox, vec![1, 2, 99], "Trash", true, 0)
            .unwrap();
        assert_eq!(m.uids, [(1, 1), (2, 2)]);
        assert_eq!(uids(&store, inbox), [3, 4]);
        assert!(matches!(
            store.append(a, "Nope", b"x".to_vec(), vec![], 0),
            Err(Error::NotFound(_))
        ));
        // Another account's mailbox cannot be a COPY source.
        let b = store
            .add_account("b@example.org", "example.org", "h", 0, 1)
            .unwrap();
        assert!(
            store
                .copy_messages(b, inbox, vec![3], "INBOX", false, 0)
                .is_err()
        );
    }
}

#[test]
fn outbound_queue_claim_record_retry_drop() {
    use mailkeep_store::{NewOutbound, Outcome};
    let dir = tempfile::tempdir().unwrap();
    Store::create(dir.path()).unwrap();
    let store = Store::open(dir.path(), OpenOptions::exclusive()).unwrap();
    store.add_domain("example.org", 1).unwrap();
    let acc = store
        .add_account("a@example.org", "example.org", "x", 1, 7)
        .unwrap();
    let out = NewOutbound {
        queue_id: "Q1".into(),
        account_id: Some(acc),
        sender: "a@example.org".into(),
        recipients: vec!["x@Remote.example".into(), "y@other.example".into()],
        smtputf8: false,
        body_8bit: false,
        requiretls: true,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    store.accept_then(
        b"Subject: q\r\n\r\nhi\r\n".to_vec(),
        vec![mailkeep_store::Target {
            account_id: acc,
            mailbox: "Sent".into(),
            flags: vec![],
        }],
        Some(out),
        (
            "a@example.org".into(),
            vec!["x@Remote.example".into(), "y@other.example".into()],
        ),
        100,
        "Q1",
        Box::new(move |r| tx.send(r).unwrap()),
    );
    let placed = rx.recv().unwrap().unwrap();
    assert_eq!(
        placed.len(),
        1,
        "the local copy and the queue entry commit together"
    );

    // Not due before its time; due at it; a claim leases both recipients.
    assert!(store.queue_claim(99, 600, 10).unwrap().is_empty());
    let claimed = store.queue_claim(100, 600, 10).unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].domain, "remote.example");
    assert!(claimed[0].requiretls);
    assert_eq!(
        store.read_blob(&claimed[0].blob).unwrap(),
        b"Subject: q\r\n\r\nhi\r\n"
    );
    assert!(
        store.queue_claim(200, 600, 10).unwrap().is_empty(),
        "leased"
    );
    // An expired lease (a worker that died) makes them due again.
    assert_eq!(store.queue_claim(701, 600, 10).unwrap().len(), 2);
    assert!(store.queue_claim(702, 600, 10).unwrap().is_empty());
    assert_eq!(store.queue_release_claims().unwrap(), 2);
    assert_eq!(store.queue_claim(702, 600, 10).unwrap().len(), 2);

    store
        .queue_record(
            vec![
                (
                    claimed[0].rcpt_id,
                    Outcome::Sent {
                        reply: "250 ok".into(),
                    },
                ),
                (
                    claimed[1].rcpt_id,
                    Outcome::Deferred {
                        error: "451 later".into(),
                        next_attempt: 5000,
                        warned: false,
                    },
                ),
            ],
            800,
        )
        .unwrap();
    let e = store.queue_entry("Q1").unwrap().unwrap();
    assert_eq!(e.recipients[0].state, "sent");
    assert_eq!(e.recipients[1].state, "queued");
    assert_eq!(e.recipients[1].attempts, 1);
    assert_eq!(store.queue_next_due().unwrap(), Some(5000));
    assert_eq!(store.queue_list(false).unwrap().len(), 1);

    // An open connection to the domain may take what falls due shortly, and only that domain.
    assert!(
        store
            .queue_claim_domain("other.example", &[], 4999, 850, 600, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .queue_claim_domain("remote.example", &[], 5000, 850, 600, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .queue_claim_domain("other.example", &[claimed[1].rcpt_id], 5000, 850, 600, 10)
            .unwrap()
            .is_empty(),
        "a recipient this connection has tried already"
    );
    let early = store
        .queue_claim_domain("other.example", &[claimed[0].rcpt_id], 5000, 850, 600, 10)
        .unwrap();
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].rcpt_id, claimed[1].rcpt_id);
    assert!(
        store
            .queue_claim_domain("other.example", &[], 5000, 860, 600, 10)
            .unwrap()
            .is_empty(),
        "leased"
    );
    assert_eq!(store.queue_release_claims().unwrap(), 1);
    assert_eq!(store.queue_retry("Q1", 900).unwrap(), 1);
    assert_eq!(store.queue_claim(900, 600, 10).unwrap().len(), 1);
    // A retry asked for while a worker is sending it must not hand it to a second worker
    // (that sent the message twice).
    assert_eq!(store.queue_retry("Q1", 910).unwrap(), 1);
    assert!(
        store.queue_claim(910, 600, 10).unwrap().is_empty(),
        "still leased"
    );
    assert_eq!(store.queue_drop("Q1", 950).unwrap(), 1);
    assert!(store.queue_claim(100_000, 600, 10).unwrap().is_empty());
    assert!(store.queue_list(false).unwrap().is_empty());
    assert_eq!(store.queue_list(true).unwrap().len(), 1);
    assert_eq!(store.queue_entry("nope").unwrap(), None);

    // It all survives a reopen.
    drop(store);
    let store = Store::open(dir.path(), OpenOptions::exclusive()).unwrap();
    assert_eq!(
        store.queue_entry("Q1").unwrap().unwrap().recipients[1].state,
        "dropped"
    );
}

#[test]
fn mailbox_changes_name_what_changed_since_a_mod_sequence() {
    let (_dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    for i in 0..4 {
        let body = format!("Subject: {i}\r\n\r\nx\r\n").into_bytes();
        store
            .deliver(
                body,
                vec![mailkeep_store::Target::inbox(a)],
                0,
                &i.to_string(),
            )
            .unwrap();
    }
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    let seen = inbox.highestmodseq;
    let nothing = store.mailbox_changes(inbox.id, seen).unwrap();
    assert_eq!(nothing.highestmodseq, seen);
    assert!(nothing.changed.is_empty() && nothing.expunged.is_empty());

    store
        .add_flags(inbox.id, vec![2], vec!["\\Deleted".into()])
        .unwrap();
    store.expunge(inbox.id, None, 5).unwrap();
    store
        .add_flags(inbox.id, vec![3], vec!["$k".into()])
        .unwrap();
    store
        .deliver(
            b"Subject: new\r\n\r\n".to_vec(),
            vec![mailkeep_store::Target::inbox(a)],
            0,
            "n",
        )
        .unwrap();
    let ch = store.mailbox_changes(inbox.id, seen).unwrap();
    assert_eq!(ch.expunged, [2]);
    let changed: Vec<(u32, Vec<String>)> = ch
        .changed
        .iter()
        .map(|m| (m.uid, m.flags.clone()))
        .collect();
    assert_eq!(changed, [(3, vec!["$k".to_owned()]), (5, vec![])]);
    assert_eq!(
        ch.highestmodseq,
        store.mailbox(a, "INBOX").unwrap().unwrap().highestmodseq
    );
    // Asked again from there: nothing.
    let again = store.mailbox_changes(inbox.id, ch.highestmodseq).unwrap();
    assert!(again.changed.is_empty() && again.expunged.is_empty());
}

#[test]
fn parsed_records_are_kept_per_body_and_go_with_a_purge() {
    let (_dir, store) = fresh();
    let a = store
        .add_account("a@example.org", "example.org", "h", 0, 1)
        .unwrap();
    store
        .deliver(
            b"Subject: x\r\n\r\nx\r\n".to_vec(),
            vec![mailkeep_store::Target::inbox(a)],
            0,
            "1",
        )
        .unwrap();
    let hash = store.unparsed_blobs(0, 10).unwrap()[0].hash;
    store
        .put_parsed(vec![
            (hash, b"record".to_vec()),
            ([7u8; 32], b"no such body".to_vec()),
        ])
        .unwrap();
    assert!(store.unparsed_blobs(0, 10).unwrap().is_empty());
    let got = store.parsed(&[hash, [7u8; 32]]).unwrap();
    assert_eq!(
        got.len(),
        1,
        "a record for a body that is not stored is not kept"
    );
    assert_eq!(got[&hash], b"record");
    let inbox = store.mailbox(a, "INBOX").unwrap().unwrap();
    store
        .add_flags(inbox.id, vec![1], vec!["\\Deleted".into()])
        .unwrap();
    store.expunge(inbox.id, None, 5).unwrap();
    store.purge_blob(hash, "test").unwrap();
    assert!(
        store.parsed(&[hash]).unwrap().is_empty(),
        "the record outlived the bytes"
    );
}
