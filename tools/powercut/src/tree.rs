//! The file system in memory: what each file and directory holds now, and what a disk would
//! still hold after a power cut.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

pub const ROOT: u64 = 1;

/// What of the writes since a file's last fsync survives the cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    None,
    Random,
}

/// A change to a file's content not yet fsynced.
pub enum Op {
    Write { offset: u64, data: Vec<u8> },
    Truncate(u64),
}

impl Op {
    fn apply(&self, to: &mut Vec<u8>) {
        match self {
            Op::Write { offset, data } => write_at(to, *offset, data),
            Op::Truncate(len) => to.resize(*len as usize, 0),
        }
    }
}

pub fn write_at(buf: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = offset as usize;
    let end = start + data.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[start..end].copy_from_slice(data);
}

pub enum Body {
    File {
        data: Vec<u8>,
        durable: Vec<u8>,
        pending: Vec<Op>,
    },
    Dir {
        entries: BTreeMap<OsString, u64>,
        durable: BTreeMap<OsString, u64>,
    },
}

pub struct Node {
    pub body: Body,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: SystemTime,
}

impl Node {
    pub fn file(perm: u16, uid: u32, gid: u32) -> Node {
        Node {
            body: Body::File {
                data: Vec::new(),
                durable: Vec::new(),
                pending: Vec::new(),
            },
            perm,
            uid,
            gid,
            mtime: SystemTime::now(),
        }
    }

    pub fn dir(perm: u16, uid: u32, gid: u32) -> Node {
        Node {
            body: Body::Dir {
                entries: BTreeMap::new(),
                durable: BTreeMap::new(),
            },
            perm,
            uid,
            gid,
            mtime: SystemTime::now(),
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir { .. })
    }

    /// Makes everything written so far durable (`fsync`, `fdatasync`, directory `fsync`).
    pub fn sync(&mut self) {
        match &mut self.body {
            Body::File {
                durable, pending, ..
            } => {
                for op in pending.drain(..) {
                    op.apply(durable);
                }
            }
            Body::Dir { entries, durable } => durable.clone_from(entries),
        }
    }
}

/// Inodes are never freed: a name that a directory's durable state still holds may point at
/// a file unlinked since, and the cut must find it.
pub struct Tree {
    pub nodes: HashMap<u64, Node>,
    next: u64,
    /// Set at the cut; every later request fails.
    pub dead: bool,
    /// The next `n` fsyncs of this inode fail: `(inode, n)`.
    pub failing: Option<(u64, u32)>,
}

/// What the cut did.
#[derive(Default)]
pub struct Stats {
    files: usize,
    dirs: usize,
    bytes: u64,
    ops_kept: usize,
    ops_lost: usize,
    torn: usize,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} files ({} bytes) in {} directories survive; of the unsynced writes {} kept, {} lost, {} torn",
            self.files, self.bytes, self.dirs, self.ops_kept, self.ops_lost, self.torn
        )
    }
}

/// splitmix64: enough randomness for choosing what survives, reproducible from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

impl Tree {
    /// A tree holding a copy of `seed`, all of it durable.
    pub fn load(seed: &Path) -> io::Result<Tree> {
        let mut t = Tree {
            nodes: HashMap::new(),
            next: ROOT,
            dead: false,
            failing: None,
        };
        let meta = std::fs::metadata(seed)?;
        let root = t.add(Node::dir(
            (meta.permissions().mode() & 0o7777) as u16,
            meta.uid(),
            meta.gid(),
        ));
        t.load_dir(root, seed)?;
        Ok(t)
    }

    fn load_dir(&mut self, ino: u64, path: &Path) -> io::Result<()> {
        for e in std::fs::read_dir(path)? {
            let e = e?;
            let meta = e.metadata()?;
            let perm = (meta.permissions().mode() & 0o7777) as u16;
            let child = if meta.is_dir() {
                let c = self.add(Node::dir(perm, meta.uid(), meta.gid()));
                self.load_dir(c, &e.path())?;
                c
            } else if meta.is_file() {
                let content = std::fs::read(e.path())?;
                let mut n = Node::file(perm, meta.uid(), meta.gid());
                n.body = Body::File {
                    data: content.clone(),
                    durable: content,
                    pending: Vec::new(),
                };
                self.add(n)
            } else {
                continue; // sockets, links: not part of a data directory
            };
            if let Some(Body::Dir { entries, durable }) =
                self.nodes.get_mut(&ino).map(|n| &mut n.body)
            {
                entries.insert(e.file_name(), child);
                durable.insert(e.file_name(), child);
            }
        }
        Ok(())
    }

    pub fn add(&mut self, node: Node) -> u64 {
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(ino, node);
        ino
    }

    pub fn cut(&mut self) {
        self.dead = true;
    }

