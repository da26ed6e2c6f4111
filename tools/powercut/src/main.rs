//! `mailkeep-powercut SEED MOUNTPOINT OUT [--keep none|random] [--seed N]`
//!
//! A power cut, for tests of the durability contract. It serves a copy of the directory SEED
//! at MOUNTPOINT from memory and remembers, for every file, the content it had when it was
//! last fsynced and, for every directory, the names it held when it was last fsynced. On a
//! line `cut` on standard input (or at its end) it writes to OUT what a disk would hold after
//! losing power at that instant, and unmounts:
//!
//! - a file holds what it held at its last `fsync`/`fdatasync`; with `--keep random` also a
//!   random prefix of the writes made since (the last one possibly torn at a 512-byte
//!   boundary), as a disk that got part of its write cache out before the power went;
//! - a name exists only if its directory was fsynced after the name was made (by create,
//!   mkdir or rename) and before it was removed: a file that was never reachable through
//!   fsynced directories is gone, and an unsynced rename is undone.
//!
//! `fail-fsync PATH [N]` on standard input makes the next N (default 1) fsyncs of that file
//! fail with EIO, losing the writes they were to make durable while the page cache still
//! shows them, as Linux does after a write-back error.
//!
//! That is the worst POSIX allows (ext4 usually keeps more), which is what "nothing
//! acknowledged is lost" has to survive. Everything after the cut fails with EIO. Hard links,
//! symbolic links and extended attributes are not supported. It needs /dev/fuse and root (it
//! mounts with mount(2) itself).

mod fs;
mod tree;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use tree::{Keep, Tree};

fn usage() -> ExitCode {
    eprintln!("usage: mailkeep-powercut SEED MOUNTPOINT OUT [--keep none|random] [--seed N]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut positional: Vec<PathBuf> = Vec::new();
    let (mut keep, mut seed) = (Keep::Random, 1u64);
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--keep") => match args.next().as_ref().and_then(|v| v.to_str()) {
                Some("none") => keep = Keep::None,
                Some("random") => keep = Keep::Random,
                _ => return usage(),
            },
            Some("--seed") => match args.next().and_then(|v| v.to_str()?.parse().ok()) {
                Some(n) => seed = n,
                None => return usage(),
            },
            _ => positional.push(PathBuf::from(a)),
        }
    }
    let Ok([seed_dir, mountpoint, out]) = <[PathBuf; 3]>::try_from(positional) else {
        return usage();
    };
    let tree = match Tree::load(&seed_dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mailkeep-powercut: reading {}: {e}", seed_dir.display());
            return ExitCode::FAILURE;
        }
    };
    let shared = Arc::new(Mutex::new(tree));
    let options = [
        fuser::MountOption::FSName("powercut".into()),
        fuser::MountOption::RW,
    ];
    let session = match fuser::spawn_mount2(fs::Fs::new(shared.clone()), &mountpoint, &options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mailkeep-powercut: mounting {}: {e}", mountpoint.display());
            return ExitCode::FAILURE;
        }
    };
    println!("mounted {}", mountpoint.display());
    let _ = std::io::stdout().flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["cut"] => break,
            ["fail-fsync", path, ref n @ ..] => {
                let count = n.first().and_then(|n| n.parse().ok()).unwrap_or(1);
                let mut t = shared.lock().unwrap_or_else(|p| p.into_inner());
                match t.resolve(path) {
                    Some(ino) => {
                        t.failing = Some((ino, count));
                        println!("armed: the next {count} fsync(s) of {path} fail");
                    }
                    None => println!("no such file: {path}"),
                }
            }
            _ => println!("commands: cut | fail-fsync PATH [N]"),
        }
        let _ = std::io::stdout().flush();
    }
    // The cut: from here on the file system fails every request, and OUT gets what was durable.
    let outcome = {
        let mut t = shared.lock().unwrap_or_else(|p| p.into_inner());
        t.cut();
        t.write_out(&out, keep, seed)
    };
    drop(session); // unmounts
    match outcome {
        Ok(stats) => {
            println!("cut: {stats}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mailkeep-powercut: writing {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
