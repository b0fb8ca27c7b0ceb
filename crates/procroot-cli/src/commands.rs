//! One function per subcommand: open the root, make the library call, print the result.

use std::fs::Metadata;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

use procroot::{FileType, Handle, OFlags, Root, SpecialFiles};
use serde_json::{Map, Value};

use crate::cli::{CatArgs, LsArgs, ReadlinkArgs, ResolveArgs, RootOpts, StatArgs};
use crate::confine::{self, confine, Notice};
use crate::output::{insert_os, print_json, write_line, Failure};

/// The size of `cat`'s copy buffer.
const CAT_BUFFER: usize = 128 * 1024;

/// Opens the root chosen by `opts`.
fn open_root(opts: &RootOpts) -> Result<Root, Failure> {
    Ok(opts.open()?)
}

/// An empty PATH operand names nothing: `ENOENT` with exit status 1, as coreutils answers
/// (`cat: '': No such file or directory`), rather than a usage error. Checked before the root
/// is used.
pub(crate) fn check_operand(command: &'static str, path: &Path) -> Result<(), Failure> {
    if path.as_os_str().is_empty() {
        let err = procroot::Error::from_errno(procroot::Errno::NOENT).context(command, path);
        return Err(err.into());
    }
    Ok(())
}

/// The context for an error that has none of its own: one from a [`Handle`] accessor (its
/// path, its type, a directory listing) or from reading or writing a file the library opened.
/// It gets operation `op`, the path as given and the root, as the library's own errors have;
/// an error that already has them is left alone.
pub(crate) fn in_context<'a>(
    root: &'a Root,
    op: &'static str,
    path: &'a Path,
) -> impl Fn(procroot::Error) -> Failure + 'a {
    move |e| {
        if e.operation().is_empty() {
            e.context(op, path).in_root(root.display_name()).into()
        } else {
            e.into()
        }
    }
}

/// `--special-files` as the library's setting.
pub(crate) fn special_files(allow: bool) -> SpecialFiles {
    if allow {
        SpecialFiles::Allow
    } else {
        SpecialFiles::Refuse
    }
}

/// Resolves `path` as a handle, following a trailing symlink unless `nofollow`.
fn resolve_handle(root: &Root, path: &Path, nofollow: bool) -> procroot::Result<Handle> {
    if nofollow {
        root.resolve_nofollow(path)
    } else {
        root.resolve(path)
    }
}

