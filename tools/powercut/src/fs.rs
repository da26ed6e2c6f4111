//! The FUSE side: requests from the kernel applied to the [`Tree`].

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};
use libc::c_int;

use crate::tree::{Body, Node, Op, Tree, write_at};

const TTL: Duration = Duration::from_secs(1);

pub struct Fs(Arc<Mutex<Tree>>);

impl Fs {
    pub fn new(tree: Arc<Mutex<Tree>>) -> Fs {
        Fs(tree)
    }

    /// The tree, or EIO once the power is cut.
    fn live(&self) -> Result<MutexGuard<'_, Tree>, c_int> {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if t.dead { Err(libc::EIO) } else { Ok(t) }
    }
}

fn attr(t: &Tree, ino: u64) -> Result<FileAttr, c_int> {
    let n = t.nodes.get(&ino).ok_or(libc::ENOENT)?;
    let (kind, size, nlink) = match &n.body {
        Body::File { data, .. } => (FileType::RegularFile, data.len() as u64, 1),
        Body::Dir { .. } => (FileType::Directory, 4096, 2),
    };
    Ok(FileAttr {
        ino,
        size,
        blocks: size.div_ceil(512),
        atime: n.mtime,
        mtime: n.mtime,
        ctime: n.mtime,
        crtime: n.mtime,
        kind,
        perm: n.perm,
        nlink,
        uid: n.uid,
        gid: n.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

fn child(t: &Tree, parent: u64, name: &OsStr) -> Result<u64, c_int> {
    match t.nodes.get(&parent).map(|n| &n.body) {
        Some(Body::Dir { entries, .. }) => entries.get(name).copied().ok_or(libc::ENOENT),
        Some(Body::File { .. }) => Err(libc::ENOTDIR),
        None => Err(libc::ENOENT),
    }
}

/// Links a new node under `parent`; fails if the name is taken.
fn make(t: &mut Tree, parent: u64, name: &OsStr, node: Node) -> Result<FileAttr, c_int> {
    match child(t, parent, name) {
        Ok(_) => return Err(libc::EEXIST),
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let ino = t.add(node);
    if let Some(Body::Dir { entries, .. }) = t.nodes.get_mut(&parent).map(|n| &mut n.body) {
        entries.insert(name.to_owned(), ino);
    }
    touch(t, parent);
    attr(t, ino)
}

fn touch(t: &mut Tree, ino: u64) {
    if let Some(n) = t.nodes.get_mut(&ino) {
        n.mtime = SystemTime::now();
    }
}

fn entries_mut(
    t: &mut Tree,
    dir: u64,
) -> Result<&mut std::collections::BTreeMap<std::ffi::OsString, u64>, c_int> {
    match t.nodes.get_mut(&dir).map(|n| &mut n.body) {
        Some(Body::Dir { entries, .. }) => Ok(entries),
        Some(Body::File { .. }) => Err(libc::ENOTDIR),
        None => Err(libc::ENOENT),
    }
}

fn is_empty_dir(t: &Tree, ino: u64) -> bool {
    matches!(t.nodes.get(&ino).map(|n| &n.body), Some(Body::Dir { entries, .. }) if entries.is_empty())
}

fn remove(t: &mut Tree, parent: u64, name: &OsStr, want_dir: bool) -> Result<(), c_int> {
    let ino = child(t, parent, name)?;
    let is_dir = t.nodes.get(&ino).is_some_and(Node::is_dir);
    match (want_dir, is_dir) {
        (false, true) => return Err(libc::EISDIR),
        (true, false) => return Err(libc::ENOTDIR),
        (true, true) if !is_empty_dir(t, ino) => return Err(libc::ENOTEMPTY),
        _ => {}
    }
    entries_mut(t, parent)?.remove(name);
    touch(t, parent);
    Ok(())
}

fn rename(
    t: &mut Tree,
    (parent, name): (u64, &OsStr),
    (newparent, newname): (u64, &OsStr),
    flags: u32,
) -> Result<(), c_int> {
    if flags & libc::RENAME_EXCHANGE != 0 {
        return Err(libc::EINVAL);
    }
    let ino = child(t, parent, name)?;
    let src_dir = t.nodes.get(&ino).is_some_and(Node::is_dir);
    match child(t, newparent, newname) {
        Ok(_) if flags & libc::RENAME_NOREPLACE != 0 => return Err(libc::EEXIST),
        Ok(old) if old == ino => return Ok(()),
        Ok(old) => {
            let dst_dir = t.nodes.get(&old).is_some_and(Node::is_dir);
            match (src_dir, dst_dir) {
                (false, true) => return Err(libc::EISDIR),
                (true, false) => return Err(libc::ENOTDIR),
                (true, true) if !is_empty_dir(t, old) => return Err(libc::ENOTEMPTY),
                _ => {}
            }
        }
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    entries_mut(t, newparent)?;
    entries_mut(t, parent)?.remove(name);
    entries_mut(t, newparent)?.insert(newname.to_owned(), ino);
    touch(t, parent);
    touch(t, newparent);
    Ok(())
}

/// Applies a content change now and remembers it until the next fsync.
fn change(t: &mut Tree, ino: u64, op: Op) -> Result<(), c_int> {
    let node = t.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
    let Body::File { data, pending, .. } = &mut node.body else {
        return Err(libc::EISDIR);
    };
    match &op {
        Op::Write {
            offset,
            data: bytes,
        } => write_at(data, *offset, bytes),
        Op::Truncate(len) => data.resize(*len as usize, 0),
    }
    pending.push(op);
    node.mtime = SystemTime::now();
    Ok(())
}

fn size_of(t: &Tree, ino: u64) -> Result<u64, c_int> {
    match t.nodes.get(&ino).map(|n| &n.body) {
        Some(Body::File { data, .. }) => Ok(data.len() as u64),
        Some(Body::Dir { .. }) => Err(libc::EISDIR),
        None => Err(libc::ENOENT),
    }
}

fn sync(t: &mut Tree, ino: u64) -> Result<(), c_int> {
    if !t.nodes.contains_key(&ino) {
        return Err(libc::ENOENT);
    }
    t.fsync(ino).map_err(|()| libc::EIO)
}

/// The permission bits a new node gets.
fn perm(mode: u32, umask: u32) -> u16 {
    (mode & !umask & 0o7777) as u16
}

fn answer_entry(reply: ReplyEntry, r: Result<FileAttr, c_int>) {
    match r {
        Ok(a) => reply.entry(&TTL, &a, 0),
        Err(e) => reply.error(e),
    }
}

fn answer(reply: ReplyEmpty, r: Result<(), c_int>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn offset(o: i64) -> Result<u64, c_int> {
    u64::try_from(o).map_err(|_| libc::EINVAL)
}

impl Filesystem for Fs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        answer_entry(
            reply,
            self.live()
                .and_then(|t| child(&t, parent, name).and_then(|ino| attr(&t, ino))),
        );
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.live().and_then(|t| attr(&t, ino)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let r = self.live().and_then(|mut t| {
            if let Some(len) = size {
                change(&mut t, ino, Op::Truncate(len))?;
            }
            let n = t.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
            if let Some(m) = mode {
                n.perm = (m & 0o7777) as u16;
            }
            n.uid = uid.unwrap_or(n.uid);
            n.gid = gid.unwrap_or(n.gid);
            match mtime {
                Some(TimeOrNow::SpecificTime(at)) => n.mtime = at,
                Some(TimeOrNow::Now) => n.mtime = SystemTime::now(),
                None => {}
            }
            attr(&t, ino)
        });
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(libc::ENOSYS);
        }
        let node = Node::file(perm(mode, umask), req.uid(), req.gid());
        answer_entry(
            reply,
            self.live()
                .and_then(|mut t| make(&mut t, parent, name, node)),
        );
    }

    fn mkdir(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let node = Node::dir(perm(mode, umask), req.uid(), req.gid());
        answer_entry(
            reply,
            self.live()
                .and_then(|mut t| make(&mut t, parent, name, node)),
        );
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        answer(
            reply,
            self.live()
                .and_then(|mut t| remove(&mut t, parent, name, false)),
        );
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        answer(
            reply,
            self.live()
                .and_then(|mut t| remove(&mut t, parent, name, true)),
        );
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        answer(
            reply,
            self.live()
                .and_then(|mut t| rename(&mut t, (parent, name), (newparent, newname), flags)),
        );
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.live().and_then(|t| attr(&t, ino)) {
            Ok(_) => reply.opened(0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset_: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let t = match self.live() {
            Ok(t) => t,
            Err(e) => return reply.error(e),
        };
        let Ok(start) = offset(offset_) else {
            return reply.error(libc::EINVAL);
        };
        match t.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::File { data, .. }) => {
                let start = (start as usize).min(data.len());
                let end = start.saturating_add(size as usize).min(data.len());
                reply.data(&data[start..end]);
            }
            Some(Body::Dir { .. }) => reply.error(libc::EISDIR),
            None => reply.error(libc::ENOENT),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset_: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let r = offset(offset_).and_then(|at| {
            let mut t = self.live()?;
            change(
                &mut t,
                ino,
                Op::Write {
                    offset: at,
                    data: data.to_vec(),
                },
            )
        });
        match r {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lo: u64, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        answer(reply, self.live().and_then(|mut t| sync(&mut t, ino)));
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset_: i64,
        mut reply: ReplyDirectory,
    ) {
        let t = match self.live() {
            Ok(t) => t,
            Err(e) => return reply.error(e),
        };
        let Some(Body::Dir { entries, .. }) = t.nodes.get(&ino).map(|n| &n.body) else {
            return reply.error(libc::ENOTDIR);
        };
        let dots = [
            (ino, FileType::Directory, OsStr::new(".")),
            (ino, FileType::Directory, OsStr::new("..")),
        ];
        let listed = entries.iter().map(|(name, &c)| {
            let kind = if t.nodes.get(&c).is_some_and(Node::is_dir) {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            (c, kind, name.as_os_str())
        });
        let skip = usize::try_from(offset_).unwrap_or(0);
        for (i, (c, kind, name)) in dots.into_iter().chain(listed).enumerate().skip(skip) {
            if reply.add(c, i as i64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        answer(reply, self.live().and_then(|mut t| sync(&mut t, ino)));
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        // Plenty of room: a full disk is tested elsewhere.
        let blocks = 16 * 1024 * 1024 * 1024 / 4096;
        reply.statfs(blocks, blocks, blocks, 1 << 20, 1 << 20, 4096, 255, 4096);
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let node = Node::file(perm(mode, umask), req.uid(), req.gid());
        match self
            .live()
            .and_then(|mut t| make(&mut t, parent, name, node))
        {
            Ok(a) => reply.created(&TTL, &a, 0, 0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset_: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(libc::EOPNOTSUPP);
        }
        let r = offset(offset_)
            .and_then(|at| Ok(at.saturating_add(offset(length)?)))
            .and_then(|end| {
                let mut t = self.live()?;
                if end > size_of(&t, ino)? {
                    change(&mut t, ino, Op::Truncate(end))?;
                }
                Ok(())
            });
        answer(reply, r);
    }
}
