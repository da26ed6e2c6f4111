//! The full-text index answers exactly what reading every body answers — on the 6,046 real
//! messages of tests/data/corpus — and follows the store: new bodies, purges, rebuilds.

use mailkeep_core::store::prelude::*;
use std::collections::HashSet;
use std::path::Path;

use mailkeep_core::discover::{self, Document, Query, document};
use mailkeep_core::embedded::{Hash, OpenOptions, Store};
use mailkeep_core::index::{Cond, Indexer, MailIndex, Needle, Part};

const CORPUS: &str = "../../tests/data/corpus/spamassassin-public-corpus.tar.gz";

fn corpus(tmp: &Path) -> Vec<Vec<u8>> {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    let ok = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(tmp)
        .status()
        .expect("tar runs");
    assert!(ok.success(), "unpacking {}", archive.display());
    let mut files = Vec::new();
    let mut dirs = vec![tmp.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "txt") {
                files.push(p);
            }
        }
    }
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn store_with(dir: &Path, messages: &[Vec<u8>]) -> Store {
    Store::create(dir).unwrap();
    let store = Store::open(dir, OpenOptions::default()).unwrap();
    mailkeep_core::accounts::add_domain(&store, "example.org", 1).unwrap();
    mailkeep_core::accounts::add_user(&store, "a@example.org", "a long enough password", 12, 1, 1)
        .unwrap();
    let acc = store.account("a@example.org").unwrap().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for m in messages {
        let tx = tx.clone();
        store.append_if_absent_then(
            acc.id,
            "INBOX",
            m.clone(),
            vec![],
            1,
            Box::new(move |r| tx.send(r.map(|_| ())).unwrap()),
        );
    }
    for _ in messages {
        rx.recv().unwrap().unwrap();
    }
    store
}

fn indexed(dir: &Path, store: &Store) -> MailIndex {
    let mut ix = Indexer::open(dir).unwrap();
    ix.catch_up(store, &mut |_, _| true).unwrap();
    ix.index().clone()
}

/// Words of a text, in order, as a reader would type them.
fn plain_words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn long_words(s: &str) -> Vec<String> {
    let mut w = plain_words(s);
    w.retain(|w| w.chars().count() >= 3);
    w
}

/// Conditions drawn from the corpus itself: words of subjects and senders, phrases and
/// word beginnings from bodies, attachment names; plus common words and the flags.
fn conditions(docs: &[(Hash, Document)]) -> Vec<Cond> {
    let n = |s: &str| Needle::new(s).unwrap();
    let mut conds = vec![
        Cond::In(Part::Body, n("the")),
        Cond::In(Part::Body, n("click here")),
        Cond::In(Part::Body, n("mon*")),
        Cond::In(Part::Headers, n("received from")),
        Cond::In(Part::Subject, n("re")),
        Cond::HasAttachment,
        Cond::Unparsed,
        Cond::Any(vec![
            Cond::In(Part::Attachment, n("txt")),
            Cond::All(vec![Cond::Unparsed, Cond::In(Part::Body, n("from"))]),
        ]),
    ];
    for (i, (_, d)) in docs.iter().enumerate().step_by(397) {
        if let Some(w) = long_words(&d.subject).first() {
            conds.push(Cond::In(Part::Subject, n(w)));
        }
        if let Some(w) = long_words(&d.from).first() {
            conds.push(Cond::In(Part::From, n(w)));
        }
        let body = d.body.first().map(|b| plain_words(b)).unwrap_or_default();
        if body.len() > 12 {
            let k = (i * 7) % (body.len() - 2);
            conds.push(Cond::In(
                Part::Body,
                n(&format!("{} {}", body[k], body[k + 1])),
            ));
            let prefix: String = body[k + 2].chars().take(3).collect();
            conds.push(Cond::In(
                Part::Body,
                n(&format!("{} {prefix}*", body[k + 1])),
            ));
        }
        if let Some(a) = d.attachments.first() {
            conds.push(Cond::In(Part::Attachment, n(a)));
        }
    }
    conds
}

