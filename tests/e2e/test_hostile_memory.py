"""Hostile clients that try to make the server hold message bytes in memory (issue 13, item 1):
SMTP DATA/BDAT content is spooled to disk as it arrives, IMAP allows only login-sized literals
before login, and complete messages are read back only within the server-wide `[memory]`
budget, answered "try again later" when it is exhausted. bench/memory-attack.py measures the
same at full scale (200 connections, 50 MB each)."""
import imaplib
import smtplib
import socket
import threading
import time

import pytest

from conftest import PASSWORD, Server
from mailpeers import CTX, data_dir, set_key
from test_hostile import read_for, rss_kib

LINE = b"x" * 998 + b"\r\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    data = data_dir(tmp_path_factory.mktemp("memory") / "data", "alice@example.org")
    # A small budget, so that two large messages in flight exhaust it.
    set_key(data, "message_bytes", 1 << 20)
    set_key(data, "wait_secs", 1)
    s = Server(data)
    with smtplib.SMTP(*s.addrs["smtp"]) as c:
        c.sendmail("x@example.net", ["alice@example.org"], b"From: x@example.net\r\nSubject: seed\r\n\r\nhello\r\n")
    yield s
    s.stop()


def plain_imap(srv):
    sock = socket.create_connection(srv.addrs["imap"])
    assert b"OK" in read_for(sock, 0.3)
    return sock


def imaps_login(srv):
    host, port = srv.addrs["imaps"]
    sock = CTX.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    read_for(sock, 0.3)
    sock.sendall(f'L LOGIN alice@example.org "{PASSWORD}"\r\n'.encode())
    assert b"L OK" in read_for(sock, 1.0)
    return sock


def smtp_in_data(srv, source="127.0.0.1"):
    sock = socket.create_connection(srv.addrs["smtp"], source_address=(source, 0))
    read_for(sock, 0.3)
    sock.sendall(b"EHLO hostile.test\r\nMAIL FROM:<x@example.net>\r\n"
                 b"RCPT TO:<alice@example.org>\r\nDATA\r\n")
    out = read_for(sock, 1.0)
    assert b"354" in out, out
    return sock


def message_count(srv):
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=10) as im:
        im.login("alice@example.org", PASSWORD)
        return int(im.select("INBOX")[1][0])


@pytest.mark.parametrize("literal,reply", [
    (b"{52428799}", b"a NO [TOOBIG] Literal of 52428799 bytes exceeds the limit of 8192\r\n"
                    b"* BYE [TOOBIG] Log in first\r\n<EOF>"),
    (b"{52428799+}", b"* BYE [TOOBIG] non-synchronizing literal too large\r\n<EOF>"),
    (b"{8193}", b"a NO [TOOBIG] Literal of 8193 bytes exceeds the limit of 8192\r\n"
                b"* BYE [TOOBIG] Log in first\r\n<EOF>"),
])
def test_a_literal_larger_than_a_login_needs_is_refused_before_login(srv, literal, reply):
    sock = plain_imap(srv)
    sock.sendall(b"a LOGIN " + literal + b"\r\n")
    assert read_for(sock, 1.5) == reply
    sock.close()


def test_login_with_literals_still_works(srv):
    host, port = srv.addrs["imaps"]
    sock = CTX.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    read_for(sock, 0.3)
    user, password = b"alice@example.org", PASSWORD.encode()
    sock.sendall(b"a LOGIN {%d}\r\n" % len(user))
    assert read_for(sock, 0.5).startswith(b"+ ")
    sock.sendall(user + b" {%d+}\r\n" % len(password) + password + b"\r\n")
    assert b"a OK" in read_for(sock, 1.5)
    sock.close()


