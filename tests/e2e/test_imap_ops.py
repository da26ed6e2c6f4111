"""IMAP beyond reading: mailbox management, APPEND/STORE/COPY/MOVE/EXPUNGE/SEARCH, two
sessions seeing each other's changes, IDLE, and mbsync syncing both ways."""

import imaplib
import re
import smtplib
import subprocess
import time

from conftest import PASSWORD, Server, mk
from test_mail_path import tls_context


def login(server, user="alice@example.org"):
    host, port = server.addrs["imaps"]
    imap = imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(server.data))
    imap.login(user, PASSWORD)
    return imap


def deliver(server, rcpt, subject, body="Hello\r\n"):
    host, port = server.addrs["smtp"]
    with smtplib.SMTP(host, port) as s:
        s.sendmail("x@example.net", [rcpt],
                   f"From: Xavier <x@example.net>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
                   f"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\n{body}".encode())


def ok(result):
    typ, data = result
    assert typ == "OK", data
    return data


def test_mailbox_management(server):
    imap = login(server)
    ok(imap.create("Projects/2026"))
    listing = b"\n".join(ok(imap.list()))
    assert b'(\\HasChildren) "/" Projects' in listing
    assert b'"/" Projects/2026' in listing
    typ, data = imap.create("Projects")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    ok(imap.rename("Projects", "Work"))
    listing = b"\n".join(ok(imap.list()))
    assert b"Work/2026" in listing and b"Projects" not in listing
    ok(imap.unsubscribe("Work/2026"))
    lsub = b"\n".join(d for d in ok(imap.lsub()) if d)
    assert b"Work/2026" not in lsub and b"INBOX" in lsub
    ok(imap.delete("Work/2026"))
    typ, data = imap.delete("INBOX")
    assert typ == "NO"
    typ, data = imap.select("Work/2026")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    imap.logout()


def test_append_store_copy_move_expunge_search(server):
    deliver(server, "alice@example.org", "first", "apples\r\n")
    deliver(server, "alice@example.org", "second", "bananas\r\n")
    imap = login(server)
    typ, data = imap.append("INBOX", r"(\Flagged $Work)", None,
                            b"From: me@example.org\r\nSubject: third\r\n\r\ncherries\r\n")
    assert typ == "OK" and re.search(rb"\[APPENDUID \d+ 3\]", data[0]), data
    ok(imap.select("INBOX"))
    assert ok(imap.search(None, "ALL")) == [b"1 2 3"]
    assert ok(imap.search(None, "FLAGGED")) == [b"3"]
    assert ok(imap.search(None, "KEYWORD", "$Work")) == [b"3"]
    assert ok(imap.search(None, "SUBJECT", "second")) == [b"2"]
    assert ok(imap.search(None, "BODY", "APPLES")) == [b"1"]
    assert ok(imap.search(None, "OR", "SUBJECT", "first", "SUBJECT", "third")) == [b"1 3"]
    assert ok(imap.search(None, "NOT", "FROM", "xavier")) == [b"3"]
    assert ok(imap.search(None, "SENTON", "27-Nov-2026")) == [b"1 2"]
    assert ok(imap.uid("SEARCH", "UID", "2:*")) == [b"2 3"]
    typ, _ = imap.uid("SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL")
    esearch = imap.untagged_responses.pop("ESEARCH", [b""])[0]
    assert typ == "OK" and b"UID MIN 1 MAX 3 COUNT 3" in esearch, esearch
    data = ok(imap.store("1", "+FLAGS", r"(\Seen \Answered)"))
    assert b"FLAGS (\\Seen \\Answered \\Recent)" in data[0]   # rev1: first to see it
    data = ok(imap.uid("STORE", "1", "-FLAGS.SILENT", r"(\Answered)"))
    assert data == [None]
    assert b"(\\Seen \\Recent)" in ok(imap.fetch("1", "(FLAGS)"))[0]
    typ, data = imap.copy("1:2", "Archive")
    assert typ == "OK" and re.search(rb"COPYUID \d+ 1:2 1:2", data[0]), data
    typ, data = imap.uid("MOVE", "2", "Trash")
    assert typ == "OK"
    assert imap.untagged_responses.pop("EXPUNGE", None) == [b"2"], imap.untagged_responses
    ok(imap.store("1", "+FLAGS", r"(\Deleted)"))
    data = ok(imap.expunge())
    assert data == [b"1"]
    assert ok(imap.search(None, "ALL")) == [b"1"]
    ok(imap.select("Archive", readonly=True))
    assert ok(imap.search(None, "ALL")) == [b"1 2"]
    typ, _ = imap.store("1", "+FLAGS", r"(\Deleted)")
    assert typ == "NO", "EXAMINE is read-only"
    ok(imap.select("Trash"))
    body = ok(imap.fetch("1", "(BODY.PEEK[TEXT])"))[0][1]
    assert body == b"bananas\r\n"
    typ, data = imap.copy("1", "Nowhere")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    imap.logout()


