"""Password guessing (issue 6): failed logins are throttled per client address and per user
name, across IMAP and SMTP AUTH; once the limit is reached even the right password is refused,
so an attacker gets at most the configured number of guesses per window; every failure and
every block is in the audit record."""
import imaplib
import json
import smtplib
import socket

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir, set_key


class IMAPFrom(imaplib.IMAP4_SSL):
    """IMAP over TLS from a chosen loopback source address."""

    def __init__(self, source, host, port):
        self.source = source
        super().__init__(host, port, ssl_context=CTX)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def login(server, source, user, password):
    """The IMAP tagged response to LOGIN: ('OK'|'NO', text)."""
    host, port = server.addrs["imaps"]
    im = IMAPFrom(source, host, port)
    try:
        im.login(user, password)
        return "OK", ""
    except imaplib.IMAP4.error as e:
        return "NO", str(e)
    finally:
        try:
            im.logout()
        except Exception:
            pass


def test_guessing_is_throttled_per_address_and_per_user(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org", "bob@example.org")
    set_key(data, "max_failures_per_ip", 4)
    set_key(data, "max_failures_per_account", 6)
    set_key(data, "failure_delay_ms", 20)
    srv = Server(data)
    try:
        # One address: twenty guesses, of which only the first four are even checked.
        answers = [login(srv, "127.0.0.2", "alice@example.org", f"guess {n}") for n in range(20)]
        checked = [a for a in answers if "AUTHENTICATIONFAILED" in a[1]]
        refused = [a for a in answers if "UNAVAILABLE" in a[1]]
        assert len(checked) == 4 and len(refused) == 16, answers
        assert "Too many failed logins from your address" in refused[0][1]
        # The right password from that address is refused too, on IMAP and on SMTP AUTH.
        status, text = login(srv, "127.0.0.2", "alice@example.org", PASSWORD)
        assert status == "NO" and "UNAVAILABLE" in text, text
        host, port = srv.addrs["submissions"]
        with smtplib.SMTP_SSL(host, port, context=CTX, source_address=("127.0.0.2", 0)) as s:
            try:
                s.login("alice@example.org", PASSWORD)
                raise AssertionError("AUTH accepted from a blocked address")
            except smtplib.SMTPAuthenticationError as e:
                assert e.smtp_code == 454 and b"4.7.0" in e.smtp_error, e
        # Another address is not affected.
        assert login(srv, "127.0.0.3", "alice@example.org", PASSWORD) == ("OK", "")

        # One user name, guessed from many addresses: refused everywhere after six failures,
        # the right password included; other users are not affected.
        for n in range(6):
            assert "AUTHENTICATIONFAILED" in login(srv, f"127.0.1.{n + 1}", "bob@example.org",
                                                   "wrong")[1]
        status, text = login(srv, "127.0.2.1", "bob@example.org", PASSWORD)
        assert status == "NO" and "Too many failed logins for this user" in text, text
        assert login(srv, "127.0.2.1", "alice@example.org", PASSWORD) == ("OK", "")
    finally:
        srv.stop()

    audit = [json.loads(l) for l in mk(data, "audit", "--json").stdout.splitlines()]
    details = [a.get("detail", "") for a in audit]
    assert sum("imap login failed" in d for d in details) == 4 + 6, details
    blocks = [a for a in audit if "logins refused" in a.get("detail", "")]
    assert len(blocks) == 2, blocks
    assert any("127.0.0.2" in json.dumps(b) for b in blocks)
