//! mailkeep benchmarks, kept apart from the tests (speed is measured, not asserted).
//!
//! - `probe`: the single-stream cost of one durable file per message on a given disk
//!   ("write S bytes + fsync file + fsync dir"), the baseline mailkeep is compared with.
//! - `smtp`: a load generator: N concurrent SMTP sessions send M messages of S bytes in all and
//!   report messages/s and the latency from the end of DATA to the `250`.
//!
//! `bench/run.sh` runs both on the same disk in one go and prints the ratio.

mod filter;
mod imap;
mod mixed;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Durable one-file-per-message rate, single stream.
    Probe {
        /// Directory on the disk to measure (files are created and removed).
        #[arg(long)]
        dir: PathBuf,
        /// Bytes per file.
        #[arg(long, default_value_t = 10 * 1024)]
        size: usize,
        /// Files to write.
        #[arg(long, default_value_t = 500)]
        count: usize,
    },
    /// Writes a generated mbox for import.
    Mbox {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Messages.
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        /// Approximate body size in bytes.
        #[arg(long, default_value_t = 2000)]
        size: usize,
        /// Take the messages from this directory of real ones (`*.txt`, cycled, each copy
        /// marked `X-Bench-Copy: copyNx` so that no two are the same bytes) instead.
        #[arg(long)]
        corpus: Option<PathBuf>,
    },
    /// IMAP timings on a large mailbox and memory per idle connection.
    Imap {
        /// Server address (implicit TLS).
        #[arg(long, default_value = "127.0.0.1:2993")]
        addr: String,
        /// The server's certificate (PEM), to trust.
        #[arg(long)]
        cert: PathBuf,
        /// Name in the certificate.
        #[arg(long, default_value = "localhost")]
        host: String,
        /// Login.
        #[arg(long)]
        user: String,
        /// Password.
        #[arg(long)]
        password: String,
        /// The server's process id (for its resident memory).
        #[arg(long)]
        pid: u32,
        /// Idle connections to open.
        #[arg(long, default_value_t = 1000)]
        idle: usize,
    },
    /// A mixed IMAP load of many users (any IMAPS server: mailkeep or a baseline).
    Mixed {
        #[command(flatten)]
        load: mixed::Load,
        /// The server's certificate (PEM), to trust.
        #[arg(long)]
        cert: PathBuf,
        /// Name printed with the results.
        #[arg(long, default_value = "server")]
        label: String,
    },
    /// The spam verdict by cross-validation on a labelled corpus (`bench/filter/run.sh`).
    Filter {
        /// Lines of `fold<TAB>spam|ham<TAB>path`.
        #[arg(long)]
        folds: PathBuf,
        /// Where to write each message's verdict.
        #[arg(long)]
        out: PathBuf,
    },
    /// SMTP ingest load.
    Smtp {
        /// Server address; several, comma-separated, share the sessions round-robin (nodes
        /// of one cluster).
        #[arg(long, default_value = "127.0.0.1:2525")]
        addr: String,
        /// Recipient address (must exist on the server).
        #[arg(long)]
        rcpt: String,
        /// Concurrent sessions.
        #[arg(long, default_value_t = 16)]
        sessions: usize,
        /// Message size in bytes.
        #[arg(long, default_value_t = 10 * 1024)]
        size: usize,
        /// Messages in all.
        #[arg(long, default_value_t = 5000)]
        messages: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Probe { dir, size, count } => probe(&dir, size, count),
        Cmd::Filter { folds, out } => filter::run(&folds, &out),
        Cmd::Smtp {
            addr,
            rcpt,
            sessions,
            size,
            messages,
        } => tokio::runtime::Runtime::new()?.block_on(smtp(addr, rcpt, sessions, size, messages)),
        Cmd::Mbox {
            out,
            count,
            corpus: Some(dir),
            ..
        } => imap::mbox_from(&out, count, &dir),
        Cmd::Mbox {
            out, count, size, ..
        } => imap::mbox(&out, count, size),
        Cmd::Mixed { load, cert, label } => {
            tokio::runtime::Runtime::new()?.block_on(mixed::run(load, &cert, &label))
        }
        Cmd::Imap {
            addr,
            cert,
            host,
            user,
            password,
            pid,
            idle,
        } => tokio::runtime::Runtime::new()?
            .block_on(imap::run(addr, &cert, host, user, password, pid, idle)),
    }
}

