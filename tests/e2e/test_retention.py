"""Retention and legal hold (issue 5): EXPUNGE never deletes bytes; `purge` deletes them only
past retention and outside every hold, journals each purge, and really removes the bytes."""
import imaplib
import re
import smtplib

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, listen_on, set_key


def test_holds_keep_bytes_and_purge_is_journaled(tmp_path):
    data = tmp_path / "data"
    mk(data, "init", "--domain", "example.org")
    listen_on(data, "127.0.0.1:0", "127.0.0.1")
    set_key(data, "keep", '"0d"')      # everything expunged is past retention at once
    for u in ("alice@example.org", "bob@example.org"):
        mk(data, "user", "add", u, "--password-stdin", stdin=PASSWORD + "\n")
    srv = Server(data)
    host, port = srv.addrs["smtp"]
    # Over the inline limit: the body lives in a segment file.
    big = "\r\n".join(["UNIQUE-SEGMENT-MARKER " * 3] * 1500)
    with smtplib.SMTP(host, port) as s:
        for who in ("alice", "bob"):
            for n, subject in enumerate(("keep me", "ordinary", "another")):
                s.sendmail("x@example.net", [f"{who}@example.org"],
                           f"From: x@example.net\r\nSubject: {subject} {who}\r\n\r\nbody {n}\r\n".encode())
        s.sendmail("x@example.net", ["alice@example.org"],
                   f"From: x@example.net\r\nSubject: large\r\n\r\n{big}\r\n".encode())
    host, port = srv.addrs["imaps"]
    for who in ("alice", "bob"):
        with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
            im.login(f"{who}@example.org", PASSWORD)
            im.select("INBOX")
            im.store("1:*", "+FLAGS", "\\Deleted")
            im.expunge()
    srv.stop()
    segments = list((data / "blobs").glob("*.seg"))
    assert any(b"UNIQUE-SEGMENT-MARKER" in p.read_bytes() for p in segments)

    mk(data, "hold", "add", "--account", "bob@example.org", "--reason", "case 42")
    mk(data, "hold", "add", "--account", "alice@example.org", "--query", 'subject:"keep me"',
       "--reason", "case 43")
    assert mk(data, "hold", "add", "--all", "--reason", " ", check=False).returncode != 0
    listing = mk(data, "hold", "list").stdout
    assert "ACTIVE" in listing and "case 42" in listing and 'query: subject:"keep me"' in listing

    dry = mk(data, "purge", "--dry-run").stdout
    assert "would purge 3 bod(ies); kept 4 under hold" in dry, dry
    assert "alice@example.org INBOX UID 2" in dry and "bob@" not in dry.split("\n")[0]
    out = mk(data, "purge").stdout
    assert "purged 3 bod(ies)" in out, out
    # The bytes are really gone, the record is not, and the journal still verifies.
    assert not any(b"UNIQUE-SEGMENT-MARKER" in p.read_bytes() for p in segments)
    r = mk(data, "discover", "search", "large", "--include-deleted")
    assert "not searchable, bytes purged by retention: alice@example.org INBOX UID 4" in r.stderr
    v = mk(data, "journal", "verify")
    assert "journal verified" in v.stdout, v.stdout
    audit = mk(data, "audit", "--account", "alice@example.org").stdout
    assert audit.count("purged ") >= 3 and "hold-set" in audit
    # Held mail is still searchable; releasing the hold lets purge take it.
    assert mk(data, "discover", "search", "subject:keep", "--include-deleted").stdout.count("DELETED") == 2
    hold_id = re.search(r"^(\d+)\s+ACTIVE.*case 42", listing, re.M).group(1)
    mk(data, "hold", "release", hold_id)
    assert mk(data, "hold", "release", hold_id, check=False).returncode != 0
    out = mk(data, "purge").stdout
    assert "purged 3 bod(ies); kept 1 under hold" in out, out
    audit = mk(data, "audit").stdout
    assert "hold-released" in audit
    # The policy in force is on record once per change (serve and purge both note it).
    assert audit.count("retention-changed") == 1 and "(keep=0d)" in audit, audit
    set_key(data, "keep", '"10y"')
    mk(data, "purge", "--dry-run")
    assert mk(data, "audit").stdout.count("retention-changed") == 1, "a dry run records nothing"
    mk(data, "purge")
    assert "(keep=10y)" in mk(data, "audit").stdout
    assert mk(data, "journal", "verify").returncode == 0
