"""Discovery (issue 5's scenario): a user deletes 100 of 1,000 messages over IMAP; the
administrator finds all 100 with when and by whom, exports them with a manifest, and the
bundle verifies with nothing but itself and the public key; tampering with it is caught."""
import imaplib
import json
import smtplib

import pytest

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, listen_on


@pytest.fixture(scope="module")
def deleted_hundred(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("disc")
    data = tmp / "data"
    mk(data, "init", "--domain", "example.org")
    listen_on(data, "127.0.0.1:0", "127.0.0.1")
    mk(data, "user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    mk(data, "user", "add", "bob@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    srv = Server(data)
    host, port = srv.addrs["smtp"]
    with smtplib.SMTP(host, port) as s:
        for n in range(1000):
            body = (f"From: Partner {n % 7} <p{n % 7}@partner.example>\r\nTo: alice@example.org\r\n"
                    f"Subject: contract {n}\r\nMIME-Version: 1.0\r\n"
                    f"Content-Type: text/plain; charset=utf-8\r\n"
                    f"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                    f"Clause {n}: the price is {n * 3} euros. Gr=C3=BC=C3=9Fe\r\n")
            s.sendmail(f"p{n % 7}@partner.example", ["alice@example.org"], body.encode())
        s.sendmail("x@partner.example", ["bob@example.org"],
                   b"From: x@partner.example\r\nSubject: for bob only\r\n\r\ncontract 5 copy\r\n")
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
        im.login("alice@example.org", PASSWORD)
        im.select("INBOX")
        im.uid("STORE", ",".join(str(u) for u in range(10, 1001, 10)), "+FLAGS", "(\\Deleted)")
        im.expunge()
    srv.stop()
    pubkey = tmp / "journal.pub"
    pubkey.write_text(mk(data, "journal", "pubkey").stdout)
    return data, pubkey, tmp


def search(data, *args):
    r = mk(data, "discover", "search", *args, "--json")
    return [json.loads(l) for l in r.stdout.splitlines()]


def test_the_deleted_hundred_are_found_with_when_and_who(deleted_hundred):
    data, _, _ = deleted_hundred
    hits = search(data, "deleted:yes")
    assert len(hits) == 100
    assert sorted(h["uid"] for h in hits) == list(range(10, 1001, 10))
    assert all(h["deleted_by"] == "alice@example.org from 127.0.0.1" for h in hits)
    assert all(h["deleted_at"] and h["account"] == "alice@example.org" for h in hits)
    # Live mail is not shown unless asked; a deleted message is found by content with
    # --include-deleted; searches cross accounts; quoted-printable UTF-8 is decoded.
    assert search(data, "subject:\"contract 19\"") == []
    one = search(data, "subject:\"contract 19\"", "--include-deleted")
    assert [(h["uid"], h["deleted"]) for h in one] == [(20, True)]
    assert [h["uid"] for h in search(data, "subject:\"contract 20\"")] == [21], "whole words"
    assert len(search(data, "subject:\"contract 20*\"")) == 10
    both = search(data, "\"contract 5\"")
    assert {h["account"] for h in both} == {"alice@example.org", "bob@example.org"}
    assert len(search(data, "body:grüße from:p3@partner.example")) > 100
    assert search(data, "account:bob@example.org") and len(search(data, "account:bob@example.org")) == 1
    assert search(data, "before:2000-01-01") == []


def test_export_verifies_and_tampering_is_named(deleted_hundred, tmp_path):
    data, pubkey, _ = deleted_hundred
    out = tmp_path / "export"
    mk(data, "discover", "export", "deleted:yes", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["messages"]) == 100 and len(list(out.glob("*.eml"))) == 100
    r = mk(data, "verify-export", str(out), "--pubkey", str(pubkey))
    assert "export verified: 100 message(s)" in r.stdout
    # The export is journaled and the journal still verifies.
    assert "export of 100 message(s)" in mk(data, "audit").stdout
    assert mk(data, "journal", "verify").returncode == 0
    # An altered message, a swapped secret, a forged checkpoint: each named.
    f = out / manifest["messages"][3]["file"]
    f.write_bytes(f.read_bytes().replace(b"price", b"PRICE"))
    m = manifest["messages"]
    m[5]["secret"] = m[6]["secret"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    r = mk(data, "verify-export", str(out), "--pubkey", str(pubkey), check=False)
    assert r.returncode != 0
    assert "message 4 (alice@example.org INBOX UID 40): the bytes in" in r.stdout, r.stdout
    assert "message 6 (alice@example.org INBOX UID 60): the journal leaf does not commit" in r.stdout
    r = mk(data, "verify-export", str(out), "--pubkey", str(pubkey), "--json", check=False)
    assert r.returncode != 0 and len(json.loads(r.stdout)["problems"]) == 2, r.stdout
    manifest["checkpoint"] = manifest["checkpoint"].replace("\n1", "\n2", 1)
    (out / "manifest.json").write_text(json.dumps(manifest))
    r = mk(data, "verify-export", str(out), "--pubkey", str(pubkey), check=False)
    assert r.returncode != 0 and "checkpoint" in r.stdout, r.stdout


def test_mbox_export_verifies(deleted_hundred, tmp_path):
    data, pubkey, _ = deleted_hundred
    out = tmp_path / "mbox"
    done = json.loads(mk(data, "discover", "export", "from:p2@partner.example",
                         "--include-deleted", "--out", str(out), "--format", "mbox",
                         "--json").stdout)
    assert (done["directory"], done["messages"]) == (str(out), 143), done
    assert 0 < done["deleted"] < 143 and done["checkpoint"].splitlines()[0].endswith("/mailkeep-journal"), done
    text = (out / "messages.mbox").read_bytes()
    assert text.startswith(b"From mailkeep-export ")
    r = mk(data, "verify-export", str(out), "--pubkey", str(pubkey))
    assert "export verified: 143 message(s)" in r.stdout, r.stdout
    check = json.loads(mk(data, "verify-export", str(out), "--pubkey", str(pubkey),
                          "--json").stdout)
    assert check == {"messages": 143, "problems": []}, check
    status = mk(data, "discover", "status").stdout
    assert "1001 message(s), deleted included; 0 not parseable" in status, status


def test_report_commands_end_quietly_when_the_reader_goes_away(deleted_hundred):
    """`mailkeep audit | head` must not end in a panic message."""
    import signal
    import subprocess
    from conftest import BIN
    data, _, _ = deleted_hundred
    p = subprocess.Popen([BIN, "--data", str(data), "audit", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(100)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(30) == -signal.SIGPIPE
    assert b"panicked" not in err, err
