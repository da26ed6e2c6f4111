//! Bodies in an S3 object store (a 3-node Garage cluster): where they go, that every read is
//! checked, what happens to orphans and purges, and that one node down or the whole store
//! down loses nothing.

use std::collections::HashMap;
use std::time::Duration;

use mailkeep_store_api::conformance::message;
use mailkeep_store_api::prelude::*;
use mailkeep_store_api::{Error, Hash, Target};
use mailkeep_store_pg::{GC_GRACE, Options, PgStore, S3Options, testing};

fn store(url: &str, objects: S3Options) -> PgStore {
    PgStore::open(Options {
        url: url.to_owned(),
        password: None,
        clock: None,
        objects: Some(objects),
        tls: None,
    })
    .unwrap()
}

/// A store with one account, on a fresh database and key prefix.
fn fresh() -> (PgStore, String, i64) {
    let url = testing::shared().database();
    let prefix = url.rsplit('/').next().unwrap().to_owned();
    let s = store(&url, testing::garage().options(&prefix));
    s.add_domain("example.org", 0).unwrap();
    let a = s
        .add_account("u@example.org", "example.org", "h", 0, 7)
        .unwrap();
    (s, url, a)
}

fn sql(url: &str, q: &str) -> Vec<postgres::Row> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let (last, first) = q.rsplit_once(';').map_or((q, ""), |(a, b)| (b, a));
    if !first.is_empty() {
        c.batch_execute(first).unwrap();
    }
    c.query(last, &[]).unwrap()
}

#[test]
fn bodies_live_in_the_object_store_and_every_read_is_checked() {
    let (s, url, a) = fresh();
    let small = message("small", 300);
    let big = message("big", 3 << 20);
    for (tag, m) in [("s", &small), ("b", &big)] {
        s.deliver(m.clone(), vec![Target::inbox(a)], 0, tag)
            .unwrap();
    }
    let rows = sql(
        &url,
        "SELECT count(*) FILTER (WHERE data IS NULL AND object_key IS NOT NULL), count(*) FROM blobs",
    );
    assert_eq!(
        (rows[0].get::<_, i64>(0), rows[0].get::<_, i64>(1)),
        (2, 2),
        "every body is an object, none is in the database"
    );
    for m in [&small, &big] {
        let h = mailkeep_store_api::hash(m);
        assert_eq!(&s.read_blob(&h).unwrap(), m);
    }
    // Read together (the indexer's way), in the order asked, an unknown one in between.
    let (hs, hb) = (
        mailkeep_store_api::hash(&small),
        mailkeep_store_api::hash(&big),
    );
    let mut reads = s.read_blobs(&[hb, [7; 32], hs, hb]).into_iter();
    assert_eq!(reads.next().unwrap().unwrap(), big);
    assert!(matches!(reads.next(), Some(Err(Error::NotFound(_)))));
    assert_eq!(reads.next().unwrap().unwrap(), small);
    assert_eq!(reads.next().unwrap().unwrap(), big);
    assert!(reads.next().is_none());

    // A row that names another body's object: the hash check refuses the bytes.
    // (The test drops the index that keeps keys unique, to make two rows name one object.)
    sql(
        &url,
        &format!(
            "DROP INDEX blobs_object_key;
             UPDATE blobs SET object_key = (SELECT object_key FROM blobs WHERE hash = '\\x{}')
             WHERE hash = '\\x{}'",
            hex(&hb),
            hex(&hs)
        ),
    );
    match s.read_blob(&hs) {
        Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("SHA-256"), "{reason}"),
        other => panic!("a wrong object was accepted: {other:?}"),
    }
    // So do reads together, and the batched check (journal verify's), which pass the sound
    // body.
    let reads = s.read_blobs(&[hs, hb]);
    assert!(
        matches!(&reads[0], Err(Error::Corrupt { reason, .. }) if reason.contains("SHA-256")),
        "{:?}",
        reads[0].as_ref().map(Vec::len)
    );
    assert_eq!(reads[1].as_ref().unwrap(), &big);
    let outcomes = checked(&s, &[hs, hb, [7; 32]]);
    assert!(
        matches!(&outcomes[&hs], Err(Error::Corrupt { reason, .. }) if reason.contains("SHA-256")),
        "{outcomes:?}"
    );
    assert!(outcomes[&hb].is_ok(), "{outcomes:?}");
    assert!(
        matches!(outcomes[&[7; 32]], Err(Error::NotFound(_))),
        "{outcomes:?}"
    );
    // A row whose object is gone: corrupt, named as missing.
    sql(
        &url,
        &format!(
            "UPDATE blobs SET object_key = object_key || '-gone' WHERE hash = '\\x{}'",
            hex(&hs)
        ),
    );
    match s.read_blob(&hs) {
        Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("missing"), "{reason}"),
        other => panic!("a missing object was not reported: {other:?}"),
    }
    assert!(
        matches!(&checked(&s, &[hs])[&hs], Err(Error::Corrupt { reason, .. }) if reason.contains("missing"))
    );
    assert!(
        matches!(&s.read_blobs(&[hb, hs])[1], Err(Error::Corrupt { reason, .. }) if reason.contains("missing"))
    );
}

