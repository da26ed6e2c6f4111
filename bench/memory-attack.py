#!/usr/bin/env python3
"""Memory under a flood of large unauthenticated messages (issue 13, item 1).

Starts mailkeep on a fresh data directory, then opens CONNS connections from IPS loopback
source addresses (127.0.1.1 ...): half SMTP sessions that stream a SIZE_MB message to a local
user as fast as loopback allows and end it (so it is read back and stored), half IMAP
connections that announce `a LOGIN {52428799}` and stream the literal anyway. Meanwhile a
legitimate user on 127.0.0.250 logs in over IMAPS, reads, and submits a message, again and
again. The server's resident memory is sampled every 20 ms.

    python3 bench/memory-attack.py [--bin target/release/mailkeep] [--conns 200] [--ips 20]
                                   [--size-mb 50]

Prints the baseline and peak RSS, the peak per attacking connection, what the legitimate user
saw, and what the attackers got through. Loopback only; it stops by itself.
"""
import argparse
import imaplib
import os
import re
import smtplib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PASSWORD = "correct horse battery"
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE
LINE = b"x" * 998 + b"\r\n"


def mk(binary, data, *args, stdin=None):
    subprocess.run([binary, "--data", str(data), *args], input=stdin, text=True, check=True,
                   capture_output=True, env={**os.environ, "MAILKEEP_LOG": "warn"})


def start(binary, data):
    mk(binary, data, "init", "--domain", "example.org")
    cfg = data / "mailkeep.toml"
    text = re.sub(r"127\.0\.0\.1:2\d\d\d", "127.0.0.1:0", cfg.read_text())
    cfg.write_text(text)
    for user in ("alice@example.org", "bob@example.org"):
        mk(binary, data, "user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
    proc = subprocess.Popen([binary, "--data", str(data), "serve"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "MAILKEEP_LOG": "warn,mailkeep=info",
                                 "MAILKEEP_DNS_RESOLVER": "none"})
    addrs, ready = {}, threading.Event()

    def pump():
        for line in proc.stderr:
            m = re.search(r'listening listener="?(\w+)"? addr=([\d.]+):(\d+)', line)
            if m:
                addrs[m.group(1)] = (m.group(2), int(m.group(3)))
                if len(addrs) == 5:
                    ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(30):
        proc.kill()
        sys.exit("server did not start")
    return proc, addrs


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith(field)).split()[1])


