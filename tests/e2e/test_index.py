"""The full-text index (issue 5): a running server keeps it current on delivery and APPEND, and
it answers IMAP SEARCH BODY/TEXT within the user's own mailbox and `discover search` across
all of them; `reindex` rebuilds it (refused while the server writes it); a lost index is
rebuilt and searches stay exact meanwhile."""
import fcntl
import imaplib
import re
import shutil
import smtplib
import time

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, wait_for

INVOICE = (b"From: Partner <p@partner.example>\r\nTo: alice@example.org\r\n"
           b"Subject: Invoice 2026 for the quarterly audit\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
           b"Please find the quarterly invoice attached.\r\n--b\r\n"
           b"Content-Type: application/pdf; name=audit-report.pdf\r\n"
           b"Content-Disposition: attachment; filename=audit-report.pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n")
FOR_BOB = (b"From: p@partner.example\r\nTo: bob@example.org\r\nSubject: numbers\r\n\r\n"
           b"The quarterly zeppelin figures, for bob only.\r\n")


def status(data):
    out = mk(data, "discover", "status").stdout
    m = re.search(r"full-text index: (\d+) message bodies indexed, (\d+) not yet", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def test_the_server_keeps_the_index_and_imap_search_uses_it(server):
    data = server.data
    host, port = server.addrs["smtp"]
    with smtplib.SMTP(host, port) as s:
        s.sendmail("p@partner.example", ["alice@example.org"], INVOICE)
        s.sendmail("p@partner.example", ["bob@example.org"], FOR_BOB)
    host, port = server.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
        im.login("alice@example.org", PASSWORD)
        im.append("Drafts", None, None, b"Subject: plans\r\n\r\nA draft about the zeppelin.\r\n")
        # Indexed by the server within moments of arriving, with nobody asking.
        wait_for(lambda: status(data) == (3, 0), timeout=20)

        im.select("INBOX")
        search = lambda *k: im.search(None, *k)[1][0].split()
        assert search("BODY", "quarterly") == [b"1"]
        assert search("BODY", '"QUARTERLY INVOICE"') == [b"1"], "a phrase, any case"
        assert search("BODY", "invoic") == [b"1"], "the last word matches as a beginning"
        assert search("BODY", "voice") == [], "not a piece from inside a word"
        assert search("TEXT", "audit-report.pdf") == [b"1"], "attachment name"
        assert search("TEXT", "2026") == [b"1"], "header field"
        assert search("BODY", "2026") == [], "BODY is the body only"
        assert search("BODY", "zeppelin") == [], "bob's and the draft's words stay theirs"
        assert search("NOT", "BODY", "quarterly") == []
        im.select("Drafts")
        assert search("BODY", "zeppelin") == [b"1"]
        assert search("OR", "BODY", "nothing", "TEXT", "plans") == [b"1"]

    # Across all accounts, while the server runs (it holds the index; the command reads it).
    hits = mk(data, "discover", "search", "quarterly", "--json").stdout.splitlines()
    assert len(hits) == 2, hits
    assert mk(data, "discover", "search", "quarterly", "--json", "--no-index").stdout.splitlines() == hits
    r = mk(data, "reindex", check=False)
    assert r.returncode != 0 and "stop it" in r.stderr, r.stderr

    server.stop()
    out = mk(data, "reindex").stdout
    assert re.search(r"indexed 3 message bodies in [\d.]+ s", out), out
    assert status(data) == (3, 0)

    # An index lost (or from another version) is rebuilt by the next command that needs it.
    shutil.rmtree(data / "index")
    assert len(mk(data, "discover", "search", "zeppelin", "--json").stdout.splitlines()) == 2
    assert status(data) == (3, 0)
    (data / "index" / "meta.json").write_text("{not json")
    assert len(mk(data, "discover", "search", "subject:numbers", "--json").stdout.splitlines()) == 1


def test_a_server_started_while_another_process_writes_the_index_takes_it_over(server):
    """A command (say a `reindex` left running) holds the index's writer lock when the server
    starts: the server serves anyway, searches stay exact, and it becomes the writer and
    catches up once the lock is free, without a restart."""
    data = server.data
    server.stop()
    held = open(data / "index" / ".tantivy-writer.lock", "a")
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    s = Server(data)
    try:
        assert any("full-text index not writable yet" in line for line in s.log), s.log
        host, port = s.addrs["smtp"]
        with smtplib.SMTP(host, port) as c:
            c.sendmail("p@partner.example", ["bob@example.org"], FOR_BOB)
        hits = mk(data, "discover", "search", "zeppelin", "--json").stdout.splitlines()
        assert len(hits) == 1, "a body not yet indexed is read instead"
        assert status(data) == (0, 1)
        fcntl.flock(held, fcntl.LOCK_UN)
        held.close()
        assert wait_for(lambda: any("full-text index writable; indexing" in line
                                    for line in s.log), timeout=30), "".join(s.log)
        assert wait_for(lambda: status(data) == (1, 0), timeout=20)
        r = mk(data, "reindex", check=False)
        assert r.returncode != 0 and "stop it" in r.stderr, "the server is the writer now"
    finally:
        s.stop()
