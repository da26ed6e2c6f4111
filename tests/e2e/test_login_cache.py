"""Verified logins are cached (issue 14, item 7): a client that logs in again within the TTL
does not pay for Argon2 again, and a password changed from the CLI while the server runs
takes effect at once (the cache is checked against the account's current hash)."""
import imaplib
import smtplib
import statistics
import time

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir


def timed_login(server, user, password):
    host, port = server.addrs["imaps"]
    im = imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=20)
    start = time.perf_counter()
    try:
        im.login(user, password)
        ok = True
    except imaplib.IMAP4.error:
        ok = False
    took = time.perf_counter() - start
    try:
        im.logout()
    except Exception:
        pass
    return ok, took


def test_repeated_logins_skip_the_password_hash_until_the_password_changes(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org")
    server = Server(data)
    try:
        ok, first = timed_login(server, "alice@example.org", PASSWORD)
        assert ok
        again = []
        for _ in range(9):
            ok, took = timed_login(server, "alice@example.org", PASSWORD)
            assert ok
            again.append(took)
        # Argon2 (19 MiB, 2 passes) takes tens of milliseconds even optimised; a cached
        # login is a table lookup and one indexed read.
        assert statistics.median(again) < first / 3, (first, again)

        # A wrong password is never served from the cache.
        ok, _ = timed_login(server, "alice@example.org", PASSWORD + "x")
        assert not ok

        # Changed from the CLI while the server runs: the old password stops working at once.
        new = "another horse battery"
        mk(data, "user", "passwd", "alice@example.org", "--password-stdin", stdin=new + "\n")
        ok, _ = timed_login(server, "alice@example.org", PASSWORD)
        assert not ok, "a cached login outlived a password change"
        ok, _ = timed_login(server, "alice@example.org", new)
        assert ok
        # SMTP AUTH has its own entries and honours the change too.
        with smtplib.SMTP_SSL(*server.addrs["submissions"], context=CTX, timeout=20) as c:
            try:
                c.login("alice@example.org", PASSWORD)
                raise AssertionError("old password accepted by SMTP AUTH")
            except smtplib.SMTPAuthenticationError:
                pass
        with smtplib.SMTP_SSL(*server.addrs["submissions"], context=CTX, timeout=20) as c:
            c.login("alice@example.org", new)
    finally:
        server.stop()
