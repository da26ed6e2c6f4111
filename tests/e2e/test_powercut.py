"""Power cuts (issue 6): the server runs on tools/powercut, a FUSE file system in memory that
on a cut keeps only what was fsynced. First the tool itself is shown to lose exactly that;
then kill-and-cut rounds of torture.py show that nothing acknowledged is lost."""
import os
import random
import re
from pathlib import Path

import pytest

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
