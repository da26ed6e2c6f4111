"""Crash torture (issue 6): clients deliver (MX), submit (to a local user and to a remote one,
which stays queued: there is no DNS), APPEND, COPY, MOVE, STORE and EXPUNGE concurrently while
the server is killed with SIGKILL at a random instant; after each restart the harness checks
what was acknowledged:

- every delivered, submitted or appended message is in its account, byte-for-byte as sent
  (below the trace headers the server adds), in INBOX or, once a MOVE of it was acknowledged,
  in Archive and no longer in INBOX;
- an acknowledged EXPUNGE is never undone: those UIDs do not come back;
- UIDs never repeat or go backwards: a UID always names the same message, UIDVALIDITY holds,
  and UIDNEXT stays above every UID seen;
- the outbound queue holds an entry for every acknowledged remote submission;
- `mailkeep journal verify` passes.

With `--power-cut` the server runs on `mailkeep-powercut` (a FUSE file system in memory, see
tools/powercut) and the kill is followed by a power cut: every write not yet fsynced is lost
(a random prefix of them kept, the next possibly torn), as is every name whose directory was
not fsynced since. The checks then run on what a disk would hold after the power came back.

`test_torture.py` runs a few rounds in CI. For a soak run (until Ctrl-C, or --rounds N):

    python tests/e2e/torture.py [--rounds N] [--seed S] [--data DIR] [--power-cut]
"""
import argparse
import imaplib
import os
import random
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import BIN, PASSWORD, Server, mk  # noqa: E402
from mailpeers import CTX, data_dir, set_key  # noqa: E402

ALICE, BOB, REMOTE = "alice@example.org", "bob@example.org", "carol@elsewhere.example"
MARK = re.compile(rb"Message-ID: <([A-Z]-\d+-\d+-\d+)@torture>", re.I)


def payload(marker):
    # "L-" markers are large enough (about 90 KB) to be stored in a segment file rather than
    # inline in the database, so both paths to disk are tortured.
    lines = 3000 if marker.startswith("L-") else 40
    return f"payload of {marker}\r\n" + "".join(f"line {i} of {marker}\r\n" for i in range(lines))


def message(marker, frm, to):
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: torture {marker}\r\n"
            f"Message-ID: <{marker}@torture>\r\n\r\n{payload(marker)}").encode()


class Model:
    """What the server acknowledged, and what it must therefore still show."""

    def __init__(self):
        self.lock = threading.Lock()
        self.delivered = {}          # marker -> account, acknowledged
        self.moved = set()           # markers whose MOVE to Archive was acknowledged
        self.remote = set()          # acknowledged submissions with a remote recipient
        self.expunged = {}           # (account, mailbox) -> UIDs expunged, acknowledged
        self.uids = {}               # (account, mailbox) -> (uidvalidity, {uid: marker})
        self.uidnext = {}            # (account, mailbox) -> highest UIDNEXT seen
        self.ops = 0
        self.cuts = []               # what each power cut lost, as mailkeep-powercut said

    def ack(self, kind, *args):
        with self.lock:
            self.ops += 1
            if kind == "deliver":
                marker, account = args
                self.delivered[marker] = account
            elif kind == "remote":
                self.remote.add(args[0])
            elif kind == "move":
                self.moved.update(args[0])
            elif kind == "expunge":
                key, uids = args
                self.expunged.setdefault(key, set()).update(uids)


def imap_login(srv, user):
    host, port = srv.addrs["imaps"]
    im = imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=10)
    im.login(user, PASSWORD)
    return im


def deliverer(srv, model, rnd, stop, rng):
    host, port = srv.addrs["smtp"]
    n = 0
    with smtplib.SMTP(host, port, timeout=10) as s:
        while not stop.is_set():
            marker = f"{'L' if n % 5 == 4 else 'D'}-{rnd}-{rng.randrange(1 << 30)}-{n}"
            n += 1
            s.sendmail("peer@example.net", [ALICE], message(marker, "peer@example.net", ALICE))
            model.ack("deliver", marker, ALICE)


def submitter(srv, model, rnd, stop, rng):
    host, port = srv.addrs["submissions"]
    n = 0
    with smtplib.SMTP_SSL(host, port, context=CTX, timeout=10) as s:
        s.login(ALICE, PASSWORD)
        while not stop.is_set():
            marker = f"S-{rnd}-{rng.randrange(1 << 30)}-{n}"
            n += 1
            s.sendmail(ALICE, [BOB, REMOTE], message(marker, ALICE, BOB))
            model.ack("deliver", marker, BOB)
            model.ack("remote", marker)