def test_append_literals_are_not_held_in_memory(srv):
    """39 MB of a 40 MB APPEND literal, sent after login, must not be in the server's memory.
    The client gives up before the end, so nothing is delivered (and indexed) here."""
    sock = imaps_login(srv)
    size = 40 * 1000 * len(LINE)
    sock.sendall(b"A APPEND INBOX {%d}\r\n" % size)
    assert read_for(sock, 1.0).startswith(b"+ ")
    before = rss_kib(srv)
    chunk = LINE * 1000  # 1 MB
    sock.sendall(b"Subject: big\r\n\r\n")
    for _ in range(39):
        sock.sendall(chunk)
    time.sleep(0.5)
    grown = rss_kib(srv) - before
    assert grown < 16 * 1024, f"server RSS grew by {grown} KiB while a client sent 39 MB"
    sock.close()


def test_bdat_chunks_are_not_held_in_memory(srv):
    """A 40 MB BDAT chunk, 39 MB of it sent, must not be in the server's memory. (This runs
    before any large message is delivered: reading one back and indexing it would grow the
    server's heap for reasons that have nothing to do with receiving.)"""
    sock = socket.create_connection(srv.addrs["smtp"])
    read_for(sock, 0.3)
    sock.sendall(b"EHLO hostile.test\r\nMAIL FROM:<x@example.net>\r\nRCPT TO:<alice@example.org>\r\n")
    read_for(sock, 0.5)
    head = b"From: x@example.net\r\nSubject: big\r\n\r\n"
    size = len(head) + 40 * 1000 * len(LINE)
    sock.sendall(b"BDAT %d\r\n" % size + head)
    before = rss_kib(srv)
    chunk = LINE * 1000  # 1 MB
    for _ in range(39):
        sock.sendall(chunk)
    time.sleep(0.5)
    grown = rss_kib(srv) - before
    assert grown < 16 * 1024, f"server RSS grew by {grown} KiB while a client sent 39 MB"
    sock.sendall(chunk)
    assert read_for(sock, 10, limit=1).startswith(b"250 2.0.0 %d octets" % size)
    sock.sendall(b"BDAT 0 LAST\r\n")
    assert b"250 2.0.0" in read_for(sock, 20, limit=1)
    sock.close()


def test_streamed_data_is_not_held_in_memory(srv):
    """40 MB of DATA content, not yet ended, must not be in the server's memory."""
    sock = smtp_in_data(srv)
    sock.sendall(b"From: x@example.net\r\nSubject: forty\r\n\r\n")
    before = rss_kib(srv)
    chunk = LINE * 1000  # 1 MB
    for _ in range(40):
        sock.sendall(chunk)
    time.sleep(0.5)
    grown = rss_kib(srv) - before
    assert grown < 16 * 1024, f"server RSS grew by {grown} KiB while a client sent 40 MB"
    # Ending it delivers the whole message, read back from the spool.
    count = message_count(srv)
    sock.sendall(b"tail\r\n.\r\n")
    assert read_for(sock, 20, limit=1).startswith(b"250 2.0.0"), "40 MB message not accepted"
    assert message_count(srv) == count + 1
    sock.close()


def test_a_spooled_append_arrives_whole(srv):
    # 1 MB goes through the spool (more than a connection keeps in memory), by a real client.
    body = b"".join(b"%07d " % i + b"y" * 90 + b"\r\n" for i in range(10_000))
    msg = b"From: alice@example.org\r\nSubject: spooled\r\n\r\n" + body
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=10) as im:
        im.login("alice@example.org", PASSWORD)
        typ, data = im.append("INBOX", "(\\Flagged)", None, msg)
        assert typ == "OK", data
        im.select("INBOX")
        typ, found = im.search(None, "SUBJECT", "spooled")
        n = found[0].split()[-1]
        typ, got = im.fetch(n, "(FLAGS BODY.PEEK[])")
        assert got[0][1] == msg
        assert b"\\Flagged" in got[0][0]


