"""A flood of connections to one listener must not lock users out of another, nor out of
its own (issue 13, item 4): each listener family has its own pool, submission and IMAP keep
slots for logged-in sessions and close their oldest idle connection not logged in for a new
one, and refused connections are logged, rate-limited."""
import imaplib
import re
import smtplib
import socket
import time

import pytest

from conftest import PASSWORD, Server
from mailpeers import CTX, data_dir, wait_for
from test_hostile import read_for


def set_in(data, section, key, value):
    cfg = data / "mailkeep.toml"
    text = cfg.read_text()
    start = text.index(f"[{section}]\n")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    part = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text[start:end])
    assert f"{key} = {value}" in part, (section, key)
    cfg.write_text(text[:start] + part + text[end:])


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    data = data_dir(tmp_path_factory.mktemp("conns") / "data", "alice@example.org")
    set_in(data, "smtp", "max_connections", 20)
    set_in(data, "submission", "max_connections", 10)
    set_in(data, "submission", "reserved_for_authenticated", 3)
    set_in(data, "imap", "max_connections", 10)
    set_in(data, "imap", "reserved_for_authenticated", 3)
    s = Server(data)
    yield s
    s.stop()


def idle(addr, n, first_source=1, prefix="127.0.9"):
    """n connections from n addresses that say nothing after the greeting."""
    socks = []
    for i in range(n):
        s = socket.create_connection(addr, source_address=(f"{prefix}.{first_source + i}", 0))
        read_for(s, 0.2)
        socks.append(s)
    return socks


def submit(srv):
    host, port = srv.addrs["submission"]
    with smtplib.SMTP(host, port, timeout=10) as c:
        c.starttls(context=CTX)
        c.login("alice@example.org", PASSWORD)
        c.sendmail("alice@example.org", ["alice@example.org"],
                   b"From: alice@example.org\r\nSubject: still here\r\n\r\nhi\r\n")


def imap_login(srv):
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=10) as im:
        im.login("alice@example.org", PASSWORD)
        return int(im.select("INBOX")[1][0])


def test_a_full_mx_pool_leaves_submission_and_imap_alone(srv):
    flood = idle(srv.addrs["smtp"], 20, prefix="127.0.9")
    try:
        # The 21st MX connection is refused ...
        extra = socket.create_connection(srv.addrs["smtp"], source_address=("127.0.9.99", 0))
        assert read_for(extra, 1.0).startswith(b"421 4.3.2"), "MX pool not full?"
        extra.close()
        # ... and that is logged, once however many are refused within ten seconds.
        for _ in range(20):
            extra = socket.create_connection(srv.addrs["smtp"], source_address=("127.0.9.98", 0))
            read_for(extra, 0.3)
            extra.close()
        refused = lambda: [l for l in srv.log if "mailkeep::refused" in l and "listener=smtp" in l]
        assert wait_for(lambda: refused(), 5)
        assert len(refused()) == 1, refused()
        assert "reason=pool-full" in refused()[0]
        # A user can still submit and read.
        submit(srv)
        assert imap_login(srv) >= 1
    finally:
        for s in flood:
            s.close()


def test_idle_connections_not_logged_in_give_way_to_users(srv):
    for listener, prefix in (("submission", "127.0.10"), ("imap", "127.0.11")):
        flood = idle(srv.addrs[listener], 10, prefix=prefix)
        try:
            # Every slot not reserved is taken, and more keep coming: each new one closes the
            # oldest idle one, so a user still gets in, several times over.
            flood += idle(srv.addrs[listener], 10, first_source=50, prefix=prefix)
            closed = [s for s in flood if read_for(s, 0.2, limit=1)]
            assert len(closed) >= 10, listener
            for _ in range(3):
                if listener == "submission":
                    submit(srv)
                else:
                    imap_login(srv)
        finally:
            for s in flood:
                s.close()


def test_the_oldest_idle_connection_is_told_why(srv):
    time.sleep(0.5)  # the server notices the earlier tests' connections are gone
    host, port = srv.addrs["imap"]
    flood = idle((host, port), 7, prefix="127.0.12")
    try:
        newcomer = socket.create_connection((host, port), source_address=("127.0.12.99", 0))
        assert b"OK" in read_for(newcomer, 0.5)
        assert read_for(flood[0], 1.0) == (b"* BYE [UNAVAILABLE] Too many connections; "
                                           b"the oldest not logged in are closed\r\n<EOF>")
        newcomer.close()
    finally:
        for s in flood:
            s.close()
