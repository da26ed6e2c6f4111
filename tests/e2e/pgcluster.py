"""A throwaway PostgreSQL cluster for the cluster tests: initdb in a temporary directory, the
server on a free port on 127.0.0.1, run as the `postgres` user when we are root. It can be
stopped and started again (an outage) on the same port. A watchdog stops it and removes its
directory if this process dies without stopping it."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time


def bin_dir():
    if os.environ.get("MAILKEEP_PG_BIN"):
        return os.environ["MAILKEEP_PG_BIN"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]))
    assert found, "PostgreSQL is not installed (apt-get install postgresql)"
    return os.path.dirname(found[-1])


def as_server_user(args):
    # setpriv execs the program itself (no parent left between us and it), so that signals
    # sent to the process we started reach PostgreSQL.
    if os.geteuid() != 0:
        return args
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *args]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self):
        self.bin = bin_dir()
        self.dir = tempfile.mkdtemp(prefix="mailkeep-pg-")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        self.data = os.path.join(self.dir, "data")
        subprocess.run(as_server_user([f"{self.bin}/initdb", "-D", self.data, "-U", "postgres",
                                       "-A", "trust", "-E", "UTF8", "--no-instructions"]),
                       check=True, capture_output=True)
        self.port = free_port()
        self.proc = None
        self.start()
        # Removes the directory if we die first (the server itself is stopped by `stop`,
        # or dies with its parent shell below).
        self.watchdog = subprocess.Popen(
            ["/bin/sh", "-c", f"while [ -d /proc/{os.getpid()} ]; do sleep 0.5; done; "
                              f"pkill -INT -f 'postgres -D {self.data}'; sleep 2; rm -rf {self.dir}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self):
        log = open(os.path.join(self.dir, "server.log"), "a")
        self.proc = subprocess.Popen(
            as_server_user([f"{self.bin}/postgres", "-D", self.data, "-p", str(self.port),
                            "-k", self.dir, "-c", "listen_addresses=127.0.0.1",
                            "-c", "max_connections=300"]),
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            r = subprocess.run(as_server_user([f"{self.bin}/pg_isready", "-h", "127.0.0.1",
                                               "-p", str(self.port)]), capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("PostgreSQL did not start:\n" +
                             open(os.path.join(self.dir, "server.log")).read())

    def stop(self):
        """Fast shutdown (SIGINT): sessions are cut, everything committed stays."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(2)
            self.proc.wait(60)

    def psql(self, sql, db="postgres"):
        r = subprocess.run(as_server_user([f"{self.bin}/psql", "-h", "127.0.0.1", "-p",
                                           str(self.port), "-U", "postgres", "-d", db,
                                           "-At", "-c", sql]),
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()

    def database(self, name):
        self.psql(f"CREATE DATABASE {name}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def close(self):
        self.stop()
        self.watchdog.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
