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

    /// A hot standby of `primary`, streaming from it under the name `name` (which
    /// `synchronous_standby_names` on the primary may list).
    pub fn standby_of(primary: &Cluster, name: &str) -> Cluster {
        let (bin, dir) = (bin_dir(), server_dir());
        let data = dir.join("data");
        let out = as_server_user(&bin.join("pg_basebackup"))
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-U", "postgres", "-X", "stream", "-R"])
            .args(["-c", "fast", "-p", &primary.port.to_string()])
            .output()
            .expect("running pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A later line wins: the connection `-R` wrote, with the name the primary knows.
        let conf = data.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&conf).expect("reading postgresql.auto.conf");
        text.push_str(&format!(
            "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name={name}'\n",
            primary.port
        ));
        write_server_file(&conf, &text);
        Cluster::launch(&bin, dir, "")
    }

    fn start_with(tls: Option<(&str, &str)>) -> Cluster {
        let (bin, dir) = (bin_dir(), server_dir());
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
        Cluster::launch(&bin, dir, &options)
    }

    /// Starts the server on the data directory in `dir`, with a watchdog.
    fn launch(bin: &Path, dir: PathBuf, options: &str) -> Cluster {
        let data = dir.join("data");
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

    /// Runs `sql` as the superuser, each statement (separated by `;`) on its own, since
    /// some (`ALTER SYSTEM`) refuse to run in a transaction with others.
    pub fn execute(&self, sql: &str) {
        let mut c = postgres::Client::connect(&self.admin_url(), postgres::NoTls)
            .expect("connecting to the test cluster");
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            c.batch_execute(statement)
                .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        }
    }

    /// The first column of the first row `sql` returns, as text.
    pub fn query_text(&self, sql: &str) -> Option<String> {
        postgres::Client::connect(&self.admin_url(), postgres::NoTls)
            .and_then(|mut c| c.query_opt(sql, &[]))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
            .map(|r| r.get(0))
    }

    /// Stops the server the way a crash does (SIGKILL), losing everything not yet on disk.
    /// Its watchdog then removes its directory.
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .expect("reading postmaster.pid");
        let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
        let ok = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot kill PostgreSQL ({pid})");
    }

    /// Makes a standby a primary; returns once it accepts writes.
    pub fn promote(&self) {
        self.execute("SELECT pg_promote(true, 60)");
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .query_text("SELECT pg_is_in_recovery()::text")
            .as_deref()
            != Some("false")
        {
            assert!(Instant::now() < deadline, "the standby was not promoted");
            std::thread::sleep(Duration::from_millis(100));
        }
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

/// A new temporary directory for a server, owned by the server's user.
fn server_dir() -> PathBuf {
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
    dir
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
