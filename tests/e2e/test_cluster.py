"""Several mailkeep nodes sharing one PostgreSQL database and a 3-node Garage cluster for the
message bodies (issue 15): any node accepts mail for any account, a delivery on one node
reaches IDLE sessions on the others within a second, the journal is one log that verifies from
any node, and an outage of the database (or of one Garage node) loses nothing acknowledged."""
import imaplib
import os
import shutil
import subprocess
import smtplib
import time
import uuid

import pytest
from imapclient import IMAPClient

from conftest import BIN, PASSWORD, Server, mk
from garagecluster import Garage
from mailpeers import listen_on
from pgcluster import PgCluster
from test_mail_path import tls_context

HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")


@pytest.fixture(scope="module")
def pg():
    c = PgCluster()
    yield c
    c.close()


@pytest.fixture(scope="module")
def garage():
    g = Garage()
    yield g
    g.close()


def store_sections(pg, garage, data, name):
    """`[store]` and `[blobs]` for a fresh database `name` and key prefix `name`."""
    url = pg.database(name)
    return (f'\n[store]\nbackend = "postgres"\nurl = "{url}"\n' +
            garage.blobs_section(data / "s3-secret", name))


def message(subject):
    return (f"From: x@example.net\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4()}@example.net>\r\n\r\nbody of {subject}\r\n").encode()


