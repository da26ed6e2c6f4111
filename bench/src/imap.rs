//! IMAP benchmark client: times the commands clients issue on a large mailbox and measures
//! the server's memory per idle authenticated connection.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::Rng;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub(crate) type Conn = BufReader<TlsStream<TcpStream>>;

pub(crate) fn connector(cert: &Path) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert)? {
        roots.add(c?)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

pub(crate) async fn connect(addr: &str, tls: &TlsConnector, host: &str) -> Result<Conn> {
    let tcp = TcpStream::connect(addr).await?;
    let stream = tls
        .connect(ServerName::try_from(host.to_owned())?, tcp)
        .await?;
    let mut c = BufReader::new(stream);
    let mut greeting = String::new();
    c.read_line(&mut greeting).await?;
    Ok(c)
}

/// Sends a command and reads through its tagged reply; returns the bytes of the
/// untagged data (literals included) and, last, the tagged line.
pub(crate) async fn command(c: &mut Conn, tag: &str, cmd: &str) -> Result<Vec<u8>> {
    c.get_mut()
        .write_all(format!("{tag} {cmd}\r\n").as_bytes())
        .await?;
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if c.read_until(b'\n', &mut line).await? == 0 {
            bail!("connection closed during {cmd}");
        }
        if line.starts_with(format!("{tag} ").as_bytes()) {
            if !line.starts_with(format!("{tag} OK").as_bytes()) {
                bail!("{cmd}: {}", String::from_utf8_lossy(&line).trim_end());
            }
            data.extend_from_slice(&line);
            return Ok(data);
        }
        let literal = line
            .strip_suffix(b"}\r\n")
            .and_then(|l| l.iter().rposition(|&b| b == b'{').map(|i| &l[i + 1..]))
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
        data.extend_from_slice(&line);
        if let Some(n) = literal {
            let mut lit = vec![0u8; n];
            c.read_exact(&mut lit).await?;
            data.extend_from_slice(&lit);
        }
    }
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")
}

