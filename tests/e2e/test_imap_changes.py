"""How changes reach IMAP sessions (issue 14): `\\Seen` set by one FETCH is one change,
keywords are never dropped from FLAGS while a client may still hold them, changes committed
by another process (`mailkeep import`) reach IDLE within a second, and a user deleted from the CLI is logged out."""
import smtplib
import sqlite3
import time

import pytest
from imapclient import IMAPClient

from conftest import PASSWORD, Server, mk
from mailpeers import data_dir
from test_mail_path import tls_context


@pytest.fixture
def srv(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org", "bob@example.org")
    s = Server(data)
    with smtplib.SMTP(*s.addrs["smtp"]) as c:
        for i in range(5):
            c.sendmail("x@example.net", ["alice@example.org"],
                       b"From: x@example.net\r\nSubject: m%d\r\n\r\nbody %d\r\n" % (i, i))
    yield s
    s.stop()


def client(srv, user="alice@example.org"):
    host, port = srv.addrs["imaps"]
    c = IMAPClient(host, port=port, ssl=True, ssl_context=tls_context(srv.data), timeout=20)
    c.login(user, PASSWORD)
    return c


def wait_count(c, n):
    for _ in range(50):
        if len(c.search(["ALL"])) >= n:
            return
        c.noop()
        time.sleep(0.1)
    raise AssertionError("messages did not arrive")


def raw(c, tag, command):
    c._imap.send(b"%s %s\r\n" % (tag, command))
    lines = []
    while not lines or not lines[-1].startswith(tag + b" "):
        lines.append(c._imap.readline())
    return lines


def two_sessions(srv):
    """Two sessions of alice, each with INBOX selected and the five messages seen."""
    pair = client(srv), client(srv)
    for c in pair:
        c.select_folder("INBOX")
        wait_count(c, 5)
    return pair


def test_fetching_bodies_sets_seen_in_one_change(srv):
    c = client(srv)
    c.enable("CONDSTORE")
    c.select_folder("INBOX")
    wait_count(c, 5)
    before = c.folder_status("INBOX", ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"]
    got = c.fetch("1:*", ["BODY[]"])
    assert all(b"\\Seen" in m[b"FLAGS"] for m in got.values()), got
    after = c.fetch("1:*", ["MODSEQ", "FLAGS"])
    modseqs = {m[b"MODSEQ"][0] for m in after.values()}
    assert len(modseqs) == 1, f"one FETCH made {len(modseqs)} changes: {sorted(modseqs)}"
    status = c.folder_status("INBOX", ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"]
    assert status == before + 1
    c.logout()


def test_keywords_stay_listed_while_a_client_may_still_hold_them(srv):
    a, b = two_sessions(srv)
    b.add_flags([1], ["$old"])
    a.noop()
    # b takes $old away and brings $new; a hears FLAGS before the FETCH that tells it
    # message 1 lost $old, so $old must still be listed there.
    b.remove_flags([1], ["$old"])
    b.add_flags([2], ["$new"])
    lines = raw(a, b"K1", b"NOOP")
    flags = [line for line in lines if line.startswith(b"* FLAGS")]
    assert flags and b"$new" in flags[0] and b"$old" in flags[0], lines
    for c in (a, b):
        c.logout()


def test_mail_imported_by_the_cli_beside_the_server_reaches_idle(srv, tmp_path):
    """`mailkeep import` is another process on the same data directory: its writes reach an
    IDLE session through the store's change feed, and a body too large for the database's
    inline limit is stored there anyway (the server holds the segment files)."""
    big = b"From: far@example.net\nSubject: big\n\n" + b"a long line of an old letter\n" * 8000
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(b"From far@example.net Tue Nov 24 10:00:00 2026\n" + big + b"\n"
                     b"From near@example.net Tue Nov 24 10:00:00 2026\n"
                     b"From: near@example.net\nSubject: small\n\nhello\n")
    c = client(srv)
    c.select_folder("INBOX")
    wait_count(c, 5)
    c.idle()
    start = time.monotonic()
    r = mk(srv.data, "import", "--account", "alice@example.org", str(mbox))
    assert "imported 2 messages" in r.stdout, r.stdout + r.stderr
    imported = time.monotonic()
    responses = []
    while time.monotonic() - imported < 3 and not any(x[1] == b"EXISTS" and x[0] == 7
                                                     for x in responses if len(x) > 1):
        responses += c.idle_check(timeout=0.2)
    took = time.monotonic() - imported
    c.idle_done()
    assert any(x[1] == b"EXISTS" and x[0] == 7 for x in responses if len(x) > 1), responses
    assert took < 1.0, f"the import took {took:.2f} s to reach IDLE (import ran {imported - start:.2f} s)"
    body = c.fetch([6], ["BODY.PEEK[]"])[6][b"BODY[]"]
    assert body == big.replace(b"\n", b"\r\n"), len(body)
    c.logout()


def test_a_user_deleted_from_the_cli_is_logged_out(srv):
    idle, busy = client(srv, "bob@example.org"), client(srv, "bob@example.org")
    other = client(srv)
    idle.select_folder("INBOX")
    idle.idle()
    busy.select_folder("INBOX")
    mk(srv.data, "user", "del", "bob@example.org")
    responses = idle.idle_check(timeout=3)
    assert any(r[0] == b"BYE" for r in responses), responses
    with pytest.raises(Exception):
        for _ in range(30):
            busy.noop()
            time.sleep(0.1)
    # Other accounts carry on.
    assert other.select_folder("INBOX")[b"EXISTS"] == 5
    other.logout()


def test_an_expunge_held_back_during_append_is_reported_once_at_the_next_noop(srv):
    a, b = two_sessions(srv)
    b.add_flags([2], ["\\Deleted"])
    b.expunge()
    b.add_flags([4], ["\\Flagged"])
    # An APPEND to the selected mailbox reports what changed, but not the expunge
    # (RFC 9051 §7.5.1 allows EXPUNGE only where sequence numbers may shift).
    msg = b"From: a@example.org\r\nSubject: six\r\n\r\nsix\r\n"
    lines = raw(a, b"A1", b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))
    assert not any(b"EXPUNGE" in line for line in lines), lines
    assert b"* 6 EXISTS\r\n" in lines, lines
    assert any(line.startswith(b"* 4 FETCH") and b"\\Flagged" in line for line in lines), lines
    lines = raw(a, b"N1", b"NOOP")
    assert lines[:-1] == [b"* 2 EXPUNGE\r\n"], lines
    assert raw(a, b"N2", b"NOOP")[:-1] == [], "reported twice"
    assert a.search(["ALL"]) == [1, 3, 4, 5, 6]  # UIDs
    for c in (a, b):
        c.logout()


def body_reads(server):
    return sum("body read" in line for line in server.log)


def test_envelope_bodystructure_and_headers_are_answered_without_reading_bodies(tmp_path):
    """Parse once (issue 14, item 5): what FETCH needs from a message's structure and
    header is stored when it arrives; fetching it reads no body (the store logs each read)."""
    data = data_dir(tmp_path / "data", "alice@example.org")
    s = Server(data, log="info,mailkeep::body_read=trace")
    try:
        with smtplib.SMTP(*s.addrs["smtp"]) as c:
            for i in range(20):
                c.sendmail("x@example.net", ["alice@example.org"],
                           b"From: X <x@example.net>\r\nSubject: m%d\r\nMIME-Version: 1.0\r\n"
                           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                           b"Content-Type: text/plain\r\n\r\nbody %d\r\n--b--\r\n" % (i, i))
        c = client(s)
        c.select_folder("INBOX")
        wait_count(c, 20)
        # The records are made as bodies arrive (with the full-text index, once the store
        # has been quiet for a second).
        for _ in range(100):
            time.sleep(0.1)
            before = body_reads(s)
            time.sleep(0.3)
            if body_reads(s) == before and before >= 20:
                break
        before = body_reads(s)
        got = c.fetch("1:*", ["ENVELOPE", "BODYSTRUCTURE", "BODY",
                              "BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "RFC822.HEADER"])
        assert len(got) == 20
        assert got[1][b"ENVELOPE"].subject == b"m0"
        assert got[20][b"BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: m19\r\n\r\n"
        assert body_reads(s) == before, "FETCH of structure and headers read bodies"
        # SEARCH by header fields and SORT read the same records.
        assert len(c.search(["FROM", "x@example.net"])) == 20
        assert c.search(["SUBJECT", "m13"]) == [14]
        assert c.search(["HEADER", "Content-Type", "multipart"]) == list(range(1, 21))
        assert c.sort(["SUBJECT"])[:3] == [1, 2, 11]
        assert body_reads(s) == before, "SEARCH or SORT by header fields read bodies"
        # Content still comes from the body.
        assert b"body 3" in c.fetch([4], ["BODY.PEEK[1]"])[4][b"BODY[1]"]
        assert body_reads(s) == before + 1
        c.logout()
    finally:
        s.stop()


def test_bodies_without_parsed_records_get_them_once(tmp_path):
    """A store from before parsed records (simulated by deleting them) is filled in by the
    background; a FETCH that finds a record missing makes it, so nothing is parsed twice."""
    data = data_dir(tmp_path / "data", "alice@example.org")
    s = Server(data)
    with smtplib.SMTP(*s.addrs["smtp"]) as c:
        for i in range(5):
            c.sendmail("x@example.net", ["alice@example.org"],
                       b"From: x@example.net\r\nSubject: m%d\r\n\r\nbody\r\n" % i)
    time.sleep(2)
    s.stop()
    db = sqlite3.connect(data / "meta.sqlite")
    with db:
        assert db.execute("SELECT count(*) FROM parsed").fetchone()[0] == 5
        db.execute("DELETE FROM parsed")
    db.close()
    s = Server(data, log="info,mailkeep::body_read=trace")
    try:
        c = client(s)
        c.select_folder("INBOX")
        first = c.fetch("1:*", ["ENVELOPE"])
        assert [first[n][b"ENVELOPE"].subject for n in sorted(first)] == \
            [b"m%d" % i for i in range(5)]
        time.sleep(3)  # the write-back and the background fill
        before = body_reads(s)
        again = c.fetch("1:*", ["ENVELOPE"])
        assert again == first and body_reads(s) == before
        c.logout()
    finally:
        s.stop()
    db = sqlite3.connect(data / "meta.sqlite")
    assert db.execute("SELECT count(*) FROM parsed").fetchone()[0] == 5
    db.close()


def test_fetch_shows_flags_another_session_just_changed(srv):
    a, b = two_sessions(srv)
    b.add_flags([2], ["\\Flagged"])
    lines = raw(a, b"F1", b"FETCH 2 (FLAGS)")
    # The change may come as its own untagged FETCH first; the answer shows it too.
    assert lines[-2].startswith(b"* 2 FETCH (FLAGS") and b"\\Flagged" in lines[-2], lines
    for c in (a, b):
        c.logout()
