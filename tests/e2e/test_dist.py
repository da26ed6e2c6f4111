"""The shipped systemd unit parses (systemd-analyze verify), keeps its hardening, and names the
same data directory as the profile snippet the administrator's commands read."""

import re
import shutil
import subprocess

import pytest

from conftest import BIN, ROOT

UNIT = ROOT / "dist" / "mailkeep.service"


def test_unit_is_hardened_and_names_one_data_directory():
    text = UNIT.read_text()
    for line in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "UMask=0077"):
        assert f"\n{line}\n" in text, line
    data = re.search(r"^Environment=MAILKEEP_DATA=(\S+)$", text, re.M).group(1)
    assert f"\nReadWritePaths={data}\n" in text
    assert f"MAILKEEP_DATA={data}" in (ROOT / "dist" / "mailkeep.sh").read_text()
    assert f"MAILKEEP_DATA={data}" in (ROOT / "README.md").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_parses(tmp_path):
    unit = tmp_path / "mailkeep.service"
    # verify wants the executable to exist: point it at the binary under test.
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/mailkeep", BIN))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "mailkeep.service" not in r.stderr, r.stderr
