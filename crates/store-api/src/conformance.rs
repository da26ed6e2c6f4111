//! The contract of the seam, written once as tests that every backend runs.
//!
//! A backend's test crate supplies a [`Fixture`] maker and expands
//! [`conformance_tests!`](crate::conformance_tests); each contract becomes one `#[test]`
//! named after it. The checks use only the traits, so a PostgreSQL backend passes the same
//! suite unmodified.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crate::journal::{ActorKind, Kind};
use crate::{Actor, Backend, ChangeKind, Error, FixedClock, FlagMode, Outcome};

/// The time a fixture's clock starts at.
pub const START: i64 = 1_800_000_000;

/// A fresh, empty backend for one check.
pub struct Fixture {
    /// The backend under test, opened with [`Fixture::clock`].
    pub backend: Arc<dyn Backend>,
    /// Its clock.
    pub clock: Arc<FixedClock>,
    /// Makes the backend's next durable sync fail once (an fsync, a commit), when the backend
    /// can inject that; the poisoning check is skipped otherwise.
    pub fail_next_sync: Option<Box<dyn Fn() + Send + Sync>>,
    /// Whatever must live as long as the backend (a temporary directory, a database).
    pub guard: Box<dyn std::any::Any>,
}

/// A message with a From header, unique by `tag`, of about `size` bytes.
pub fn message(tag: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: {tag}\r\nMessage-ID: <{tag}@example.org>\r\n\r\n"
    )
    .into_bytes();
    while m.len() < size {
        m.extend_from_slice(b"conformance body line, long enough to fill a large message\r\n");
    }
    m
}

/// A domain and an account on it; returns the account id.
fn account(b: &dyn Backend, address: &str) -> i64 {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    if !b.has_domain(domain).unwrap() {
        b.add_domain(domain, START).unwrap();
    }
    b.add_account(address, domain, "hash", START, 7).unwrap()
}

fn inbox(b: &dyn Backend, account: i64) -> crate::Mailbox {
    b.mailbox(account, "INBOX").unwrap().unwrap()
}

fn uids(b: &dyn Backend, mailbox: i64) -> Vec<u32> {
    b.messages(mailbox).unwrap().iter().map(|m| m.uid).collect()
}

/// UIDs ascend in arrival order and are never reused, not after EXPUNGE, not after the
/// mailbox is renamed away and one of the same name created.
pub fn uids_ascend_and_are_never_reused(f: Fixture) {
    let b = &*f.backend;
    let a = account(b, "u@example.org");
    for i in 0..3 {
        let c = b
            .append(a, "INBOX", message(&format!("m{i}"), 100), vec![], START)
            .unwrap();
        assert_eq!(c.uids, [(0, i + 1)]);
    }
    let mb = inbox(b, a).id;
    b.store_flags(mb, vec![3], FlagMode::Add, vec!["\\Deleted".into()], None)
        .unwrap();
    assert_eq!(b.expunge(mb, None, START).unwrap(), [3]);
    let c = b
        .append(a, "INBOX", message("m3", 100), vec![], START)
        .unwrap();
    assert_eq!(c.uids, [(0, 4)], "UID 3 was expunged, never reused");
    assert_eq!(uids(b, mb), [1, 2, 4], "messages come in UID order");

    b.create_mailbox(a, "Box", 11).unwrap();
    b.append(a, "Box", message("x", 100), vec![], START)
        .unwrap();
    b.rename_mailbox(a, "Box", "Old", 12, START).unwrap();
    b.create_mailbox(a, "Box", 13).unwrap();
    let new = b.mailbox(a, "Box").unwrap().unwrap();
    let old = b.mailbox(a, "Old").unwrap().unwrap();
    assert_ne!(new.uidvalidity, old.uidvalidity);
    assert_eq!(uids(b, old.id), [1], "a rename keeps the UIDs");
}

