"""Hostile clients (issue 6), table-driven against the running server: for each, the exact
reply or disconnect; meanwhile another client is served normally, and the server's memory
stays bounded."""
import imaplib
import smtplib
import socket
import threading
import time

import pytest

from conftest import PASSWORD, Server
from mailpeers import CTX, data_dir, set_key


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    data = data_dir(tmp_path_factory.mktemp("hostile") / "data", "alice@example.org")
    set_key(data, "command_timeout_secs", 3)
    set_key(data, "login_timeout_secs", 3)
    set_key(data, "max_connections_per_ip", 8)
    s = Server(data)
    with smtplib.SMTP(*s.addrs["smtp"]) as c:
        c.sendmail("x@example.net", ["alice@example.org"], b"From: x@example.net\r\nSubject: seed\r\n\r\nhello\r\n")
    yield s
    s.stop()


def rss_kib(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])


def read_for(sock, seconds, limit=1 << 20):
    sock.settimeout(0.2)
    out, end = b"", time.time() + seconds
    while time.time() < end and len(out) < limit:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return out + b"<EOF>"
        if not chunk:
            return out + b"<EOF>"
        out += chunk
    return out


def smtp_session(srv, source="127.0.0.1"):
    sock = socket.create_connection(srv.addrs["smtp"], source_address=(source, 0))
    read_for(sock, 0.3)
    sock.sendall(b"EHLO hostile.test\r\n")
    read_for(sock, 0.3)
    return sock


def imap_session(srv, login=True):
    host, port = srv.addrs["imaps"]
    sock = CTX.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    read_for(sock, 0.3)
    if login:
        sock.sendall(f'L LOGIN alice@example.org "{PASSWORD}"\r\nS SELECT INBOX\r\n'.encode())
        out = read_for(sock, 1.0)
        assert b"S OK" in out, out
    return sock


def good_client_is_served(srv):
    host, port = srv.addrs["imaps"]
    start = time.time()
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=10) as im:
        im.login("alice@example.org", PASSWORD)
        assert im.select("INBOX")[0] == "OK" and im.noop()[0] == "OK"
    return time.time() - start


SMTP_CASES = [
    ("a 1 MiB command line", b"NOOP " + b"a" * (1 << 20) + b"\r\nNOOP\r\n",
     b"500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n"),
    ("a NUL byte", b"MAIL FROM:<a\x00b@example.net>\r\nNOOP\r\n",
     b"500 5.5.2 Error: invalid characters in command\r\n250 2.0.0 Ok\r\n"),
    ("a bare CR", b"NOOP\rNOOP\r\nNOOP\r\n",
     b"500 5.5.2 Error: invalid characters in command\r\n250 2.0.0 Ok\r\n"),
    ("invalid UTF-8", b"MAIL FROM:<\xff\xfe@example.net>\r\nNOOP\r\n",
     b"500 5.5.2 Error: invalid characters in command\r\n250 2.0.0 Ok\r\n"),
    ("8-bit in a verb", b"N\xc3\xa9OP\r\nNOOP\r\n",
     b"500 5.5.2 Error: command not recognized\r\n250 2.0.0 Ok\r\n"),
]


IMAP_CASES = [
    ("a literal announced as 10 GB", b"a APPEND INBOX {10000000000}\r\n",
     b"a NO [TOOBIG] Literal of 10000000000 bytes exceeds the limit of 52428800\r\n"),
    ("a non-synchronizing literal of 10 GB", b"a APPEND INBOX {10000000000+}\r\nxx\r\n",
     b"* BYE [TOOBIG] non-synchronizing literal too large\r\n<EOF>"),
    ("a section 1,000 parts deep", b"a FETCH 1 BODY[" + b"1." * 1000 + b"1]\r\n",
     b"a BAD Section part number too deep\r\n"),
]


CASES = [("smtp", *c) for c in SMTP_CASES] + [("imap", *c) for c in IMAP_CASES]


@pytest.mark.parametrize("proto,name,payload,reply", CASES, ids=[c[1] for c in CASES])
def test_bad_input(srv, proto, name, payload, reply):
    sock = smtp_session(srv) if proto == "smtp" else imap_session(srv)
    sock.sendall(payload)
    assert read_for(sock, 1.5) == reply
    sock.close()
    good_client_is_served(srv)