/// `procroot resolve`.
pub fn resolve(args: &ResolveArgs) -> Result<ExitCode, Failure> {
    check_operand("resolve", &args.path)?;
    let root = open_root(&args.root)?;
    confine(
        Notice::json(args.root.json),
        confine::Job::on("resolve", &root),
    )?;
    let path = &args.path;
    let ctx = in_context(&root, "resolve", path);
    let (found, file_type, backend) = if args.except_last {
        // What eval_symlinks(ExceptLast) computes; the last component's type (JSON only) is
        // looked at, unfollowed, in the directory that was resolved.
        let found = root.resolve_except_last(path)?;
        let file_type = if args.root.json {
            found.file_type().map_err(&ctx)?
        } else {
            None
        };
        (
            found.path_in_root().map_err(&ctx)?,
            file_type,
            found.backend(),
        )
    } else {
        let handle = resolve_handle(&root, path, args.nofollow)?;
        let found = handle.path_in_root().map_err(&ctx)?.to_path_buf();
        (
            found,
            Some(handle.file_type().map_err(&ctx)?),
            handle.backend(),
        )
    };
    if args.root.json {
        let mut obj = Map::new();
        insert_os(&mut obj, "path", found.as_os_str());
        obj.insert(
            "type".into(),
            file_type.map_or(Value::Null, |t| t.as_str().into()),
        );
        obj.insert("backend".into(), backend.as_str().into());
        print_json(&Value::Object(obj))?;
    } else {
        print_path(&found)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a path and a newline, its bytes unchanged.
fn print_path(path: &Path) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    write_line(&mut stdout, path.as_os_str().as_bytes())?;
    stdout.flush().map_err(|e| Failure::stdout(&e))
}

/// `procroot cat`.
pub fn cat(args: &CatArgs) -> Result<ExitCode, Failure> {
    // Each PATH is looked at through O_PATH before it is opened: a FIFO or device node is
    // refused (ENXIO) unless --special-files, and then opened without blocking.
    let root = open_root(&args.root)?.with_special_files(special_files(args.special_files));
    // Stdout is the files' bytes: a notice goes to stderr.
    let notice = if args.root.json {
        Notice::Stderr
    } else {
        Notice::None
    };
    confine(notice, confine::Job::on("cat", &root))?;
    let mut flags = OFlags::RDONLY | OFlags::NOCTTY;
    if args.nofollow {
        flags |= OFlags::NOFOLLOW;
    }
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; CAT_BUFFER];
    let mut status = ExitCode::SUCCESS;
    for path in &args.paths {
        let copied = check_operand("cat", path)
            .map_err(CatError::Source)
            .and_then(|()| cat_one(&root, path, flags, &mut stdout, &mut buf));
        match copied {
            Ok(()) => {}
            Err(CatError::Source(failure)) => {
                // What was copied goes out before the message. A failed flush is not lost: the
                // next write meets the same error (a closed pipe then ends with this status).
                let _ = stdout.flush();
                failure.report(args.root.json);
                status = ExitCode::from(1);
            }
            // The reader has gone: stop quietly, with the status of what was done so far.
            Err(CatError::Stdout(failure)) if failure.is_broken_pipe() => return Ok(status),
            Err(CatError::Stdout(failure)) => return Err(failure),
        }
    }
    match stdout.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(status),
        Err(e) => Err(Failure::stdout(&e)),
        Ok(()) => Ok(status),
    }
}

/// Why copying one file failed.
pub(crate) enum CatError {
    /// The file could not be opened or read: report it and go on with the next one.
    Source(Failure),
    /// Stdout could not be written: stop.
    Stdout(Failure),
}

/// Copies the file at `path` in `root` to `out`.
fn cat_one(
    root: &Root,
    path: &Path,
    flags: OFlags,
    out: &mut impl Write,
    buf: &mut [u8],
) -> Result<(), CatError> {
    let file = root
        .open_file(path, flags)
        .map_err(|e| CatError::Source(e.into()))?;
    copy_file(file, out, buf, in_context(root, "read", path))
}

/// Streams `file` to `out`; `read_failed` gives a failed read its context.
pub(crate) fn copy_file(
    mut file: std::fs::File,
    out: &mut impl Write,
    buf: &mut [u8],
    read_failed: impl Fn(procroot::Error) -> Failure,
) -> Result<(), CatError> {
    loop {
        match file.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => out
                .write_all(&buf[..n])
                .map_err(|e| CatError::Stdout(Failure::stdout(&e)))?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CatError::Source(read_failed(e.into()))),
        }
    }
}