#[allow(clippy::too_many_arguments)]
pub async fn run(
    addr: String,
    cert: &Path,
    host: String,
    user: String,
    password: String,
    pid: u32,
    idle: usize,
) -> Result<()> {
    let tls = connector(cert)?;
    let mut c = connect(&addr, &tls, &host).await?;
    command(&mut c, "l", &format!("LOGIN {user} \"{password}\"")).await?;

    let t = Instant::now();
    let sel = command(&mut c, "s", "SELECT INBOX").await?;
    let select_ms = t.elapsed().as_secs_f64() * 1000.0;
    let exists: u32 = String::from_utf8_lossy(&sel)
        .lines()
        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .context("no EXISTS")?;
    println!("imap: SELECT INBOX ({exists} messages): {select_ms:.1} ms");

    let t = Instant::now();
    let flags = command(&mut c, "f", "UID FETCH 1:* (FLAGS)").await?;
    println!(
        "imap: UID FETCH 1:* (FLAGS): {:.1} ms ({} KiB of responses)",
        t.elapsed().as_secs_f64() * 1000.0,
        flags.len() / 1024
    );

    // Structure and header fields come from the parsed records, not the bodies.
    for (name, cmd) in [
        ("UID FETCH 1:* (ENVELOPE)", "UID FETCH 1:* (ENVELOPE)"),
        (
            "UID FETCH 1:* (BODYSTRUCTURE)",
            "UID FETCH 1:* (BODYSTRUCTURE)",
        ),
        ("UID SEARCH FROM", "UID SEARCH FROM \"sender42\""),
        ("UID SEARCH SUBJECT", "UID SEARCH SUBJECT \"message 4242 \""),
    ] {
        let t = Instant::now();
        let out = command(&mut c, "e", cmd).await?;
        println!(
            "imap: {name}: {:.1} ms ({} KiB of responses)",
            t.elapsed().as_secs_f64() * 1000.0,
            out.len() / 1024
        );
    }

    // NOOP costs what changed, not what the mailbox holds (issue 14).
    let t = Instant::now();
    for i in 0..100 {
        command(&mut c, &format!("n{i}"), "NOOP").await?;
    }
    println!(
        "imap: NOOP with nothing new: {:.3} ms each (100)",
        t.elapsed().as_secs_f64() * 1000.0 / 100.0
    );
    let mut other = connect(&addr, &tls, &host).await?;
    command(&mut other, "l", &format!("LOGIN {user} \"{password}\"")).await?;
    let mut noop = std::time::Duration::ZERO;
    for i in 0..20 {
        let msg = format!("Subject: new {i}\r\n\r\nhello\r\n");
        let append = format!("APPEND INBOX {{{}+}}\r\n{msg}", msg.len());
        command(&mut other, &format!("a{i}"), &append).await?;
        let t = Instant::now();
        command(&mut c, &format!("m{i}"), "NOOP").await?;
        noop += t.elapsed();
    }
    println!(
        "imap: NOOP after one new message: {:.3} ms each (20)",
        noop.as_secs_f64() * 1000.0 / 20.0
    );

    let picks: Vec<u32> = {
        let mut rng = rand::rng();
        (0..100).map(|_| rng.random_range(1..=exists)).collect()
    };
    let t = Instant::now();
    let mut bytes = 0;
    for (i, n) in picks.iter().enumerate() {
        bytes += command(&mut c, &format!("b{i}"), &format!("FETCH {n} BODY.PEEK[]"))
            .await?
            .len();
    }
    println!(
        "imap: 100 random FETCH BODY.PEEK[]: {:.1} ms in all ({} KiB)",
        t.elapsed().as_secs_f64() * 1000.0,
        bytes / 1024
    );

    for (name, cmd) in [
        (
            "UID SEARCH by header",
            "UID SEARCH HEADER Subject \"message 4242 \"",
        ),
        ("UID SEARCH by date", "UID SEARCH SINCE 1-Jan-2026"),
        // The full-text index (the import indexed every body).
        (
            "UID SEARCH BODY, 1 hit",
            "UID SEARCH BODY \"of message 4242:\"",
        ),
        (
            "UID SEARCH BODY, every message",
            "UID SEARCH BODY \"ipsum\"",
        ),
    ] {
        let t = Instant::now();
        command(&mut c, "q", cmd).await?;
        println!("imap: {name}: {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
    }

    let t = Instant::now();
    command(&mut c, "st", "UID STORE 1:* +FLAGS.SILENT (\\Seen)").await?;
    println!(
        "imap: UID STORE 1:* +FLAGS.SILENT (\\Seen): {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );

    let before = rss_kib(pid)?;
    let mut held = Vec::with_capacity(idle);
    for i in 0..idle {
        let mut s = connect(&addr, &tls, &host).await?;
        command(&mut s, "l", &format!("LOGIN {user} \"{password}\""))
            .await
            .with_context(|| format!("idle connection {i}"))?;
        held.push(s);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = rss_kib(pid)?;
    println!(
        "imap: {idle} idle authenticated TLS connections: server RSS {before} -> {after} KiB, {:.1} KiB per connection",
        (after.saturating_sub(before)) as f64 / idle as f64
    );
    drop(held);
    Ok(())
}

/// Writes an mbox of `count` generated messages of about `size` bytes.
/// An mbox of `count` real messages from `dir`, cycled; mboxrd quoting.
pub fn mbox_from(path: &Path, count: usize, dir: &Path) -> Result<()> {
    use std::io::Write;
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d)? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "txt") {
                files.push(p);
            }
        }
    }
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no *.txt messages under {}",
        dir.display()
    );
    let messages: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..count {
        writeln!(f, "From bench@example.net Mon Nov 2 10:00:00 2026")?;
        writeln!(f, "X-Bench-Copy: copy{i}x")?;
        for line in messages[i % messages.len()].split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let unquoted = line.iter().position(|&b| b != b'>').unwrap_or(line.len());
            if line[unquoted..].starts_with(b"From ") {
                f.write_all(b">")?;
            }
            f.write_all(line)?;
            f.write_all(b"\n")?;
        }
        writeln!(f)?;
    }
    f.flush()?;
    Ok(())
}

pub fn mbox(path: &Path, count: usize, size: usize) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut rng = rand::rng();
    for i in 0..count {
        let day = 1 + i % 28;
        writeln!(
            f,
            "From sender{}@example.net Mon Nov {day:2} 10:00:00 2026",
            i % 97
        )?;
        writeln!(f, "From: Sender {} <sender{}@example.net>", i % 97, i % 97)?;
        writeln!(f, "To: bench@example.test")?;
        writeln!(
            f,
            "Subject: message {i} about topic {}",
            rng.random_range(0..500)
        )?;
        writeln!(f, "Date: Mon, {day} Nov 2026 10:00:00 +0000")?;
        writeln!(f, "Message-ID: <{i}.bench@example.net>")?;
        writeln!(f)?;
        let mut written = 0;
        while written < size {
            writeln!(
                f,
                "Line {written} of message {i}: lorem ipsum dolor sit amet."
            )?;
            written += 48;
        }
        writeln!(f)?;
    }
    f.flush()?;
    Ok(())
}
