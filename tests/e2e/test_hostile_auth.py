"""Password guessing that tries to get around the throttle (issue 13, item 3): parallel
guesses, other spellings of the same login name, and failed logins that leave no trace."""
import imaplib
import re
import smtplib
import threading

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir, set_key, wait_for
from test_bruteforce import IMAPFrom


def try_login(im, user, password):
    try:
        im.login(user, password)
        return "OK"
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        try:
            im.logout()
        except Exception:
            pass


def login(server, source, user, password):
    host, port = server.addrs["imaps"]
    return try_login(IMAPFrom(source, host, port), user, password)


def guarded(tmp_path, per_ip, per_account):
    data = data_dir(tmp_path / "data", "alice@example.org", "bob@example.org")
    set_key(data, "max_failures_per_ip", per_ip)
    set_key(data, "max_failures_per_account", per_account)
    set_key(data, "failure_delay_ms", 0)
    set_key(data, "max_connections_per_ip", 100)
    return Server(data)


def test_parallel_guesses_get_only_the_limit(tmp_path):
    srv = guarded(tmp_path, 10, 10)
    try:
        host, port = srv.addrs["imaps"]
        # Forty connections from one address, all sending LOGIN at the same moment: only ten
        # passwords may ever be checked, the other thirty are refused unchecked.
        conns = [IMAPFrom("127.0.0.2", host, port) for _ in range(40)]
        go = threading.Barrier(len(conns))
        answers = [None] * len(conns)

        def guess(n):
            go.wait()
            answers[n] = try_login(conns[n], "bob@example.org", f"guess {n}")

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        checked = [a for a in answers if "AUTHENTICATIONFAILED" in a]
        refused = [a for a in answers if "UNAVAILABLE" in a]
        assert len(checked) == 10 and len(refused) == 30, answers
    finally:
        srv.stop()


def test_another_spelling_of_a_name_shares_its_budget(tmp_path):
    srv = guarded(tmp_path, 100, 3)
    try:
        for n in range(3):
            assert "AUTHENTICATIONFAILED" in login(srv, f"127.0.4.{n + 1}", "bob@example.org",
                                                   "wrong")
        # The trailing dot and upper case are the same account, so the same budget: refused
        # with the right password as well.
        for spelling in ("bob@example.org.", "BOB@Example.ORG", "Bob@EXAMPLE.org."):
            answer = login(srv, "127.0.4.9", spelling, PASSWORD)
            assert "Too many failed logins for this user" in answer, (spelling, answer)
        # A name that is no address is refused without looking anything up.
        assert "AUTHENTICATIONFAILED" in login(srv, "127.0.4.10", "bob", PASSWORD)
        assert login(srv, "127.0.4.10", "alice@example.org.", PASSWORD) == "OK"
        assert wait_for(lambda: any('login="bob" reason=invalid-login-name' in l
                                    for l in srv.log), 10)
    finally:
        srv.stop()


LINE = re.compile(r'^\S+\s+WARN mailkeep::authfail: auth failed proto=(\w+) '
                  r'ip=(\S+) login="([^"]*)" reason=(\S+)$')


def test_every_failed_login_writes_one_fail2ban_line(tmp_path):
    srv = guarded(tmp_path, 100, 100)
    try:
        assert "AUTHENTICATIONFAILED" in login(srv, "127.0.5.1", "alice@example.org", "wrong")
        host, port = srv.addrs["submissions"]
        with smtplib.SMTP_SSL(host, port, context=CTX, source_address=("127.0.5.2", 0)) as s:
            try:
                s.login("Alice@example.org", "wrong")
                raise AssertionError("wrong password accepted")
            except smtplib.SMTPAuthenticationError as e:
                assert e.smtp_code == 535, e

        def lines():
            found = [LINE.match(l.rstrip("\n")) for l in srv.log]
            return [m.groups() for m in found if m]

        want = {("imap", "127.0.5.1", "alice@example.org", "bad-credentials"),
                ("smtp", "127.0.5.2", "Alice@example.org", "bad-credentials")}
        assert wait_for(lambda: want <= set(lines()), 10), "".join(srv.log)
    finally:
        srv.stop()


def test_a_restart_does_not_reset_the_budget_and_an_admin_can_lift_a_block(tmp_path):
    srv = guarded(tmp_path, 3, 100)
    data = srv.data
    try:
        for _ in range(3):
            assert "AUTHENTICATIONFAILED" in login(srv, "127.0.6.1", "bob@example.org", "wrong")
        assert "Too many failed logins from your address" in login(
            srv, "127.0.6.1", "alice@example.org", PASSWORD)
    finally:
        srv.stop()
    # Restarting the server (or crashing it) gives the guesser no fresh budget.
    srv = Server(data)
    try:
        assert "Too many failed logins from your address" in login(
            srv, "127.0.6.1", "alice@example.org", PASSWORD)
        listed = mk(data, "throttle", "list").stdout
        assert "address 127.0.6.1: 3 of 3 failures; REFUSED for 60 more minutes" in listed, listed
        assert "name bob@example.org: 3 of 100 failures; allowed" in listed, listed
        # Clearing another address changes nothing; clearing this one works at once on the
        # running server.
        assert mk(data, "throttle", "clear", "--ip", "127.0.6.2").stdout == "cleared 0 failed logins\n"
        assert "Too many failed logins" in login(srv, "127.0.6.1", "alice@example.org", PASSWORD)
        assert mk(data, "throttle", "clear", "--ip", "127.0.6.1").stdout == "cleared 3 failed logins\n"
        assert login(srv, "127.0.6.1", "alice@example.org", PASSWORD) == "OK"
        assert "no failed logins" in mk(data, "throttle", "list").stdout
        # The clear is on the record.
        audit = mk(data, "audit").stdout
        assert "login throttle cleared for address 127.0.6.1 (3 failures forgotten)" in audit, audit
    finally:
        srv.stop()


def test_a_locked_out_name_can_be_cleared_in_any_spelling(tmp_path):
    srv = guarded(tmp_path, 100, 3)
    try:
        for n in range(3):
            assert "AUTHENTICATIONFAILED" in login(srv, f"127.0.7.{n + 1}", "bob@example.org",
                                                   "wrong")
        assert "Too many failed logins for this user" in login(srv, "127.0.7.9",
                                                               "bob@example.org", PASSWORD)
        bad = mk(srv.data, "throttle", "clear", "--ip", "not-an-address", check=False)
        assert bad.returncode != 0 and "invalid IP address" in bad.stderr, bad.stderr
        assert mk(srv.data, "throttle", "clear", "--account",
                  "BOB@Example.org.").stdout == "cleared 3 failed logins\n"
        assert login(srv, "127.0.7.9", "bob@example.org", PASSWORD) == "OK"
    finally:
        srv.stop()
