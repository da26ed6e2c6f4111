"""Helpers shared by the outbound tests: instances on loopback, a scripted peer MX, polling."""
import imaplib
import re
import smtplib
import socket
import ssl
import threading
import time

from conftest import PASSWORD, mk

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listen_on(data, smtp_addr, host):
    cfg = data / "mailkeep.toml"
    text = cfg.read_text()
    for port in ("2587", "2465", "2143", "2993"):
        text = text.replace(f"127.0.0.1:{port}", f"{host}:0")
    text = text.replace("127.0.0.1:2525", smtp_addr)
    cfg.write_text(text)


def set_key(data, key, value):
    cfg = data / "mailkeep.toml"
    text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", cfg.read_text())
    cfg.write_text(text)


def fetch_all(server, user, mailbox="INBOX"):
    host, port = server.addrs["imaps"]
    with imaplib.IMAP4_SSL(host, port, ssl_context=CTX) as im:
        im.login(user, PASSWORD)
        im.select(mailbox)
        _, data = im.search(None, "ALL")
        out = []
        for n in data[0].split():
            _, d = im.fetch(n, "(BODY.PEEK[])")
            out.append(d[0][1])
        return out


def wait_for(pred, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        r = pred()
        if r:
            return r
        time.sleep(0.3)
    return pred()


def message(frm, to, subject):
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.org>\r\n"
            f"\r\nHello {subject}.\r\n  \r\n\t\r\n").encode()


class ScriptedMX:
    """A peer MX on 127.0.0.4 that follows a script, one entry per connection:
    "451" refuses RCPT with 451, "drop" closes the connection in the middle of DATA,
    "ok" accepts, "stall" takes the whole message and never answers (until the client goes
    away; `stalled` is set then). It keeps what it accepted."""

    def __init__(self, port, script, host="127.0.0.4"):
        self.script = list(script)
        self.received = []
        self.connections = 0
        self.stalled = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            mode = self.script.pop(0) if self.script else "ok"
            try:
                self.session(conn.makefile("rwb"), mode)
            except OSError:
                pass
            conn.close()

    def session(self, f, mode):
        def say(line):
            f.write(line.encode() + b"\r\n")
            f.flush()
        say("220 mx.flaky.test ESMTP scripted")
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                say("250-mx.flaky.test")
                say("250 8BITMIME")
            elif cmd.startswith(b"MAIL"):
                say("250 2.1.0 ok")
            elif cmd.startswith(b"RCPT"):
                say("451 4.3.0 try again later" if mode == "451" else "250 2.1.5 ok")
            elif cmd == b"DATA":
                say("354 go ahead")
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    chunk = f.readline()
                    if not chunk:
                        return
                    data += chunk
                    if mode == "drop" and len(data) > 20:
                        return  # the connection dies mid-DATA
                if mode == "stall":
                    self.stalled.set()
                    while f.readline():
                        pass
                    return
                self.received.append(data)
                say("250 2.0.0 queued")
            elif cmd == b"QUIT":
                say("221 bye")
                return
            else:
                say("250 ok")

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def submit(server, rcpts, subject):
    host, port = server.addrs["submissions"]
    with smtplib.SMTP_SSL(host, port, context=CTX) as s:
        s.login("alice@example.org", PASSWORD)
        s.sendmail("alice@example.org", rcpts, message("alice@example.org", rcpts[0], subject))


def data_dir(path, *users, domain="example.org"):
    """A data directory for `domain` with every listener on a free loopback port and these
    users (password PASSWORD)."""
    mk(path, "init", "--domain", domain)
    listen_on(path, "127.0.0.1:0", "127.0.0.1")
    for u in users:
        mk(path, "user", "add", u, "--password-stdin", stdin=PASSWORD + "\n")
    return path
