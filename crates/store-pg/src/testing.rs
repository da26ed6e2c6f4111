//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, the server on
//! a free port on 127.0.0.1 (and a socket in that directory), one fresh database per test.
//!
//! When run as root (CI), the server runs as the `postgres` user, which `initdb` insists on.
//! A watchdog beside the server stops it and removes its directory once the test process
//! is gone, however that process ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running cluster.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    /// The watchdog shell (it outlives us by design; kept so that it is reaped if we stop
    /// it first).
    _watchdog: std::process::Child,
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MAILKEEP_PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.retain(|p| p.join("initdb").exists());
    // The newest version: directory names are major versions.
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found
        .pop()
        .expect("PostgreSQL is not installed (apt-get install postgresql, or set MAILKEEP_PG_BIN)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program args…` as the `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// Writes `text` to `path`, owned by the server's user and readable by it alone.
fn write_server_file(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("writing a server file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .expect("restricting a server file");
    if is_root() {
        let ok = Command::new("chown")
            .arg("postgres:postgres")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot hand {} to the postgres user", path.display());
    }
}

impl Cluster {
    /// Creates and starts a cluster; panics with the reason if it cannot.
    pub fn start() -> Cluster {
        Cluster::start_with(None)
    }

    /// A cluster that serves TCP connections only over TLS, with this certificate chain and
    /// key (PEM); plain TCP connections are refused by `pg_hba.conf`.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Cluster {
        Cluster::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Cluster {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("mailkeep-pg-")
            .tempdir()
            .expect("temporary directory")
            .keep();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot hand {} to the postgres user", dir.display());
        }
        let data = dir.join("data");
        let out = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ])
            .stdout(Stdio::null())
            .output()
            .expect("running initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut options = String::new();
        if let Some((cert, key)) = tls {
            write_server_file(&data.join("server.crt"), cert);
            write_server_file(&data.join("server.key"), key);
            write_server_file(
                &data.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostnossl all all 127.0.0.1/32 reject\n",
            );
            options.push_str(" -c ssl=on");
        }
        let port = free_port();
        // The server, and a watchdog that stops it (fast shutdown) and removes the directory
        // when this process is gone.
        let script = format!(
            "{postgres} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 \
             -c max_connections=300 -c shared_buffers=32MB{options} >{dir}/server.log 2>&1 &
             pg=$!
             while [ -d /proc/{me} ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done
             kill -INT $pg 2>/dev/null; wait $pg; rm -rf {dir}",
            postgres = bin.join("postgres").display(),
            data = data.display(),
            dir = dir.display(),
            me = std::process::id(),
        );
        let watchdog = as_server_user(Path::new("/bin/sh"))
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting postgres");
        let cluster = Cluster {
            dir,
            port,
            _watchdog: watchdog,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match postgres::Client::connect(&cluster.admin_url(), postgres::NoTls) {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => panic!(
                    "PostgreSQL did not start: {e}\n{}",
                    std::fs::read_to_string(cluster.dir.join("server.log")).unwrap_or_default()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        cluster
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The `postgres` database through the cluster's Unix socket (which needs no TLS).
    fn admin_url(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.display(),
            self.port
        )
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database; returns its URL.
    pub fn database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!(
            "mk_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(&self.admin_url(), postgres::NoTls)
            .expect("connecting to the test cluster");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating a test database");
        self.url(&name)
    }
}

/// One cluster for the whole test process, started on first use.
pub fn shared() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}

/// A throwaway 3-node Garage cluster (`tests/garage/cluster.sh`): S3 on 127.0.0.2–4,
/// replication factor 3, one bucket and key. It stops by itself when the test process ends.
#[cfg(feature = "s3")]
pub struct Garage {
    dir: PathBuf,
    env: std::collections::HashMap<String, String>,
}

#[cfg(feature = "s3")]
impl Garage {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/garage/cluster.sh")
    }

    /// Starts the cluster; panics with the reason if it cannot (Garage not installed: run
    /// `.ci/run`, which installs it, or put `garage` on `PATH`).
    pub fn start() -> Garage {
        let dir = tempfile::Builder::new()
            .prefix("mailkeep-garage-")
            .tempdir()
            .expect("temporary directory")
            .keep();
        // Four ports from a base that is free on every node's address.
        let base = loop {
            let p = 20_000 + rand::random::<u16>() % 20_000;
            let free = (2..=4).all(|n| {
                [p, p + 1, p + 3].iter().all(|q| {
                    std::net::TcpListener::bind((std::net::Ipv4Addr::new(127, 0, 0, n), *q)).is_ok()
                })
            });
            if free {
                break p;
            }
        };
        let out = Command::new(Self::script())
            .arg("start")
            .arg(&dir)
            .arg(base.to_string())
            .env("WATCH_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .output()
            .expect("running tests/garage/cluster.sh (is `garage` installed?)");
        assert!(
            out.status.success(),
            "Garage did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Garage { dir, env }
    }

    fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .unwrap_or_else(|| panic!("cluster.sh printed no {k}"))
    }

    /// The S3 endpoint of node `n` (0–2).
    pub fn endpoint(&self, n: usize) -> String {
        self.var("S3_ENDPOINTS").split(',').nth(n).unwrap().into()
    }

    /// Settings for a store whose bodies go under `prefix`, through node 0.
    pub fn options(&self, prefix: &str) -> crate::S3Options {
        crate::S3Options {
            endpoint: Some(self.endpoint(0)),
            bucket: self.var("S3_BUCKET").into(),
            region: self.var("S3_REGION").into(),
            key_id: self.var("S3_KEY_ID").into(),
            secret: self.var("S3_SECRET").into(),
            prefix: prefix.into(),
        }
    }

    /// Stops node `n` (0–2) with SIGKILL.
    pub fn stop_node(&self, n: usize) {
        self.node("stop-node", n)
    }

    /// Starts node `n` (0–2) again.
    pub fn start_node(&self, n: usize) {
        self.node("start-node", n)
    }

    fn node(&self, what: &str, n: usize) {
        let ok = Command::new(Self::script())
            .arg(what)
            .arg(&self.dir)
            .arg((n + 1).to_string())
            .env("WATCH_PID", std::process::id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cluster.sh {what} {n} failed");
    }
}

/// One Garage cluster for the whole test process, started on first use.
#[cfg(feature = "s3")]
pub fn garage() -> &'static Garage {
    static GARAGE: OnceLock<Garage> = OnceLock::new();
    GARAGE.get_or_init(Garage::start)
}
