"""A full disk (issue 6), for real: the data directory on a small tmpfs that fills up. The
server answers `452 4.3.1` (temporary: the client retries) and acknowledges nothing it could
not store; after a SIGKILL and a restart with space freed, every acknowledged message is there,
intact, the journal verifies, and mail flows again — no manual repair."""
import imaplib
import os
import subprocess
import smtplib

import pytest

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"mounting a tmpfs needs root: {r.stderr}"
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def body(n):
    return (f"From: x@example.net\r\nSubject: fill {n}\r\nMessage-ID: <{n}@fill>\r\n\r\n"
            + "".join(f"line {i} of message {n}\r\n" for i in range(300))).encode()


def test_a_full_disk_loses_nothing_acknowledged(small_disk):
    data = data_dir(small_disk / "data", "alice@example.org")
    filler = small_disk / "filler"
    filler.write_bytes(os.urandom(1 << 20))
    srv = Server(data)
    acked, refused = [], []
    with smtplib.SMTP(*srv.addrs["smtp"]) as s:
        for n in range(2000):
            try:
                s.sendmail("x@example.net", ["alice@example.org"], body(n))
                acked.append(n)
            except smtplib.SMTPResponseException as e:
                refused.append((e.smtp_code, e.smtp_error))
                if len(refused) == 3:
                    break
    assert acked and len(refused) == 3, (len(acked), refused)
    assert all(code == 452 and text.startswith(b"4.3.1") for code, text in refused), refused
    # IMAP APPEND on the full disk: refused with the code clients know for "no space".
    with imaplib.IMAP4_SSL(*srv.addrs["imaps"], ssl_context=CTX) as im:
        im.login("alice@example.org", PASSWORD)
        typ, resp = im.append("INBOX", None, None, body(88888))
        assert typ == "NO" and b"[OVERQUOTA]" in resp[0] and b"disk space" in resp[0], resp

    srv.proc.kill()
    srv.proc.wait()
    filler.unlink()
    srv = Server(data)
    try:
        host, port = srv.addrs["imaps"]
        with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
            im.login("alice@example.org", PASSWORD)
            typ, count = im.select("INBOX")
            # Every acknowledged message; at most the one whose reply was lost with the disk
            # (stored, then refused) besides.
            assert int(count[0]) in (len(acked), len(acked) + 1), (count, len(acked))
            typ, data_ = im.fetch(f"1:{len(acked)}", "(BODY.PEEK[])")
            got = [d[1] for d in data_ if isinstance(d, tuple)]
            for n, raw in zip(acked, got):
                assert raw.endswith(body(n).split(b"\r\n\r\n", 1)[1]), n
        with smtplib.SMTP(*srv.addrs["smtp"]) as s:
            s.sendmail("x@example.net", ["alice@example.org"], body(99999))
    finally:
        srv.stop()
    r = mk(data, "journal", "verify", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
