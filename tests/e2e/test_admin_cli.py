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