def read_until(imap, pattern, timeout):
    imap.sock.settimeout(timeout)
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = imap.readline()
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"no {pattern!r} in {lines}")


def test_two_sessions_see_each_other_and_idle_wakes(server):
    deliver(server, "bob@example.org", "one")
    a = login(server, "bob@example.org")
    b = login(server, "bob@example.org")
    ok(a.select("INBOX"))
    ok(b.select("INBOX"))
    # b changes flags; a learns of it at its next NOOP.
    ok(b.store("1", "+FLAGS", r"(\Flagged)"))
    ok(a.noop())
    assert any(b"\\Flagged" in r for r in a.untagged_responses.get("FETCH", [])), a.untagged_responses
    # a is in IDLE; a delivery reaches it within a second.
    a.send(b"i1 IDLE\r\n")
    assert a.readline().startswith(b"+")
    start = time.time()
    deliver(server, "bob@example.org", "two")
    read_until(a, rb"^\* 2 EXISTS", 5)
    assert time.time() - start < 1.0 + 0.5, "IDLE wake-up took too long"
    # b expunges while a idles: a sees EXPUNGE.
    ok(b.store("1", "+FLAGS", r"(\Deleted)"))
    ok(b.expunge())
    read_until(a, rb"^\* 1 EXPUNGE", 5)
    a.send(b"DONE\r\n")
    read_until(a, rb"^i1 OK", 5)
    a.logout()
    b.logout()


def test_mbsync_syncs_down_and_up_and_is_idempotent(server, tmp_path):
    # A 2,000-message account, brought in with `mailkeep import` (the server must be stopped).
    mbox = tmp_path / "bob.mbox"
    with open(mbox, "wb") as f:
        for i in range(2000):
            f.write(f"From x@example.net Mon Nov 23 10:00:00 2026\nFrom: x@example.net\n"
                    f"Subject: message {i}\nMessage-ID: <{i}@mbsync>\n\nbody {i}\n\n".encode())
    server.stop()
    r = mk(server.data, "import", "--account", "bob@example.org", str(mbox))
    assert "imported 2000 messages" in r.stdout, r.stdout + r.stderr
    server = Server(server.data)
    host, port = server.addrs["imaps"]
    maildir = tmp_path / "Mail"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""
IMAPAccount test
Host {host}
Port {port}
User bob@example.org
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {server.data / "keys" / "tls-cert.pem"}
SystemCertificates no

