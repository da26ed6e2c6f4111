"""Power cuts and failing fsyncs (issue 6): the server runs on tools/powercut, a FUSE file
system in memory that on a cut keeps only what was fsynced. First the tool itself is shown to
lose exactly that; then kill-and-cut rounds of torture.py show that nothing acknowledged is
lost; then SQLite's own fsync of its log fails under the server."""
import imaplib
import os
import random
import re
import smtplib
from pathlib import Path

import pytest

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir
from torture import POWERCUT, Model, PowerCut, prepare, run_round

pytestmark = pytest.mark.skipif(
    not Path("/dev/fuse").exists() or os.geteuid() != 0,
    reason="needs /dev/fuse and root (the tool mounts with mount(2))")


def write(path, data, sync=True):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_the_file_system_keeps_only_what_was_fsynced(tmp_path):
    assert Path(POWERCUT).exists(), f"build it first: cargo build -p mailkeep-powercut ({POWERCUT})"
    data = tmp_path / "d"
    data.mkdir()
    (data / "seeded").write_bytes(b"from the seed")
    power = PowerCut(data, seed=1)
    m = power.mount
    write(m / "seeded", b", then more", sync=False)     # unsynced append: lost
    write(m / "durable", b"synced file")                 # file and directory synced: kept
    os.mkdir(m / "sub")
    sync_dir(m)
    write(m / "sub" / "orphan", b"synced file, directory not")   # the name is lost
    write(m / "unsynced", b"never synced")               # file and name lost
    write(m / "durable", b" + tail", sync=False)
    os.rename(m / "durable", m / "renamed")              # rename not synced: undone
    assert (m / "renamed").read_bytes() == b"synced file + tail"
    # Unsynced writes may survive in part (a random prefix); unsynced names never do.
    report = power.cut()
    assert re.search(r"\d+ lost", report), report
    names = sorted(p.name for p in data.iterdir())
    assert names == ["durable", "seeded", "sub"], names
    assert (data / "seeded").read_bytes().startswith(b"from the seed")
    assert (data / "durable").read_bytes().startswith(b"synced file")
    assert list((data / "sub").iterdir()) == []
    # Reading through the mount after the cut fails: the power is off.
    assert not power.mount.joinpath("renamed").exists()


def test_acknowledged_state_survives_power_cuts(tmp_path):
    data = prepare(tmp_path / "data")
    model, rng = Model(), random.Random(20261128)
    for rnd in range(1, 9):
        problems = run_round(data, model, rnd, rng, power_cut=True)
        assert problems == [], f"round {rnd}: {problems}\n{model.cuts[-1]}"
    assert model.ops > 40 and len(model.delivered) > 20, (model.ops, len(model.delivered))
    # The cuts really threw writes away (else this would prove nothing).
    lost = sum(int(re.search(r"(\d+) lost", c).group(1)) for c in model.cuts)
    assert lost > 0, model.cuts


def note(n):
    return (f"From: x@example.net\r\nSubject: n{n}\r\nMessage-ID: <{n}@fsync>\r\n\r\n"
            f"body of note {n}\r\n").encode()


def test_a_failed_fsync_of_the_database_log_is_never_acknowledged(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org")
    power = PowerCut(data, seed=3)
    srv = Server(power.mount)
    acked, refused = [], []
    with smtplib.SMTP(*srv.addrs["smtp"]) as s:
        for n in range(5):
            s.sendmail("x@example.net", ["alice@example.org"], note(n))
            acked.append(n)
        # From now on every fsync of SQLite's write-ahead log fails, and what it was to make
        # durable is lost from the disk while the page cache still shows it (as Linux does).
        assert power.say("fail-fsync meta.sqlite-wal 1000").startswith("armed")
        for n in range(5, 8):
            try:
                s.sendmail("x@example.net", ["alice@example.org"], note(n))
                acked.append(n)
            except smtplib.SMTPResponseException as e:
                refused.append((e.smtp_code, e.smtp_error))
    assert acked == list(range(5)), "nothing is acknowledged once an fsync failed"
    assert [c for c, _ in refused] == [451] * 3, refused
    assert all(t.startswith(b"4.3.0") for _, t in refused), refused
    with imaplib.IMAP4_SSL(*srv.addrs["imaps"], ssl_context=CTX) as im:
        im.login("alice@example.org", PASSWORD)
        typ, resp = im.append("INBOX", None, None, note(9))
        assert typ == "NO", resp
    failed = [line for line in srv.log if "group commit failed" in line]
    assert failed and "poison=true" in failed[0], srv.log[-5:]
    srv.proc.kill()
    srv.proc.wait()
    power.cut()
    # After the power comes back: no repair needed, every acknowledged message intact.
    srv = Server(data)
    try:
        with imaplib.IMAP4_SSL(*srv.addrs["imaps"], ssl_context=CTX) as im:
            im.login("alice@example.org", PASSWORD)
            im.select("INBOX", readonly=True)
            typ, got = im.fetch("1:*", "(BODY.PEEK[TEXT])")
            texts = [d[1] for d in got if isinstance(d, tuple)]
            for n in acked:
                assert f"body of note {n}\r\n".encode() in texts, (n, texts)
        with smtplib.SMTP(*srv.addrs["smtp"]) as s:
            s.sendmail("x@example.net", ["alice@example.org"], note(10))
    finally:
        srv.stop()
    r = mk(data, "journal", "verify", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
