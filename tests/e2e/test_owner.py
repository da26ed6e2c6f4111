"""The data directory holds every account's mail and password hash (issue 6): only its owner
may enter it, so admin commands need the owner; a server opening a directory that lets others
in closes it."""
import os
import stat
import subprocess

from conftest import BIN, Server, mk
from mailpeers import data_dir


def test_only_the_owner_gets_in(tmp_path):
    # A place that user nobody can reach, so that only the data directory's own mode counts.
    base = tmp_path / "open"
    base.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(base, 0o755)
    data = data_dir(base / "data", "alice@example.org")
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    r = subprocess.run(["runuser", "-u", "nobody", "--", BIN, "--data", str(data), "user", "list"],
                       capture_output=True, text=True)
    assert r.returncode != 0, r.stdout
    assert "run mailkeep as the user that owns it" in r.stderr, r.stderr

    os.chmod(data, 0o755)
    srv = Server(data)
    srv.stop()
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert any("was open to other users" in l for l in srv.log)
    assert "alice@example.org" in mk(data, "user", "list").stdout
