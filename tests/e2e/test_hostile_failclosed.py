"""Fail closed (issue 13, item 8): when a store read behind a security or limit decision fails,
the server refuses with a temporary error (451 4.3.0 / NO [UNAVAILABLE]) and logs it, instead of
deciding as if the read had found nothing. The reads are made to fail in the running (debug)
binary with MAILKEEP_DEBUG_FAIL_READS, which release builds ignore."""
import imaplib
import re
import smtplib
import time

import pytest
from conftest import PASSWORD, Server
from mailpeers import CTX, data_dir


def spoof(srv, sender):
    host, port = srv.addrs["smtp"]
    msg = (f"From: {sender}\r\nTo: bob@example.org\r\nSubject: hello\r\n"
           f"Message-ID: <{time.time_ns()}@test>\r\n\r\nhello\r\n").encode()
    with smtplib.SMTP(host, port) as s:
        s.ehlo("client.test")
        try:
            s.sendmail("someone@ext.test", ["bob@example.org"], msg)
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients["bob@example.org"]
            return code, text
    return 250, b""


def logged(srv, pattern):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any(re.search(pattern, line) for line in srv.log):
            return True
        time.sleep(0.05)
    return False


def with_quota(data, quota):
    cfg = data / "mailkeep.toml"
    text = cfg.read_text()
    text, n = re.subn(r"(?m)^quota_bytes = \d+", f"quota_bytes = {quota}", text)
    assert n == 1
    cfg.write_text(text)


def test_own_domain_spoof_is_refused_while_our_domains_cannot_be_read(tmp_path, monkeypatch):
    data = data_dir(tmp_path / "data", "alice@example.org", "bob@example.org")
    srv = Server(data)
    try:
        # Control: with the directory readable, the spoof is refused for good.
        assert spoof(srv, "alice@example.org")[0] == 550
    finally:
        srv.stop()
    monkeypatch.setenv("MAILKEEP_DEBUG_FAIL_READS", "domains")
    srv = Server(data)
    try:
        code, text = spoof(srv, "alice@example.org")
        assert code == 451 and text.startswith(b"4.3.0"), (code, text)
        assert logged(srv, r"own-domain check failed"), "".join(srv.log)
    finally:
        srv.stop()


def test_quota_that_cannot_be_read_refuses_delivery_and_append(tmp_path, monkeypatch):
    data = data_dir(tmp_path / "data", "alice@example.org", "bob@example.org")
    with_quota(data, 10_000_000)
    monkeypatch.setenv("MAILKEEP_DEBUG_FAIL_READS", "usage")
    srv = Server(data)
    try:
        # SMTP: the RCPT of a local user whose usage cannot be read gets 451 4.3.0.
        code, text = spoof(srv, "carol@ext.test")
        assert code == 451 and text.startswith(b"4.3.0"), (code, text)
        assert logged(srv, r"quota check failed"), "".join(srv.log)
        # IMAP: APPEND and GETQUOTA answer NO [UNAVAILABLE].
        host, port = srv.addrs["imaps"]
        with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
            im.login("alice@example.org", PASSWORD)
            typ, resp = im.append("INBOX", None, None, b"Subject: x\r\n\r\nx\r\n")
            assert typ == "NO" and b"[UNAVAILABLE]" in resp[0], (typ, resp)
            typ, resp = im._simple_command("GETQUOTA", '""')
            assert typ == "NO" and b"[UNAVAILABLE]" in resp[0], (typ, resp)
            im.select("INBOX")
            assert im.search(None, "ALL")[1] == [b""], "nothing was stored"
    finally:
        srv.stop()