/// Every change takes a MODSEQ above all earlier ones; the `\Seen` of one FETCH is one
/// MODSEQ, and a flag already set takes none.
pub fn modseqs_rise_and_seen_by_one_fetch_is_one_modseq(f: Fixture) {
    let b = &*f.backend;
    let a = account(b, "u@example.org");
    for i in 0..5 {
        b.append(a, "INBOX", message(&format!("m{i}"), 100), vec![], START)
            .unwrap();
    }
    let mb = inbox(b, a);
    let seen: Vec<u64> = b
        .messages(mb.id)
        .unwrap()
        .iter()
        .map(|m| m.modseq)
        .collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let before = mb.highestmodseq;
    let (changed, refused) = b
        .store_flags(
            mb.id,
            vec![1, 2, 3, 4, 5],
            FlagMode::Add,
            vec!["\\Flagged".into()],
            None,
        )
        .unwrap();
    assert!(refused.is_empty());
    assert_eq!(changed.len(), 5);
    assert!(changed.iter().all(|c| c.modseq > before));
    let m = changed.iter().map(|c| c.modseq).max().unwrap();
    let set = b
        .add_flags(mb.id, vec![1, 2, 3], vec!["\\Seen".into()])
        .unwrap();
    assert_eq!(set.len(), 3);
    assert!(set.iter().all(|&(_, s)| s == set[0].1 && s > m));
    assert_eq!(inbox(b, a).highestmodseq, set[0].1);
    // A flag already there changes nothing and takes no MODSEQ.
    assert!(
        b.add_flags(mb.id, vec![1], vec!["\\Seen".into()])
            .unwrap()
            .is_empty()
    );
    assert_eq!(inbox(b, a).highestmodseq, set[0].1);
    // CONDSTORE: a message changed after UNCHANGEDSINCE is left alone.
    let (changed, refused) = b
        .store_flags(mb.id, vec![1, 4], FlagMode::Add, vec!["x".into()], Some(m))
        .unwrap();
    assert_eq!(refused, [1]);
    assert_eq!(changed.iter().map(|c| c.uid).collect::<Vec<_>>(), [4]);
}

/// A second import of the same message into the same mailbox places nothing; the same bytes
/// delivered twice are two messages sharing one body.
pub fn imports_and_deliveries_are_idempotent(f: Fixture) {
    let b = &*f.backend;
    let a = account(b, "u@example.org");
    let import = |bytes: Vec<u8>| {
        let (tx, rx) = std::sync::mpsc::channel();
        b.append_if_absent_then(
            a,
            "INBOX",
            bytes,
            vec!["\\Seen".into()],
            START,
            Box::new(move |r| tx.send(r).unwrap()),
        );
        rx.recv().unwrap().unwrap()
    };
    assert_eq!(import(message("one", 100)), Some(1));
    assert_eq!(import(message("one", 100)), None);
    assert_eq!(import(message("two", 100)), Some(2));
    let mb = inbox(b, a).id;
    let first = b
        .deliver(
            message("d", 100),
            vec![crate::Target::inbox(a)],
            START,
            "id-1",
        )
        .unwrap();
    let again = b
        .deliver(
            message("d", 100),
            vec![crate::Target::inbox(a)],
            START,
            "id-2",
        )
        .unwrap();
    assert_eq!(
        (first[0].uid, again[0].uid),
        (3, 4),
        "SMTP delivery is at least once"
    );
    let msgs = b.messages(mb).unwrap();
    assert_eq!(msgs[2].hash, msgs[3].hash, "one body for both");
}

/// One delivery stores the body once and files each account's copy as its target says
/// (mailbox, flags), all or nothing.
pub fn a_delivery_files_each_copy_as_planned(f: Fixture) {
    let b = &*f.backend;
    let a = account(b, "a@example.org");
    let c = account(b, "c@example.org");
    let targets = vec![
        crate::Target {
            account_id: a,
            mailbox: "Junk".into(),
            flags: vec!["$Junk".into()],
        },
        crate::Target {
            account_id: c,
            mailbox: "INBOX".into(),
            flags: vec!["\\Flagged".into(), "$Label".into()],
        },
    ];
    let placed = b
        .deliver(message("plan", 100), targets.clone(), START, "p1")
        .unwrap();
    assert_eq!(placed.len(), 2);
    let junk = b.mailbox(a, "Junk").unwrap().unwrap();
    let got = b.messages(junk.id).unwrap();
    assert_eq!(got[0].flags, ["$Junk"]);
    let got_c = b.messages(inbox(b, c).id).unwrap();
    assert_eq!(got_c[0].flags, ["\\Flagged", "$Label"]);
    assert_eq!(got[0].hash, got_c[0].hash);
    assert!(b.messages(inbox(b, a).id).unwrap().is_empty());

    // A target that does not exist fails the whole delivery.
    let mut bad = targets;
    bad[1].mailbox = "Nowhere".into();
    assert!(b.deliver(message("plan2", 100), bad, START, "p2").is_err());
    assert_eq!(b.messages(junk.id).unwrap().len(), 1);
}

