//! Moving an embedded store into PostgreSQL: the copy is the same store, row for row, and
//! its journal has the source's tree head; running the copy again adds nothing.

use mailkeep_store::{OpenOptions, Store};
use mailkeep_store_api::conformance::message;
use mailkeep_store_api::prelude::*;
use mailkeep_store_api::{FlagMode, NewOutbound, Target};
use mailkeep_store_pg::{Options, PgStore, migrate, testing};

fn populate(dir: &std::path::Path) {
    Store::create(dir).unwrap();
    let s = Store::open(dir, OpenOptions::exclusive()).unwrap();
    s.add_domain("example.org", 1).unwrap();
    let a = s
        .add_account("a@example.org", "example.org", "h", 1, 5)
        .unwrap();
    let b = s
        .add_account("b@example.org", "example.org", "h", 1, 5)
        .unwrap();
    s.add_alias("sales@example.org", "example.org", "a@example.org", 1)
        .unwrap();
    for i in 0..30 {
        // Every fifth body is large enough for a segment file.
        let size = if i % 5 == 0 { 100_000 } else { 500 };
        s.deliver(
            message(&format!("m{i}"), size),
            vec![Target::inbox(a), Target::inbox(b)],
            i,
            &format!("d{i}"),
        )
        .unwrap();
    }
    let inbox = s.mailbox(a, "INBOX").unwrap().unwrap().id;
    s.store_flags(
        inbox,
        vec![1, 2, 3],
        FlagMode::Add,
        vec!["\\Deleted".into()],
        None,
    )
    .unwrap();
    s.expunge(inbox, None, 100).unwrap();
    s.create_mailbox(a, "Archive/2026", 9).unwrap();
    s.copy_messages(a, inbox, vec![4, 5], "Archive/2026", true, 101)
        .unwrap();
    s.add_hold(Some("b@example.org"), "", "case 1").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    s.accept_then(
        message("out", 800),
        vec![],
        Some(NewOutbound {
            queue_id: "Q1".into(),
            account_id: Some(a),
            sender: "a@example.org".into(),
            recipients: vec!["x@example.net".into()],
            smtputf8: false,
            body_8bit: false,
            requiretls: false,
        }),
        ("a@example.org".into(), vec!["x@example.net".into()]),
        102,
        "Q1",
        Box::new(move |r| tx.send(r).unwrap()),
    );
    rx.recv().unwrap().unwrap();
    s.checkpoint(true, Box::new(|n, _, _| format!("checkpoint {n}")))
        .unwrap();
    s.close();
}

#[test]
fn a_copied_store_is_the_same_store_with_the_same_journal_head() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let url = testing::shared().database();
    let target = PgStore::open(Options {
        url,
        password: None,
        clock: None,
        objects: None,
        tls: None,
    })
    .unwrap();
    let mut steps = 0;
    let copied = migrate::from_embedded(dir.path(), &target, &mut |_| steps += 1).unwrap();
    assert!(steps > 0);
    let source = Store::open(dir.path(), OpenOptions::exclusive()).unwrap();
    assert_eq!(copied.journal_size, source.journal_size().unwrap());
    assert_eq!(
        copied.root,
        source.journal_root(copied.journal_size).unwrap()
    );
    assert_eq!(
        target.journal_leaves(0, copied.journal_size).unwrap(),
        source.journal_leaves(0, copied.journal_size).unwrap()
    );
    assert_eq!(target.checkpoints().unwrap(), source.checkpoints().unwrap());
    assert_eq!(target.accounts().unwrap(), source.accounts().unwrap());
    assert_eq!(target.aliases().unwrap(), source.aliases().unwrap());
    assert_eq!(target.holds().unwrap(), source.holds().unwrap());
    assert_eq!(
        target.queue_list(true).unwrap(),
        source.queue_list(true).unwrap()
    );
    assert_eq!(target.all_entries().unwrap(), source.all_entries().unwrap());
    for acc in source.accounts().unwrap() {
        assert_eq!(
            target.mailboxes(acc.id).unwrap(),
            source.mailboxes(acc.id).unwrap()
        );
        for mb in source.mailboxes(acc.id).unwrap() {
            let msgs = source.messages(mb.id).unwrap();
            assert_eq!(target.messages(mb.id).unwrap(), msgs);
            for m in msgs {
                assert_eq!(
                    target.read_blob(&m.hash).unwrap(),
                    source.read_blob(&m.hash).unwrap()
                );
            }
        }
    }
    let head = source.last_blob_seq().unwrap();
    assert_eq!(target.last_blob_seq().unwrap(), head);
    assert_eq!(target.blob_at(head).unwrap(), source.blob_at(head).unwrap());
    source.close();

    // Running it again (an interrupted copy resumed) adds nothing and still proves out.
    let again = migrate::from_embedded(dir.path(), &target, &mut |_| {}).unwrap();
    assert_eq!(
        (again.journal_size, again.root),
        (copied.journal_size, copied.root)
    );
    assert_eq!(target.journal_size().unwrap(), copied.journal_size);

    // The copy keeps working as a store: new ids, UIDs and leaves continue from the source's.
    let a = target.account("a@example.org").unwrap().unwrap().id;
    let c = target
        .append(a, "INBOX", message("after the move", 300), vec![], 200)
        .unwrap();
    assert_eq!(c.uids[0].1, 31, "UIDs continue after the copied ones");
    assert_eq!(target.journal_size().unwrap(), copied.journal_size + 1);
    target.add_domain("example.net", 200).unwrap();
}
