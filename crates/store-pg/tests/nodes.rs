//! Several nodes on one database: what must hold across them (identity, one journal, one
//! feed), and the schema guard.

use std::collections::HashSet;
use std::sync::Arc;

use mailkeep_journal::merkle;
use mailkeep_store_api::conformance::message;
use mailkeep_store_api::prelude::*;
use mailkeep_store_api::{ChangeKind, Error, Target};
use mailkeep_store_pg::{Options, PgStore, schema, testing};

fn node(url: &str) -> PgStore {
    PgStore::open(Options {
        url: url.to_owned(),
        password: None,
        clock: None,
        objects: None,
        tls: None,
    })
    .unwrap()
}

/// Three nodes deliver, append and copy into one mailbox at once: UIDs stay distinct and
/// gap-free, MODSEQs rise, the journal is one gap-free log whose stored tree matches its
/// leaves, and the change feed names every new UID exactly once, in position order.
#[test]
fn three_nodes_hammering_one_mailbox_keep_identity_journal_and_feed() {
    let url = testing::shared().database();
    let nodes: Vec<PgStore> = (0..3).map(|_| node(&url)).collect();
    nodes[0].add_domain("example.org", 0).unwrap();
    let a = nodes[0]
        .add_account("u@example.org", "example.org", "h", 0, 7)
        .unwrap();
    // Writes to another account's mailbox do not queue behind the first's mailbox row:
    // only the write lock orders their journal leaves and feed positions.
    let b = nodes[0]
        .add_account("v@example.org", "example.org", "h", 0, 7)
        .unwrap();
    nodes[0].create_mailbox(a, "Other", 7).unwrap();
    let other = nodes[0].mailbox(a, "Other").unwrap().unwrap().id;
    let seed_uid = nodes[0]
        .append(a, "Other", message("seed", 200), vec![], 0)
        .unwrap()
        .uids[0]
        .1;
    let head = nodes[0].change_head().unwrap();
    const EACH: usize = 20;
    std::thread::scope(|s| {
        for (n, store) in nodes.iter().enumerate() {
            for t in 0..4 {
                s.spawn(move || {
                    for i in 0..EACH {
                        let tag = format!("n{n}t{t}m{i}");
                        match t {
                            0 => {
                                store
                                    .deliver(message(&tag, 300), vec![Target::inbox(a)], 0, &tag)
                                    .unwrap();
                            }
                            1 => {
                                store
                                    .append(a, "INBOX", message(&tag, 70_000), vec![], 0)
                                    .unwrap();
                            }
                            2 => {
                                store
                                    .copy_messages(a, other, vec![seed_uid], "INBOX", false, 0)
                                    .unwrap();
                            }
                            _ => {
                                store
                                    .deliver(message(&tag, 300), vec![Target::inbox(b)], 0, &tag)
                                    .unwrap();
                                store.audit("v@example.org", &tag).unwrap();
                            }
                        }
                    }
                });
            }
        }
    });
    let inbox = nodes[1].mailbox(a, "INBOX").unwrap().unwrap();
    let msgs = nodes[2].messages(inbox.id).unwrap();
    let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
    let want: Vec<u32> = (1..=(9 * EACH) as u32).collect();
    assert_eq!(uids, want, "distinct, ascending and gap-free across nodes");
    let mut modseqs: Vec<u64> = msgs.iter().map(|m| m.modseq).collect();
    modseqs.dedup();
    assert_eq!(modseqs.len(), msgs.len(), "one MODSEQ per new message");
    assert!(
        msgs.windows(2).all(|w| w[0].modseq < w[1].modseq),
        "MODSEQs follow UIDs"
    );
    assert_eq!(inbox.uidnext as usize, 9 * EACH + 1);

    // One journal: gap-free indexes, and the stored tree is the tree of the leaves.
    let size = nodes[0].journal_size().unwrap();
    let leaves = nodes[1].journal_leaves(0, size).unwrap();
    assert_eq!(leaves.len() as u64, size);
    assert!(leaves.iter().zip(0..).all(|(l, i)| l.idx == i));
    let hashes: Vec<_> = leaves.iter().map(|l| merkle::leaf_hash(&l.leaf)).collect();
    assert!(leaves.iter().zip(&hashes).all(|(l, h)| l.node == Some(*h)));
    let whole = merkle::InMemory::new(hashes);
    assert_eq!(
        nodes[2].journal_root(size).unwrap(),
        merkle::root(&whole, size).unwrap()
    );

    // One feed: every new UID once, positions rising, MODSEQs of a mailbox rising.
    let feed = nodes[2].changes_after(head, 10_000).unwrap();
    assert!(!feed.gap);
    assert!(feed.changes.windows(2).all(|w| w[0].seq < w[1].seq));
    let mut added: Vec<u32> = Vec::new();
    let mut last_modseq = 0;
    for c in feed.changes.iter().filter(|c| c.mailbox_id == inbox.id) {
        assert!(c.modseq > last_modseq, "feed MODSEQs rise per mailbox");
        last_modseq = c.modseq;
        if let ChangeKind::Added { uids } = &c.kind {
            added.extend(uids);
        }
    }
    added.sort_unstable();
    assert_eq!(added, want);
    assert_eq!(added.iter().collect::<HashSet<_>>().len(), added.len());
}

/// A database migrated by a newer build is refused, and nothing is written to it.
#[test]
fn a_newer_schema_is_refused_untouched() {
    let url = testing::shared().database();
    drop(node(&url));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let newer = schema::CURRENT as i32 + 1;
    c.execute("UPDATE mailkeep_schema SET version = $1", &[&newer])
        .unwrap();
    let tables = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    let before = tables(&mut c);
    match PgStore::open(Options {
        url: url.clone(),
        password: None,
        clock: None,
        objects: None,
        tls: None,
    }) {
        Err(Error::TooNew { found, supported }) => {
            assert_eq!((found, supported), (newer as u32, schema::CURRENT));
        }
        Err(e) => panic!("expected TooNew, got {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
    assert_eq!(tables(&mut c), before);
    let v: i32 = c
        .query_one("SELECT version FROM mailkeep_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, newer);
}

/// A node keeps working when its handle is used from inside a tokio runtime (the server's
/// async code): the blocking client must not panic there.
#[test]
fn calls_from_inside_a_runtime_do_not_panic() {
    let url = testing::shared().database();
    let store = Arc::new(node(&url));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let s = store.clone();
    rt.block_on(async move {
        s.add_domain("example.org", 0).unwrap();
        assert!(s.has_domain("example.org").unwrap());
    });
}