#[test]
fn the_index_finds_exactly_what_reading_finds_on_the_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let messages = corpus(tmp.path());
    assert_eq!(messages.len(), 6046);
    let dir = tmp.path().join("data");
    let store = store_with(&dir, &messages);
    let index = indexed(&dir, &store);
    let snap = index.snapshot().unwrap();

    let mut seen = HashSet::new();
    let docs: Vec<(Hash, Document)> = messages
        .iter()
        .filter(|m| seen.insert(mailkeep_core::store::hash(m)))
        .map(|m| (mailkeep_core::store::hash(m), document(m)))
        .collect();
    assert_eq!(index.matching(&snap, None).unwrap().len(), docs.len());
    let conds = conditions(&docs);
    assert!(conds.len() > 40, "{} conditions", conds.len());
    for c in &conds {
        let by_index: HashSet<Hash> = index
            .matching(&snap, Some(c))
            .unwrap()
            .into_keys()
            .collect();
        let by_reading: HashSet<Hash> = docs
            .iter()
            .filter(|(_, d)| c.holds(d))
            .map(|(h, _)| *h)
            .collect();
        assert!(
            !by_reading.is_empty() || matches!(c, Cond::Unparsed),
            "{c:?} finds nothing"
        );
        let only_index: Vec<_> = by_index.difference(&by_reading).collect();
        let only_reading: Vec<_> = by_reading.difference(&by_index).collect();
        assert!(
            only_index.is_empty() && only_reading.is_empty(),
            "{c:?}: {} found only by the index, {} only by reading; e.g. {:?}",
            only_index.len(),
            only_reading.len(),
            only_index
                .first()
                .or(only_reading.first())
                .and_then(|h| docs.iter().find(|(d, _)| d == *h))
                .map(|(_, d)| (&d.subject, d.unparsed))
        );
    }

    // The whole search, with its query language, gives the same hits either way.
    for q in [
        "money",
        "subject:re from:com",
        "\"click here\"",
        "has:attachment",
        "body:remov* deleted:no",
        "account:a@example.org mailbox:INBOX free",
    ] {
        let q = Query::parse(q).unwrap();
        let uids = |index: Option<&MailIndex>| -> Vec<u32> {
            let found = discover::search(&store, index, &q, true).unwrap();
            assert!(found.unreadable.is_empty());
            found.hits.iter().map(|h| h.entry.uid).collect()
        };
        let with = uids(Some(&index));
        assert!(!with.is_empty(), "{q:?}");
        assert_eq!(with, uids(None), "{q:?}");
    }
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.net>\r\nTo: a@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.net>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[test]
fn the_index_follows_new_bodies_purges_and_rebuilds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = store_with(
        dir,
        &[
            message("alpha", "the quarterly numbers"),
            message("beta", "lunch on friday"),
        ],
    );
    let index = indexed(dir, &store);
    let hits = |q: &str| -> Vec<String> {
        let q = Query::parse(q).unwrap();
        discover::search(&store, Some(&index), &q, true)
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.subject)
            .collect()
    };
    assert_eq!(hits("quarterly"), ["alpha"]);

    // Stored after the index's last pass: found by reading it.
    let acc = store.account("a@example.org").unwrap().unwrap();
    store
        .append(
            acc.id,
            "INBOX",
            message("gamma", "quarterly again"),
            vec![],
            2,
        )
        .unwrap();
    assert_eq!(hits("quarterly"), ["alpha", "gamma"]);
    let mut ix = Indexer::open(dir).unwrap();
    assert_eq!(ix.catch_up(&store, &mut |_, _| true).unwrap(), 1);
    assert_eq!(index.snapshot().unwrap().seq, 3);
    assert_eq!(hits("quarterly"), ["alpha", "gamma"]);

    // Purged: gone from the index too (the bytes' text must not outlive them).
    let inbox = store.mailbox(acc.id, "INBOX").unwrap().unwrap();
    store
        .store_flags(
            inbox.id,
            vec![1],
            mailkeep_core::store::FlagMode::Add,
            vec!["\\Deleted".into()],
            None,
        )
        .unwrap();
    assert_eq!(store.expunge(inbox.id, Some(vec![1]), 3).unwrap(), [1]);
    let alpha = mailkeep_core::store::hash(&message("alpha", "the quarterly numbers"));
    store.purge_blob(alpha, "test").unwrap();
    ix.catch_up(&store, &mut |_, _| true).unwrap();
    let snap = index.snapshot().unwrap();
    assert!(!index.matching(&snap, None).unwrap().contains_key(&alpha));
    assert_eq!(hits("quarterly"), ["gamma"]);
    let found = discover::search(
        &store,
        Some(&index),
        &Query::parse("quarterly").unwrap(),
        true,
    )
    .unwrap();
    assert_eq!(found.purged.len(), 1, "{:?}", found.purged);

    // A second writer is refused; a cleared index is rebuilt by the next pass.
    assert!(matches!(
        Indexer::open(dir),
        Err(mailkeep_core::index::IndexError::Busy(_))
    ));
    ix.clear().unwrap();
    assert!(
        index
            .matching(&index.snapshot().unwrap(), None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(hits("quarterly"), ["gamma"]);
    assert_eq!(ix.catch_up(&store, &mut |_, _| true).unwrap(), 3);
    assert_eq!(hits("lunch friday"), ["beta"]);
}

/// A message forwarding another (message/rfc822, quoted-printable ISO-8859-1 inside) with a
/// base64 text attachment inside that, plus a UTF-8 text attachment of its own.
fn forwarded() -> Vec<u8> {
    b"From: Fwd <fwd@example.net>\r\nTo: a@example.org\r\nSubject: fyi\r\n\
      MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
      --outer\r\nContent-Type: text/plain\r\n\r\nsee below\r\n\
      --outer\r\nContent-Type: message/rfc822\r\n\r\n\
      From: Original Author <origin@partner.example>\r\nSubject: Lagebericht Quartal\r\n\
      X-Case: caseword4711\r\n\
      MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n\
      --inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
      Content-Transfer-Encoding: quoted-printable\r\n\r\nDie Stra=DFe ist gesperrt, Schl=FCssel\r\n\
      --inner\r\nContent-Type: text/plain; charset=utf-8\r\n\
      Content-Disposition: attachment; filename=\"notes.txt\"\r\n\
      Content-Transfer-Encoding: base64\r\n\r\nbmVzdGVkIGF0dGFjaG1lbnQgd2F0ZXJtZWxvbg==\r\n\
      --inner--\r\n\
      --outer\r\nContent-Type: text/plain; charset=utf-8\r\n\
      Content-Disposition: attachment; filename=\"memo.txt\"\r\n\r\noutermost pineapple\r\n\
      --outer--\r\n"
        .to_vec()
}

#[test]
fn text_at_every_depth_and_attached_headers_are_found() {
    let doc = document(&forwarded());
    assert!(!doc.unparsed);
    let body = doc.body.join("\n");
    for want in [
        "Straße",
        "Schlüssel",
        "watermelon",
        "pineapple",
        "see below",
    ] {
        assert!(body.contains(want), "{want} in {body:?}");
    }
    assert!(
        doc.headers.iter().any(|h| h.contains("caseword4711")),
        "{:?}",
        doc.headers
    );

    let tmp = tempfile::tempdir().unwrap();
    let store = store_with(
        &tmp.path().join("data"),
        &[forwarded(), b"Subject: x\r\n\r\nnothing\r\n".to_vec()],
    );
    let index = indexed(&tmp.path().join("data"), &store);
    for q in [
        "straße",
        "schlüssel",
        "body:watermelon",
        "pineapple",
        "caseword4711",
        "lagebericht",
        "origin@partner.example",
    ] {
        let query = Query::parse(q).unwrap();
        for ix in [Some(&index), None] {
            let found = discover::search(&store, ix, &query, true).unwrap();
            let uids: Vec<u32> = found.hits.iter().map(|h| h.entry.uid).collect();
            assert_eq!(uids, vec![1], "{q} (index: {})", ix.is_some());
        }
    }
}