    /// The inode at `path` (relative to the root, `/`-separated), as named now.
    pub fn resolve(&self, path: &str) -> Option<u64> {
        let mut ino = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let Body::Dir { entries, .. } = &self.nodes.get(&ino)?.body else {
                return None;
            };
            ino = *entries.get(std::ffi::OsStr::new(part))?;
        }
        Some(ino)
    }

    /// An fsync of `ino`: makes its changes durable, or, while a failure is armed for it,
    /// fails and loses them from the disk while they stay readable (what Linux does after a
    /// write-back error: the pages are marked clean, and a later fsync reports success).
    pub fn fsync(&mut self, ino: u64) -> Result<(), ()> {
        if let Some((target, n)) = self.failing
            && target == ino
            && n > 0
        {
            self.failing = (n > 1).then_some((target, n - 1));
            if let Some(Node {
                body: Body::File { pending, .. },
                ..
            }) = self.nodes.get_mut(&ino)
            {
                pending.clear();
            }
            return Err(());
        }
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.sync();
        }
        Ok(())
    }

    /// Writes what survives the cut under `out` (which must not exist yet).
    pub fn write_out(&self, out: &Path, keep: Keep, seed: u64) -> io::Result<Stats> {
        let mut stats = Stats::default();
        let mut rng = Rng(seed);
        self.write_node(ROOT, out, keep, &mut rng, &mut stats)?;
        Ok(stats)
    }

    fn write_node(
        &self,
        ino: u64,
        path: &Path,
        keep: Keep,
        rng: &mut Rng,
        stats: &mut Stats,
    ) -> io::Result<()> {
        let Some(node) = self.nodes.get(&ino) else {
            return Ok(());
        };
        match &node.body {
            Body::Dir { durable, .. } => {
                std::fs::create_dir(path)?;
                stats.dirs += 1;
                for (name, child) in durable {
                    self.write_node(*child, &path.join(name), keep, rng, stats)?;
                }
            }
            Body::File {
                durable, pending, ..
            } => {
                let mut content = durable.clone();
                let kept = match keep {
                    Keep::None => 0,
                    Keep::Random => rng.below(pending.len() + 1),
                };
                for op in &pending[..kept] {
                    op.apply(&mut content);
                }
                // The next write may have reached the disk in part.
                if let Some(Op::Write { offset, data }) = pending.get(kept)
                    && keep == Keep::Random
                    && data.len() > 512
                    && rng.below(2) == 1
                {
                    let sectors = rng.below(data.len() / 512);
                    if sectors > 0 {
                        write_at(&mut content, *offset, &data[..sectors * 512]);
                        stats.torn += 1;
                    }
                }
                stats.ops_kept += kept;
                stats.ops_lost += pending.len() - kept;
                stats.files += 1;
                stats.bytes += content.len() as u64;
                std::fs::write(path, &content)?;
            }
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(u32::from(node.perm)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (Tree, u64) {
        let mut t = Tree {
            nodes: HashMap::new(),
            next: ROOT,
            dead: false,
            failing: None,
        };
        let root = t.add(Node::dir(0o755, 0, 0));
        (t, root)
    }

    fn link(t: &mut Tree, dir: u64, name: &str, ino: u64) {
        if let Body::Dir { entries, .. } = &mut t.nodes.get_mut(&dir).unwrap().body {
            entries.insert(name.into(), ino);
        }
    }

    fn write(t: &mut Tree, ino: u64, offset: u64, data: &[u8]) {
        if let Body::File {
            data: d, pending, ..
        } = &mut t.nodes.get_mut(&ino).unwrap().body
        {
            write_at(d, offset, data);
            pending.push(Op::Write {
                offset,
                data: data.to_vec(),
            });
        }
    }

    #[test]
    fn only_what_was_fsynced_survives_and_only_where_directories_were_fsynced() {
        let (mut t, root) = tree();
        let a = t.add(Node::file(0o600, 0, 0));
        link(&mut t, root, "a", a);
        let b = t.add(Node::file(0o600, 0, 0));
        link(&mut t, root, "b", b);
        write(&mut t, a, 0, b"synced");
        t.nodes.get_mut(&a).unwrap().sync();
        write(&mut t, a, 6, b" and lost");
        write(&mut t, b, 0, b"file synced, directory not");
        t.nodes.get_mut(&b).unwrap().sync();
        // Only "a" was in the directory when it was fsynced.
        if let Body::Dir { durable, .. } = &mut t.nodes.get_mut(&root).unwrap().body {
            durable.insert("a".into(), a);
        }
        let dir = std::env::temp_dir().join(format!("powercut-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stats = t.write_out(&dir, Keep::None, 7).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"synced");
        assert!(!dir.join("b").exists());
        assert_eq!((stats.files, stats.ops_lost), (1, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn random_keeps_a_prefix_of_the_unsynced_writes() {
        for seed in 0..50 {
            let (mut t, root) = tree();
            let a = t.add(Node::file(0o600, 0, 0));
            link(&mut t, root, "a", a);
            t.nodes.get_mut(&root).unwrap().sync();
            for i in 0..4u8 {
                write(&mut t, a, u64::from(i) * 2048, &[b'0' + i; 2048]);
            }
            let dir =
                std::env::temp_dir().join(format!("powercut-p-{}-{seed}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            t.write_out(&dir, Keep::Random, seed).unwrap();
            let got = std::fs::read(dir.join("a")).unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
            // Whole writes in order, then at most part of the next, in whole sectors.
            assert_eq!(got.len() % 512, 0);
            for (i, chunk) in got.chunks(2048).enumerate() {
                assert!(chunk.iter().all(|&c| c == b'0' + i as u8), "seed {seed}");
            }
        }
    }
}
