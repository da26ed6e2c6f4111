"""Everything mailkeep writes under its data directory, and every backup, restore and export,
is owner-only (directories 0700, files 0600) even when started with a umask that lets everyone
read; `fsck` warns about anything looser it finds."""

import os
import stat
import subprocess

from conftest import BIN, PASSWORD


def run(data, *args, stdin=None):
    # umask 0: without explicit modes every file would come out 0666 and every directory 0777.
    r = subprocess.run([BIN, "--data", str(data), *args], input=stdin, capture_output=True,
                       text=True, env={**os.environ, "MAILKEEP_LOG": "warn"}, timeout=120,
                       preexec_fn=lambda: os.umask(0))
    assert r.returncode == 0, f"mailkeep {args}: {r.stderr}"
    return r


def too_open(root):
    loose = []
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
            loose.append(f"{path} {stat.S_IMODE(st.st_mode):o}")
    return loose


def test_data_backup_restore_and_export_are_private_whatever_the_umask(tmp_path):
    data = tmp_path / "data"
    run(data, "init", "--domain", "example.org")
    run(data, "user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    mbox = tmp_path / "in.mbox"
    # One body large enough for a segment file, two kept in the database.
    bodies = ["a large body line\n" * 4000, "small\n", "small too\n"]
    mbox.write_text("".join(
        f"From x@example.net Fri Nov 27 10:00:00 2026\nFrom: x@example.net\n"
        f"Subject: private {n}\n\n{body}\n" for n, body in enumerate(bodies)))
    os.chmod(mbox, 0o644)
    run(data, "import", "--account", "alice@example.org", "--mailbox", "Old", str(mbox))
    assert too_open(data) == []

    backup = tmp_path / "backup"
    run(data, "backup", "--out", str(backup))
    assert too_open(backup) == []

    restored = tmp_path / "restored"
    run(restored, "restore", "--from", str(backup))
    assert too_open(restored) == []

    export = tmp_path / "export"
    run(data, "discover", "export", "subject:private", "--out", str(export))
    assert len(list(export.glob("*.eml"))) == 3
    assert too_open(export) == []

    r = run(data, "fsck")
    assert "WARNING" not in r.stdout, r.stdout
    seg = next((data / "blobs").glob("*.seg"))
    os.chmod(seg, 0o644)
    os.chmod(data / "keys", 0o755)
    r = run(data, "fsck")
    assert f"WARNING: {seg} has mode 644" in r.stdout, r.stdout
    assert f"WARNING: {data / 'keys'} has mode 755" in r.stdout, r.stdout
