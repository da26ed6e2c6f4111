"""App passwords (issue 6): generated per device, shown once, limited to IMAP or SMTP, listed
without their secrets, revocable one by one (at once), and journaled."""
import imaplib
import json
import re
import smtplib

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir

def imap_ok(srv, user, password):
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
        try:
            im.login(user, password)
            return True
        except imaplib.IMAP4.error:
            return False

def smtp_ok(srv, user, password):
    host, port = srv.addrs["submissions"]
    with smtplib.SMTP_SSL(host, port, context=CTX) as s:
        try:
            s.login(user, password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False

def test_app_passwords_are_scoped_listed_and_revocable(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org", "bob@example.org")
    phone = mk(data, "user", "app-password", "add", "alice@example.org", "--name", "phone",
               "--scope", "imap").stdout.strip()
    laptop = mk(data, "user", "app-password", "add", "alice@example.org", "--name", "laptop",
                "--scope", "smtp,imap").stdout.strip()
    assert re.fullmatch(r"[a-z1-9]{5}(-[a-z1-9]{5}){3}", phone), phone
    assert phone != laptop
    r = mk(data, "user", "app-password", "add", "alice@example.org", "--name", "phone",
           check=False)
    assert r.returncode != 0 and "already has an app password" in r.stderr, r.stderr
    listed = mk(data, "user", "app-password", "list", "alice@example.org").stdout
    assert "phone  imap  created" in listed and "laptop  imap smtp  created" in listed, listed
    assert phone not in listed and laptop not in listed

    srv = Server(data)
    try:
        assert imap_ok(srv, "alice@example.org", phone)
        assert not smtp_ok(srv, "alice@example.org", phone), "phone is IMAP only"
        assert smtp_ok(srv, "alice@example.org", laptop) and imap_ok(srv, "alice@example.org", laptop)
        assert not imap_ok(srv, "bob@example.org", phone), "another user's app password"
        assert imap_ok(srv, "alice@example.org", PASSWORD), "the main password still works"
        # Revoked while the server runs: refused from the next login on.
        mk(data, "user", "app-password", "revoke", "alice@example.org", "--name", "phone")
        assert not imap_ok(srv, "alice@example.org", phone)
        assert imap_ok(srv, "alice@example.org", laptop)
    finally:
        srv.stop()
    r = mk(data, "user", "app-password", "revoke", "alice@example.org", "--name", "phone",
           check=False)
    assert r.returncode != 0 and "no app password called" in r.stderr
    details = [json.loads(l).get("detail", "") for l in mk(data, "audit", "--json").stdout.splitlines()]
    assert 'app password "phone" added (imap)' in details
    assert 'app password "laptop" added (imap smtp)' in details
    assert 'app password "phone" revoked' in details
