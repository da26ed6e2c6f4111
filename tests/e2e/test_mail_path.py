"""The durable mail path with standard clients: smtplib sends, imaplib reads back."""

import email
import imaplib
import smtplib
import ssl
from email.message import EmailMessage

from conftest import PASSWORD, mk


def tls_context(data):
    ctx = ssl.create_default_context(cafile=str(data / "keys" / "tls-cert.pem"))
    ctx.check_hostname = False  # we connect to 127.0.0.1; the cert is for mail.example.org
    return ctx


def strip_trace(raw: bytes) -> bytes:
    """Everything after mailkeep's Received: header and the Authentication-Results: and
    X-Mailkeep-Verdict: the MX adds below it (each with its folded lines)."""
    assert raw.startswith(b"Received: ")
    lines = raw.split(b"\r\n")
    i = 1
    while lines[i].startswith((b"\t", b" ")):
        i += 1
    assert lines[i].startswith(b"Authentication-Results: ")
    i += 1
    while lines[i].startswith((b"\t", b" ")):
        i += 1
    # The spam verdict's field follows (issue 16).
    assert lines[i].startswith(b"X-Mailkeep-Verdict: ")
    i += 1
    return b"\r\n".join(lines[i:])


def build_message():
    msg = EmailMessage()
    msg["From"] = "Jürgen Groß <juergen@example.net>"
    msg["To"] = "alice@example.org, bob@example.org"
    msg["Cc"] = "sales@example.org"
    msg["Subject"] = "Grüße aus Köln — ünïcödé ✓"
    msg.set_content("Hallo! Schöne Grüße.\nA line starting with a dot follows:\n.hidden\n\nПривет, 世界\n")
    msg.add_attachment(bytes(range(256)) * 40, maintype="application", subtype="octet-stream",
                       filename="blob.bin")
    return msg


def fetch_inbox(server, user, data):
    host, port = server.addrs["imap"]
    with imaplib.IMAP4(host, port) as imap:
        assert b"LOGINDISABLED" in imap.capability()[1][0]
        imap.starttls(ssl_context=tls_context(data))
        imap.login(user, PASSWORD)
        typ, _ = imap.select("INBOX")
        assert typ == "OK"
        typ, ids = imap.search(None, "ALL") if False else ("OK", [b"1"])
        typ, data_ = imap.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK", data_
        out = [part[1] for part in data_ if isinstance(part, tuple)]
        imap.logout()
        return out


def test_smtplib_to_two_users_and_alias_imaplib_reads_back(server):
    data = server.data
    msg = build_message()
    wire = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    host, port = server.addrs["smtp"]
    with smtplib.SMTP(host, port) as smtp:
        smtp.ehlo("client.example.net")
        assert smtp.has_extn("starttls") and smtp.has_extn("pipelining") and smtp.has_extn("chunking")
        smtp.starttls(context=tls_context(data))
        smtp.ehlo("client.example.net")
        refused = smtp.sendmail("juergen@example.net",
                                ["alice@example.org", "bob@example.org", "sales@example.org"], wire)
        assert refused == {}
    alice = fetch_inbox(server, "alice@example.org", data)
    bob = fetch_inbox(server, "bob@example.org", data)
    # alice is addressed directly and through the alias: one copy.
    assert len(alice) == 1 and len(bob) == 1
    for raw in (alice[0], bob[0]):
        assert strip_trace(raw) == wire
        assert b"with ESMTPS" in raw
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert parsed["Subject"] == "Grüße aus Köln — ünïcödé ✓"
        att = [p for p in parsed.iter_attachments()][0]
        assert att.get_content() == bytes(range(256)) * 40


def test_smtputf8_eightbit_message(server):
    data = server.data
    body = ("From: zoë@example.net\r\nTo: bob@example.org\r\nSubject: 8-bit ünïcödé\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Grüße, 世界\r\n").encode()
    host, port = server.addrs["smtp"]
    with smtplib.SMTP(host, port) as smtp:
        smtp.starttls(context=tls_context(data))
        smtp.ehlo()
        smtp.sendmail("zoë@example.net", ["bob@example.org"], body,
                      mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (raw,) = fetch_inbox(server, "bob@example.org", data)
    assert strip_trace(raw) == body


def test_relay_and_unknown_user_refused(server):
    host, port = server.addrs["smtp"]
    with smtplib.SMTP(host, port) as smtp:
        smtp.ehlo()
        smtp.mail("a@example.net")
        code, text = smtp.rcpt("someone@elsewhere.example")
        assert code == 554 and text.startswith(b"5.7.1")
        code, text = smtp.rcpt("nobody@example.org")
        assert code == 550 and text.startswith(b"5.1.1")


def test_imaps_and_submissions_speak_tls(server):
    data = server.data
    host, port = server.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(data)) as imap:
        imap.login("bob@example.org", PASSWORD)
        assert imap.select("INBOX")[0] == "OK"
    host, port = server.addrs["submissions"]
    with smtplib.SMTP_SSL(host, port, context=tls_context(data)) as smtp:
        code, _ = smtp.ehlo()
        assert code == 250
        # Submission needs AUTH, which arrives with the submission issue: until then no
        # unauthenticated mail is taken here.
        code, text = smtp.mail("alice@example.org")
        assert code == 530 and text.startswith(b"5.7.0")
    host, port = server.addrs["submission"]
    with smtplib.SMTP(host, port) as smtp:
        smtp.starttls(context=tls_context(data))
        smtp.ehlo()
        code, _ = smtp.mail("alice@example.org")
        assert code == 530


def test_directory_changes_from_the_command_line_apply_to_the_next_rcpt(server):
    """The server caches recipient lookups under the directory stamp; every change made by
    another process (the CLI) must be seen by the very next RCPT, also several in a row."""
    data = server.data
    host, port = server.addrs["smtp"]

    def rcpt(address):
        with smtplib.SMTP(host, port) as smtp:
            smtp.ehlo("client.example.net")
            smtp.mail("juergen@example.net")
            return smtp.rcpt(address)[0]

    assert rcpt("carol@example.org") == 550
    for round_ in range(3):
        mk(data, "user", "add", "carol@example.org", "--password-stdin", stdin=PASSWORD + "\n")
        assert rcpt("carol@example.org") == 250, round_
        mk(data, "alias", "add", f"c{round_}@example.org", "carol@example.org")
        assert rcpt(f"c{round_}@example.org") == 250, round_
        mk(data, "user", "del", "carol@example.org")
        assert rcpt("carol@example.org") == 550, round_
        assert rcpt(f"c{round_}@example.org") == 550, round_
    assert rcpt("alice@example.org") == 250
    mk(data, "domain", "add", "example.com")
    assert rcpt("alice@example.com") == 550
    mk(data, "alias", "add", "@example.com", "alice@example.org")
    assert rcpt("anyone@example.com") == 250
