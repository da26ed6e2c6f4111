"""Administrator commands answer mistakes with a clear reason and a non-zero exit."""

import os
import subprocess

from conftest import BIN, PASSWORD, mk


def test_audit_of_an_unknown_account_fails(tmp_path):
    data = tmp_path / "data"
    mk(data, "init", "--domain", "example.org")
    mk(data, "user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    r = mk(data, "audit", "--account", "nobody@example.org", check=False)
    assert r.returncode != 0
    assert "no such account: nobody@example.org" in r.stderr, r.stderr
    assert "account-created" in mk(data, "audit", "--account", "alice@example.org").stdout


def test_check_spf_without_a_resolver_says_so(tmp_path):
    base = [BIN, "check", "spf", "--ip", "192.0.2.1", "--helo", "x.test"]
    env = {**os.environ, "MAILKEEP_DNS_RESOLVER": "none"}
    r = subprocess.run(base, capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode != 0
    assert "check spf needs DNS" in r.stderr and "--resolver HOST:PORT" in r.stderr, r.stderr
    r = subprocess.run([*base, "--resolver", "dns.example:53"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode != 0 and "expected HOST:PORT with an IP address" in r.stderr, r.stderr


def test_alias_del_removes_the_alias_journals_it_and_keeps_its_mail(tmp_path):
    data = tmp_path / "data"
    mk(data, "init", "--domain", "example.org")
    mk(data, "user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    mk(data, "alias", "add", "sales@example.org", "alice@example.org")
    mk(data, "alias", "add", "@example.org", "alice@example.org")
    r = mk(data, "alias", "del", "Sales@Example.org")
    assert "deleted alias sales@example.org -> alice@example.org" in r.stdout, r.stdout
    mk(data, "alias", "del", "@example.org")
    sources = [line.split(" -> ")[0] for line in mk(data, "alias", "list").stdout.splitlines()]
    assert sources == ["postmaster@example.org"], sources
    r = mk(data, "alias", "del", "sales@example.org", check=False)
    assert r.returncode != 0 and "no alias sales@example.org" in r.stderr, r.stderr
    audit = mk(data, "audit").stdout
    assert "alias-deleted" in audit and "sales@example.org -> alice@example.org" in audit, audit
    assert mk(data, "journal", "verify").returncode == 0


def test_domain_del_refuses_while_users_remain_and_force_keeps_their_mail(tmp_path):
    import smtplib
    from conftest import Server
    from mailpeers import data_dir
    data = data_dir(tmp_path / "data", "alice@example.org")
    mk(data, "domain", "add", "other.example")
    mk(data, "user", "add", "carol@other.example", "--password-stdin", stdin=PASSWORD + "\n")
    mk(data, "alias", "add", "@other.example", "alice@example.org")
    srv = Server(data)
    try:
        with smtplib.SMTP(*srv.addrs["smtp"]) as c:
            c.sendmail("x@example.net", ["carol@other.example"],
                       b"From: x@example.net\r\nSubject: keep me\r\n\r\nhi\r\n")
        r = mk(data, "domain", "del", "Other.Example.", check=False)
        assert r.returncode != 0, r.stdout
        assert "other.example still has 1 users (carol@other.example)" in r.stderr, r.stderr
        assert "--force" in r.stderr
        r = mk(data, "domain", "del", "other.example", "--force")
        assert r.stdout.splitlines() == [
            "deleted user carol@other.example", "deleted alias @other.example",
            "deleted alias postmaster@other.example",
            f"deleted domain other.example (its DKIM keys stay in {data / 'keys'})"], r.stdout
        assert mk(data, "domain", "list").stdout.split() == ["example.org"]
        # The running server no longer takes mail for it: relaying is refused.
        with smtplib.SMTP(*srv.addrs["smtp"]) as c:
            c.ehlo()
            c.mail("x@example.net")
            code, text = c.rcpt("carol@other.example")
            assert code == 554, (code, text)
    finally:
        srv.stop()
    # Nothing was lost: the journal still verifies and the deletions are on record.
    assert mk(data, "journal", "verify").returncode == 0
    audit = mk(data, "audit").stdout
    assert "domain-deleted" in audit and "account-deleted" in audit, audit
    found = mk(data, "discover", "search", "subject:keep").stdout
    assert "carol@other.example" in found, found
    # Added again, it starts empty; a domain with no users goes without --force.
    mk(data, "domain", "add", "other.example")
    assert mk(data, "user", "list").stdout.split() == ["alice@example.org"]
    assert "deleted domain other.example" in mk(data, "domain", "del", "other.example").stdout
    r = mk(data, "domain", "del", "other.example", check=False)
    assert r.returncode != 0 and "no domain other.example" in r.stderr, r.stderr


def test_a_new_data_directory_does_not_log_schema_migrations(tmp_path):
    # A migration line at info level is news for an administrator upgrading; on a store that
    # was just created, or on every later start, it is noise that hides the lines that matter.
    data = tmp_path / "data"
    env = {**os.environ, "MAILKEEP_LOG": "info"}
    for args in (["init", "--domain", "example.org"], ["user", "list"]):
        r = subprocess.run([BIN, "--data", str(data), *args], capture_output=True, text=True,
                           env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "migrated store schema" not in r.stderr, (args, r.stderr)


def json_lines(r):
    import json
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_reports_come_as_json_lines_from_the_admin_api(tmp_path):
    """`--json` prints what `mailkeep_core::admin` returns, through serde: one object a line,
    RFC 3339 times, the same fields whatever the command."""
    data = tmp_path / "data"
    mk(data, "init", "--domain", "example.org")
    mk(data, "domain", "add", "example.net")
    assert (data / "keys" / "dkim-example.net-ed25519.pem").exists()
    mk(data, "user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    mk(data, "alias", "add", "sales@example.org", "alice@example.org")
    mk(data, "user", "app-password", "add", "alice@example.org", "--name", "phone", "--scope", "imap")
    mk(data, "hold", "add", "--account", "alice@example.org", "--reason", "case 7")

    users = json_lines(mk(data, "user", "list", "--json"))
    assert [u["address"] for u in users] == ["alice@example.org"]
    assert users[0]["created"].endswith("Z") and "T" in users[0]["created"], users
    assert [d["name"] for d in json_lines(mk(data, "domain", "list", "--json"))] == \
        ["example.net", "example.org"]
    aliases = json_lines(mk(data, "alias", "list", "--json"))
    assert {"source": "sales@example.org", "target": "alice@example.org"} in aliases, aliases
    (phone,) = json_lines(mk(data, "user", "app-password", "list", "alice@example.org", "--json"))
    assert (phone["name"], phone["scope"]) == ("phone", "imap") and "secret" not in phone
    (hold,) = json_lines(mk(data, "hold", "list", "--json"))
    assert (hold["account"], hold["reason"], hold["released"]) == \
        ("alice@example.org", "case 7", None)
    assert json_lines(mk(data, "queue", "list", "--all", "--json")) == []
    events = json_lines(mk(data, "audit", "--json"))
    assert {"domain-created", "account-created", "alias-created", "hold-set"} <= \
        {e["kind"] for e in events}, {e["kind"] for e in events}
    assert all(set(e) == {"leaf", "time", "kind", "actor_kind", "actor", "origin", "account",
                          "mailbox", "uid", "mail_from", "recipients", "detail"} for e in events)
    assert json_lines(mk(data, "throttle", "list", "--json")) == []
    (report,) = json_lines(mk(data, "journal", "verify", "--json"))
    assert report["leaves"] == len(events) and report["problems"] == [], report
    (cp,) = json_lines(mk(data, "journal", "checkpoint", "--json"))
    assert cp["size"] == len(events) and len(cp["root"]) == 64 and cp["time"].endswith("Z"), cp
    assert cp["note"].splitlines()[1] == str(len(events)), cp["note"]
    # Text stays text.
    assert mk(data, "user", "list").stdout.split() == ["alice@example.org"]