def test_100000_pipelined_commands_are_all_answered(srv):
    sock = imap_session(srv)
    sent = threading.Thread(target=sock.sendall,
                            args=(b"".join(b"n%d NOOP\r\n" % i for i in range(100_000)),))
    sent.start()
    out = read_for(sock, 60, limit=1 << 30)
    while out.count(b" OK NOOP") < 100_000:
        more = read_for(sock, 5, limit=1 << 30)
        if not more:
            break
        out += more
    sent.join()
    assert out.count(b" OK NOOP completed") == 100_000
    assert out.rstrip().endswith(b"n99999 OK NOOP completed")
    sock.close()


def trickle(sock, payload, gap):
    """Sends one byte per `gap` seconds until the server hangs up; (what it said, seconds)."""
    start, got = time.time(), b""
    for b in payload:
        try:
            sock.sendall(bytes([b]))
        except OSError:
            break
        got += read_for(sock, gap)
        if b"<EOF>" in got:
            break
    return got, time.time() - start


def test_slowloris_is_cut_off_while_others_are_served(srv):
    """One byte a second: the command deadline (3 s here) ends it, whatever the trickle."""
    got, took = trickle(smtp_session(srv), b"NOOP and on and on and on\r\n", 1.0)
    assert got.startswith(b"421 4.4.2") and got.endswith(b"<EOF>"), got
    assert 2.5 < took < 8
    assert good_client_is_served(srv) < 5


def test_a_connection_flood_from_one_address_is_refused_beyond_the_limit(srv):
    # Opened at once (the command timeout here is 3 s: slow opening would free slots).
    held = [socket.create_connection(srv.addrs["smtp"], source_address=("127.0.0.9", 0))
            for _ in range(8)]
    time.sleep(0.5)
    extra = socket.create_connection(srv.addrs["smtp"], source_address=("127.0.0.9", 0))
    for h in held:
        h.settimeout(1)
        assert h.recv(100).startswith(b"220")
    greeting = read_for(extra, 1.0)
    assert greeting.startswith(b"421 4.7.0") and greeting.endswith(b"<EOF>"), greeting
    # Another address is unaffected.
    with smtplib.SMTP(*srv.addrs["smtp"], source_address=("127.0.0.10", 0)) as s:
        assert s.noop()[0] == 250
    for s in held:
        s.close()


def mime_bomb(parts, depth):
    msg = b"From: x@example.net\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n"
    msg += b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for i in range(parts):
        msg += b"--b0\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i
    for d in range(1, depth):
        msg += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (d - 1, d)
    msg += b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeepest\r\n" % max(depth - 1, 0)
    for d in range(max(depth - 1, 0), -1, -1):
        msg += b"--b%d--\r\n" % d
    return msg


@pytest.mark.parametrize("parts,depth", [(10_000, 1), (1, 1_000)], ids=["10k parts", "1k deep"])
def test_mime_bombs_are_stored_and_fetched_within_bounds(srv, parts, depth):
    with smtplib.SMTP(*srv.addrs["smtp"]) as s:
        s.sendmail("x@example.net", ["alice@example.org"], mime_bomb(parts, depth))
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=30) as im:
        im.login("alice@example.org", PASSWORD)
        typ, data = im.select("INBOX")
        last = data[0].decode()
        start = time.time()
        typ, data = im.fetch(last, "(BODYSTRUCTURE ENVELOPE)")
        assert typ == "OK" and time.time() - start < 10
        assert len(b"".join(d if isinstance(d, bytes) else d[0] + d[1] for d in data)) < 4 << 20
        typ, data = im.search(None, "BODY", "deepest" if depth > 1 else "part")
        assert typ == "OK"
    assert rss_kib(srv) < 300 * 1024, f"{rss_kib(srv)} KiB"


def test_imap_login_must_finish_in_time_however_slow_the_bytes(srv):
    """Before login the whole exchange has `login_timeout_secs` (3 s here), not each read."""
    got, took = trickle(imap_session(srv, login=False), b'a LOGIN alice@example.org "x"\r\n', 0.5)
    assert b"* BYE" in got and got.endswith(b"<EOF>"), got
    assert 2.5 < took < 6