/// [`Bodies::check_blobs`]'s outcome for each hash, which it must give exactly once.
fn checked(s: &PgStore, hashes: &[Hash]) -> HashMap<Hash, Result<(), Error>> {
    let mut got = HashMap::new();
    s.check_blobs(hashes, &mut |h, r| {
        assert!(got.insert(*h, r).is_none(), "two outcomes for one body");
    });
    assert_eq!(got.len(), hashes.len());
    got
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn orphans_are_collected_after_the_grace_and_purges_delete_the_object() {
    let (s, _url, a) = fresh();
    let kept = message("kept", 500);
    s.deliver(kept.clone(), vec![Target::inbox(a)], 0, "k")
        .unwrap();
    // The upload happens, then the transaction fails: an orphan object.
    let err = s
        .append(a, "No such mailbox", message("orphan", 500), vec![], 0)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(
        s.collect_garbage(GC_GRACE).unwrap(),
        (2, 0),
        "nothing young is touched"
    );
    assert_eq!(s.collect_garbage(Duration::ZERO).unwrap(), (2, 1));
    assert_eq!(s.read_blob(&mailkeep_store_api::hash(&kept)).unwrap(), kept);

    // Expunged and purged: the object goes with the bytes.
    let inbox = s.mailbox(a, "INBOX").unwrap().unwrap().id;
    s.add_flags(inbox, vec![1], vec!["\\Deleted".into()])
        .unwrap();
    s.expunge(inbox, None, 0).unwrap();
    s.purge_blob(mailkeep_store_api::hash(&kept), "retention")
        .unwrap();
    assert_eq!(s.collect_garbage(Duration::ZERO).unwrap(), (0, 0));
    assert!(matches!(
        s.read_blob(&mailkeep_store_api::hash(&kept)),
        Err(Error::Purged { .. })
    ));
}

#[test]
fn one_garage_node_down_loses_nothing_and_the_store_down_is_a_temporary_failure() {
    let (s, url, a) = fresh();
    let g = testing::garage();
    // Node 0 is the endpoint; a replica going away leaves a quorum of two.
    g.stop_node(2);
    let mut bodies = Vec::new();
    for i in 0..20 {
        let m = message(&format!("down{i}"), 20_000);
        s.deliver(m.clone(), vec![Target::inbox(a)], 0, &format!("d{i}"))
            .unwrap();
        bodies.push(m);
    }
    for m in &bodies {
        assert_eq!(&s.read_blob(&mailkeep_store_api::hash(m)).unwrap(), m);
    }
    g.start_node(2);

    // No object store at all: the write fails as transient, and nothing is entered.
    let prefix = url.rsplit('/').next().unwrap().to_owned();
    let mut dead = g.options(&prefix);
    dead.endpoint = Some("http://127.0.0.1:9".into());
    let down = store(&url, dead);
    let err = down
        .deliver(message("lost?", 300), vec![Target::inbox(a)], 0, "x")
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let n: i64 = sql(&url, "SELECT count(*) FROM messages")[0].get(0);
    assert_eq!(n, 20, "a message without its bytes was entered");
}