def recv_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def smtp_attacker(addr, source, size, stats):
    try:
        sock = socket.create_connection(addr, source_address=(source, 0), timeout=600)
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO attacker.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(b"MAIL FROM:<x@attacker.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
        replies = [f.readline() for _ in range(3)]
        if not replies[2].startswith(b"354"):
            stats["smtp_refused"].append(replies)
            return
        sock.sendall(b"From: x@example.net\r\nSubject: flood\r\n\r\n")
        chunk, sent = LINE * 1000, 0
        while sent + len(chunk) <= size:
            sock.sendall(chunk)
            sent += len(chunk)
        sock.sendall(b".\r\n")
        stats["smtp_bytes"].append(sent)
        stats["smtp_final"].append(f.readline()[:3].decode(errors="replace"))
        sock.close()
    except OSError as e:
        stats["smtp_errors"].append(repr(e))


def imap_attacker(addr, source, size, stats):
    sent = 0
    try:
        sock = socket.create_connection(addr, source_address=(source, 0), timeout=600)
        recv_line(sock)
        sock.sendall(b"a LOGIN {52428799}\r\n")
        chunk = b"p" * (1 << 20)
        while sent < size:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    stats["imap_bytes"].append(sent)


def legitimate(addrs, stop, stats):
    host, port = addrs["imaps"]
    while not stop.is_set():
        t = time.time()
        try:
            with imaplib.IMAP4_SSL(host, port, ssl_context=CTX, timeout=60) as im:
                im.login("alice@example.org", PASSWORD)
                stats["login"].append(time.time() - t)
                im.select("INBOX")
                im.fetch("1:*", "(FLAGS)")
            t = time.time()
            with smtplib.SMTP_SSL(*addrs["submissions"], context=CTX, timeout=60,
                                  source_address=("127.0.0.250", 0)) as c:
                c.login("alice@example.org", PASSWORD)
                c.sendmail("alice@example.org", ["alice@example.org"],
                           b"From: alice@example.org\r\nSubject: still here\r\n\r\nhi\r\n")
            stats["submit"].append(time.time() - t)
        except (OSError, imaplib.IMAP4.error, smtplib.SMTPException) as e:
            stats["legit_errors"].append(repr(e))
        stop.wait(1)


def main():
    ap = argparse.ArgumentParser()
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--bin", default=str(root / "target" / "release" / "mailkeep"))
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--ips", type=int, default=20)
    ap.add_argument("--size-mb", type=int, default=50)
    args = ap.parse_args()
    size = args.size_mb * 1_000_000  # under the default 50 MiB limit: messages are taken
    with tempfile.TemporaryDirectory() as tmp:
        proc, addrs = start(args.bin, Path(tmp) / "data")
        with smtplib.SMTP(*addrs["smtp"]) as c:
            c.sendmail("x@example.net", ["alice@example.org"], b"From: x@example.net\r\nSubject: seed\r\n\r\nhello\r\n")
        time.sleep(1)
        baseline = rss_kib(proc.pid)
        samples, stop_sampling = [], threading.Event()

        def sample():
            while not stop_sampling.is_set():
                samples.append(rss_kib(proc.pid))
                time.sleep(0.02)

        stats = {k: [] for k in ("smtp_bytes", "smtp_final", "smtp_refused", "smtp_errors",
                                 "imap_bytes", "login", "submit", "legit_errors")}
        sampler = threading.Thread(target=sample)
        sampler.start()
        stop_legit = threading.Event()
        legit = threading.Thread(target=legitimate, args=(addrs, stop_legit, stats))
        legit.start()
        threads = []
        for i in range(args.conns):
            source = f"127.0.1.{1 + i % args.ips}"
            if i % 2 == 0:
                t = threading.Thread(target=smtp_attacker, args=(addrs["smtp"], source, size, stats))
            else:
                t = threading.Thread(target=imap_attacker, args=(addrs["imap"], source, size, stats))
            threads.append(t)
        began = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        duration = time.time() - began
        time.sleep(2)
        stop_legit.set()
        legit.join()
        stop_sampling.set()
        sampler.join()
        hwm = rss_kib(proc.pid, "VmHWM")
        proc.terminate()
        proc.wait(60)
    peak = max(samples)
    finals = {c: stats["smtp_final"].count(c) for c in sorted(set(stats["smtp_final"]))}
    print(f"connections: {args.conns} from {args.ips} addresses, {args.size_mb} MB each "
          f"({args.conns // 2} SMTP DATA, {args.conns - args.conns // 2} IMAP pre-login literals)")
    print(f"attack: {duration:.1f} s; SMTP streamed {sum(stats['smtp_bytes']) / 2**30:.2f} GiB, "
          f"end-of-data replies {finals}, refused before DATA {len(stats['smtp_refused'])}, "
          f"errors {len(stats['smtp_errors'])}; IMAP literal bytes the server read before "
          f"closing: {sum(stats['imap_bytes']) / 2**20:.1f} MiB in all")
    print(f"server RSS: baseline {baseline / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB "
          f"(VmHWM {hwm / 1024:.1f} MiB), peak above baseline per attacking connection "
          f"{(peak - baseline) / args.conns:.0f} KiB")
    for k in ("login", "submit"):
        v = stats[k]
        if v:
            print(f"legitimate {k}: {len(v)} ok, p50 {statistics.median(v) * 1000:.0f} ms, "
                  f"max {max(v) * 1000:.0f} ms")
    print(f"legitimate errors: {len(stats['legit_errors'])} {stats['legit_errors'][:3]}")


if __name__ == "__main__":
    main()