/// Each write's leaves are in the journal when it returns, with the backend's clock and the
/// acting identity; a write that fails leaves no leaf.
pub fn journal_leaves_commit_with_their_change(f: Fixture) {
    let b = &*f.backend;
    f.clock.set(START + 5);
    let a = account(b, "u@example.org");
    let size = b.journal_size().unwrap();
    b.deliver(
        message("d", 100),
        vec![crate::Target::inbox(a)],
        START,
        "d1",
    )
    .unwrap();
    let after = b.journal_size().unwrap();
    assert!(after > size, "a delivery is journaled");
    let events = b.journal_events().unwrap();
    let (_, last) = events.last().unwrap();
    assert_eq!(
        last.time,
        START + 5,
        "leaf time comes from the backend's clock"
    );
    assert!(matches!(last.kind, Some(Kind::Delivered)), "{last:?}");

    assert!(
        b.append(a, "Nowhere", message("n", 100), vec![], START)
            .is_err()
    );
    assert_eq!(
        b.journal_size().unwrap(),
        after,
        "a failed write adds no leaf"
    );

    let admin = b.acting(Actor::admin("carol"));
    admin.audit("u@example.org", "looked").unwrap();
    let (_, audit) = b.journal_events().unwrap().pop().unwrap();
    assert_eq!(
        audit.actor, "carol",
        "the admin identity comes from the caller"
    );
    assert_eq!(audit.actor_kind, Some(ActorKind::Admin));
    let hold = admin.add_hold(None, "", "case 7").unwrap();
    let h = b
        .holds()
        .unwrap()
        .into_iter()
        .find(|h| h.id == hold)
        .unwrap();
    assert_eq!((h.created_at, h.created_by.as_str()), (START + 5, "carol"));

    // The tree the leaves form is the one the journal proves.
    let n = b.journal_size().unwrap();
    let root = b.journal_root(n).unwrap();
    let leaves = b.journal_leaves(0, n).unwrap();
    assert_eq!(leaves.len() as u64, n);
    let proof = b.journal_inclusion(0, n).unwrap();
    let leaf_hash = crate::journal::merkle::leaf_hash(&leaves[0].leaf);
    assert!(crate::journal::merkle::verify_inclusion(
        &leaf_hash, 0, n, &proof, &root
    ));
}

/// After a failed sync the backend refuses every write (a retried fsync can report success
/// for data the kernel dropped) and what was acknowledged before stays readable.
pub fn a_failed_sync_poisons_writes(f: Fixture) {
    let Some(fail) = &f.fail_next_sync else {
        return;
    };
    let b = &*f.backend;
    let a = account(b, "u@example.org");
    let kept = message("kept", 200 * 1024);
    b.deliver(kept.clone(), vec![crate::Target::inbox(a)], START, "k")
        .unwrap();
    fail();
    assert!(
        b.deliver(
            message("lost", 200 * 1024),
            vec![crate::Target::inbox(a)],
            START,
            "l"
        )
        .is_err()
    );
    let refused = b.deliver(
        message("later", 100),
        vec![crate::Target::inbox(a)],
        START,
        "x",
    );
    assert!(matches!(refused, Err(Error::Poisoned(_))), "{refused:?}");
    assert!(matches!(
        b.add_domain("other.example", START),
        Err(Error::Poisoned(_))
    ));
    let mb = inbox(b, a).id;
    let m = &b.messages(mb).unwrap()[0];
    assert_eq!(b.read_blob(&m.hash).unwrap(), kept);
}

