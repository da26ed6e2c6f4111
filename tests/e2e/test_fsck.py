"""fsck (issue 5): damage is found and named; intact copies repair the index; a database
that will not open still gives up every body kept in segment files."""
import smtplib
import sqlite3

from conftest import Server, mk
from mailpeers import data_dir


def build(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org")
    srv = Server(data)
    host, port = srv.addrs["smtp"]
    with smtplib.SMTP(host, port) as s:
        for n in range(6):
            # Every message over the inline limit: it lives in a segment record.
            body = "\r\n".join([f"message {n} line"] * 5000)
            s.sendmail("x@example.net", ["alice@example.org"],
                       f"From: x@example.net\r\nSubject: big {n}\r\n\r\n{body}\r\n".encode())
        s.sendmail("x@example.net", ["alice@example.org"],
                   b"From: x@example.net\r\nSubject: small\r\n\r\ninline body\r\n")
    srv.stop()
    return data


def test_clean_store_has_no_damage(tmp_path):
    data = build(tmp_path)
    out = mk(data, "fsck").stdout
    assert "checked 7 index entries and 6 segment records" in out and "no damage found" in out


def test_lost_index_entries_are_rebuilt_from_segments(tmp_path):
    data = build(tmp_path)
    db = sqlite3.connect(data / "meta.sqlite")
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("DELETE FROM blobs WHERE segment != 0 AND rowid IN "
               "(SELECT rowid FROM blobs WHERE segment != 0 LIMIT 2)")
    db.commit()
    db.close()
    r = mk(data, "fsck", check=False)
    assert r.returncode != 0 and r.stdout.count("the index lost body") == 2, r.stdout
    r = mk(data, "fsck", "--repair")
    assert r.stdout.count("REPAIRED: index entry of body") == 2, r.stdout
    assert "no damage found" in mk(data, "fsck").stdout
    # Every message reads again.
    assert "7 message(s), deleted included; 0 not parseable as MIME (searched as raw text); 0 unreadable" \
        in mk(data, "discover", "status").stdout


def test_damaged_bodies_are_named(tmp_path):
    data = build(tmp_path)
    seg = sorted((data / "blobs").glob("*.seg"))[0]
    raw = bytearray(seg.read_bytes())
    i = raw.find(b"message 3 line")
    raw[i:i + 7] = b"XXXXXXX"
    seg.write_bytes(bytes(raw))
    r = mk(data, "fsck", check=False)
    assert r.returncode != 0
    assert "is damaged and no intact copy exists" in r.stdout
    assert "LOST: alice@example.org INBOX UID 4" in r.stdout, r.stdout


def test_unopenable_database_still_yields_every_segment_body(tmp_path):
    data = build(tmp_path)
    (data / "meta.sqlite").write_bytes(b"this is not a database" * 100)
    for extra in ("meta.sqlite-wal", "meta.sqlite-shm"):
        (data / extra).unlink(missing_ok=True)
    r = mk(data, "fsck", "--repair", check=False)
    assert "the database cannot be opened" in r.stdout, r.stdout + r.stderr
    recovered = sorted((data / "recovered").glob("*.eml"))
    assert len(recovered) == 6
    assert all(b"Subject: big" in p.read_bytes() for p in recovered)


def test_damaged_database_rows_are_salvaged(tmp_path):
    """A database that opens but has a damaged page: `fsck` names the damage, `fsck --repair`
    copies every readable row into a new database (the damaged file kept), says which rows
    were lost, and every message is accounted for: still in its mailbox, or, where its entry
    was on the damaged page, written to recovered/."""
    data = data_dir(tmp_path / "data", "alice@example.org")
    srv = Server(data)
    host, port = srv.addrs["smtp"]
    with smtplib.SMTP(host, port) as s:
        for n in range(400):
            s.sendmail("x@example.net", ["alice@example.org"],
                       f"From: x@example.net\r\nSubject: note {n}\r\n\r\nnote number {n}\r\n".encode())
    srv.stop()
    db = sqlite3.connect(data / "meta.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    leaves = [p for (p,) in db.execute(
        "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' ORDER BY pageno")]
    db.close()
    assert len(leaves) >= 4, leaves
    victim = leaves[len(leaves) // 2]
    with open(data / "meta.sqlite", "r+b") as f:
        f.seek((victim - 1) * page_size)
        f.write(b"\xa5" * page_size)

    r = mk(data, "fsck", check=False)
    assert r.returncode != 0 and "PROBLEM: database:" in r.stdout, r.stdout + r.stderr
    r = mk(data, "fsck", "--repair", check=False)
    out = r.stdout
    assert "REPAIRED: database rebuilt from every readable row" in out, out + r.stderr
    assert "not salvageable: messages: rows with row ids" in out, out
    assert list(data.glob("meta.sqlite.damaged-*")), "the damaged file is kept"

    status = mk(data, "discover", "status").stdout
    kept = int(status.split(" message(s)")[0])
    recovered = list((data / "recovered").glob("*.eml"))
    assert 0 < len(recovered) < 400 and kept + len(recovered) == 400, (kept, len(recovered))
    assert all(b"note number" in p.read_bytes() for p in recovered)
    assert "0 unreadable" in status
    # The repaired store serves again.
    srv = Server(data)
    srv.stop()
