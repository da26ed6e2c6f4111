"""A server whose stderr reader goes away (`mailkeep serve 2>&1 | head`, a log collector that
restarts) keeps serving: log lines it cannot write are dropped, and SIGTERM still ends it
cleanly."""

import imaplib
import os
import re
import signal
import smtplib
import subprocess

from conftest import BIN, PASSWORD, mk
from mailpeers import CTX


def init(tmp_path):
    data = tmp_path / "data"
    mk(data, "init", "--domain", "example.org")
    cfg = data / "mailkeep.toml"
    text = cfg.read_text()
    for port in ("2525", "2587", "2465", "2143", "2993"):
        text = text.replace(f"127.0.0.1:{port}", "127.0.0.1:0")
    cfg.write_text(text)
    mk(data, "user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    return data


def start(data):
    """Starts serve with stderr on a pipe, reads it until every listener is up, returns the
    process and the addresses; the caller closes the pipe."""
    proc = subprocess.Popen([BIN, "--data", str(data), "serve"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL,
                            env={**os.environ, "MAILKEEP_LOG": "debug"})
    addrs = {}
    while len(addrs) < 5:
        line = proc.stderr.readline().decode()
        assert line, "server exited before listening"
        m = re.search(r'listening listener="?(\w+)"? addr=([\d.]+):(\d+)', line)
        if m:
            addrs[m.group(1)] = (m.group(2), int(m.group(3)))
    return proc, addrs


def use(addrs, rounds):
    for i in range(rounds):
        host, port = addrs["imaps"]
        with imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=10) as c:
            c.login("alice@example.org", PASSWORD)
            assert c.select("INBOX")[0] == "OK"
        host, port = addrs["smtp"]
        with smtplib.SMTP(host, port, timeout=10) as s:
            s.ehlo("client.test")
            s.sendmail("x@remote.test", ["alice@example.org"],
                       f"From: x@remote.test\r\nSubject: {i}\r\n\r\nhello {i}\r\n")


def test_closed_stderr_pipe_neither_kills_nor_hangs_the_server(tmp_path):
    data = init(tmp_path)
    proc, addrs = start(data)
    try:
        use(addrs, 1)
        # The reader goes away: every later log line meets EPIPE.
        proc.stderr.close()
        # Enough sessions to log far more than a pipe buffer holds.
        use(addrs, 30)
        assert proc.poll() is None, "the server died with its log reader"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # Everything acknowledged is there after the restart.
    data_check = mk(data, "fsck")
    assert data_check.returncode == 0


def test_a_full_stderr_pipe_does_not_block_the_server(tmp_path):
    # A reader that never reads: the pipe fills (64 KiB) and writes would block.
    data = init(tmp_path)
    proc, addrs = start(data)
    try:
        use(addrs, 60)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