/// Writers on many threads into one mailbox get distinct, gap-free UIDs and distinct MODSEQs.
pub fn concurrent_writers_get_distinct_uids(f: Fixture) {
    let b = f.backend.clone();
    let a = account(&*b, "u@example.org");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let b = b.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let m = message(&format!("t{t}-{i}"), if i % 5 == 0 { 80_000 } else { 300 });
                    if i % 2 == 0 {
                        b.append(a, "INBOX", m, vec![], START).unwrap();
                    } else {
                        b.deliver(
                            m,
                            vec![crate::Target::inbox(a)],
                            START,
                            &format!("t{t}-{i}"),
                        )
                        .unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mb = inbox(&*b, a).id;
    let msgs = b.messages(mb).unwrap();
    assert_eq!(
        msgs.iter().map(|m| m.uid).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
    let modseqs: HashSet<u64> = msgs.iter().map(|m| m.modseq).collect();
    assert_eq!(modseqs.len(), 100);
}

/// An observer that follows the feed and asks "what changed since the MODSEQ I last saw" for
/// the mailbox it names ends with exactly the mailbox's state, however two writers' changes
/// interleave with each other and with its questions; the UIDs the feed names alone give the
/// same set, and a mailbox's rows come with rising MODSEQs.
pub fn the_change_feed_loses_nothing(f: Fixture) {
    let b = f.backend.clone();
    let a = account(&*b, "u@example.org");
    let mb = inbox(&*b, a).id;
    let start = b.change_head().unwrap();
    let first = {
        let b = b.clone();
        std::thread::spawn(move || {
            for i in 0..60u32 {
                b.append(a, "INBOX", message(&format!("c{i}"), 200), vec![], START)
                    .unwrap();
                if i % 3 == 2 {
                    b.store_flags(
                        mb,
                        vec![i - 1, i],
                        FlagMode::Add,
                        vec!["\\Deleted".into()],
                        None,
                    )
                    .unwrap();
                    b.expunge(mb, Some(vec![i - 1]), START).unwrap();
                }
                if i % 7 == 0 {
                    b.add_flags(mb, vec![i + 1], vec!["\\Seen".into()]).unwrap();
                }
            }
        })
    };
    // A second writer on the same mailbox: group commits then hold jobs of both.
    let second = {
        let b = b.clone();
        std::thread::spawn(move || {
            for i in 0..40u32 {
                let c = b
                    .append(a, "INBOX", message(&format!("d{i}"), 200), vec![], START)
                    .unwrap();
                if i % 2 == 0 {
                    b.add_flags(mb, vec![c.uids[0].1], vec!["$Second".into()])
                        .unwrap();
                }
            }
        })
    };
    /// What the observer has learnt so far.
    #[derive(Default)]
    struct Seen {
        view: BTreeMap<u32, (u64, Vec<String>)>,
        uids_by_feed: BTreeSet<u32>,
        since: u64,
        at: u64,
        last_seq: u64,
        last_modseq: u64,
    }
    let mut seen = Seen {
        at: start,
        last_seq: start,
        ..Seen::default()
    };
    let follow = |s: &mut Seen| {
        let feed = b.changes_after(s.at, 7).unwrap();
        assert!(!feed.gap);
        s.at = feed.next;
        let mut touched = false;
        for ch in feed.changes {
            assert!(ch.seq > s.last_seq, "positions ascend");
            s.last_seq = ch.seq;
            assert_eq!((ch.account_id, ch.mailbox_id), (a, mb));
            assert!(ch.modseq > s.last_modseq, "MODSEQs ascend in feed order");
            s.last_modseq = ch.modseq;
            match ch.kind {
                ChangeKind::Added { uids } => s.uids_by_feed.extend(uids),
                ChangeKind::Expunged { uids } => uids.iter().for_each(|u| {
                    s.uids_by_feed.remove(u);
                }),
                ChangeKind::Flags { uids } => assert!(!uids.is_empty()),
                other => panic!("unexpected {other:?}"),
            }
            touched = true;
        }
        if touched {
            let ch = b.mailbox_changes(mb, s.since).unwrap();
            for m in ch.changed {
                assert!(m.modseq > s.since);
                s.view.insert(m.uid, (m.modseq, m.flags));
            }
            for uid in ch.expunged {
                s.view.remove(&uid);
            }
            s.since = ch.highestmodseq;
        }
    };
    while !(first.is_finished() && second.is_finished()) {
        follow(&mut seen);
    }
    first.join().unwrap();
    second.join().unwrap();
    while b.change_head().unwrap() > seen.at {
        follow(&mut seen);
    }
    let truth: BTreeMap<u32, (u64, Vec<String>)> = b
        .messages(mb)
        .unwrap()
        .into_iter()
        .map(|m| (m.uid, (m.modseq, m.flags)))
        .collect();
    assert_eq!(seen.view, truth);
    assert_eq!(seen.uids_by_feed, truth.keys().copied().collect());
    assert_eq!(seen.since, inbox(&*b, a).highestmodseq);
    assert_eq!(seen.last_modseq, seen.since);
}

/// Each write's changes are typed, carry the MODSEQ they committed at, and come in commit
/// order; a failed write adds none.
pub fn the_change_feed_names_each_write(f: Fixture) {
    let b = &*f.backend;
    let a = account(b, "u@example.org");
    let mb = inbox(b, a).id;
    let head = b.change_head().unwrap();
    b.append(a, "INBOX", message("1", 100), vec![], START)
        .unwrap();
    b.append(a, "INBOX", message("2", 100), vec![], START)
        .unwrap();
    b.store_flags(
        mb,
        vec![1, 2],
        FlagMode::Add,
        vec!["\\Deleted".into()],
        None,
    )
    .unwrap();
    b.expunge(mb, None, START).unwrap();
    assert!(
        b.append(a, "Nowhere", message("x", 100), vec![], START)
            .is_err()
    );
    b.create_mailbox(a, "Work", 21).unwrap();
    let work = b.mailbox(a, "Work").unwrap().unwrap().id;
    b.rename_mailbox(a, "Work", "Play", 22, START).unwrap();
    b.delete_mailbox(a, "Play", START).unwrap();
    b.delete_account("u@example.org", START).unwrap();
    let feed = b.changes_after(head, 100).unwrap();
    let got: Vec<(i64, ChangeKind)> = feed
        .changes
        .iter()
        .map(|c| (c.mailbox_id, c.kind.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (mb, ChangeKind::Added { uids: vec![1] }),
            (mb, ChangeKind::Added { uids: vec![2] }),
            (mb, ChangeKind::Flags { uids: vec![1, 2] }),
            (mb, ChangeKind::Expunged { uids: vec![1, 2] }),
            (
                work,
                ChangeKind::MailboxCreated {
                    name: "Work".into()
                }
            ),
            (
                work,
                ChangeKind::MailboxRenamed {
                    from: "Work".into(),
                    to: "Play".into()
                }
            ),
            (
                work,
                ChangeKind::MailboxDeleted {
                    name: "Play".into()
                }
            ),
            (0, ChangeKind::AccountDeleted),
        ]
    );
    assert!(feed.changes.iter().all(|c| c.account_id == a));
    let modseqs: Vec<u64> = feed.changes[..4].iter().map(|c| c.modseq).collect();
    assert!(modseqs.windows(2).all(|w| w[0] < w[1]), "{modseqs:?}");
    assert_eq!(feed.next, feed.changes.last().unwrap().seq);
    assert_eq!(b.change_head().unwrap(), feed.next);
    assert!(b.changes_after(feed.next, 100).unwrap().changes.is_empty());
}

/// The directory stamp moves with every change of domains, accounts and aliases.
pub fn the_directory_stamp_moves_with_the_directory(f: Fixture) {
    let b = &*f.backend;
    let s0 = b.directory_stamp();
    account(b, "u@example.org");
    let s1 = b.directory_stamp();
    assert_ne!(s0, s1);
    b.add_alias("x@example.org", "example.org", "u@example.org", START)
        .unwrap();
    let s2 = b.directory_stamp();
    assert_ne!(s1, s2);
    b.delete_account("u@example.org", START).unwrap();
    assert_ne!(b.directory_stamp(), s2);
    assert!(b.account("u@example.org").unwrap().is_none());
}

/// A body still shown in a mailbox cannot be purged; once expunged, a purge deletes the
/// bytes and says so when they are asked for, and the entry's history stays.
pub fn a_purge_keeps_the_record_and_drops_the_bytes(f: Fixture) {
    let b = &*f.backend;
    f.clock.set(START + 9);
    let a = account(b, "u@example.org");
    b.deliver(message("p", 100), vec![crate::Target::inbox(a)], START, "p")
        .unwrap();
    let mb = inbox(b, a).id;
    let hash = b.messages(mb).unwrap()[0].hash;
    assert!(matches!(
        b.purge_blob(hash, "retention"),
        Err(Error::Conflict(_))
    ));
    b.store_flags(mb, vec![1], FlagMode::Add, vec!["\\Deleted".into()], None)
        .unwrap();
    b.expunge(mb, None, START).unwrap();
    let history = b.journal_leaves_of(mb, 1).unwrap().len();
    assert_eq!(b.purge_blob(hash, "retention").unwrap(), 1);
    assert_eq!(b.purged_at(&hash).unwrap(), Some(START + 9));
    assert!(matches!(b.read_blob(&hash), Err(Error::Purged { .. })));
    assert_eq!(b.journal_leaves_of(mb, 1).unwrap().len(), history + 1);
    assert_eq!(b.purged_blobs().unwrap(), [hash]);
}

/// Discovery's entry filter admits exactly what each condition says, looked up by body or
/// by mailbox.
pub fn entries_are_filtered_by_place_time_state_and_body(f: Fixture) {
    let b = &*f.backend;
    let a = account(b, "a@example.org");
    let c = account(b, "c@example.org");
    b.create_mailbox(a, "Old", 9).unwrap();
    for (i, (acc, mailbox, date)) in [
        (a, "INBOX", START),
        (a, "INBOX", START + 100),
        (a, "Old", START + 200),
        (c, "INBOX", START + 300),
    ]
    .into_iter()
    .enumerate()
    {
        b.append(acc, mailbox, message(&format!("e{i}"), 100), vec![], date)
            .unwrap();
    }
    let ia = inbox(b, a).id;
    b.store_flags(ia, vec![1], FlagMode::Add, vec!["\\Deleted".into()], None)
        .unwrap();
    b.expunge(ia, None, START).unwrap();
    let uids = |filter: crate::EntryFilter| -> Vec<(String, String, u32)> {
        b.entries(&filter)
            .unwrap()
            .into_iter()
            .map(|e| (e.account, e.mailbox, e.uid))
            .collect()
    };
    let e = |acc: &str, mb: &str, uid: u32| (acc.to_owned(), mb.to_owned(), uid);
    assert_eq!(uids(Default::default()).len(), 4);
    assert_eq!(b.all_entries().unwrap().len(), 4);
    let only_a = crate::EntryFilter {
        account: Some("A@Example.org".into()),
        ..Default::default()
    };
    assert_eq!(
        uids(only_a.clone()),
        [
            e("a@example.org", "INBOX", 1),
            e("a@example.org", "INBOX", 2),
            e("a@example.org", "Old", 1)
        ]
    );
    let live_inbox = crate::EntryFilter {
        mailbox: Some("INBOX".into()),
        deleted: Some(false),
        ..Default::default()
    };
    assert_eq!(
        uids(live_inbox),
        [
            e("a@example.org", "INBOX", 2),
            e("c@example.org", "INBOX", 1)
        ]
    );
    let window = crate::EntryFilter {
        since: Some(START + 100),
        before: Some(START + 300),
        ..Default::default()
    };
    assert_eq!(
        uids(window),
        [e("a@example.org", "INBOX", 2), e("a@example.org", "Old", 1)]
    );
    let old_body = b
        .messages(b.mailbox(a, "Old").unwrap().unwrap().id)
        .unwrap()[0]
        .hash;
    let by_body = crate::EntryFilter {
        blobs: Some(vec![old_body, [7; 32]]),
        ..only_a
    };
    assert_eq!(uids(by_body), [e("a@example.org", "Old", 1)]);
}

/// A leased queue recipient is not handed out again until its lease ends.
pub fn a_queue_lease_hands_a_recipient_to_one_worker(f: Fixture) {
    let b = &*f.backend;
    let a = account(b, "u@example.org");
    let (tx, rx) = std::sync::mpsc::channel();
    b.accept_then(
        message("q", 100),
        vec![],
        Some(crate::NewOutbound {
            queue_id: "Q1".into(),
            account_id: Some(a),
            sender: "u@example.org".into(),
            recipients: vec!["r@remote.example".into()],
            smtputf8: false,
            body_8bit: false,
            requiretls: false,
        }),
        ("u@example.org".into(), vec!["r@remote.example".into()]),
        START,
        "q1",
        Box::new(move |r| tx.send(r).unwrap()),
    );
    rx.recv().unwrap().unwrap();
    let first = b.queue_claim(START, 60, 10).unwrap();
    assert_eq!(first.len(), 1);
    assert!(b.queue_claim(START + 1, 60, 10).unwrap().is_empty());
    let again = b.queue_claim(START + 61, 60, 10).unwrap();
    assert_eq!(again.len(), 1, "an expired lease is handed out again");
    b.queue_record(
        vec![(
            again[0].rcpt_id,
            Outcome::Sent {
                reply: "250 ok".into(),
            },
        )],
        START + 62,
    )
    .unwrap();
    assert!(b.queue_claim(START + 1000, 60, 10).unwrap().is_empty());
    assert_eq!(b.queue_next_due().unwrap(), None);
}

/// Submissions are counted per account over a window and forgotten after it; an MTA-STS
/// policy is kept per domain and replaced by a newer one. Another handle on the same backend
/// (another node) sees the same state.
pub fn protection_state_is_kept_and_shared(f: Fixture) {
    let b = &*f.backend;
    let other = f.backend.acting(crate::Actor::system());
    let (a, c) = (account(b, "u@example.org"), account(b, "v@example.org"));
    for at in [START - 4000, START - 100, START - 10, START] {
        b.record_submission(a, at, START - 3600).unwrap();
    }
    b.record_submission(c, START, START - 3600).unwrap();
    assert_eq!(other.submissions_since(a, START - 3600).unwrap(), 3);
    assert_eq!(other.submissions_since(a, START - 50).unwrap(), 2);
    assert_eq!(other.submissions_since(c, START - 3600).unwrap(), 1);
    assert_eq!(
        other.submissions_since(a, START - 5000).unwrap(),
        3,
        "records before the window were forgotten"
    );
    assert_eq!(b.sts_policy("example.net").unwrap(), None);
    let first = crate::StsPolicy {
        id: "2026a".into(),
        text: "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 86400\n".into(),
        expires_at: START + 86400,
    };
    b.put_sts_policy("example.net", &first).unwrap();
    assert_eq!(other.sts_policy("example.net").unwrap(), Some(first));
    let second = crate::StsPolicy {
        id: "2026b".into(),
        text: "version: STSv1\nmode: testing\nmx: mx.example.net\nmax_age: 600\n".into(),
        expires_at: START + 600,
    };
    other.put_sts_policy("example.net", &second).unwrap();
    assert_eq!(b.sts_policy("example.net").unwrap(), Some(second));
    assert_eq!(b.sts_policy("example.com").unwrap(), None);
}

/// One `#[test]` per contract, for a backend's test crate:
/// `mailkeep_store_api::conformance_tests!(make_fixture);` where `make_fixture: fn() -> Fixture`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make;
            uids_ascend_and_are_never_reused,
            modseqs_rise_and_seen_by_one_fetch_is_one_modseq,
            imports_and_deliveries_are_idempotent,
            a_delivery_files_each_copy_as_planned,
            journal_leaves_commit_with_their_change,
            a_failed_sync_poisons_writes,
            concurrent_writers_get_distinct_uids,
            the_change_feed_loses_nothing,
            the_change_feed_names_each_write,
            the_directory_stamp_moves_with_the_directory,
            a_purge_keeps_the_record_and_drops_the_bytes,
            a_queue_lease_hands_a_recipient_to_one_worker,
            entries_are_filtered_by_place_time_state_and_body,
            protection_state_is_kept_and_shared,
        );
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$name($make());
            }
        )*
    };
}
