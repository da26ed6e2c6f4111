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