def test_when_the_budget_is_exhausted_large_messages_are_deferred_not_buffered(srv):
    # A holds 2 x 400 KB of the 1 MiB budget by announcing a large literal in a command
    # other than APPEND (those are read into memory) and not sending it yet.
    a = imaps_login(srv)
    a.sendall(b"S EXAMINE INBOX\r\n")
    assert b"S OK" in read_for(a, 2.0)
    size = 400_000
    a.sendall(b"A SEARCH TEXT {%d}\r\n" % size)
    assert read_for(a, 1.0).startswith(b"+ ")
    # IMAP: another large literal waits for the budget, then is refused; the connection lives.
    b = imaps_login(srv)
    b.sendall(b"B SEARCH TEXT {%d}\r\n" % size)
    assert read_for(b, 3.0) == (b"B NO [UNAVAILABLE] Too many large messages in progress, "
                                b"try again later\r\n")
    b.sendall(b"B2 NOOP\r\n")
    assert b"B2 OK" in read_for(b, 1.0)
    # An APPEND is spooled as it arrives, and refused at its end if memory is still short.
    b.sendall(b"B3 APPEND INBOX {%d}\r\n" % size)
    assert read_for(b, 2.0).startswith(b"+ ")
    b.sendall(b"Subject: b\r\n\r\n" + b"b" * (size - 14) + b"\r\n")
    assert read_for(b, 3.0) == (b"B3 NO [UNAVAILABLE] Too many large messages in progress, "
                                b"try again later\r\n")
    # SMTP: a large message at the end of DATA gets a temporary failure.
    s = smtp_in_data(srv)
    s.sendall(b"From: x@example.net\r\nSubject: big\r\n\r\n" + LINE * 400 + b".\r\n")
    assert read_for(s, 3.0).startswith(b"451 4.3.1 Error: too many large messages in progress")
    # Small messages do not need the budget at all.
    with smtplib.SMTP(*srv.addrs["smtp"]) as c:
        c.sendmail("x@example.net", ["alice@example.org"], b"From: x@example.net\r\nSubject: small\r\n\r\nhi\r\n")
    # A finishes; its memory comes back and the others succeed when they try again.
    a.sendall(b"a" * size + b"\r\n")
    assert b"A OK" in read_for(a, 5.0)
    b.sendall(b"B4 APPEND INBOX {%d}\r\n" % size)
    assert read_for(b, 2.0).startswith(b"+ ")
    b.sendall(b"Subject: b\r\n\r\n" + b"b" * (size - 14) + b"\r\n")
    assert b"B4 OK" in read_for(b, 5.0)
    s.sendall(b"RSET\r\nMAIL FROM:<x@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
    read_for(s, 1.0)
    s.sendall(b"From: x@example.net\r\nSubject: big\r\n\r\n" + LINE * 400 + b".\r\n")
    assert read_for(s, 5.0).startswith(b"250 2.0.0")
    for sock in (a, b, s):
        sock.close()


def test_a_user_is_served_while_many_clients_stream_large_messages(srv):
    """20 connections from 4 addresses stream 20 MB each; meanwhile alice logs in, reads
    and submits, and the server's peak memory stays far below what the streams carry."""
    stop = threading.Event()
    sent = []

    def attacker(source):
        try:
            sock = smtp_in_data(srv, source)
            chunk, n = LINE * 256, 0
            while n < 20 << 20 and not stop.is_set():
                sock.sendall(chunk)
                n += len(chunk)
            sent.append(n)
            sock.close()
        except OSError:
            sent.append(0)

    threads = [threading.Thread(target=attacker, args=(f"127.0.0.{10 + i % 4}",))
               for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=10) as im:
        im.login("alice@example.org", PASSWORD)
        assert im.select("INBOX")[0] == "OK"
        assert im.fetch("1", "(BODY.PEEK[HEADER])")[0] == "OK"
    with smtplib.SMTP_SSL(*srv.addrs["submissions"], context=CTX, timeout=10) as c:
        c.login("alice@example.org", PASSWORD)
        c.sendmail("alice@example.org", ["alice@example.org"],
                   b"From: alice@example.org\r\nSubject: during\r\n\r\nhi\r\n")
    for t in threads:
        t.join(60)
    stop.set()
    assert sum(sent) >= 20 * (20 << 20) * 0.9, "the attack did not run"
    with open(f"/proc/{srv.proc.pid}/status") as f:
        peak = int(next(l for l in f if l.startswith("VmHWM")).split()[1])
    assert peak < 200 * 1024, f"peak RSS {peak} KiB with 400 MB streamed at it"
