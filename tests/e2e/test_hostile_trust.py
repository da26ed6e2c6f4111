"""Trust leaks (issue 13 item 6): forged Authentication-Results claiming our authserv-id in
any spelling, ARC-Authentication-Results with our id, and malformed RCPT paths. Add a case:
one line in FORGED or BAD_PATHS."""
import smtplib

from imapclient import IMAPClient

from conftest import PASSWORD
from test_mail_path import tls_context

# Our authserv-id is the host name, mail.example.org.
FORGED = [
    "Authentication-Results: mail.example.org; dkim=pass header.d=example.org",
    "Authentication-Results: (c) mail.example.org; dkim=pass",
    "Authentication-Results: \"mail.example.org\"; dkim=pass",
    "Authentication-Results: mail.example.org.; dkim=pass",
    "Authentication-Results: mail.example.org 1; dkim=pass",
    "Authentication-Results: MAIL.EXAMPLE.ORG; dkim=pass",
    "Authentication-Results: mail.ex\u0430mple.org; dkim=pass",
    "Authentication-Results: maii.example.org; dkim=pass",
    "Authentication-Results:\r\n mail.example.org; dkim=pass",
    "ARC-Authentication-Results: i=1; mail.example.org; dmarc=pass",
]
KEPT = "Authentication-Results: relay.example.net; spf=pass"

BAD_PATHS = ["<<bob@example.org>>", "<bob@example.org>>", "< bob@example.org>",
             "<bob@@example.org>", "<bob@example.org><x>", "bob@example.org",
             "<bob@example.org.>", "<<>>"]


def test_forged_results_removed(server):
    body = ("\r\n".join(FORGED + [KEPT]) + "\r\nFrom: x@ext.test\r\nSubject: forged\r\n"
            "\r\nhello\r\n").encode()
    with smtplib.SMTP(*server.addrs["smtp"]) as smtp:
        smtp.ehlo("client.ext.test")
        smtp.sendmail("x@ext.test", ["bob@example.org"], body, mail_options=["SMTPUTF8"])
    with IMAPClient(server.addrs["imaps"][0], port=server.addrs["imaps"][1], ssl=True,
                    ssl_context=tls_context(server.data)) as c:
        c.login("bob@example.org", PASSWORD)
        c.select_folder("INBOX")
        [uid] = c.search(["ALL"])
        head = c.fetch([uid], ["BODY.PEEK[HEADER]"])[uid][b"BODY[HEADER]"].decode()
    fields = [l for l in head.split("\r\n") if l and not l[0].isspace()]
    ar = [l for l in fields if "authentication-results" in l.lower().split(":")[0]]
    assert len(ar) == 2, head  # ours (first) and the relay's
    assert ar[1] == KEPT, head
    assert "dkim=pass" not in head and "dmarc=pass" not in head, head


def test_malformed_rcpt_paths_refused(server):
    with smtplib.SMTP(*server.addrs["smtp"]) as smtp:
        smtp.ehlo("client.ext.test")
        smtp.mail("x@ext.test")
        for p in BAD_PATHS:
            smtp.putcmd("RCPT", "TO:" + p)
            code, text = smtp.getreply()
            assert (code, text[:5]) == (501, b"5.1.3"), (p, code, text)
        assert smtp.rcpt("<bob@example.org>")[0] == 250
