"""Account isolation under name tricks, and the imapclient package as a second client."""

import imaplib

from imapclient import IMAPClient

from conftest import PASSWORD
from test_imap_ops import deliver, login, ok
from test_mail_path import tls_context


def test_no_name_trick_reaches_another_account(server):
    deliver(server, "bob@example.org", "bob's secret", "secret\r\n")
    imap = login(server)  # alice
    tricks = ["../bob@example.org/INBOX", "bob@example.org/INBOX", "/INBOX", "#shared/INBOX",
              "~bob/INBOX", "%", "*", "INBOX/../../bob", "..", "Other Users/bob/INBOX"]
    for name in tricks:
        typ, data = imap.select(f'"{name}"')
        assert typ == "NO", (name, data)
        typ, data = imap.status(f'"{name}"', "(MESSAGES)")
        assert typ == "NO", (name, data)
    for raw in ('"IN\x00BOX"', b'"\xff\xfe"'):
        try:
            typ, _ = imap._simple_command("SELECT", raw)
        except imaplib.IMAP4.error:
            typ = "BAD"  # imaplib raises on BAD
        assert typ in ("NO", "BAD")
    # Nothing of bob's is listed, searchable or copyable into.
    listing = b"\n".join(ok(imap.list('""', "*")))
    assert b"bob" not in listing
    for pattern in ("%/%", "*/*", "../*"):
        assert all(b"bob" not in (l or b"") for l in ok(imap.list('""', pattern)))
    ok(imap.select("INBOX"))
    assert ok(imap.search(None, "TEXT", "secret")) == [b""]
    typ, data = imap.append("../bob@example.org/INBOX", None, None, b"Subject: x\r\n\r\ny\r\n")
    assert typ == "NO"
    ok(imap.create("Mine"))
    typ, _ = imap.create("/Leading")
    assert typ == "NO"
    imap.logout()
    bob = login(server, "bob@example.org")
    ok(bob.select("INBOX"))
    assert ok(bob.search(None, "ALL")) == [b"1"], "bob's mailbox untouched"
    names = b"\n".join(ok(bob.list()))
    assert b"Mine" not in names
    bob.logout()


def test_imapclient_session(server):
    deliver(server, "alice@example.org", "for imapclient", "hello there\r\n")
    host, port = server.addrs["imaps"]
    ctx = tls_context(server.data)
    with IMAPClient(host, port=port, ssl=True, ssl_context=ctx) as c:
        c.login("alice@example.org", PASSWORD)
        assert c.has_capability("IDLE") and c.has_capability("MOVE")
        folders = [f[2] for f in c.list_folders()]
        assert {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"} <= set(folders)
        special = {f[2]: f[0] for f in c.list_folders()}
        assert b"\\Sent" in special["Sent"]
        info = c.select_folder("INBOX")
        assert info[b"EXISTS"] == 1
        uids = c.search(["SUBJECT", "imapclient"])
        assert len(uids) == 1
        msg = c.fetch(uids, ["ENVELOPE", "BODY.PEEK[TEXT]", "FLAGS", "RFC822.SIZE"])[uids[0]]
        assert msg[b"BODY[TEXT]"] == b"hello there\r\n"
        assert msg[b"ENVELOPE"].subject == b"for imapclient"
        c.add_flags(uids, [b"\\Flagged"])
        assert b"\\Flagged" in c.get_flags(uids)[uids[0]]
        c.move(uids, "Archive")
        assert c.search(["ALL"]) == []
        c.select_folder("Archive")
        assert len(c.search(["FLAGGED"])) == 1
        c.idle()
        deliver(server, "alice@example.org", "while idling")
        responses = c.idle_check(timeout=3)
        c.idle_done()
        # The delivery went to INBOX, not Archive: no EXISTS for Archive.
        assert not any(r[1] == b"EXISTS" for r in responses), responses
        c.select_folder("INBOX")
        c.idle()
        deliver(server, "alice@example.org", "second while idling")
        responses = c.idle_check(timeout=3)
        c.idle_done()
        assert any(r[1] == b"EXISTS" for r in responses), responses
