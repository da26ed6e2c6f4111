"""The spam and phishing verdict through the MX (issue 16): the real binary, smtplib sends,
imaplib reads. The messages come from crates/verdict/tests/phish/, the test set the verdict's
own tests judge."""

import imaplib
import smtplib
from pathlib import Path

import pytest

from conftest import PASSWORD, start_server
from test_mail_path import tls_context

PHISH = Path(__file__).resolve().parents[2] / "crates" / "verdict" / "tests" / "phish"


@pytest.fixture
def mx(tmp_path):
    # carol.white: a colleague whose name an impostor borrows.
    s = start_server(tmp_path, users=("alice@example.org", "carol.white@example.org"))
    yield s
    if s.proc.poll() is None:
        s.stop()


def send(server, raw: bytes, rcpt="alice@example.org", mail_from="sender@ext.test"):
    with smtplib.SMTP(*server.addrs["smtp"]) as smtp:
        smtp.ehlo("client.ext.test")
        smtp.sendmail(mail_from, [rcpt], raw)


def imap(server):
    host, port = server.addrs["imaps"]
    c = imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(server.data))
    c.login("alice@example.org", PASSWORD)
    return c


def messages(c, mailbox):
    typ, data = c.select(mailbox, readonly=True)
    if typ != "OK":
        return []
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT])") if int(data[0]) else ("OK", [])
    out = []
    for item in data:
        if isinstance(item, tuple):
            out.append(item[1])
    # Header and text alternate.
    return [(out[i], out[i + 1]) for i in range(0, len(out), 2)]


def test_the_password_phish_lands_in_junk_with_its_verdict(mx):
    raw = (PHISH / "phish-00-someone-has-your-password.eml").read_bytes()
    send(mx, raw)
    c = imap(mx)
    assert messages(c, "INBOX") == []
    junk = messages(c, "Junk")
    assert len(junk) == 1, junk
    header = junk[0][0].decode()
    assert "X-Mailkeep-Verdict: junk;" in header, header
    assert "link-text-mismatch" in header and "shortener" in header and "lookalike-sender" in header
    c.logout()


def test_a_look_alike_of_our_own_domain_is_refused_with_the_reason(mx):
    raw = (PHISH / "phish-30-lookalike-own.eml").read_bytes()
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(mx, raw, mail_from="helpdesk@examp1e.org")
    assert e.value.smtp_code == 550
    assert e.value.smtp_error.startswith(b"5.7.1 "), e.value.smtp_error
    assert b"lookalike-own-domain" in e.value.smtp_error
    c = imap(mx)
    assert messages(c, "INBOX") == [] and messages(c, "Junk") == []
    c.logout()


def test_a_colleagues_name_from_outside_shows_a_banner_in_the_text(mx):
    raw = (b"From: \"Carol White\" <carol.white.office@outlook.com>\r\n"
           b"To: alice@example.org\r\nSubject: Quick favour\r\n\r\n"
           b"Are you at your desk? I need you to buy gift cards today.\r\n")
    send(mx, raw)
    c = imap(mx)
    inbox = messages(c, "INBOX")
    assert len(inbox) == 1
    header, text = inbox[0][0].decode(), inbox[0][1].decode()
    assert "X-Mailkeep-Verdict: warn;" in header and "impersonates-colleague" in header
    assert "X-Mailkeep-Warning: " in header
    banner = ("This message's sender is outside your organisation but uses the name of "
              "Carol White, who works here")
    assert text.startswith("*** Warning from your mail server: " + banner), text
    assert text.endswith("Are you at your desk? I need you to buy gift cards today.\r\n")
    c.logout()


def test_a_verdict_written_by_the_sender_is_removed(mx):
    raw = (b"X-Mailkeep-Verdict: deliver; score=-100.0; bayes=0.000; signals=none\r\n"
           b"X-Mailkeep-Warning: none\r\n"
           b"From: Bob Jones <bob@partner.example>\r\nTo: alice@example.org\r\n"
           b"Subject: Minutes\r\n\r\nThe minutes of today's meeting.\r\n")
    send(mx, raw)
    c = imap(mx)
    inbox = messages(c, "INBOX")
    assert len(inbox) == 1
    header = inbox[0][0].decode()
    assert header.count("X-Mailkeep-Verdict:") == 1 and "score=-100" not in header, header
    assert "X-Mailkeep-Warning" not in header
    assert "X-Mailkeep-Verdict: deliver;" in header
    c.logout()
