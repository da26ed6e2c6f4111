"""The tamper-evident journal (issue 5): every delivery and expunge is a leaf; checkpoints are
signed; `journal verify` finds each kind of tampering and names it; an outsider checks an
inclusion proof and a checkpoint with nothing but the public key (independent code here:
hashlib and PyNaCl)."""
import base64
import hashlib
import imaplib
import json
import shutil
import smtplib
import sqlite3

import nacl.signing
import pytest

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir


def leaf_hash(b):
    return hashlib.sha256(b"\x00" + b).digest()


def node_hash(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def tree_pos(level, idx):
    """The row of node (level, idx) in mailkeep's journal_tree: its place in append order
    (each leaf, then the nodes it completes)."""
    last = ((idx + 1) << level) - 1
    return 2 * last - bin(last).count("1") + level


def mth(hashes):
    """RFC 9162 §2.1.1, written independently of mailkeep."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 §2.1.3.2."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check_note(note, vkey):
    """C2SP signed-note with an Ed25519 key: returns (size, root)."""
    name, key_id, key = vkey.strip().split("+", 2)   # base64 may contain "+"
    raw = base64.b64decode(key)
    assert raw[0] == 1
    body, sigs = note.split("\n\n", 1)
    body += "\n"
    line = [l for l in sigs.splitlines() if l.startswith(f"\u2014 {name} ")][0]
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    assert blob[:4].hex() == key_id
    nacl.signing.VerifyKey(raw[1:]).verify(body.encode(), blob[4:])
    lines = body.splitlines()
    return int(lines[1]), base64.b64decode(lines[2])


@pytest.fixture
def journaled(tmp_path):
    """A store with 20 delivered messages, 5 of them expunged over IMAP, and a checkpoint
    kept outside the data directory."""
    data = data_dir(tmp_path / "data", "alice@example.org")
    srv = Server(data)
    host, port = srv.addrs["smtp"]
    with smtplib.SMTP(host, port) as s:
        for n in range(20):
            s.sendmail(f"sender{n}@example.net", ["alice@example.org", "bcc@example.org"][:1],
                       f"From: sender{n}@example.net\r\nSubject: m{n}\r\n\r\nbody {n}\r\n".encode())
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
        with pytest.raises(imaplib.IMAP4.error):
            im.login("mallory@example.org", "guessing-123456")
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
        im.login("alice@example.org", PASSWORD)
        im.select("INBOX")
        im.store("1:5", "+FLAGS", "\\Deleted")
        im.expunge()
    srv.stop()
    kept = tmp_path / "kept-checkpoint.txt"
    kept.write_text(mk(data, "journal", "checkpoint").stdout)
    vkey = mk(data, "journal", "pubkey").stdout.strip()
    return data, kept, vkey


def verify(data, *extra):
    return mk(data, "journal", "verify", *extra, check=False)


def test_journal_verifies_and_proves_to_an_outsider(journaled):
    data, kept, vkey = journaled
    r = verify(data, "--from", str(kept))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "journal verified" in r.stdout
    assert "20 mailbox entries" in r.stdout and "20 message bodies" in r.stdout, r.stdout
    # The leaves say what happened, who did it and from where.
    db = sqlite3.connect(data / "meta.sqlite")
    kinds = [k for (k,) in db.execute("SELECT kind FROM journal ORDER BY idx")]
    assert kinds.count(1) == 20 and kinds.count(8) == 5, kinds   # delivered, expunged
    leaf = db.execute("SELECT leaf FROM journal WHERE kind = 8 LIMIT 1").fetchone()[0]
    assert b"alice@example.org" in leaf and b"127.0.0.1" in leaf, leaf
    db.close()
    # An outsider checks the proof of UID 7 against the signed checkpoint.
    out = mk(data, "journal", "prove", "--account", "alice@example.org", "--mailbox", "INBOX",
             "--uid", "7").stdout
    index = int(out.split("leaf index: ")[1].split("\n")[0])
    leaf = bytes.fromhex(out.split("leaf: ")[1].split("\n")[0])
    path = [bytes.fromhex(l.strip()) for l in
            out.split("inclusion proof:\n")[1].split("checkpoint:\n")[0].splitlines()]
    size, root = check_note(out.split("checkpoint:\n")[1], vkey)
    assert verify_inclusion(leaf_hash(leaf), index, size, path, root)
    assert not verify_inclusion(leaf_hash(leaf + b"x"), index, size, path, root)
    # The same proof as the admin API's JSON.
    import json
    proof = json.loads(mk(data, "journal", "prove", "--account", "alice@example.org",
                          "--mailbox", "INBOX", "--uid", "7", "--json").stdout)
    assert (proof["leaf_index"], bytes.fromhex(proof["leaf"])) == (index, leaf), proof
    assert verify_inclusion(leaf_hash(leaf), index, proof["checkpoint"]["size"],
                            [bytes.fromhex(h) for h in proof["path"]],
                            bytes.fromhex(proof["checkpoint"]["root"]))
    # The whole tree, recomputed here from the stored leaves, has the signed root.
    db = sqlite3.connect(data / "meta.sqlite")
    leaves = [l for (l,) in db.execute("SELECT leaf FROM journal ORDER BY idx")]
    db.close()
    ksize, kroot = check_note(kept.read_text(), vkey)
    assert mth([leaf_hash(l) for l in leaves[:ksize]]) == kroot


def tamper(data, tmp_path, name, sql):
    copy = tmp_path / name
    shutil.copytree(data, copy)
    db = sqlite3.connect(copy / "meta.sqlite")
    for stmt in sql:
        stmt(db) if callable(stmt) else db.execute(stmt)
    db.commit()
    db.close()
    return copy


def forge_body(db, body):
    """A body row as the store writes one, with the correct SHA-256 and a fresh secret."""
    db.execute("INSERT INTO blobs (hash, segment, offset, length, data, secret) "
               "VALUES (?, 0, 0, ?, ?, randomblob(32))",
               (hashlib.sha256(body).digest(), len(body), body))


@pytest.mark.parametrize("name,sql,expect", [
    ("deleted-row", ["DELETE FROM messages WHERE uid = 9"],
     "is gone from the store without a trace"),
    ("silent-expunge", ["UPDATE messages SET expunged_at = 1 WHERE uid = 10"],
     "was removed from view without an expunge in the journal"),
    ("altered-blob", ["UPDATE blobs SET data = CAST('forged' AS BLOB) WHERE hash = "
                      "(SELECT blob_hash FROM messages WHERE uid = 11)"],
     "its bytes are damaged or missing"),
    ("truncated", ["DELETE FROM journal WHERE idx >= (SELECT MAX(idx) - 2 FROM journal)",
                   lambda db: db.execute(
                       "DELETE FROM journal_tree WHERE pos >= ?",
                       (tree_pos(0, db.execute("SELECT MAX(idx) + 1 FROM journal")
                                 .fetchone()[0]),))],
     "the journal was truncated"),
    # A body reference is not enough: each entry's body must be the one its leaf committed to.
    ("swapped-bodies", ["UPDATE messages SET blob_hash = CASE uid "
                        "WHEN 12 THEN (SELECT blob_hash FROM messages WHERE uid = 13) "
                        "ELSE (SELECT blob_hash FROM messages WHERE uid = 12) END "
                        "WHERE uid IN (12, 13)"],
     "its bytes are not the ones journal leaf"),
    ("shared-body", ["UPDATE messages SET blob_hash = "
                     "(SELECT blob_hash FROM messages WHERE uid = 17) WHERE uid = 16"],
     "its bytes are not the ones journal leaf"),
    ("forged-body", [lambda db: forge_body(db, b"Subject: m14\r\n\r\nforged\r\n"),
                     "UPDATE messages SET blob_hash = (SELECT hash FROM blobs WHERE "
                     "CAST(data AS TEXT) LIKE '%forged%') WHERE uid = 14"],
     "its bytes are not the ones journal leaf"),
    ("forged-body-row", [lambda db: forge_body(db, b"Subject: planted\r\n\r\nx\r\n")],
     "is stored but no journal leaf commits to it"),
    ("altered-secret", ["UPDATE blobs SET secret = randomblob(32) WHERE hash = "
                        "(SELECT blob_hash FROM messages WHERE uid = 15)"],
     "its bytes are not the ones journal leaf"),
    ("rewritten-leaf", ["UPDATE journal SET leaf = CAST(replace(CAST(leaf AS TEXT), 'sender3',"
                        " 'attacker') AS BLOB) WHERE idx = (SELECT MIN(idx) FROM journal "
                        "WHERE kind = 1) + 3"],
     "the leaf was rewritten"),
])
def test_tampering_is_found_and_named(journaled, tmp_path, name, sql, expect):
    data, kept, _ = journaled
    copy = tamper(data, tmp_path, name, sql)
    r = verify(copy)
    assert r.returncode != 0, r.stdout
    assert expect in r.stdout, r.stdout


def test_a_rewritten_history_is_caught_by_a_checkpoint_kept_outside(journaled, tmp_path):
    """The attacker rewrites a leaf, recomputes every node and drops the stored checkpoints:
    the store is self-consistent again, but a checkpoint kept elsewhere still pins history."""
    data, kept, _ = journaled
    copy = tmp_path / "rewritten"
    shutil.copytree(data, copy)
    db = sqlite3.connect(copy / "meta.sqlite")
    idx = db.execute("SELECT MIN(idx) FROM journal WHERE kind = 1").fetchone()[0]
    leaf = db.execute("SELECT leaf FROM journal WHERE idx = ?", (idx,)).fetchone()[0]
    db.execute("UPDATE journal SET leaf = ? WHERE idx = ?",
               (leaf.replace(b"sender0", b"nobody0"), idx))
    leaves = [l for (l,) in db.execute("SELECT leaf FROM journal ORDER BY idx")]
    db.execute("DELETE FROM journal_tree")
    level = [leaf_hash(l) for l in leaves]
    lv = 0
    while level:
        for i, h in enumerate(level):
            db.execute("INSERT INTO journal_tree VALUES (?, ?)", (tree_pos(lv, i), h))
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        lv += 1
    db.execute("DELETE FROM checkpoints")
    db.commit()
    db.close()
    assert verify(copy).returncode == 0, "self-consistent after the rewrite"
    r = verify(copy, "--from", str(kept))
    assert r.returncode != 0 and "history was rewritten" in r.stdout, r.stdout


def test_audit_answers_who_did_what_when_and_from_where(journaled):
    data, _, _ = journaled
    text = mk(data, "audit").stdout
    assert "audit             peer from 127.0.0.1  account mallory@example.org  (imap login failed)" in text, text
    assert "account alice@example.org from 127.0.0.1  account alice@example.org  (imap login)" in text
    assert "account-created   admin" in text
    events = [json.loads(l) for l in mk(data, "audit", "--json").stdout.splitlines()]
    expunges = [e for e in events if e["kind"] == "expunged"]
    assert len(expunges) == 5
    assert all(e["actor"] == "alice@example.org" and e["origin"] == "127.0.0.1" for e in expunges)
    assert {e["uid"] for e in expunges} == {1, 2, 3, 4, 5}
    delivered = [e for e in events if e["kind"] == "delivered"]
    assert delivered[0]["mail_from"] == "sender0@example.net"
    assert delivered[0]["recipients"] == ["alice@example.org"]
    assert delivered[0]["actor_kind"] == "peer" and delivered[0]["origin"] == "127.0.0.1"
    only = mk(data, "audit", "--account", "mallory@example.org", "--json").stdout.splitlines()
    assert len(only) == 1 and json.loads(only[0])["detail"] == "imap login failed"
    assert mk(data, "audit", "--since", "2100-01-01").stdout == ""
    r = mk(data, "audit", "--since", "last tuesday", check=False)
    assert r.returncode != 0 and "--since" in r.stderr
