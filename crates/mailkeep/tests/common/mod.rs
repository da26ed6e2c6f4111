//! Test harness: the real `mailkeep` binary in a temp data directory, on loopback ports the
//! kernel picks (port 0; the server's "listening" log lines tell which).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mailkeep");
pub const PASSWORD: &str = "correct horse battery";

/// Runs the binary with `--data dir`, returns (status ok, stdout, stderr).
pub fn cli(dir: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(dir)
        .args(args)
        .env("MAILKEEP_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mailkeep");
    if let Some(input) = stdin {
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `cli` that must succeed.
pub fn ok(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = cli(dir, args, stdin);
    assert!(ok, "mailkeep {args:?} failed: {err}");
    out
}

/// A data directory with example.org, alice, bob and sales@ → alice; every listener on port 0.
pub fn data_dir(extra_config: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    ok(&dir, &["init", "--domain", "example.org"], None);
    let cfg_path = dir.join("mailkeep.toml");
    let mut cfg = std::fs::read_to_string(&cfg_path).unwrap();
    for port in ["2525", "2587", "2465", "2143", "2993"] {
        cfg = cfg.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:0");
    }
    for (key, value) in extra_config {
        let line = cfg
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("no key {key}"))
            .to_owned();
        cfg = cfg.replace(&line, &format!("{key} = {value}"));
    }
    std::fs::write(&cfg_path, cfg).unwrap();
    for user in ["alice@example.org", "bob@example.org"] {
        ok(
            &dir,
            &["user", "add", user, "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        );
    }
    ok(
        &dir,
        &["alias", "add", "sales@example.org", "alice@example.org"],
        None,
    );
    tmp
}

pub fn data_path(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("data")
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub addrs: Vec<(String, SocketAddr)>,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        let mut child = Command::new(BIN)
            .arg("--data")
            .arg(dir)
            .arg("serve")
            .env("MAILKEEP_LOG", "info")
            // No test may ask the system's resolver: nothing listens here, every lookup fails at once.
            .env("MAILKEEP_DNS_RESOLVER", "none")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mailkeep serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log2.lock().unwrap().push_str(&line);
                log2.lock().unwrap().push('\n');
                if let Some(rest) = line.split("listening listener=").nth(1) {
                    let mut it = rest.split_whitespace();
                    let kind = it.next().unwrap_or("").trim_matches('"').to_owned();
                    let addr = it
                        .next()
                        .and_then(|a| a.strip_prefix("addr="))
                        .and_then(|a| a.parse::<SocketAddr>().ok());
                    if let Some(addr) = addr {
                        let _ = tx.send((kind, addr));
                    }
                }
            }
        });
        let mut addrs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while addrs.len() < 5 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(a) => addrs.push(a),
                Err(_) => {
                    let _ = child.kill();
                    panic!("server did not start; log:\n{}", log.lock().unwrap());
                }
            }
        }
        Server { child, addrs, log }
    }

    pub fn addr(&self, kind: &str) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, a)| *a)
            .unwrap()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.success();
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain-text line client for SMTP/IMAP over TCP.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::try_connect(addr).expect("connect")
    }

    pub fn try_connect(addr: SocketAddr) -> Option<Client> {
        let stream = TcpStream::connect(addr).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .ok()?;
        let reader = BufReader::new(stream.try_clone().ok()?);
        Some(Client { stream, reader })
    }

    /// Writes bytes; a failed write shows up as EOF on the next read.
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// One line, without CRLF; empty string at EOF.
    pub fn line(&mut self) -> String {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(_) => String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            Err(_) => String::new(),
        }
    }

    /// A full SMTP reply (all continuation lines), joined by '\n'.
    pub fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let l = self.line();
            let done = l.len() < 4 || l.as_bytes()[3] == b' ';
            lines.push(l);
            if done {
                return lines.join("\n");
            }
        }
    }

    /// Sends a command and returns the reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Whether the server closed the connection (reads until EOF, bounded).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok()
    }
}

/// Sends one message over plain SMTP; returns the final reply to DATA.
pub fn send_mail(addr: SocketAddr, from: &str, rcpts: &[&str], body: &str) -> String {
    let mut c = Client::connect(addr);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.example.net").starts_with("250"));
    assert!(c.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
    for r in rcpts {
        let rep = c.cmd(&format!("RCPT TO:<{r}>"));
        assert!(rep.starts_with("250"), "RCPT {r}: {rep}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(body.as_bytes());
    let r = c.cmd(".");
    c.cmd("QUIT");
    r
}

/// The message as sent: everything after our Received: header.
pub fn strip_received(msg: &[u8]) -> &[u8] {
    assert!(msg.starts_with(b"Received: "), "Received: header first");
    // The trace field, then the Authentication-Results: and the spam verdict's fields the MX
    // adds below it.
    let mut rest = skip_field(msg);
    for added in [
        &b"Authentication-Results: "[..],
        b"X-Mailkeep-Verdict: ",
        b"X-Mailkeep-Warning: ",
    ] {
        if rest.starts_with(added) {
            rest = skip_field(rest);
        }
    }
    rest
}

/// `msg` after its first header field (with continuation lines).
fn skip_field(msg: &[u8]) -> &[u8] {
    let mut i = 0;
    loop {
        let nl = msg[i..].iter().position(|&b| b == b'\n').unwrap() + i + 1;
        if msg.get(nl) != Some(&b'\t') && msg.get(nl) != Some(&b' ') {
            return &msg[nl..];
        }
        i = nl;
    }
}
