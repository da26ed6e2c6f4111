"""Where the queue sends mail (RFC 5321 §5.1, RFC 7505): MX preference order, the A fallback,
null MX and domains that do not exist — with a DNS server on loopback that answers exactly
what each case needs."""
import dnszone
from conftest import PASSWORD, Server, mk
from mailpeers import ScriptedMX, fetch_all, free_port, listen_on, set_key, submit, wait_for


def test_mx_order_a_fallback_null_mx_and_nxdomain(tmp_path, monkeypatch):
    port = free_port("127.0.0.4")
    zone = dnszone.Zone({
        "order.test": [{"MX": [20, "backup.order.test"]}, {"MX": [10, "primary.order.test"]}],
        "primary.order.test": [{"A": "127.0.0.4"}],
        "backup.order.test": [{"A": "127.0.0.7"}],
        "amx.test": [{"A": "127.0.0.4"}],            # no MX: the domain itself is the host
        "nullmx.test": [{"MX": [0, "."]}],            # "accepts no mail" (RFC 7505)
        "deadmx.test": [{"MX": [10, "gone.deadmx.test"]}],   # MX host without an address
    })
    dns = dnszone.Server(zone)
    monkeypatch.setenv("MAILKEEP_DNS_RESOLVER", f"127.0.0.1:{dns.port}")
    data = tmp_path / "a"
    mk(data, "init", "--domain", "example.org")
    listen_on(data, "127.0.0.1:0", "127.0.0.1")
    set_key(data, "port", str(port))
    set_key(data, "retry_initial_secs", "1")
    mk(data, "user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    primary = ScriptedMX(port, ["ok"] * 4)
    backup = ScriptedMX(port, ["ok"] * 4, host="127.0.0.7")
    srv = Server(data)
    try:
        submit(srv, ["a@order.test"], "preferred")
        submit(srv, ["b@amx.test"], "fallback")
        submit(srv, ["c@nullmx.test"], "nullmx")
        submit(srv, ["d@nxdomain.test"], "nxdomain")
        submit(srv, ["e@deadmx.test"], "deadmx")
        got = wait_for(lambda: len(primary.received) >= 2 and primary.received)
        assert got and sorted(b"preferred" in m for m in got) == [False, True]
        assert backup.connections == 0, "the lower preference (higher number) is not tried first"
        bounces = wait_for(lambda: (lambda b: len(b) >= 3 and b)(
            [m for m in fetch_all(srv, "alice@example.org") if b"Undelivered" in m]))
        text = b"\n".join(bounces or [])
        assert b"c@nullmx.test" in text and b"Status: 5.1.10" in text, text
        assert b"d@nxdomain.test" in text and b"e@deadmx.test" in text
        assert text.count(b"Status: 5.1.2") == 2, text
    finally:
        srv.stop()
        primary.stop()
        backup.stop()
        dns.stop()
