"""`mailkeep quickstart`: the printed instructions work as printed."""

import os
import re
import signal
import subprocess
import time

from conftest import BIN


def start_quickstart(tmp_path):
    proc = subprocess.Popen([BIN, "quickstart"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items() if k != "MAILKEEP_DATA"})
    out = []
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if line.startswith("Stop with Ctrl-C"):
            break
    text = "".join(out)
    # Wait until the server listens.
    logs = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        logs.append(line)
        if "listening" in line and "imaps" in line:
            break
    return proc, text


def run_printed(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, timeout=60)


def test_quickstart_instructions_work(tmp_path):
    proc, text = start_quickstart(tmp_path)
    try:
        assert "created" in text and "demo@example.test" in text, text
        lines = text.splitlines()
        send = next(l.strip() for l in lines if "smtp://" in l)
        read = next(l.strip() for l in lines if "imaps://" in l)
        r = run_printed(send)
        assert r.returncode == 0, r.stderr
        r = run_printed(read)
        assert r.returncode == 0, r.stderr
        assert b"It works." in r.stdout and b"Subject: Hello from quickstart" in r.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(40) == 0
    assert (tmp_path / "mailkeep-data" / "FORMAT").exists()

    # Again: the same data and credentials are reused, and the first message is still there.
    proc, text2 = start_quickstart(tmp_path)
    try:
        assert "reusing" in text2
        pw1 = re.search(r"password: (\S+)", text).group(1)
        pw2 = re.search(r"password: (\S+)", text2).group(1)
        assert pw1 == pw2
        read = next(l.strip() for l in text2.splitlines() if "imaps://" in l)
        r = run_printed(read)
        assert b"It works." in r.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0
