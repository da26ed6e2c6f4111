"""Online backup (issue 5): taken while the server accepts mail, consistent at one journal
size, incremental, restorable; the restored copy proves itself complete with `journal verify`
against the checkpoint taken with it, and serves."""
import imaplib
import re
import shutil
import smtplib
import threading

from conftest import PASSWORD, Server, mk
from mailpeers import CTX, data_dir


def test_backup_while_serving_restores_and_verifies(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org")
    srv = Server(data)
    host, port = srv.addrs["smtp"]
    big = "\r\n".join(["segment line of a large message"] * 3000)

    def send(first, count):
        with smtplib.SMTP(host, port) as s:
            for n in range(first, first + count):
                body = big if n % 10 == 0 else f"body {n}"
                s.sendmail("x@example.net", ["alice@example.org"],
                           f"From: x@example.net\r\nSubject: n{n}\r\n\r\n{body}\r\n".encode())

    send(0, 50)
    sender = threading.Thread(target=send, args=(50, 300))
    sender.start()
    out = tmp_path / "backup"
    r = mk(data, "backup", "--out", str(out))
    midflight = tmp_path / "midflight"
    shutil.copytree(out, midflight)
    sender.join()
    size = int(re.search(r"journal size (\d+)", r.stdout).group(1))
    assert size > 50
    # Incremental: a second run copies only what was appended since.
    first_copy = int(re.search(r"\((\d+) segment bytes", r.stdout).group(1))
    r2 = mk(data, "backup", "--out", str(out))
    second_copy = int(re.search(r"\((\d+) segment bytes", r2.stdout).group(1))
    assert first_copy > 0 and second_copy < first_copy * 10
    srv.stop()
    # The copy taken while mail was arriving restores and verifies.
    restored = tmp_path / "restored"
    first = tmp_path / "first"
    r = mk(first, "restore", "--from", str(midflight))
    assert "journal verify --from" in r.stdout
    v = mk(first, "journal", "verify", "--from", str(first / "checkpoint.txt"))
    assert "journal verified" in v.stdout, v.stdout
    assert mk(first, "restore", "--from", str(out), check=False).returncode != 0, "not over data"
    db_count = mk(first, "discover", "status").stdout.split()[0]
    assert 50 <= int(db_count) <= 350
    mk(restored, "restore", "--from", str(out))
    s2 = Server(restored)
    try:
        host, port = s2.addrs["imaps"]
        with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
            im.login("alice@example.org", PASSWORD)
            typ, d = im.select("INBOX")
            assert int(d[0]) == 350, d
            typ, d = im.fetch("1", "(BODY[])")
            assert b"segment line of a large message" in d[0][1]
    finally:
        s2.stop()
    assert mk(restored, "journal", "verify").returncode == 0
    assert mk(data, "audit").stdout.count(f"(backup to {out})") == 2
