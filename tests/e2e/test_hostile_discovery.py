"""Nothing in a mailbox may become invisible to discovery (issue 13, item 7): mail is found by
what only the server knows (the envelope: Bcc recipients, the envelope sender), copies keep the
envelope of the message they copy, and a query field the server does not know is an error that
lists the known ones instead of a silent text search."""
import imaplib
import json
import smtplib

import pytest
from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir


@pytest.fixture(scope="module")
def bcc_data(tmp_path_factory):
    data = data_dir(tmp_path_factory.mktemp("bcc") / "data", "alice@example.org",
                    "bob@example.org")
    srv = Server(data)
    try:
        host, port = srv.addrs["smtp"]
        with smtplib.SMTP(host, port) as s:
            # Bob is a Bcc recipient: no header names him.
            s.sendmail("planner@ext.test", ["alice@example.org", "bob@example.org"],
                       b"From: Planner <planner@ext.test>\r\nTo: alice@example.org\r\n"
                       b"Subject: the plan\r\n\r\nmeet at noon\r\n")
            s.sendmail("other@ext.test", ["alice@example.org"],
                       b"From: other@ext.test\r\nTo: alice@example.org\r\n"
                       b"Subject: unrelated\r\n\r\nhello\r\n")
        host, port = srv.addrs["imaps"]
        with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
            im.login("alice@example.org", PASSWORD)
            im.create("Kept")
            im.select("INBOX")
            assert im.uid("COPY", "1", "Kept")[0] == "OK"
    finally:
        srv.stop()
    return data


def search(data, *args):
    r = mk(data, "discover", "search", *args, "--json")
    return sorted((h["account"], h["mailbox"], h["subject"])
                  for h in map(json.loads, r.stdout.splitlines()))


def test_mail_is_found_by_its_envelope_and_copies_keep_it(bcc_data):
    plan = [("alice@example.org", "INBOX", "the plan"), ("alice@example.org", "Kept", "the plan"),
            ("bob@example.org", "INBOX", "the plan")]
    assert search(bcc_data, "rcpt:bob@example.org") == plan
    assert search(bcc_data, "bcc:bob@example.org account:bob@example.org") == plan[2:]
    assert search(bcc_data, "envelope-to:bob@example.org mailbox:Kept") == plan[1:2]
    assert search(bcc_data, "mailfrom:planner@ext.test") == plan
    assert search(bcc_data, "envelope-from:other@ext.test") == [
        ("alice@example.org", "INBOX", "unrelated")]
    assert search(bcc_data, "rcpt:carol@example.org") == []
    # Envelope and content conditions together.
    assert search(bcc_data, "rcpt:bob@example.org noon") == plan
    assert search(bcc_data, "rcpt:bob@example.org hello") == []


@pytest.mark.parametrize("query", ["foo:bar", "frm:planner", "recipient:bob@example.org"])
def test_an_unknown_field_is_an_error_that_lists_the_known_ones(bcc_data, query):
    r = mk(bcc_data, "discover", "search", query, check=False)
    assert r.returncode != 0, r.stdout
    field = query.split(":")[0]
    assert f"unknown search field `{field}:`" in r.stderr, r.stderr
    for known in ("from:", "subject:", "rcpt:", "mailfrom:", "bcc:"):
        assert known in r.stderr, r.stderr


FORWARDED = (
    b"From: Fwd <fwd@example.net>\r\nTo: alice@example.org\r\nSubject: fyi\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
    b"--outer\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
    b"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: Original Author <origin@partner.example>\r\nSubject: Lagebericht\r\n"
    b"X-Case: caseword4711\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n"
    b"--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nDie Stra=DFe ist gesperrt\r\n"
    b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Disposition: attachment; filename=\"notes.txt\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nbmVzdGVkIGF0dGFjaG1lbnQgd2F0ZXJtZWxvbg==\r\n"
    b"--inner--\r\n"
    b"--outer\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Disposition: attachment; filename=\"memo.txt\"\r\n\r\noutermost pineapple\r\n"
    b"--outer--\r\n")


def test_text_inside_forwarded_messages_and_attachments_is_found(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org")
    srv = Server(data)
    try:
        host, port = srv.addrs["imaps"]
        with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
            im.login("alice@example.org", PASSWORD)
            assert im.append("INBOX", None, None, FORWARDED)[0] == "OK"
            assert im.append("INBOX", None, None, b"Subject: other\r\n\r\nnothing\r\n")[0] == "OK"
            im.select("INBOX")
            for key in (("BODY", "watermelon"), ("BODY", "pineapple"), ("BODY", "gesperrt"),
                        ("TEXT", "caseword4711"), ("TEXT", "Lagebericht"),
                        ("TEXT", "origin@partner.example")):
                typ, got = im.search(None, *key)
                assert typ == "OK" and got == [b"1"], (key, got)
    finally:
        srv.stop()
    for q in ("watermelon", "body:pineapple", "caseword4711", "straße", "lagebericht"):
        assert search(data, q) == [("alice@example.org", "INBOX", "fyi")], q