IMAPStore remote
Account test

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")

    def run():
        r = subprocess.run(["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout + r.stderr

    run()
    new = list((maildir / "INBOX" / "new").iterdir()) + list((maildir / "INBOX" / "cur").iterdir())
    assert len(new) == 2000
    assert (maildir / "Sent").is_dir() and (maildir / "Archive").is_dir()
    # Up: a message written locally reaches the server.
    (maildir / "Archive" / "new" / "1.local:2,S").write_bytes(
        b"From: bob@example.org\r\nSubject: written offline\r\n\r\nhi\r\n")
    run()
    imap = login(server, "bob@example.org")
    ok(imap.select("Archive"))
    assert ok(imap.search(None, "SUBJECT", "offline")) == [b"1"]
    assert b"\\Seen" in ok(imap.fetch("1", "(FLAGS)"))[0]
    imap.logout()
    # Again: nothing left to do.
    before = sorted(p.name for p in (maildir / "INBOX").rglob("*") if p.is_file())
    out = run()
    after = sorted(p.name for p in (maildir / "INBOX").rglob("*") if p.is_file())
    assert before == after, out
    server.stop()


def test_condstore_qresync_and_list_extended(server):
    deliver(server, "bob@example.org", "q1")
    deliver(server, "bob@example.org", "q2")
    deliver(server, "bob@example.org", "q3")
    imap = login(server, "bob@example.org")
    caps = imap.capability()[1][0]
    for cap in (b"CONDSTORE", b"QRESYNC", b"LIST-EXTENDED", b"LIST-STATUS", b"UIDPLUS", b"MOVE",
                b"IDLE", b"SPECIAL-USE"):
        assert cap in caps, caps
    typ, data = imap._simple_command("ENABLE", "QRESYNC")
    assert typ == "OK" and imap.untagged_responses.pop("ENABLED") == [b"QRESYNC"]
    ok(imap.select("INBOX"))
    modseq = int(imap.untagged_responses["HIGHESTMODSEQ"][0])
    validity = int(imap.untagged_responses["UIDVALIDITY"][0])
    imap.logout()

    # Offline, another client flags 1 and expunges 2.
    other = login(server, "bob@example.org")
    ok(other.select("INBOX"))
    ok(other.store("1", "+FLAGS", r"(\Flagged)"))
    ok(other.store("2", "+FLAGS", r"(\Deleted)"))
    ok(other.expunge())
    other.logout()

    imap = login(server, "bob@example.org")
    imap._simple_command("ENABLE", "QRESYNC")
    typ, data = imap._simple_command("SELECT", f"INBOX (QRESYNC ({validity} {modseq} 1:3))")
    assert typ == "OK", data
    imap.state = "SELECTED"  # imaplib does not know SELECT with parameters
    assert imap.untagged_responses.get("VANISHED") == [b"(EARLIER) 2"], imap.untagged_responses
    fetches = imap.untagged_responses.get("FETCH", [])
    assert any(b"UID 1 FLAGS (\\Flagged) MODSEQ" in f for f in fetches), fetches
    assert not any(b"UID 3 " in f for f in fetches), "unchanged messages are not resent"
    # UID FETCH with CHANGEDSINCE and VANISHED.
    imap.untagged_responses.clear()
    typ, data = imap.uid("FETCH", "1:*", f"(FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    assert typ == "OK", data
    assert imap.untagged_responses.get("VANISHED") == [b"(EARLIER) 2"], imap.untagged_responses
    # LIST-EXTENDED with SPECIAL-USE selection and STATUS return.
    imap.untagged_responses.clear()
    typ, data = imap._simple_command("LIST", '(SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES))')
    assert typ == "OK", data
    lists = imap.untagged_responses.get("LIST", [])
    assert len(lists) == 5 and not any(b"INBOX" in l for l in lists), lists
    assert any(b"\\Sent" in l for l in lists)
    statuses = imap.untagged_responses.get("STATUS", [])
    assert len(statuses) == 5 and all(b"MESSAGES 0" in s for s in statuses), statuses
    imap.logout()


def test_sort_and_thread(server):
    host, port = server.addrs["smtp"]
    msgs = [
        ("<a@x>", "", "Lunch", "Wed, 25 Nov 2026 10:00:00 +0000", "carol@x.org"),
        ("<b@x>", "<a@x>", "Re: Lunch", "Wed, 25 Nov 2026 11:00:00 +0000", "alice@x.org"),
        ("<c@x>", "", "Budget", "Tue, 24 Nov 2026 09:00:00 +0000", "bob@x.org"),
        ("<d@x>", "<a@x> <b@x>", "Re: Re: Lunch", "Wed, 25 Nov 2026 12:00:00 +0000", "dave@x.org"),
    ]
    with smtplib.SMTP(host, port) as s:
        for mid, refs, subject, date, frm in msgs:
            head = f"From: {frm}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {mid}\r\n"
            if refs:
                head += f"References: {refs}\r\nIn-Reply-To: {refs.split()[-1]}\r\n"
            s.sendmail(frm, ["alice@example.org"], (head + "\r\nx\r\n").encode())
    imap = login(server)
    ok(imap.select("INBOX"))
    caps = imap.capability()[1][0]
    assert b"SORT" in caps and b"THREAD=REFERENCES" in caps and b"THREAD=ORDEREDSUBJECT" in caps
    assert ok(imap.sort("(SUBJECT)", "UTF-8", "ALL")) == [b"3 1 2 4"]
    assert ok(imap.sort("(REVERSE DATE)", "UTF-8", "ALL")) == [b"4 2 1 3"]
    assert ok(imap.sort("(FROM)", "UTF-8", "ALL")) == [b"2 3 1 4"]
    assert ok(imap.uid("SORT", "(SIZE)", "UTF-8", "SUBJECT", "lunch")) == [b"1 2 4"]
    assert ok(imap.thread("ORDEREDSUBJECT", "UTF-8", "ALL")) == [b"(3)(1 (2)(4))"]
    assert ok(imap.thread("REFERENCES", "UTF-8", "ALL")) == [b"(3)(1 2 4)"]
    typ, data = imap.sort("(SUBJECT)", "KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]
    imap.logout()


def test_binary_fetch_decodes_parts(server):
    import base64
    payload = bytes(range(256)) * 3
    msg = (b"From: me@example.org\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
           b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(payload).replace(b"\n", b"\r\n") +
           b"--XX\r\nContent-Type: application/x-odd\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n"
           b"--XX--\r\n")
    imap = login(server)
    assert b"BINARY" in imap.capability()[1][0]
    ok(imap.append("INBOX", None, None, msg))
    ok(imap.select("INBOX"))
    data = ok(imap.fetch("1", "(BINARY.SIZE[2] BINARY.PEEK[2])"))
    assert b"BINARY.SIZE[2] 768" in data[0][0], data
    assert data[0][1] == payload
    typ, data = imap.fetch("1", "(BINARY.PEEK[3])")
    assert typ == "NO" and b"UNKNOWN-CTE" in data[0]
    imap.logout()


def test_compress_deflate(server):
    import zlib
    deliver(server, "bob@example.org", "compressed", "squeeze me " * 200 + "\r\n")
    imap = login(server, "bob@example.org")
    assert b"COMPRESS=DEFLATE" in imap.capability()[1][0]
    imaplib.Commands["COMPRESS"] = ("AUTH", "SELECTED")  # imaplib does not know RFC 4978
    typ, data = imap._simple_command("COMPRESS", "DEFLATE")
    assert typ == "OK", data
    sock = imap.sock
    sock.settimeout(5)
    comp = zlib.compressobj(wbits=-15)
    decomp = zlib.decompressobj(wbits=-15)

    def send(line):
        sock.sendall(comp.compress(line) + comp.flush(zlib.Z_SYNC_FLUSH))

    def until(tag):
        out = b""
        while not re.search(rb"(^|\r\n)" + tag + rb" (OK|NO|BAD)[^\r\n]*\r\n", out):
            chunk = sock.recv(65536)
            assert chunk, out
            out += decomp.decompress(chunk)
        return out

    send(b"n1 NOOP\r\n")
    assert b"n1 OK" in until(b"n1")
    send(b"s1 SELECT INBOX\r\n")
    assert b"* 1 EXISTS" in until(b"s1")
    send(b"f1 FETCH 1 (BODY.PEEK[TEXT])\r\n")
    out = until(b"f1")
    assert (b"squeeze me " * 200) in out
    send(b"c2 COMPRESS DEFLATE\r\n")
    assert b"c2 NO [COMPRESSIONACTIVE]" in until(b"c2")
    send(b"z LOGOUT\r\n")
    assert b"* BYE" in until(b"z")


def test_utf8_accept_mailbox_names(server):
    imap = login(server, "bob@example.org")
    ok(imap.create("&ZeVnLIqe-"))  # modified UTF-7 for 日本語 before ENABLE
    typ, data = imap._simple_command("ENABLE", "UTF8=ACCEPT")
    assert typ == "OK" and imap.untagged_responses.pop("ENABLED") == [b"UTF8=ACCEPT"]
    imap._encoding = "utf-8"
    parts = []
    for item in ok(imap.list()):
        parts.extend(item if isinstance(item, tuple) else [item])
    listing = b"\n".join(parts)
    assert "日本語".encode() in listing and b"&ZeVnLIqe-" not in listing
    typ, data = imap._simple_command("SELECT", '"日本語"')
    assert typ == "OK", data
    imap.logout()


def test_searchres_saved_result_drives_fetch_store_copy(server):
    """SEARCHRES (RFC 5182, part of IMAP4rev2): SEARCH RETURN (SAVE) remembers the hits, and
    `$` names them in FETCH, STORE, COPY, MOVE and SEARCH, UID or not."""
    for n in range(6):
        deliver(server, "alice@example.org", f"res {n}", "cherries\r\n" if n % 2 else "plums\r\n")
    imap = login(server)
    assert b"SEARCHRES" in ok(imap.capability())[0]
    ok(imap.select("INBOX"))
    typ, data = imap._simple_command("SEARCH", "RETURN", "(SAVE)", "BODY", "cherries")
    assert typ == "OK"
    assert imap.untagged_responses.pop("ESEARCH", None) is None, "SAVE alone answers nothing"
    typ, data = imap.fetch("$", "(UID)")
    seqs = sorted(int(d.split()[0]) for d in data if d)
    assert seqs == [2, 4, 6], data
    ok(imap.uid("STORE", "$", "+FLAGS", "(\\Flagged)"))
    assert ok(imap.search(None, "FLAGGED"))[0].split() == [b"2", b"4", b"6"]
    assert ok(imap.search(None, "$", "SUBJECT", "\"res 3\""))[0].split() == [b"4"]
    ok(imap.uid("COPY", "$", "Archive"))
    ok(imap.select("Archive"))
    assert ok(imap.search(None, "ALL"))[0].split() == [b"1", b"2", b"3"]
    # A new SELECT forgets the saved result.
    typ, data = imap.fetch("$", "(UID)")
    assert typ == "OK" and data in ([None], [])
    imap.logout()


def test_rev1_recent_is_seen_by_exactly_one_session(server):
    """RFC 3501 §2.3.2: a new message is \\Recent in the first session that selects the
    mailbox (or learns of it while selected) and in no other; EXAMINE does not take it."""
    deliver(server, "alice@example.org", "r1")
    deliver(server, "alice@example.org", "r2")
    watcher = login(server)
    ok(watcher.select("INBOX", readonly=True))
    assert watcher.untagged_responses.pop("RECENT") == [b"2"], "EXAMINE shows, does not take"
    a = login(server)
    ok(a.select("INBOX"))
    assert a.untagged_responses.pop("RECENT") == [b"2"]
    flags = ok(a.fetch("1:2", "(FLAGS)"))
    assert all(b"\\Recent" in f for f in flags), flags
    assert ok(a.search(None, "RECENT"))[0].split() == [b"1", b"2"]
    assert ok(a.search(None, "NEW"))[0].split() == [b"1", b"2"]
    b = login(server)
    ok(b.select("INBOX"))
    assert b.untagged_responses.pop("RECENT") == [b"0"]
    assert b"\\Recent" not in ok(b.fetch("1", "(FLAGS)"))[0]
    assert ok(b.search(None, "OLD"))[0].split() == [b"1", b"2"]
    # New mail while both are selected: the first to hear of it gets it.
    deliver(server, "alice@example.org", "r3")
    time.sleep(0.3)
    ok(a.noop())
    assert a.untagged_responses.pop("RECENT") == [b"3"]
    ok(b.noop())
    assert b.untagged_responses.pop("RECENT", [b"0"]) == [b"0"]
    st = b.status("INBOX", "(RECENT MESSAGES)")
    assert b"RECENT 0" in ok(st)[0]
    for s in (watcher, a, b):
        s.logout()


def test_search_sees_decoded_text(server):
    """SEARCH matches what the user reads: RFC 2047 headers, quoted-printable and base64
    bodies in any charset, HTML as text."""
    host, port = server.addrs["smtp"]
    import base64 as b64
    html = b64.b64encode("<p>Die <b>Lieferung</b> kommt am Montag</p>".encode()).decode()
    msg = ("From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.net>\r\n"
           "To: alice@example.org\r\nSubject: =?iso-8859-1?q?Rechnung_f=FCr_M=FCller?=\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=zz\r\n\r\n"
           "--zz\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\nViele Gr=C3=BC=C3=9Fe\r\n"
           f"--zz\r\nContent-Type: text/html; charset=utf-8\r\n"
           f"Content-Transfer-Encoding: base64\r\n\r\n{html}\r\n--zz--\r\n")
    with smtplib.SMTP(host, port) as s:
        s.sendmail("jm@example.net", ["alice@example.org"], msg.encode())
    imap = login(server)
    ok(imap.select("INBOX"))

    def search(*crit):
        typ, data = imap._simple_command("SEARCH", "CHARSET", "UTF-8", *crit)
        assert typ == "OK", data
        return imap.untagged_responses.pop("SEARCH", [b""])[0].split()

    imap.literal = "grüße".encode()
    assert search("BODY") == [b"1"]
    imap.literal = "müller".encode()
    assert search("SUBJECT") == [b"1"]
    imap.literal = "jürgen".encode()
    assert search("FROM") == [b"1"]
    assert search("TEXT", "Lieferung") == [b"1"], "base64 HTML part"
    assert search("BODY", "nirgends") == []
    imap.logout()
