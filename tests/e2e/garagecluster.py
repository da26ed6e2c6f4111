"""A throwaway 3-node Garage cluster for the cluster tests (tests/garage/cluster.sh): S3 on
127.0.0.2-4, replication factor 3, data_fsync and metadata_fsync on. The nodes stop by
themselves if this process dies without closing it."""
import os
import random
import shutil
import socket
import subprocess
import tempfile

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "garage", "cluster.sh")


def _free_base():
    while True:
        base = random.randrange(20000, 40000)
        try:
            for n in (2, 3, 4):
                for p in (base, base + 1, base + 3):
                    with socket.socket() as s:
                        s.bind((f"127.0.0.{n}", p))
            return base
        except OSError:
            continue


class Garage:
    def __init__(self):
        if shutil.which(os.environ.get("GARAGE", "garage")) is None:
            raise AssertionError("garage is not installed (.ci/run installs it: "
                                 "cargo install garage --locked --version 2.5.0)")
        self.dir = tempfile.mkdtemp(prefix="mailkeep-garage-")
        out = self._run("start", str(_free_base()))
        self.env = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
        self.endpoints = self.env["S3_ENDPOINTS"].split(",")

    def _run(self, *args):
        r = subprocess.run([SCRIPT, args[0], self.dir, *args[1:]], capture_output=True,
                           text=True, env={**os.environ, "WATCH_PID": str(os.getpid())},
                           timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def blobs_section(self, secret_file, prefix, node=0):
        """`[blobs]` for a node whose bodies go under `prefix`, through Garage node `node`."""
        with open(secret_file, "w") as f:
            f.write(self.env["S3_SECRET"] + "\n")
        os.chmod(secret_file, 0o600)
        return (f'\n[blobs]\nbackend = "s3"\nendpoint = "{self.endpoints[node]}"\n'
                f'bucket = "{self.env["S3_BUCKET"]}"\nregion = "{self.env["S3_REGION"]}"\n'
                f'key_id = "{self.env["S3_KEY_ID"]}"\nsecret_file = "{secret_file}"\n'
                f'prefix = "{prefix}"\n')

    def object_count(self):
        """Objects in the bucket, as Garage counts them (its counters trail writes by a
        moment)."""
        r = subprocess.run([os.environ.get("GARAGE", "garage"), "-c",
                            os.path.join(self.dir, "node1", "garage.toml"),
                            "bucket", "info", self.env["S3_BUCKET"]],
                           capture_output=True, text=True, check=True)
        line = next(l for l in r.stdout.splitlines() if l.startswith("Objects:"))
        return int(line.split()[1])

    def stop_node(self, n):
        self._run("stop-node", str(n + 1))

    def start_node(self, n):
        self._run("start-node", str(n + 1))

    def close(self):
        self._run("stop")