def uid_markers(im):
    """{uid: marker} of the selected mailbox."""
    typ, data = im.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    out = {}
    for item in data:
        if isinstance(item, tuple):
            uid = re.search(rb"UID (\d+)", item[0])
            m = MARK.search(item[1])
            if uid and m:
                out[int(uid.group(1))] = m.group(1).decode()
    return out


def imap_worker(srv, model, rnd, stop, rng):
    im = imap_login(srv, ALICE)
    n = 0
    # Every kind early in each round (a kill may come soon), then at random.
    first = ["append", "copy", "expunge", "move", "store"]
    while not stop.is_set():
        op = first.pop(0) if first else rng.choice(
            ["append", "append", "copy", "move", "store", "expunge"])
        if op == "append":
            marker = f"A-{rnd}-{rng.randrange(1 << 30)}-{n}"
            n += 1
            typ, _ = im.append("INBOX", None, None, message(marker, "me@example.net", ALICE))
            if typ == "OK":
                model.ack("deliver", marker, ALICE)
            continue
        im.select("INBOX")
        inbox = uid_markers(im)
        if not inbox:
            continue
        picked = rng.sample(sorted(inbox), min(3, len(inbox)))
        uids = ",".join(map(str, picked))
        if op == "copy":
            im.uid("COPY", uids, "Trash")
            model.ack("op")
        elif op == "move":
            typ, _ = im.uid("MOVE", uids, "Archive")
            if typ == "OK":
                model.ack("move", [inbox[u] for u in picked])
        elif op == "store":
            im.uid("STORE", uids, "+FLAGS", r"(\Flagged)")
            model.ack("op")
        elif op == "expunge":
            im.select("Trash")
            trash = uid_markers(im)
            if trash:
                gone = sorted(trash)[: max(1, len(trash) // 2)]
                ids = ",".join(map(str, gone))
                im.uid("STORE", ids, "+FLAGS", r"(\Deleted)")
                typ, _ = im.uid("EXPUNGE", ids)
                if typ == "OK":
                    model.ack("expunge", (ALICE, "Trash"), gone)


def body_intact(raw, marker):
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    return body.replace(b"\n", b"\r\n") == payload(marker).encode()


def check(srv, model, full=True, since_round=None):
    """Every acknowledged fact still holds; returns a list of violations."""
    problems = []
    seen = {}  # marker -> set of (account, mailbox)
    for account, boxes in ((ALICE, ["INBOX", "Archive", "Trash"]), (BOB, ["INBOX"])):
        im = imap_login(srv, account)
        for box in boxes:
            typ, data = im.select(box, readonly=True)
            assert typ == "OK", (account, box, data)
            validity = int(im.response("UIDVALIDITY")[1][0])
            uidnext = int(im.response("UIDNEXT")[1][0])
            key = (account, box)
            typ, data = im.uid("FETCH", "1:*", "(BODY.PEEK[])") if full else ("OK", [])
            now = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                m = MARK.search(item[1])
                if not m:
                    continue
                marker = m.group(1).decode()
                now[uid] = marker
                seen.setdefault(marker, set()).add(key)
                if not body_intact(item[1], marker):
                    problems.append(f"{key} UID {uid} ({marker}) is not intact")
            old_validity, old = model.uids.get(key, (validity, {}))
            if old_validity != validity:
                problems.append(f"{key}: UIDVALIDITY changed {old_validity} -> {validity}")
            for uid, marker in now.items():
                if uid in old and old[uid] != marker:
                    problems.append(f"{key}: UID {uid} was {old[uid]}, now {marker}")
                if uid in model.expunged.get(key, ()):
                    problems.append(f"{key}: expunged UID {uid} ({marker}) is back")
            top = max(list(old) + list(now) + [0])
            if uidnext <= top or uidnext < model.uidnext.get(key, 0):
                problems.append(f"{key}: UIDNEXT {uidnext} after UID {top} / "
                                f"earlier UIDNEXT {model.uidnext.get(key)}")
            model.uidnext[key] = uidnext
            merged = dict(old)
            merged.update(now)
            model.uids[key] = (validity, merged)
        im.logout()
    if full:
        for marker, account in model.delivered.items():
            where = seen.get(marker, set())
            inbox, archive = (account, "INBOX") in where, (account, "Archive") in where
            if not (inbox or archive):
                problems.append(f"acknowledged {marker} for {account} is missing")
            elif marker in model.moved and (inbox or not archive):
                problems.append(f"{marker}: its acknowledged MOVE to Archive is undone")
    queued = len(mk(srv.data, "queue", "list").stdout.splitlines())
    if queued < len(model.remote):
        problems.append(f"queue holds {queued} entries; {len(model.remote)} were acknowledged")
    r = mk(srv.data, "journal", "verify", check=False)
    if r.returncode != 0:
        problems.append("journal verify failed:\n" + r.stdout + r.stderr)
    return problems


def prepare(path):
    data = data_dir(path, ALICE, BOB)
    # Many submissions from one account in little time: lift the hourly limit.
    set_key(data, "max_messages_per_hour", 1_000_000)
    return data


POWERCUT = os.environ.get("MAILKEEP_POWERCUT",
                          str(Path(BIN).with_name("mailkeep-powercut")))


class PowerCut:
    """`data` served from memory at a mount point until `cut()`, which kills the power: then
    `data` holds only what was durable."""

    def __init__(self, data, seed):
        self.data = data
        self.mount = data.with_name(data.name + "-mnt")
        self.out = data.with_name(data.name + "-cut")
        self.mount.mkdir(exist_ok=True)
        shutil.rmtree(self.out, ignore_errors=True)
        self.proc = subprocess.Popen(
            [POWERCUT, str(data), str(self.mount), str(self.out), "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("mounted"):
            self.proc.kill()
            raise AssertionError(f"mailkeep-powercut did not mount: {line!r}")

    def say(self, command):
        """Sends the tool a command (`fail-fsync PATH [N]`); returns its answer."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def cut(self):
        """Returns the tool's account of what was lost."""
        out, _ = self.proc.communicate("cut\n", timeout=120)
        assert self.proc.returncode == 0, out
        shutil.rmtree(self.data)
        self.out.rename(self.data)
        return out.strip()


def run_round(data, model, rnd, rng, log=print, power_cut=False, peer=None):
    """One kill round on `data`. With `peer` (another node on the same database, left
    running), half the clients work the peer, and the check goes through it."""
    power = PowerCut(data, rng.randrange(1 << 32)) if power_cut else None
    srv = Server(power.mount if power else data)
    stop = threading.Event()
    workers = [deliverer, deliverer, submitter, imap_worker]
    targets = [srv, peer or srv, peer or srv, srv]
    threads = []
    for w, target in zip(workers, targets):
        def go(w=w, target=target):
            try:
                w(target, model, rnd, stop, random.Random(rng.random()))
            except Exception:
                pass  # the server was killed under it: that operation is unacknowledged
        t = threading.Thread(target=go, daemon=True)
        t.start()
        threads.append(t)
    time.sleep(rng.uniform(0.3, 1.5))
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    if power:
        model.cuts.append(power.cut())
    stop.set()
    for t in threads:
        t.join(15)
    if peer:
        return check(peer, model)
    srv = Server(data)
    try:
        return check(srv, model)
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=0, help="0: until interrupted")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--data", type=Path, help="data directory to create (default: a temp one)")
    ap.add_argument("--fresh-every", type=int, default=25,
                    help="start a new data directory every N rounds (each check reads every "
                         "message, so this bounds a round's time)")
    ap.add_argument("--power-cut", action="store_true",
                    help="after each kill, also lose every write not yet fsynced "
                         "(needs /dev/fuse, root, and mailkeep-powercut built)")
    args = ap.parse_args()
    # Stopped by SIGTERM (or SIGINT where a background start ignores it): the summary still
    # prints.
    def interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    rng = random.Random(args.seed)
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        args.data = Path(tmp.name) / "data"
    base = args.data
    model, rnd, losses, start, ops = None, 0, 0, time.time(), 0
    print(f"seed {args.seed}; data under {base}")
    try:
        while args.rounds == 0 or rnd < args.rounds:
            if rnd % args.fresh_every == 0:
                ops += model.ops if model else 0
                data, model = prepare(base.with_name(f"{base.name}-{rnd}")), Model()
            rnd += 1
            problems = run_round(data, model, rnd, rng, power_cut=args.power_cut)
            losses += len(problems)
            for p in problems:
                print(f"round {rnd}: {p}")
            if args.power_cut:
                print(f"round {rnd}: power cut: {model.cuts[-1]}")
            print(f"rounds {rnd}  acknowledged operations {ops + model.ops}  losses {losses}  "
                  f"({time.time() - start:.0f} s)", flush=True)
    except KeyboardInterrupt:
        pass
    ops += model.ops if model else 0
    print(f"done: {rnd} rounds, {ops} acknowledged operations, {losses} losses")
    return 1 if losses else 0


if __name__ == "__main__":
    os.environ.setdefault("MAILKEEP_DNS_RESOLVER", "none")
    sys.exit(main())
