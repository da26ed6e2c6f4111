"""Fixtures: the real mailkeep binary serving a temp data directory on loopback."""

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("MAILKEEP_BIN", str(ROOT / "target" / "debug" / "mailkeep"))
# No server under test may ask the system's resolver; tests that need DNS start their own
# and override this per server; "none" makes every lookup fail at once.
os.environ.setdefault("MAILKEEP_DNS_RESOLVER", "none")
PASSWORD = "correct horse battery"


def mk(data, *args, stdin=None, check=True, timeout=60):
    r = subprocess.run([BIN, "--data", str(data), *args], input=stdin, capture_output=True,
                       text=True, env={**os.environ, "MAILKEEP_LOG": "warn"}, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"mailkeep {args} failed: {r.stderr}")
    return r


class Server:
    def __init__(self, data, log="info"):
        self.data = data
        self.proc = subprocess.Popen([BIN, "--data", str(data), "serve"], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "MAILKEEP_LOG": log})
        self.addrs = {}
        self.log = []
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r'listening listener="?(\w+)"? addr=([\d.]+):(\d+)', line)
                if m:
                    self.addrs[m.group(1)] = (m.group(2), int(m.group(3)))
                    if len(self.addrs) == 5:
                        ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(30):
            self.proc.kill()
            raise AssertionError("server did not start:\n" + "".join(self.log))

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(40) == 0


def start_server(tmp_path, users=("alice@example.org", "bob@example.org"), aliases=()):
    """A data directory for example.org with `users` (password PASSWORD) and `aliases`
    ((alias, target) pairs), served on free loopback ports."""
    data = tmp_path / "data"
    mk(data, "init", "--domain", "example.org")
    cfg = data / "mailkeep.toml"
    text = cfg.read_text()
    for port in ("2525", "2587", "2465", "2143", "2993"):
        text = text.replace(f"127.0.0.1:{port}", "127.0.0.1:0")
    cfg.write_text(text)
    for user in users:
        mk(data, "user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
    for alias, target in aliases:
        mk(data, "alias", "add", alias, target)
    return Server(data)


@pytest.fixture
def server(tmp_path):
    s = start_server(tmp_path, aliases=[("sales@example.org", "alice@example.org")])
    yield s
    if s.proc.poll() is None:
        s.stop()