/// `procroot ls`.
pub fn ls(args: &LsArgs) -> Result<ExitCode, Failure> {
    check_operand("ls", &args.path)?;
    let root = open_root(&args.root)?;
    confine(Notice::json(args.root.json), confine::Job::on("ls", &root))?;
    let ctx = in_context(&root, "read directory", &args.path);
    let handle = resolve_handle(&root, &args.path, args.nofollow)?;
    let dir_path = if args.root.json {
        Some(handle.path_in_root().map_err(&ctx)?.to_path_buf())
    } else {
        None
    };
    // List exactly the directory that was resolved. A symlink (with --nofollow) or a
    // non-directory is ENOTDIR here.
    let entries = handle
        .read_dir()
        .and_then(|dir| dir.collect::<procroot::Result<Vec<_>>>())
        .map_err(&ctx)?;
    print_listing(dir_path.as_deref(), entries, args.long)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a directory listing, sorted bytewise: names (with `long`, types too), or with
/// `json_path` (the directory's path) one JSON object.
pub(crate) fn print_listing(
    json_path: Option<&Path>,
    mut entries: Vec<procroot::DirEntry>,
    long: bool,
) -> Result<(), Failure> {
    // Unstable gives the same output: the names of one directory are distinct (a name read twice
    // because the directory changed during the read prints the same bytes in either order), and
    // it sorts in place, with no merge buffer (about 10% of an `ls` of 2,000 names went to the
    // stable sort, BENCHMARKS.md section 8).
    entries.sort_unstable_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
    if let Some(dir_path) = json_path {
        let entries = entries
            .iter()
            .map(|entry| {
                let mut obj = Map::new();
                insert_os(&mut obj, "name", entry.file_name());
                obj.insert("type".into(), entry.file_type().as_str().into());
                Value::Object(obj)
            })
            .collect();
        let mut obj = Map::new();
        insert_os(&mut obj, "path", dir_path.as_os_str());
        obj.insert("entries".into(), Value::Array(entries));
        print_json(&Value::Object(obj))?;
    } else {
        let mut stdout = io::BufWriter::new(io::stdout().lock());
        // One buffer for every line, not an allocation per name.
        let mut line = Vec::new();
        for entry in &entries {
            line.clear();
            if long {
                line.extend_from_slice(format!("{:<7}  ", entry.file_type().as_str()).as_bytes());
            }
            line.extend_from_slice(entry.file_name().as_bytes());
            write_line(&mut stdout, &line)?;
        }
        stdout.flush().map_err(|e| Failure::stdout(&e))?;
    }
    Ok(())
}

/// `procroot stat`.
pub fn stat(args: &StatArgs) -> Result<ExitCode, Failure> {
    check_operand("stat", &args.path)?;
    let root = open_root(&args.root)?;
    confine(
        Notice::json(args.root.json),
        confine::Job::on("stat", &root),
    )?;
    let ctx = in_context(&root, "stat", &args.path);
    let handle = resolve_handle(&root, &args.path, args.nofollow)?;
    let md = handle.metadata().map_err(&ctx)?;
    let path = handle.path_in_root().map_err(&ctx)?;
    print_stat(path, &md, args.root.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints `stat` output for the file at `path` (as the user should see it) with metadata `md`.
pub(crate) fn print_stat(path: &Path, md: &Metadata, json: bool) -> Result<(), Failure> {
    let info = StatInfo::new(md);
    if json {
        let mut obj = Map::new();
        insert_os(&mut obj, "path", path.as_os_str());
        obj.insert("type".into(), info.file_type.as_str().into());
        obj.insert("mode".into(), info.mode().into());
        obj.insert("size".into(), md.size().into());
        obj.insert("ino".into(), md.ino().into());
        obj.insert("dev".into(), info.dev().into());
        obj.insert("dev_major".into(), info.dev_major.into());
        obj.insert("dev_minor".into(), info.dev_minor.into());
        obj.insert("nlink".into(), md.nlink().into());
        obj.insert("uid".into(), md.uid().into());
        obj.insert("gid".into(), md.gid().into());
        for (name, time) in info.times {
            let (sec, nsec) = time.unzip();
            obj.insert(name.into(), sec.into());
            obj.insert(format!("{name}_nsec"), nsec.into());
        }
        print_json(&Value::Object(obj))
    } else {
        let mut stdout = io::stdout().lock();
        let mut line = b"path: ".to_vec();
        line.extend_from_slice(path.as_os_str().as_bytes());
        write_line(&mut stdout, &line)?;
        let text = format!(
            "type: {}\nmode: {}\nsize: {}\nino: {}\ndev: {}\nnlink: {}\nuid: {}\ngid: {}\n",
            info.file_type.as_str(),
            info.mode(),
            md.size(),
            md.ino(),
            info.dev(),
            md.nlink(),
            md.uid(),
            md.gid(),
        );
        let mut text = text;
        for (name, time) in info.times {
            match time {
                Some((sec, nsec)) => text.push_str(&format!("{name}: {sec}.{nsec:09}\n")),
                None => text.push_str(&format!("{name}: -\n")),
            }
        }
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| Failure::stdout(&e))
    }
}

/// The fields of `procroot stat` that are computed from the metadata rather than copied.
struct StatInfo {
    /// The file's type.
    file_type: FileType,
    /// The permission bits, with set-user-ID, set-group-ID and sticky.
    perm: u32,
    /// The major number of the device of the file system holding the file.
    dev_major: u32,
    /// The minor number of that device.
    dev_minor: u32,
    /// `atime`, `mtime`, `ctime` and `btime` (birth), each as seconds since the epoch and
    /// nanoseconds (`st_atime`, `st_atime_nsec`); the birth time is `None` when the kernel
    /// does not give it (statx without `STATX_BTIME`: the file system does not record it).
    times: [(&'static str, Option<(i64, i64)>); 4],
}

impl StatInfo {
    /// Extracts the computed fields from `md`.
    fn new(md: &Metadata) -> StatInfo {
        StatInfo {
            file_type: FileType::from_mode(md.mode()),
            perm: md.mode() & 0o7777,
            dev_major: rustix::fs::major(md.dev()),
            dev_minor: rustix::fs::minor(md.dev()),
            times: [
                ("atime", Some((md.atime(), md.atime_nsec()))),
                ("mtime", Some((md.mtime(), md.mtime_nsec()))),
                ("ctime", Some((md.ctime(), md.ctime_nsec()))),
                // std asks statx for STATX_BTIME and reports it missing as an error.
                ("btime", md.created().ok().map(epoch_time)),
            ],
        }
    }

    /// The permission bits in octal, at least four digits: `0644`.
    fn mode(&self) -> String {
        format!("{:04o}", self.perm)
    }

    /// `major:minor`.
    fn dev(&self) -> String {
        format!("{}:{}", self.dev_major, self.dev_minor)
    }
}

/// `time` as `(seconds, nanoseconds)` since the epoch, as `struct stat` has them: the
/// nanoseconds are always 0 to 999999999, so a time before 1970 has negative seconds.
fn epoch_time(time: std::time::SystemTime) -> (i64, i64) {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, i64::from(d.subsec_nanos())),
        Err(e) => {
            let d = e.duration();
            let (sec, nsec) = (-(d.as_secs() as i64), i64::from(d.subsec_nanos()));
            if nsec == 0 {
                (sec, 0)
            } else {
                (sec - 1, 1_000_000_000 - nsec)
            }
        }
    }
}

/// `procroot readlink`.
pub fn readlink(args: &ReadlinkArgs) -> Result<ExitCode, Failure> {
    check_operand("readlink", &args.path)?;
    let root = open_root(&args.root)?;
    confine(
        Notice::json(args.root.json),
        confine::Job::on("readlink", &root),
    )?;
    let ctx = in_context(&root, "readlink", &args.path);
    let link = root.resolve_nofollow(&args.path)?;
    let target = link.readlink().map_err(&ctx)?;
    let path = link.path_in_root().map_err(&ctx)?;
    print_link(path, &target, args.root.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a symlink's `target`: the bytes and a newline, or with `json` an object with the
/// link's own `path`.
pub(crate) fn print_link(path: &Path, target: &Path, json: bool) -> Result<(), Failure> {
    if json {
        let mut obj = Map::new();
        insert_os(&mut obj, "path", path.as_os_str());
        insert_os(&mut obj, "target", target.as_os_str());
        print_json(&Value::Object(obj))
    } else {
        let mut stdout = io::stdout().lock();
        write_line(&mut stdout, target.as_os_str().as_bytes())?;
        stdout.flush().map_err(|e| Failure::stdout(&e))
    }
}
