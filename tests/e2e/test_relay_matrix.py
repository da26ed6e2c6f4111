"""No open relay (issue 6): every combination of {unauthenticated, authenticated} x {local,
remote, forged} sender x {local, remote} recipient x {MX, submission} listener, with the
expected outcome of each; plus source routes, the percent hack and other address tricks on
the MX. Nothing here leaves the machine: the remote domain has no DNS (resolver "none"), and
a message for it is only queued."""
import smtplib

import pytest

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir

LOCAL, REMOTE, FORGED = "alice@example.org", "someone@example.net", "ceo@example.org"
LOCAL_RCPT, REMOTE_RCPT = "bob@example.org", "carol@elsewhere.example"

# (listener, authenticated, sender, recipient) -> (stage, code): where the transaction ends and
# with what code; ("DATA", 250) means accepted.
EXPECTED = {}
for sender in (LOCAL, REMOTE, FORGED):
    for rcpt in (LOCAL_RCPT, REMOTE_RCPT):
        # Submission without AUTH takes nothing.
        EXPECTED[("submission", False, sender, rcpt)] = ("MAIL", 530)
        # Submission with AUTH as alice: only her own address, to anyone.
        EXPECTED[("submission", True, sender, rcpt)] = \
            ("DATA", 250) if sender == LOCAL else ("MAIL", 553)
        # The MX offers no AUTH; unauthenticated mail is for local users only, and mail
        # claiming to come from our own domains without authentication is refused.
        if rcpt == REMOTE_RCPT:
            EXPECTED[("smtp", False, sender, rcpt)] = ("RCPT", 554)
        elif sender == REMOTE:
            EXPECTED[("smtp", False, sender, rcpt)] = ("DATA", 250)
        else:
            EXPECTED[("smtp", False, sender, rcpt)] = ("DATA", 550)
        EXPECTED[("smtp", True, sender, rcpt)] = ("AUTH", 503)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    data = data_dir(tmp_path_factory.mktemp("relay") / "data", "alice@example.org",
                    "bob@example.org")
    s = Server(data)
    yield s
    s.stop()


def attempt(srv, listener, authenticated, sender, rcpt):
    host, port = srv.addrs[listener]
    msg = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: relay test\r\n"
           f"Message-ID: <{listener}.{authenticated}.{sender}.{rcpt}@test>\r\n\r\nhello\r\n")
    with smtplib.SMTP(host, port) as s:
        s.ehlo("client.test")
        s.starttls(context=CTX)
        s.ehlo("client.test")
        if authenticated:
            if "auth" not in s.esmtp_features:
                code, _ = s.docmd("AUTH", "PLAIN")
                return ("AUTH", code)
            s.login("alice@example.org", PASSWORD)
        code, _ = s.mail(sender)
        if code != 250:
            return ("MAIL", code)
        code, _ = s.rcpt(rcpt)
        if code != 250:
            return ("RCPT", code)
        code, _ = s.data(msg.encode())
        return ("DATA", code)


@pytest.mark.parametrize("case", sorted(EXPECTED, key=str), ids=lambda c: "-".join(map(str, c)))
def test_relay_matrix(srv, case):
    assert attempt(srv, *case) == EXPECTED[case]


@pytest.mark.parametrize("rcpt,code", [
    # Source routes are declined outright (RFC 5321 §4.1.1.3 allows it), local or not.
    ("<@example.org:carol@elsewhere.example>", 501),
    ("<@elsewhere.example:bob@example.org>", 501),
    ("<carol%elsewhere.example@example.org>", 550),     # percent hack: no such local user
    ("<\"carol@elsewhere.example\"@example.org>", 550),  # quoted local part: no such user
    ("<carol@elsewhere.example@example.org>", 501),     # not an address
    ("<carol!elsewhere.example@example.org>", 550),     # bang path: no such local user
    ("<bob@example.org.>", 501),                        # trailing dot: not a domain
    ("<bob@[127.0.0.1]>", 554),                         # address literal: not a domain we serve
])
def test_address_tricks_on_the_mx(srv, rcpt, code):
    host, port = srv.addrs["smtp"]
    with smtplib.SMTP(host, port) as s:
        s.ehlo("client.test")
        assert s.mail("someone@example.net")[0] == 250
        got, text = s.docmd("RCPT TO:" + rcpt)
        assert got == code, (rcpt, got, text)


def test_nothing_was_queued_but_alices_own_message(srv):
    lines = mk(srv.data, "queue", "list").stdout.splitlines()
    assert len(lines) == 1 and "from <alice@example.org>" in lines[0], lines


def test_no_credentials_cross_any_listener_in_plaintext(srv):
    """AUTH and LOGIN are refused before TLS on every listener that speaks plaintext first;
    the implicit-TLS listeners never speak plaintext at all."""
    import base64
    import imaplib
    import socket

    creds = base64.b64encode(f"\0alice@example.org\0{PASSWORD}".encode()).decode()
    for listener in ("smtp", "submission"):
        host, port = srv.addrs[listener]
        with smtplib.SMTP(host, port) as s:
            s.ehlo("client.test")
            assert "auth" not in s.esmtp_features, listener
            code, text = s.docmd("AUTH", "PLAIN " + creds)
            assert code in (503, 538), (listener, code, text)
            code, _ = s.docmd("AUTH", "LOGIN")
            assert code in (503, 538), (listener, code)
    host, port = srv.addrs["imap"]
    im = imaplib.IMAP4(host, port)
    assert "LOGINDISABLED" in im.capabilities
    for command in (b'LOGIN alice@example.org "' + PASSWORD.encode() + b'"',
                    b"AUTHENTICATE PLAIN " + creds.encode()):
        tag = im._new_tag()
        im.send(tag + b" " + command + b"\r\n")
        reply = im.readline()
        while not reply.startswith(tag):
            reply = im.readline()
        assert b" NO " in reply or b" BAD " in reply, reply
    im.shutdown()
    for listener in ("submissions", "imaps"):
        host, port = srv.addrs[listener]
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.settimeout(2)
            sock.sendall(b"EHLO client.test\r\nA1 LOGIN alice@example.org x\r\n")
            try:
                got = sock.recv(100)
            except socket.timeout:
                got = b""
            # No greeting and no reply in plaintext: a TLS alert or nothing.
            assert not got.startswith((b"220", b"* OK", b"250", b"A1")), (listener, got)
