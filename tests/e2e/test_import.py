"""`mailkeep import`: the 6,046 real messages of tests/data/corpus as a tree of Maildirs, read
back over IMAP with BODYSTRUCTURE, ENVELOPE and BODY[] for every one; an mbox; re-runs."""

import re
import tarfile
import time

from conftest import ROOT, Server, mk
from test_imap_ops import login, ok

CORPUS = ROOT / "tests" / "data" / "corpus" / "spamassassin-public-corpus.tar.gz"


def to_crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def test_corpus_maildir_tree_imports_and_reads_back(server, tmp_path):
    tree = tmp_path / "Maildir"
    originals = {}
    with tarfile.open(CORPUS) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            folder, name = member.name.split("/", 1)
            data = tar.extractfile(member).read()
            target = tree / folder / "cur" / (name + ":2,S")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            originals.setdefault(folder, []).append((name + ":2,S", data))
    assert sum(len(v) for v in originals.values()) == 6046

    server.stop()
    start = time.time()
    r = mk(server.data, "import", "--account", "bob@example.org", str(tree))
    took = time.time() - start
    assert "imported 6046 messages" in r.stdout, r.stdout + r.stderr
    # Indexed as part of the import, every body (the corpus holds no two alike).
    assert re.search(r"indexed 6046 message bodies in [\d.]+ s", r.stdout), r.stdout
    print(f"imported and indexed 6046 messages in {took:.1f} s")
    again = mk(server.data, "import", "--account", "bob@example.org", str(tree))
    assert "imported 0 messages" in again.stdout and "6046 already there" in again.stdout

    s = Server(server.data)
    try:
        imap = login(s, "bob@example.org")
        for folder, files in sorted(originals.items()):
            typ, data = imap.select(folder, readonly=True)
            assert typ == "OK", (folder, data)
            count = int(data[0])
            assert count == len(files)
            files.sort()  # maildir order = name order = UID order
            for lo in range(1, count + 1, 500):
                hi = min(count, lo + 499)
                typ, data = imap.fetch(f"{lo}:{hi}", "(BODY.PEEK[])")
                assert typ == "OK", data
                bodies = [part[1] for part in data if isinstance(part, tuple)]
                assert len(bodies) == hi - lo + 1, (folder, lo, len(bodies))
                for i, body in enumerate(bodies):
                    name, original = files[lo - 1 + i]
                    assert body == to_crlf(original), (folder, name)
                # Structure and envelope of every message, however broken its MIME.
                typ, data = imap.fetch(f"{lo}:{hi}", "(FLAGS BODYSTRUCTURE ENVELOPE)")
                assert typ == "OK", data
                seen = set()
                for item in data:
                    head = item[0] if isinstance(item, tuple) else item
                    m = re.match(rb"(\d+) \(", head or b"")
                    if m:
                        assert b"FLAGS (\\Seen \\Recent)" in head, head[:200]
                        seen.add(int(m.group(1)))
                assert seen == set(range(lo, hi + 1)), (folder, lo)
        imap.logout()
    finally:
        s.stop()
    # Discovery reads all of them; what cannot be parsed is counted and named, never skipped.
    status = mk(server.data, "discover", "status").stdout
    first = status.splitlines()[0]
    assert first.startswith("6046 message(s), deleted included;") and "0 unreadable" in first, status
    assert "full-text index: 6046 message bodies indexed, 0 not yet" in status, status
    # A word from the corpus, found through the index in each message that has it.
    hits = mk(server.data, "discover", "search", "subject:razor", "--json").stdout.splitlines()
    expected = sum(1 for files in originals.values() for _, raw in files
                   if re.search(rb"^Subject:[^\n]*\brazor\b",
                                re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0], re.I | re.M))
    assert expected > 0 and len(hits) == expected, (len(hits), expected)
    # The journal holds a record of every imported message and verifies end to end.
    r = mk(server.data, "journal", "verify")
    assert "6046 mailbox entries, 6046 message bodies" in r.stdout, r.stdout