def start_cluster(pg, garage, tmp_path, configure=None):
    """Three nodes on one fresh database and key prefix; each data directory is a copy of one
    template, so that they share the journal key, the TLS certificate and the DKIM keys."""
    template = tmp_path / "template"
    mk(template, "init", "--domain", "example.org")
    name = "c" + uuid.uuid4().hex[:12]
    with open(template / "mailkeep.toml", "a") as f:
        f.write(store_sections(pg, garage, template, name))
    if configure:
        configure(template)
    mk(template, "domain", "add", "example.org")
    for user in ("alice@example.org", "bob@example.org"):
        mk(template, "user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
    nodes = []
    for i, host in enumerate(HOSTS):
        data = tmp_path / f"node{i}"
        shutil.copytree(template, data)
        conf = (data / "mailkeep.toml").read_text()
        (data / "mailkeep.toml").write_text(conf.replace(str(template), str(data)))
        listen_on(data, f"{host}:0", host)
        nodes.append(Server(data))
    return nodes


def stop_cluster(nodes):
    for n in nodes:
        if n.proc.poll() is None:
            n.stop()


@pytest.fixture
def cluster(pg, garage, tmp_path):
    nodes = start_cluster(pg, garage, tmp_path)
    yield nodes
    stop_cluster(nodes)


def imap(node, user="alice@example.org"):
    host, port = node.addrs["imaps"]
    c = IMAPClient(host, port=port, ssl=True, ssl_context=tls_context(node.data), timeout=20)
    c.login(user, PASSWORD)
    return c


def subjects(node):
    c = imap(node)
    c.select_folder("INBOX", readonly=True)
    got = c.fetch("1:*", ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if c.search(["ALL"]) else {}
    c.logout()
    return sorted(v[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
                  for v in got.values())


def test_mail_accepted_by_any_node_is_read_on_every_node(cluster):
    for i, node in enumerate(cluster):
        with smtplib.SMTP(*node.addrs["smtp"]) as s:
            s.sendmail("x@example.net", ["alice@example.org"], message(f"via node {i}"))
    want = [f"via node {i}" for i in range(len(cluster))]
    for node in cluster:
        assert subjects(node) == want
    # An APPEND on one node and deliveries on another take distinct, ascending UIDs.
    c = imap(cluster[2])
    c.append("INBOX", message("appended on node 2"))
    uids = c.select_folder("INBOX") and c.search(["ALL"])
    assert uids == [1, 2, 3, 4], uids
    c.logout()


def test_idle_on_one_node_hears_a_delivery_on_another_within_a_second(cluster):
    c = imap(cluster[2])
    c.select_folder("INBOX")
    c.idle()
    start = time.time()
    with smtplib.SMTP(*cluster[0].addrs["smtp"]) as s:
        s.sendmail("x@example.net", ["alice@example.org"], message("heard across nodes"))
    sent = time.time()
    responses = []
    while time.time() - start < 5 and not any(r[1] == b"EXISTS" for r in responses):
        responses += c.idle_check(timeout=0.1)
    took = time.time() - sent
    c.idle_done()
    c.logout()
    assert any(r[1] == b"EXISTS" for r in responses), responses
    assert took < 1.0, f"node 2 heard of node 0's delivery after {took:.2f} s"


def test_the_journal_is_one_log_that_verifies_from_any_node(cluster):
    for i, node in enumerate(cluster):
        with smtplib.SMTP(*node.addrs["smtp"]) as s:
            s.sendmail("x@example.net", ["alice@example.org", "bob@example.org"],
                       message(f"journaled {i}"))
    cp = mk(cluster[0].data, "journal", "checkpoint").stdout
    kept = cluster[0].data / "kept.txt"
    kept.write_text(cp)
    for node in cluster:
        r = mk(node.data, "journal", "verify", "--from", str(kept))
        assert "journal verified" in r.stdout, r.stdout
    # Every delivery is in it once, whichever node took it.
    audit = mk(cluster[1].data, "audit", "--json").stdout
    assert audit.count('"kind":"delivered"') == 6, audit


def test_a_database_outage_is_answered_try_again_later_and_loses_nothing(cluster, pg):
    acked = []
    with smtplib.SMTP(*cluster[0].addrs["smtp"]) as s:
        s.sendmail("x@example.net", ["alice@example.org"], message("before the outage"))
        acked.append("before the outage")
    pg.stop()
    try:
        # SMTP: a temporary failure, never a 250 for mail that was not stored.
        with smtplib.SMTP(*cluster[1].addrs["smtp"], timeout=30) as s:
            with pytest.raises((smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)) as e:
                s.sendmail("x@example.net", ["alice@example.org"], message("during the outage"))
            err = e.value
            codes = ([c for c, _ in err.recipients.values()]
                     if isinstance(err, smtplib.SMTPRecipientsRefused) else [err.smtp_code])
            assert all(400 <= c < 500 for c in codes), err
        # IMAP: NO [UNAVAILABLE] at login, a reason the client can show.
        host, port = cluster[2].addrs["imaps"]
        im = imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(cluster[2].data), timeout=30)
        with pytest.raises(imaplib.IMAP4.error) as e:
            im.login("alice@example.org", PASSWORD)
        assert "UNAVAILABLE" in str(e.value), e.value
    finally:
        pg.start()
    # The nodes reconnect by themselves: within a few attempts mail flows again.
    deadline = time.time() + 20
    while True:
        try:
            with smtplib.SMTP(*cluster[1].addrs["smtp"], timeout=30) as s:
                s.sendmail("x@example.net", ["alice@example.org"], message("after the outage"))
            acked.append("after the outage")
            break
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError):
            assert time.time() < deadline, "the nodes did not reconnect"
            time.sleep(0.5)
    for node in cluster:
        for _ in range(10):
            try:
                got = subjects(node)
                break
            except imaplib.IMAP4.error:
                time.sleep(0.5)
        assert got == sorted(acked), (node.data, got)


def test_an_embedded_store_of_10000_messages_moves_into_the_cluster_proved_by_the_journal(
        pg, garage, tmp_path):
    """`migrate-store` copies a stopped node's store (metadata into PostgreSQL, bodies into
    Garage), then proves the copy: same journal leaves and head as a checkpoint signed before
    the copy, every body read back and checked. The node then serves the same mail."""
    from mailpeers import data_dir
    data = data_dir(tmp_path / "old", "alice@example.org")
    mbox = tmp_path / "old.mbox"
    with open(mbox, "wb") as f:
        for i in range(10_000):
            f.write(b"From x@example.net Tue Nov 24 10:00:00 2026\n"
                    b"From: x@example.net\nSubject: old %d\n\nbody %d\n\n" % (i, i))
    mk(data, "import", "--account", "alice@example.org", str(mbox))
    name = "m" + uuid.uuid4().hex[:12]
    url = pg.database(name)
    secret = tmp_path / "s3-secret"
    sections = f'\n[store]\nbackend = "postgres"\nurl = "{url}"\n' + garage.blobs_section(secret, name)
    r = subprocess.run([BIN, "--data", str(data), "migrate-store", "--to", url,
                        "--blobs", f"s3://{garage.env['S3_BUCKET']}/{name}",
                        "--s3-endpoint", garage.endpoints[0], "--s3-region", "garage",
                        "--s3-key-id", garage.env["S3_KEY_ID"], "--s3-secret-file", str(secret)],
                       capture_output=True, text=True, timeout=900,
                       env={**os.environ, "MAILKEEP_LOG": "warn"})
    assert r.returncode == 0, r.stderr
    assert "the copy's journal has the source's" in r.stdout, r.stdout
    assert "verified:" in r.stdout and "10000 bodies" in r.stdout, r.stdout
    kept = data / "migrated-checkpoint.txt"
    assert kept.exists()
    # Every body went to the object store, none into the database.
    assert pg.psql("SELECT count(*) FILTER (WHERE data IS NULL AND object_key IS NOT NULL) "
                   "|| ' ' || count(*) FROM blobs", db=name) == "10000 10000"
    # The cut-over: point the node at the database and the bucket.
    with open(data / "mailkeep.toml", "a") as f:
        f.write(sections)
    listen_on(data, f"{HOSTS[0]}:0", HOSTS[0])
    (data / "meta.sqlite").rename(data / "meta.sqlite.migrated")   # nothing may read it now
    node = Server(data)
    try:
        c = imap(node)
        info = c.select_folder("INBOX", readonly=True)
        assert info[b"EXISTS"] == 10_000
        msg = c.fetch([9_999], ["BODY.PEEK[]"])[9_999][b"BODY[]"]
        assert b"Subject: old 9998" in msg and b"body 9998" in msg
        c.logout()
        v = mk(data, "journal", "verify", "--from", str(kept), timeout=600)
        assert "journal verified" in v.stdout, v.stdout
    finally:
        node.stop()


def test_a_node_killed_during_delivery_loses_nothing_it_acknowledged(cluster):
    """SIGKILL of a node while clients deliver through it: every message it answered 250
    is on the other nodes, and the journal still verifies."""
    import threading
    acked, stop = [], threading.Event()

    def sender(n):
        i = 0
        while not stop.is_set():
            subject = f"kill {n}-{i}"
            try:
                with smtplib.SMTP(*cluster[0].addrs["smtp"], timeout=10) as s:
                    s.sendmail("x@example.net", ["alice@example.org"], message(subject))
                acked.append(subject)
            except (OSError, smtplib.SMTPException):
                return
            i += 1

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    cluster[0].proc.kill()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 10, acked
    got = set(subjects(cluster[1]))
    missing = [a for a in acked if a not in got]
    assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
    v = mk(cluster[2].data, "journal", "verify")
    assert "journal verified" in v.stdout, v.stdout


def test_search_on_one_node_finds_mail_delivered_on_another_at_once(cluster):
    """Each node keeps its own full-text index, fed from the shared bodies in order; what it
    has not indexed yet is read, so a search is exact the moment the mail is acknowledged."""
    with smtplib.SMTP(*cluster[0].addrs["smtp"]) as s:
        s.sendmail("x@example.net", ["alice@example.org"],
                   message("quarterly zanzibar report"))
    c = imap(cluster[2])
    c.select_folder("INBOX", readonly=True)
    assert len(c.search(["BODY", "zanzibar"])) == 1
    c.logout()
    r = mk(cluster[1].data, "discover", "search", "zanzibar", "--json")
    assert len([l for l in r.stdout.splitlines() if l.strip()]) == 1, r.stdout


def test_every_node_works_the_queue_and_no_message_is_sent_twice(pg, garage, tmp_path,
                                                                  monkeypatch):
    """Mail submitted on any node goes out from whichever node claims it first; the peer
    records every delivery, and each recipient gets each message exactly once."""
    import dnszone
    from mailpeers import ScriptedMX, free_port, set_key, submit, wait_for
    port = free_port("127.0.0.4")
    dns = dnszone.Server(dnszone.Zone({"peer.test": [{"A": "127.0.0.4"}]}))
    monkeypatch.setenv("MAILKEEP_DNS_RESOLVER", f"127.0.0.1:{dns.port}")
    peer = ScriptedMX(port, [])

    def outbound(data):
        set_key(data, "port", str(port))
        set_key(data, "retry_initial_secs", "1")

    nodes = start_cluster(pg, garage, tmp_path, outbound)
    try:
        want = []
        for i in range(30):
            submit(nodes[i % 3], [f"r{i}@peer.test"], f"queued-{i}")
            want.append(f"queued-{i}")
        got = wait_for(lambda: len(peer.received) >= len(want) and peer.received, timeout=60)
        assert got, f"only {len(peer.received)} of {len(want)} deliveries arrived"
        time.sleep(3)   # a second sending of any of them would arrive by now
        subjects = [next(l for l in m.split(b"\r\n") if l.startswith(b"Subject: "))
                    .split(b": ", 1)[1].decode() for m in peer.received]
        assert sorted(subjects) == sorted(want), sorted(subjects)
    finally:
        stop_cluster(nodes)
        peer.stop()
        dns.stop()


def test_a_node_killed_while_sending_holds_its_lease_until_it_expires(pg, garage, tmp_path,
                                                                      monkeypatch):
    """A node SIGKILLed while it waits for the peer's answer to DATA still holds the
    recipient's lease: no other node sends the message before the lease expires (two live
    senders would deliver it twice); once it has, a surviving node sends it, once."""
    import dnszone
    from mailpeers import ScriptedMX, free_port, set_key, submit, wait_for
    port = free_port("127.0.0.4")
    dns = dnszone.Server(dnszone.Zone({"peer.test": [{"A": "127.0.0.4"}]}))
    monkeypatch.setenv("MAILKEEP_DNS_RESOLVER", f"127.0.0.1:{dns.port}")
    peer = ScriptedMX(port, ["stall"])
    lease = 8 * 3 + 60   # the server's lease: 8 replies' timeouts and a minute

    def outbound(data):
        set_key(data, "port", str(port))
        set_key(data, "retry_initial_secs", "1")
        set_key(data, "timeout_secs", "3")

    nodes = start_cluster(pg, garage, tmp_path, outbound)
    try:
        submit(nodes[0], ["r@peer.test"], "leased")
        assert peer.stalled.wait(30), "no node sent the message"
        out = subprocess.run(["ss", "-tnpH", "state", "established", "dst",
                              f"127.0.0.4:{port}"], capture_output=True, text=True).stdout
        sender = next(n for n in nodes if f"pid={n.proc.pid}," in out)
        killed = time.monotonic()
        sender.proc.kill()
        sender.proc.wait()
        assert wait_for(lambda: peer.received, timeout=lease + 60), "never sent after the lease"
        waited = time.monotonic() - killed
        assert waited > lease - 15, f"sent again {waited:.0f} s after the kill, inside the lease"
        time.sleep(3)
        assert len(peer.received) == 1 and peer.connections == 2, peer.connections
        survivor = next(n for n in nodes if n is not sender)
        assert "journal verified" in mk(survivor.data, "journal", "verify").stdout
    finally:
        stop_cluster(nodes)
        peer.stop()
        dns.stop()


def test_the_hourly_sending_limit_is_one_limit_across_nodes(pg, garage, tmp_path):
    """Submissions are counted in the database: spreading them over nodes does not multiply
    the limit."""
    from mailpeers import set_key, submit
    nodes = start_cluster(pg, garage, tmp_path,
                          lambda d: set_key(d, "max_messages_per_hour", "3"))
    try:
        for i in range(3):
            submit(nodes[i], ["bob@example.org"], f"within the limit {i}")
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            submit(nodes[0], ["bob@example.org"], "one too many")
        assert e.value.smtp_code == 451 and b"limit of 3" in e.value.smtp_error, e.value
    finally:
        stop_cluster(nodes)


def test_crash_torture_on_two_nodes(pg, garage, tmp_path):
    """tests/e2e/torture.py's kill rounds on two nodes sharing the database: clients work
    both, one is SIGKILLed each round, and what either acknowledged is checked through the
    other (bodies intact, UIDs stable, moves and expunges kept, the queue, journal verify)."""
    import random
    from mailpeers import set_key
    from torture import ALICE, BOB, Model, run_round
    template = tmp_path / "template"
    mk(template, "init", "--domain", "example.org")
    listen_on(template, "127.0.0.1:0", "127.0.0.1")
    set_key(template, "max_messages_per_hour", 1_000_000)
    with open(template / "mailkeep.toml", "a") as f:
        f.write(store_sections(pg, garage, tmp_path, "t" + uuid.uuid4().hex[:12]))
    mk(template, "domain", "add", "example.org")
    for user in (ALICE, BOB):
        mk(template, "user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(template, a)
    shutil.copytree(template, b)
    model, rng = Model(), random.Random(20261206)
    peer = Server(b)
    try:
        for rnd in range(1, 5):
            problems = run_round(a, model, rnd, rng, peer=peer)
            assert problems == [], f"round {rnd}: {problems}"
    finally:
        peer.stop()
    assert model.ops > 50 and len(model.delivered) > 20, (model.ops, len(model.delivered))


def database_of(node):
    conf = (node.data / "mailkeep.toml").read_text()
    return conf.split('url = "', 1)[1].split('"', 1)[0].rsplit("/", 1)[1]


def bodies(node):
    """Every message's full text in INBOX (read from the object store), by subject."""
    c = imap(node)
    c.select_folder("INBOX", readonly=True)
    got = c.fetch("1:*", ["BODY.PEEK[]"]) if c.search(["ALL"]) else {}
    c.logout()
    out = {}
    for v in got.values():
        m = v[b"BODY[]"]
        subject = next(l for l in m.split(b"\r\n") if l.startswith(b"Subject: "))
        out[subject.split(b": ", 1)[1].decode()] = m
    return out


def test_one_garage_node_stopped_during_delivery_loses_nothing(cluster, garage, pg):
    """Clients deliver through all three nodes while one Garage node is killed: the other two
    are a quorum, so mail flows; every acknowledged message reads back whole from every node,
    no body is in the database, and the journal (which reads every body) verifies."""
    import threading
    acked, failed, stop = [], [], threading.Event()

    def sender(n):
        i = 0
        while not stop.is_set():
            subject = f"garage {n}-{i}"
            try:
                with smtplib.SMTP(*cluster[n % 3].addrs["smtp"], timeout=30) as s:
                    s.sendmail("x@example.net", ["alice@example.org"], message(subject))
                acked.append(subject)
            except smtplib.SMTPException as e:
                failed.append(repr(e))
            i += 1

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.5)
        before = len(acked)
        garage.stop_node(2)
        time.sleep(3)
        during = len(acked) - before
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        garage.start_node(2)
    assert during > 5, f"only {during} messages were accepted with one Garage node down"
    assert not failed, failed[:3]
    for node in cluster:
        got = bodies(node)
        missing = [a for a in acked if a not in got]
        assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
        for a in acked:
            assert f"body of {a}".encode() in got[a], a
    assert pg.psql("SELECT count(*) FROM blobs WHERE data IS NOT NULL",
                   db=database_of(cluster[0])) == "0"
    v = mk(cluster[1].data, "journal", "verify")
    assert "journal verified" in v.stdout, v.stdout
