"""SMTP smuggling (issue 6) on every listener that takes mail: each published end-of-data
variant, pipelined after a real message, through DATA and through BDAT, on the MX and on
submission (after STARTTLS and AUTH). Never two messages from one DATA, never a second
envelope: the "smuggled" text ends up inside the one message."""
import base64
import imaplib
import socket

import pytest

from conftest import PASSWORD, Server
from mailpeers import CTX, data_dir

VARIANTS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r"]
SMUGGLED = (b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
            b"From: x@example.net\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    data = data_dir(tmp_path_factory.mktemp("smuggle") / "data", "alice@example.org",
                    "bob@example.org")
    s = Server(data)
    yield s
    s.stop()


class Line:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def reply(self):
        """One whole reply (multi-line replies joined)."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                assert chunk, out + self.buf
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            if len(line) < 4 or line[3:4] != b"-":
                return out


def session(srv, listener):
    sock = socket.create_connection(srv.addrs[listener], timeout=10)
    c = Line(sock)
    assert c.reply().startswith(b"220")
    sock.sendall(b"EHLO client.test\r\n")
    c.reply()
    if listener == "submission":
        sock.sendall(b"STARTTLS\r\n")
        assert c.reply().startswith(b"220")
        sock = CTX.wrap_socket(sock, server_hostname="mail.example.org")
        c = Line(sock)
        sock.sendall(b"EHLO client.test\r\n")
        c.reply()
        creds = base64.b64encode(f"\0alice@example.org\0{PASSWORD}".encode())
        sock.sendall(b"AUTH PLAIN " + creds + b"\r\n")
        assert c.reply().startswith(b"235")
    return sock, c


def count(srv, user, subject):
    host, port = srv.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
        im.login(user, PASSWORD)
        im.select("INBOX")
        return len(im.search(None, "SUBJECT", f'"{subject}"')[1][0].split())


@pytest.mark.parametrize("listener", ["smtp", "submission"])
@pytest.mark.parametrize("verb", ["DATA", "BDAT"])
def test_no_variant_ends_a_message(srv, listener, verb):
    sender = b"alice@example.org" if listener == "submission" else b"a@example.net"
    for i, v in enumerate(VARIANTS):
        subject = f"{listener} {verb} variant {i}"
        sock, c = session(srv, listener)
        content = (b"From: " + sender + b"\r\nSubject: " + subject.encode()
                   + b"\r\n\r\nhello" + v + SMUGGLED)
        head = b"MAIL FROM:<" + sender + b">\r\nRCPT TO:<alice@example.org>\r\n"
        if verb == "DATA":
            sock.sendall(head + b"DATA\r\n" + content)
            replies = [c.reply() for _ in range(4)]
            assert replies[2].startswith(b"354"), replies
        else:
            # BDAT counts bytes: everything in the chunk is data, whatever it looks like.
            sock.sendall(head + b"BDAT %d LAST\r\n" % len(content) + content)
            replies = [c.reply() for _ in range(3)]
        assert all(r.startswith(b"250") for r in replies if not r.startswith(b"354")), replies
        sock.sendall(b"NOOP\r\n")
        assert c.reply().startswith(b"250 2.0.0 Ok"), "no stray replies"
        sock.close()
        assert count(srv, "alice@example.org", subject) == 1
    assert count(srv, "bob@example.org", "smuggled") == 0
