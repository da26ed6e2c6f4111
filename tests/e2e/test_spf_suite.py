"""The official RFC 7208 SPF test suite (tests/data/spf), run against mailkeep's SPF
evaluation (`mailkeep check spf`), with each scenario's zone served by a DNS server on loopback."""
import subprocess

import pytest
import yaml

import dnszone
from conftest import BIN, ROOT

SUITE = ROOT / "tests" / "data" / "spf" / "rfc7208-tests.yml"

# Scenarios mailkeep (mail-auth 0.13.3) answers differently, with the reason; each one is
# still run and must keep failing the same way, so a fix shows up as an unexpected pass.
LENIENT = "malformed record accepted instead of permerror"
NAME = "domain name the resolver refuses to ask for: temperror instead of none/permerror/fail/pass"
MULTI = "several SPF records (or V=sPf1 spelled oddly) not detected as permerror"
V6 = "IPv6 / IPv4-mapped address matching differs"
PTR = "ptr mechanism stops at the first name instead of validating all"
VOID = "void-lookup limit (RFC 7208 4.6.4) not enforced"
NULL = "a TXT record with no strings makes the whole answer unreadable (temperror)"
REDIR = "redirect= evaluated despite an earlier syntax problem"
KNOWN = {
    "emptylabel": NAME,
    "helo-domain-literal": NAME,
    "domain-literal": NAME,
    "non-ascii-policy": LENIENT,
    "non-ascii-mech": LENIENT,
    "control-char-policy": LENIENT,
    "null-text": NULL,
    "badip4": LENIENT,
    "multitxt1": MULTI,
    "multitxt2": MULTI,
    "modifier-charset-good": NAME,
    "redirect-after-mechanisms2": REDIR,
    "invalid-domain": LENIENT,
    "invalid-domain-empty-label": NAME,
    "invalid-domain-long": NAME,
    "invalid-domain-long-via-macro": NAME,
    "ptr-match-implicit": PTR,
    "ptr-match-ip6": V6,
    "a-bad-cidr4": LENIENT,
    "a-bad-cidr6": LENIENT,
    "a-dual-cidr-ip4-err": LENIENT,
    "a-bad-domain": LENIENT,
    "a-cidr6-0-ip4mapped": V6,
    "a-null": NAME,
    "a-numeric": LENIENT,
    "a-numeric-toplabel": LENIENT,
    "a-bad-toplabel": NAME,
    "a-only-toplabel": LENIENT,
    "a-only-toplabel-trailing-dot": LENIENT,
    "a-colon-domain": NAME,
    "a-colon-domain-ip4mapped": V6,
    "mx-bad-cidr4": LENIENT,
    "mx-bad-cidr6": LENIENT,
    "mx-bad-domain": LENIENT,
    "mx-cidr6-0-ip4mapped": V6,
    "mx-null": NAME,
    "mx-numeric-top-label": LENIENT,
    "mx-colon-domain": NAME,
    "mx-colon-domain-ip4mapped": V6,
    "mx-bad-toplab": NAME,
    "exists-ip6only": V6,
    "cidr4-33": LENIENT,
    "cidr4-032": LENIENT,
    "cidr6-0-ip4": V6,
    "cidr6-ip4": V6,
    "cidr6-129": LENIENT,
    "redirect-syntax-error": LENIENT,
    "invalid-modifier": LENIENT,
    "empty-modifier-name": LENIENT,
    "exp-syntax-error": LENIENT,
    "macro-mania-in-domain": NAME,
    "p-macro-multiple": NAME,
    "invalid-hello-macro": NAME,
    "hello-domain-literal": NAME,
    "void-over-limit": VOID,
}


def cases():
    if not SUITE.exists():
        return []
    out = []
    for doc in yaml.safe_load_all(SUITE.read_text()):
        for name, t in doc["tests"].items():
            out.append(pytest.param(doc["zonedata"], t, id=name))
    return out


@pytest.fixture(scope="module")
def dns():
    server = dnszone.Server(dnszone.Zone({}))
    yield server
    server.stop()


@pytest.mark.parametrize("zonedata,case", cases())
def test_rfc7208(dns, zonedata, case, request):
    dns.set_zone(dnszone.Zone(zonedata))
    r = subprocess.run([BIN, "check", "spf", "--ip", case["host"], "--helo", case["helo"],
                        "--mail-from", case.get("mailfrom", ""),
                        "--resolver", f"127.0.0.1:{dns.port}", "--dns-timeout", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = r.stdout.split("\n")[0]
    want = case["result"] if isinstance(case["result"], list) else [case["result"]]
    name = request.node.callspec.id
    if name in KNOWN:
        assert got not in want, f"{name} now passes; remove it from KNOWN"
        return
    assert got in want, f"{case.get('description', '')} spec {case.get('spec')}: got {got}, want {want}"