def test_mbox_import(server, tmp_path):
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(
        b"From someone@example.net Tue Nov 24 10:00:00 2026\n"
        b"From: someone@example.net\nSubject: first\n\nHello\n>From here\n\n"
        b"From other@example.net Wed Nov 25 11:30:00 2026\n"
        b"From: other@example.net\nSubject: second\n\nBye\n")
    server.stop()
    r = mk(server.data, "import", "--account", "alice@example.org", "--mailbox", "Old/Mail",
           str(mbox))
    assert "imported 2 messages" in r.stdout, r.stdout + r.stderr
    bad = mk(server.data, "import", "--account", "nobody@example.org", str(mbox), check=False)
    assert bad.returncode != 0 and "no such user" in bad.stderr
    s = Server(server.data)
    try:
        imap = login(s)
        ok(imap.select("Old/Mail"))
        data = ok(imap.fetch("1:2", "(INTERNALDATE BODY.PEEK[])"))
        assert b'"24-Nov-2026 10:00:00 +0000"' in data[0][0]
        assert data[0][1] == b"From: someone@example.net\r\nSubject: first\r\n\r\nHello\r\nFrom here\r\n"
        assert data[2][1].endswith(b"Bye\r\n")
        imap.logout()
        # While serving, import works beside the server, and still imports nothing twice.
        again = mk(s.data, "import", "--account", "alice@example.org", "--mailbox", "Old/Mail",
                   str(mbox))
        assert "importing beside it" in again.stderr, again.stderr
        assert "imported 0 messages" in again.stdout, again.stdout
    finally:
        s.stop()


def test_maildir_folder_names_in_modified_utf7(server, tmp_path):
    """Dovecot/Courier keep non-ASCII folder names in modified UTF-7 on disk."""
    root = tmp_path / "Maildir"
    for folder in ("", ".Entw&APw-rfe", ".Archiv.2002"):
        d = root / folder / "cur" if folder else root / "cur"
        d.mkdir(parents=True)
        (root / folder / "new").mkdir(exist_ok=True)
        (root / folder / "tmp").mkdir(exist_ok=True)
        (d / "1.host:2,S").write_bytes(b"Subject: x\n\nbody\n")
    server.stop()
    r = mk(server.data, "import", "--account", "bob@example.org", str(root))
    assert "imported 3 messages" in r.stdout, r.stdout
    s = Server(server.data)
    try:
        imap = login(s, "bob@example.org")
        listing = b"\n".join(d for d in imap.list()[1] if d)
        assert b'"Entw&APw-rfe"' in listing or b" Entw&APw-rfe" in listing, listing
        assert b"Archiv/2002" in listing
        typ, data = imap.select('"Entw&APw-rfe"')
        assert typ == "OK" and data == [b"1"]
        imap.logout()
    finally:
        s.stop()


def test_refused_folder_names_and_unreadable_files_fail_the_import(server, tmp_path):
    """Folders whose names IMAP CREATE refuses, and files that cannot be read, are listed and
    make the import fail; everything else is still imported."""
    root = tmp_path / "Maildir"
    # Maildir++ ".Foo..Bar" is Foo//Bar (an empty level); ".Bell\x07" has a control character.
    for folder in ("", ".Good", ".Foo..Bar", ".Bell\x07"):
        d = root / folder / "cur" if folder else root / "cur"
        d.mkdir(parents=True)
        (root / folder / "new").mkdir(exist_ok=True)
        (root / folder / "tmp").mkdir(exist_ok=True)
        (d / "1.host:2,S").write_bytes(b"Subject: x\n\nbody\n")
    # Unreadable whoever runs the test (root reads through chmod 000): a dangling link.
    (root / "cur" / "2.host:2,").symlink_to(tmp_path / "gone")
    server.stop()
    r = mk(server.data, "import", "--account", "bob@example.org", str(root), check=False)
    assert r.returncode != 0, r.stdout
    assert "imported 2 messages" in r.stdout, r.stdout
    assert 'NOT IMPORTED: folder "Foo//Bar": invalid mailbox name: empty hierarchy level' \
        in r.stdout, r.stdout
    assert "NOT IMPORTED: folder \"Bell\\u{7}\": invalid mailbox name: contains a control" \
        in r.stdout, r.stdout
    assert "NOT IMPORTED: unreadable: " in r.stdout and "2.host:2," in r.stdout, r.stdout
    assert "NOT IMPORTED: 2 message(s) in the folders refused above" in r.stdout, r.stdout
    assert "1 unreadable file(s), 2 folder(s)" in r.stderr, r.stderr
    # An empty target mailbox is refused the same way.
    mbox = tmp_path / "one.mbox"
    mbox.write_bytes(b"From x Fri Nov 27 10:00:00 2026\nSubject: y\n\nbody\n")
    r = mk(server.data, "import", "--account", "bob@example.org", "--mailbox", "/", str(mbox),
           check=False)
    assert r.returncode != 0 and 'folder "": invalid mailbox name: empty' in r.stdout, r.stdout
    s = Server(server.data)
    try:
        imap = login(s, "bob@example.org")
        listing = b"\n".join(d for d in imap.list()[1] if d)
        assert b"Good" in listing and b"Foo" not in listing and b"Bell" not in listing, listing
        imap.logout()
    finally:
        s.stop()