fn probe(dir: &std::path::Path, size: usize, count: usize) -> Result<()> {
    use std::io::Write;
    let dir = dir.join("mailkeep-probe");
    std::fs::create_dir_all(&dir)?;
    let data = vec![b'x'; size];
    let d = std::fs::File::open(&dir)?;
    let start = Instant::now();
    for i in 0..count {
        let mut f = std::fs::File::create(dir.join(format!("{i}.msg")))?;
        f.write_all(&data)?;
        f.sync_all()?;
        d.sync_all()?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "probe: {count} files of {size} B, write+fsync(file)+fsync(dir): {:.1} files/s ({:.2} ms each)",
        count as f64 / secs,
        secs * 1000.0 / count as f64
    );
    // The ceiling for any group commit on this disk: 16 messages appended to one file per
    // fdatasync. Where this is not far above 5x the line above, the disk's bandwidth, not its
    // fsync latency, bounds durable ingest.
    let batch = vec![b'x'; size * 16];
    let mut f = std::fs::File::create(dir.join("append.log"))?;
    let start = Instant::now();
    for _ in 0..count / 4 {
        f.write_all(&batch)?;
        f.sync_data()?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "probe: append 16 x {size} B + fdatasync: {:.1} batches/s = {:.1} messages/s ceiling for 16-message group commits",
        (count / 4) as f64 / secs,
        (count / 4 * 16) as f64 / secs
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

async fn expect(r: &mut BufReader<TcpStream>, code: &str) -> Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            bail!("connection closed while waiting for {code}");
        }
        if !line.starts_with(code) {
            bail!("expected {code}, got {}", line.trim_end());
        }
        if line.as_bytes().get(3) == Some(&b' ') {
            return Ok(());
        }
    }
}

fn message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: bench@example.net\r\nTo: bench@example.test\r\nSubject: bench {i}\r\nMessage-ID: <{i}.bench@example.net>\r\n\r\n"
    )
    .into_bytes();
    while m.len() + 2 < size {
        let n = (size - m.len() - 2).min(76);
        m.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, n));
        m.extend_from_slice(b"\r\n");
    }
    m
}

async fn smtp(
    addr: String,
    rcpt: String,
    sessions: usize,
    size: usize,
    messages: usize,
) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    let addrs: Vec<String> = addr.split(',').map(str::to_owned).collect();
    for s in 0..sessions {
        let (addr, rcpt, next) = (addrs[s % addrs.len()].clone(), rcpt.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let stream = TcpStream::connect(&addr).await.context("connect")?;
            let mut r = BufReader::new(stream);
            expect(&mut r, "220").await?;
            r.get_mut().write_all(b"EHLO bench.example.net\r\n").await?;
            expect(&mut r, "250").await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    break;
                }
                let cmd = format!("MAIL FROM:<bench@example.net>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n");
                r.get_mut().write_all(cmd.as_bytes()).await?;
                expect(&mut r, "250").await?;
                expect(&mut r, "250").await?;
                expect(&mut r, "354").await?;
                let mut body = message(i, size);
                body.extend_from_slice(b".\r\n");
                r.get_mut().write_all(&body).await?;
                let t = Instant::now();
                expect(&mut r, "250").await?;
                lat.push(t.elapsed());
            }
            r.get_mut().write_all(b"QUIT\r\n").await?;
            anyhow::Ok(lat)
        }));
    }
    let mut lat: Vec<Duration> = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "smtp: {} messages of {size} B over {sessions} sessions in {secs:.2} s: {:.1} msg/s; DATA-end→250 latency p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.50),
        pct(0.99)
    );
    Ok(())
}
