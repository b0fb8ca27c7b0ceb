//! Creating and removing inside a root: `create_file`, `mkdir`, `mkdir_all`, `remove_file`,
//! `remove_dir`, `remove_all`.
//!
//! Every table row runs on `Backend::Kernel` and `Backend::Emulated`, each on a fresh copy of the
//! same tree, and checks the result (success, or the exact errno and error kind) and then the
//! state of the tree, including that nothing outside the root (`top/outside`) changed.
//!
//! ```text
//! top/
//! |-- outside/secret             <- must never change
//! `-- root/                      <- the Root
//!     |-- d/f                    (a file "data")
//!     |-- d/sub/                 (empty)
//!     |-- file                   ("data")
//!     |-- abslink -> /d          (absolute, restarts at the root)
//!     |-- relout -> ../outside   (climbs; clamped at the root under InRoot)
//!     |-- hostlink -> <top>/outside/secret (a host path: inside the root it names nothing)
//!     |-- dangling -> nowhere
//!     |-- loop -> loop
//!     `-- dirlink -> d
//! ```
//!
//! Also: `O_TMPFILE`, mode validation, concurrent `mkdir_all`, scale (a 10,000-deep tree and a
//! 100,000-entry directory removed by `remove_all`; `PROCROOT_SCALE_ENTRIES` overrides the
//! entry count), and mounts (`remove_all` not crossing one, `cross_mounts`, `NO_XDEV`) in a
//! private mount namespace.

use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use procroot::{Backend, ErrorKind, OFlags, Policy, RemoveAllOptions, ResolveFlags, Root};
use procroot_testutil::{
    fd_identity, identity, in_child, in_private_mount_ns, mount_raw, open_dir, require_privilege,
};
use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];

/// The standard layout (see the module docs), removed on drop.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        Layout::new_in(&std::env::temp_dir())
    }

    /// The layout on tmpfs (`/dev/shm`) when there is one: the scale tests measure our walk, not
    /// ext4's journal (a 10,000-deep tree costs seconds of `ext4_mkdir` alone on a busy VM).
    fn new_fast() -> Layout {
        let shm = Path::new("/dev/shm");
        let is_tmpfs = rustix::fs::statfs(shm).is_ok_and(|st| st.f_type == 0x0102_1994);
        Layout::new_in(if is_tmpfs { shm } else { Path::new("/tmp") })
    }

    fn new_in(parent: &Path) -> Layout {
        let dir = tempfile::Builder::new()
            .prefix("procroot-mutate-")
            .tempdir_in(parent)
            .expect("tempdir");
        let top = dir.path();
        std::fs::create_dir_all(top.join("outside")).unwrap();
        std::fs::write(top.join("outside/secret"), b"SECRET").unwrap();
        let root = top.join("root");
        std::fs::create_dir_all(root.join("d/sub")).unwrap();
        std::fs::write(root.join("d/f"), b"data").unwrap();
        std::fs::write(root.join("file"), b"data").unwrap();
        let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, root.join(name));
        link(Path::new("/d"), "abslink").unwrap();
        link(Path::new("../outside"), "relout").unwrap();
        link(&top.join("outside/secret"), "hostlink").unwrap();
        link(Path::new("nowhere"), "dangling").unwrap();
        link(Path::new("loop"), "loop").unwrap();
        link(Path::new("d"), "dirlink").unwrap();
        Layout { dir }
    }

    fn top(&self) -> &Path {
        self.dir.path()
    }

    fn root_path(&self) -> PathBuf {
        self.top().join("root")
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.root_path().join(rel)
    }

    fn root(&self, backend: Backend) -> Root {
        Root::open(self.root_path()).unwrap().with_backend(backend)
    }

    /// Fails if anything under `top/outside` was added, removed or changed.
    fn check_outside(&self, what: &str) {
        let outside = self.top().join("outside");
        let names: Vec<_> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["secret"], "{what}: top/outside changed");
        assert_eq!(
            std::fs::read(outside.join("secret")).unwrap(),
            b"SECRET",
            "{what}: the secret changed"
        );
    }
}

/// What a row expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Done,
    Fail(Errno),
    Invalid(Errno),
    Xdev,
}

fn check(what: &str, got: Result<(), procroot::Error>, want: Expect) -> Result<(), String> {
    match (got, want) {
        (Ok(()), Expect::Done) => Ok(()),
        (Err(e), Expect::Fail(errno))
            if e.errno() == errno && e.kind() != ErrorKind::InvalidInput =>
        {
            Ok(())
        }
        (Err(e), Expect::Invalid(errno))
            if e.errno() == errno && e.kind() == ErrorKind::InvalidInput =>
        {
            Ok(())
        }
        (Err(e), Expect::Xdev)
            if e.errno() == Errno::XDEV && e.kind() == ErrorKind::SafetyViolation =>
        {
            Ok(())
        }
        (Ok(()), want) => Err(format!("{what}: succeeded, want {want:?}")),
        (Err(e), want) => Err(format!(
            "{what}: got {e} (kind {:?}), want {want:?}",
            e.kind()
        )),
    }
}

/// An operation under test.
type OpFn = Box<dyn Fn(&Root) -> Result<(), procroot::Error>>;
/// A check of the tree after the operation.
type AfterFn = Box<dyn Fn(&Layout) -> Result<(), String>>;

/// A table row: an operation on a root and a check of the tree afterwards.
struct Row {
    name: String,
    policy: Policy,
    op: OpFn,
    want: Expect,
    after: AfterFn,
}

fn row(
    name: impl Into<String>,
    op: impl Fn(&Root) -> Result<(), procroot::Error> + 'static,
    want: Expect,
) -> Row {
    Row {
        name: name.into(),
        policy: Policy::InRoot,
        op: Box::new(op),
        want,
        after: Box::new(|_| Ok(())),
    }
}

impl Row {
    fn after(mut self, f: impl Fn(&Layout) -> Result<(), String> + 'static) -> Row {
        self.after = Box::new(f);
        self
    }
    fn policy(mut self, policy: Policy) -> Row {
        self.policy = policy;
        self
    }
}

/// Runs every row on both backends, each on a fresh layout, and reports all failures at once.
fn run(table: &str, rows: Vec<Row>) {
    let mut failures = Vec::new();
    let mut count = 0;
    for r in &rows {
        for backend in BACKENDS {
            let layout = Layout::new();
            let root = layout.root(backend).with_policy(r.policy);
            let what = format!("{table} / {} / {:?} / {backend:?}", r.name, r.policy);
            count += 1;
            if let Err(msg) = check(&what, (r.op)(&root), r.want) {
                failures.push(msg);
                continue;
            }
            if let Err(msg) = (r.after)(&layout) {
                failures.push(format!("{what}: {msg}"));
            }
            layout.check_outside(&what);
        }
    }
    println!("{table}: {count} cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The contents of the file at `rel` in the root, or a description of why it cannot be read.
fn exists(rel: &'static str) -> impl Fn(&Layout) -> Result<(), String> {
    move |l| {
        std::fs::symlink_metadata(l.at(rel))
            .map(|_| ())
            .map_err(|e| format!("{rel} should exist: {e}"))
    }
}

fn missing(rel: &'static str) -> impl Fn(&Layout) -> Result<(), String> {
    move |l| match std::fs::symlink_metadata(l.at(rel)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Ok(_) => Err(format!("{rel} should not exist")),
        Err(e) => Err(format!("{rel}: {e}")),
    }
}

fn contents(rel: &'static str, want: &'static [u8]) -> impl Fn(&Layout) -> Result<(), String> {
    move |l| match std::fs::read(l.at(rel)) {
        Ok(got) if got == want => Ok(()),
        Ok(got) => Err(format!("{rel}: contents {got:?}, want {want:?}")),
        Err(e) => Err(format!("{rel}: {e}")),
    }
}

fn both(
    a: impl Fn(&Layout) -> Result<(), String>,
    b: impl Fn(&Layout) -> Result<(), String>,
) -> impl Fn(&Layout) -> Result<(), String> {
    move |l| a(l).and_then(|()| b(l))
}

fn create(path: &'static str, flags: OFlags) -> impl Fn(&Root) -> Result<(), procroot::Error> {
    move |r| r.create_file(path, flags, 0o644).map(drop)
}

const W: OFlags = OFlags::WRONLY;

#[test]
fn create_file_table() {
    use Expect::*;
    let rows = vec![
        row("new file", create("new", W), Done).after(exists("new")),
        row("new file in a subdir", create("d/new", W), Done).after(exists("d/new")),
        row("existing file, no O_EXCL, kept", create("file", W), Done)
            .after(contents("file", b"data")),
        row(
            "existing file, O_TRUNC",
            create("file", W | OFlags::TRUNC),
            Done,
        )
        .after(contents("file", b"")),
        row(
            "existing file, O_EXCL",
            create("file", W | OFlags::EXCL),
            Fail(Errno::EXIST),
        ),
        row(
            "through an absolute symlink parent",
            create("abslink/new", W),
            Done,
        )
        .after(exists("d/new")),
        row(
            "through a relative symlink parent",
            create("dirlink/new", W),
            Done,
        )
        .after(exists("d/new")),
        // `..` at the root stays at the root under InRoot, is an escape under Beneath.
        row("../../escape", create("../../escape", W), Done).after(exists("escape")),
        row("../../escape (Beneath)", create("../../escape", W), Xdev)
            .policy(Policy::Beneath)
            .after(missing("escape")),
        row("/abs (Beneath)", create("/abs", W), Xdev).policy(Policy::Beneath),
        row(
            "relout/new lands in the root",
            create("relout/new", W),
            Fail(Errno::NOENT),
        ),
        // Trailing symlinks are never followed when creating.
        row(
            "trailing symlink to a file",
            create("dirlink/../hostlink", W),
            Fail(Errno::LOOP),
        ),
        row(
            "trailing symlink (host path)",
            create("hostlink", W),
            Fail(Errno::LOOP),
        ),
        row(
            "trailing symlink, O_EXCL",
            create("hostlink", W | OFlags::EXCL),
            Fail(Errno::EXIST),
        ),
        row("dangling symlink", create("dangling", W), Fail(Errno::LOOP)).after(missing("nowhere")),
        row(
            "dangling symlink, O_EXCL",
            create("dangling", W | OFlags::EXCL),
            Fail(Errno::EXIST),
        )
        .after(missing("nowhere")),
        row("symlink to a dir", create("dirlink", W), Fail(Errno::LOOP)),
        row("existing dir", create("d", W), Fail(Errno::ISDIR)),
        // libpathrs's answer, before any syscall (the kernel would say EISDIR).
        row("trailing slash", create("new/", W), Invalid(Errno::INVAL)).after(missing("new")),
        row("missing parent", create("nope/new", W), Fail(Errno::NOENT)),
        row(
            "parent is a file",
            create("file/new", W),
            Fail(Errno::NOTDIR),
        ),
        row(
            "parent is a dangling symlink",
            create("dangling/new", W),
            Fail(Errno::NOENT),
        ),
        row("parent is a loop", create("loop/new", W), Fail(Errno::LOOP)),
        row("name .", create("d/.", W), Invalid(Errno::INVAL)),
        row("name ..", create("d/..", W), Invalid(Errno::INVAL)),
        row("name /", create("/", W), Invalid(Errno::INVAL)),
        row("empty", create("", W), Invalid(Errno::INVAL)),
        row("NUL byte", create("a\0b", W), Invalid(Errno::INVAL)),
        row(
            "mode beyond 0o7777",
            |r: &Root| r.create_file("new", W, 0o10644).map(drop),
            Invalid(Errno::INVAL),
        )
        .after(missing("new")),
        row(
            "setuid mode is fine",
            |r: &Root| r.create_file("new", W, 0o4755).map(drop),
            Done,
        )
        .after(|l| {
            let mode = std::fs::metadata(l.at("new")).unwrap().mode() & 0o7777;
            (mode & 0o4000 != 0)
                .then_some(())
                .ok_or(format!("mode {mode:o}"))
        }),
        row("O_PATH", create("new", OFlags::PATH), Invalid(Errno::INVAL)).after(missing("new")),
        row(
            "O_DIRECTORY",
            create("new", OFlags::DIRECTORY),
            Invalid(Errno::INVAL),
        )
        .after(missing("new")),
        row(
            "mode is applied",
            |r: &Root| r.create_file("new", W, 0o600).map(drop),
            Done,
        )
        .after(|l| {
            let mode = std::fs::metadata(l.at("new")).unwrap().mode() & 0o777;
            (mode == 0o600)
                .then_some(())
                .ok_or(format!("mode {mode:o}"))
        }),
        // NO_SYMLINKS applies to the parent walk; the last component is never followed anyway.
        row(
            "NO_SYMLINKS in the parent",
            |r: &Root| {
                r.clone()
                    .with_flags(ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS)
                    .create_file("dirlink/new", W, 0o644)
                    .map(drop)
            },
            Fail(Errno::LOOP),
        ),
    ];
    run("create_file", rows);
}

#[test]
fn create_file_writes_where_it_says() {
    for backend in BACKENDS {
        let layout = Layout::new();
        let root = layout.root(backend);
        let mut f = root
            .create_file("abslink/hello", W | OFlags::EXCL, 0o644)
            .unwrap();
        std::io::Write::write_all(&mut f, b"hi").unwrap();
        assert_eq!(std::fs::read(layout.at("d/hello")).unwrap(), b"hi");
        assert_eq!(fd_identity(f.as_fd()), identity(layout.at("d/hello")));
        layout.check_outside("create_file_writes_where_it_says");
    }
}

#[test]
fn create_file_tmpfile() {
    for backend in BACKENDS {
        let layout = Layout::new();
        let root = layout.root(backend);
        let tmp = OFlags::TMPFILE | OFlags::RDWR;
        let mut f = root.create_file("abslink", tmp, 0o600).unwrap();
        std::io::Write::write_all(&mut f, b"unnamed").unwrap();
        let st = rustix::fs::fstat(&f).unwrap();
        assert_eq!(st.st_nlink, 0, "{backend:?}: an O_TMPFILE file has no name");
        assert_eq!(st.st_dev, identity(layout.at("d")).0);
        let names: Vec<_> = std::fs::read_dir(layout.at("d")).unwrap().collect();
        assert_eq!(names.len(), 2, "{backend:?}: nothing new appears in d");
        // O_CREAT is implied, so passing it with O_TMPFILE is harmless.
        root.create_file("d", tmp | OFlags::CREATE, 0o600).unwrap();
        let e = root.create_file("file", tmp, 0o600).unwrap_err();
        assert_eq!(e.errno(), Errno::NOTDIR, "{backend:?}: {e}");
        let e = root.create_file("nope", tmp, 0o600).unwrap_err();
        assert_eq!(e.errno(), Errno::NOENT, "{backend:?}: {e}");
        // O_TMPFILE needs write access, as the kernel says.
        let e = root.create_file("d", OFlags::TMPFILE, 0o600).unwrap_err();
        assert_eq!(e.errno(), Errno::INVAL, "{backend:?}: {e}");
        let e = root.create_file("d", tmp, 0o17777).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        layout.check_outside("tmpfile");
    }
}

fn mkdir(path: &'static str, mode: u32) -> impl Fn(&Root) -> Result<(), procroot::Error> {
    move |r| r.mkdir(path, mode)
}

fn is_dir(rel: &'static str) -> impl Fn(&Layout) -> Result<(), String> {
    move |l| match std::fs::symlink_metadata(l.at(rel)) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(format!("{rel} is not a directory")),
        Err(e) => Err(format!("{rel}: {e}")),
    }
}

#[test]
fn mkdir_table() {
    use Expect::*;
    let rows = vec![
        row("new", mkdir("new", 0o755), Done).after(is_dir("new")),
        row("trailing slash", mkdir("new/", 0o755), Done).after(is_dir("new")),
        row(
            "through a symlink parent",
            mkdir("abslink/new", 0o755),
            Done,
        )
        .after(is_dir("d/new")),
        row("sticky is kept", mkdir("new", 0o1777), Done).after(|l| {
            let mode = std::fs::metadata(l.at("new")).unwrap().mode() & 0o7777;
            (mode & 0o1000 != 0)
                .then_some(())
                .ok_or(format!("mode {mode:o}"))
        }),
        row("existing dir", mkdir("d", 0o755), Fail(Errno::EXIST)),
        row("existing file", mkdir("file", 0o755), Fail(Errno::EXIST)),
        row(
            "dangling symlink",
            mkdir("dangling", 0o755),
            Fail(Errno::EXIST),
        )
        .after(missing("nowhere")),
        row(
            "symlink to a host path",
            mkdir("hostlink", 0o755),
            Fail(Errno::EXIST),
        ),
        row(
            "missing parent",
            mkdir("nope/new", 0o755),
            Fail(Errno::NOENT),
        ),
        row(
            "parent is a file",
            mkdir("file/new", 0o755),
            Fail(Errno::NOTDIR),
        ),
        row("parent loop", mkdir("loop/new", 0o755), Fail(Errno::LOOP)),
        row("../../x (Beneath)", mkdir("../../x", 0o755), Xdev).policy(Policy::Beneath),
        row("../../x", mkdir("../../x", 0o755), Done).after(is_dir("x")),
        row("setgid", mkdir("new", 0o2755), Invalid(Errno::INVAL)).after(missing("new")),
        row("setuid", mkdir("new", 0o4755), Invalid(Errno::INVAL)).after(missing("new")),
        row(
            "beyond 0o7777",
            mkdir("new", 0o10755),
            Invalid(Errno::INVAL),
        ),
        row("name ..", mkdir("d/..", 0o755), Invalid(Errno::INVAL)),
        row("name .", mkdir(".", 0o755), Invalid(Errno::INVAL)),
        // Decided from the path before the parent is looked up: not ENOENT.
        row("missing/.", mkdir("nope/x/.", 0o755), Invalid(Errno::INVAL)),
        row(
            "missing/..",
            mkdir("nope/x/..", 0o755),
            Invalid(Errno::INVAL),
        ),
        row(
            "missing/./",
            mkdir("nope/.//", 0o755),
            Invalid(Errno::INVAL),
        ),
        row("file/..", mkdir("file/..", 0o755), Invalid(Errno::INVAL)),
        row("empty", mkdir("", 0o755), Invalid(Errno::INVAL)),
    ];
    run("mkdir", rows);
}

fn mkdir_all(path: &'static str, mode: u32) -> impl Fn(&Root) -> Result<(), procroot::Error> {
    move |r| {
        let handle = r.mkdir_all(path, mode)?;
        // The handle must be the directory the path now names (inside the root).
        let by_path = r.resolve(path)?;
        assert_eq!(
            fd_identity(&handle),
            fd_identity(&by_path),
            "mkdir_all({path:?}) handle"
        );
        assert_eq!(
            handle.path_in_root()?,
            by_path.path_in_root()?,
            "mkdir_all({path:?}) path_in_root"
        );
        Ok(())
    }
}

#[test]
fn mkdir_all_table() {
    use Expect::*;
    let rows = vec![
        row("new chain", mkdir_all("a/b/c/d", 0o755), Done).after(is_dir("a/b/c/d")),
        row("existing", mkdir_all("d/sub", 0o755), Done),
        row("root", mkdir_all("/", 0o755), Done),
        row("partly existing", mkdir_all("d/sub/x/y", 0o755), Done).after(is_dir("d/sub/x/y")),
        row(
            "dots and slashes",
            mkdir_all("/d//./sub/x/./y/", 0o755),
            Done,
        )
        .after(is_dir("d/sub/x/y")),
        row(
            "through an absolute symlink",
            mkdir_all("abslink/x/y", 0o755),
            Done,
        )
        .after(is_dir("d/x/y")),
        row(
            "ending in a symlink to a dir",
            mkdir_all("dirlink", 0o755),
            Done,
        ),
        row(
            ".. in the existing part",
            mkdir_all("d/sub/../x", 0o755),
            Done,
        )
        .after(is_dir("d/x")),
        row(
            "../.. clamped (InRoot)",
            mkdir_all("../../x/y", 0o755),
            Done,
        )
        .after(is_dir("x/y")),
        // relout -> ../outside is clamped to /outside, which does not exist: a dangling symlink,
        // whose target is not created.
        // (ENOTDIR, as libpathrs and filepath-securejoin say.)
        row(
            "relout/x",
            mkdir_all("relout/x", 0o755),
            Fail(Errno::NOTDIR),
        )
        .after(missing("outside")),
        row("../x (Beneath)", mkdir_all("../x/y", 0o755), Xdev)
            .policy(Policy::Beneath)
            .after(missing("x")),
        row("../x (InRootStrict)", mkdir_all("../x/y", 0o755), Xdev)
            .policy(Policy::InRootStrict)
            .after(missing("x")),
        row(
            ".. in the missing part",
            mkdir_all("a/b/../c", 0o755),
            Invalid(Errno::INVAL),
        )
        .after(missing("a")),
        row(
            "last is a file",
            mkdir_all("file", 0o755),
            Fail(Errno::NOTDIR),
        ),
        row(
            "last is a dangling symlink (a host path)",
            mkdir_all("d/../hostlink", 0o755),
            Fail(Errno::NOTDIR),
        ),
        row(
            "last is a dangling symlink",
            mkdir_all("dangling", 0o755),
            Fail(Errno::NOTDIR),
        )
        .after(missing("nowhere")),
        row(
            "last is a symlink to a file",
            |r: &Root| {
                r.symlink("/file", "filelink")?;
                r.mkdir_all("filelink", 0o755).map(drop)
            },
            Fail(Errno::NOTDIR),
        ),
        row(
            "through a symlink to a file",
            |r: &Root| {
                r.symlink("/file", "filelink")?;
                r.mkdir_all("filelink/x/y", 0o755).map(drop)
            },
            Fail(Errno::NOTDIR),
        ),
        row(
            "through a file",
            mkdir_all("file/x/y", 0o755),
            Fail(Errno::NOTDIR),
        )
        .after(missing("x")),
        row(
            "through a dangling symlink",
            mkdir_all("dangling/x", 0o755),
            Fail(Errno::NOTDIR),
        )
        .after(missing("nowhere")),
        row(
            "through a host-path symlink",
            mkdir_all("hostlink/x", 0o755),
            Fail(Errno::NOTDIR),
        ),
        row(
            "through a loop",
            mkdir_all("loop/x", 0o755),
            Fail(Errno::LOOP),
        ),
        row("setgid", mkdir_all("a/b", 0o2755), Invalid(Errno::INVAL)).after(missing("a")),
        row("setuid", mkdir_all("a/b", 0o4755), Invalid(Errno::INVAL)).after(missing("a")),
        row(
            "beyond 0o7777",
            mkdir_all("a/b", 0o20755),
            Invalid(Errno::INVAL),
        ),
        row("empty", mkdir_all("", 0o755), Fail(Errno::NOENT)),
        row("NUL byte", mkdir_all("a/\0", 0o755), Invalid(Errno::INVAL)).after(missing("a")),
        // A later component fails (name too long): the chain created so far is removed again.
        row(
            "nothing half-created",
            |r: &Root| {
                let long = "n".repeat(256);
                r.mkdir_all(format!("d/sub/a/b/c/{long}"), 0o755).map(drop)
            },
            Fail(Errno::NAMETOOLONG),
        )
        .after(missing("d/sub/a")),
        row("mode is applied", mkdir_all("a/b", 0o700), Done).after(|l| {
            for rel in ["a", "a/b"] {
                let mode = std::fs::metadata(l.at(rel)).unwrap().mode() & 0o7777;
                if mode != 0o700 {
                    return Err(format!("{rel}: mode {mode:o}"));
                }
            }
            Ok(())
        }),
        row(
            "NO_SYMLINKS",
            |r: &Root| {
                r.clone()
                    .with_flags(ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS)
                    .mkdir_all("dirlink/x", 0o755)
                    .map(drop)
            },
            Fail(Errno::LOOP),
        )
        .after(missing("d/x")),
    ];
    run("mkdir_all", rows);
}

/// `mkdir_all`'s errnos for non-directories and dangling symlinks in the way are libpathrs's
/// (and filepath-securejoin's): checked against the `pathrs` crate itself, on libpathrs's own
/// fixture (`src/tests/common/root.rs`), on both backends.
#[test]
fn mkdir_all_errnos_match_libpathrs() {
    let top = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let root = top.path().join(name);
        for dir in ["a", "b/c/d/e/f", "c"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("b/c/file"), b"").unwrap();
        for (link, target) in [
            ("b-file", "b/c/file"),
            ("a-fake1", "a/fake"),
            ("a-fake2", "a/fake/foo/bar/.."),
            ("a-fake3", "a/fake/../../b"),
            ("c/a-fake1", "/a/fake"),
            ("c/a-fake2", "/a/fake/foo/bar/.."),
            ("c/a-fake3", "/a/fake/../../b"),
        ] {
            std::os::unix::fs::symlink(target, root.join(link)).unwrap();
        }
        root
    };
    let paths = [
        "b/c/file",
        "b/c/file/subdir",
        "b/c/file/../d",
        "b-file",
        "b-file/subdir",
        "a-fake1",
        "a-fake1/foo",
        "a-fake2",
        "a-fake2/foo",
        "a-fake3",
        "a-fake3/foo",
        "c/a-fake1",
        "c/a-fake1/foo",
        "c/a-fake2/foo",
        "c/a-fake3/foo",
    ];
    let mut mismatches = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let theirs_root = fresh(&format!("pathrs{i}"));
        let theirs = pathrs::Root::open(&theirs_root)
            .unwrap()
            .mkdir_all(path, &std::fs::Permissions::from_mode(0o755))
            .map(drop)
            .map_err(|e| match e.kind() {
                pathrs::error::ErrorKind::OsError(Some(errno)) => errno,
                other => panic!("{path}: pathrs gave {other:?}"),
            });
        for backend in BACKENDS {
            let ours_root = fresh(&format!("ours{i}{backend:?}"));
            let ours = Root::open(&ours_root)
                .unwrap()
                .with_backend(backend)
                .mkdir_all(path, 0o755)
                .map(drop)
                .map_err(|e| e.errno().raw_os_error());
            if ours != theirs {
                mismatches.push(format!(
                    "{path} {backend:?}: ours {ours:?}, pathrs {theirs:?}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn mkdir_all_concurrent() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 25;
    for backend in BACKENDS {
        let layout = Layout::new();
        let root = layout.root(backend);
        for round in 0..ROUNDS {
            let path = format!("c{round}/a/b/c/d/e/f");
            let ids: Vec<(u64, u64)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        let (root, path) = (&root, &path);
                        s.spawn(move || fd_identity(root.mkdir_all(path, 0o755).unwrap()))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let want = identity(layout.at(&path));
            assert!(
                ids.iter().all(|&id| id == want),
                "{backend:?} round {round}: {ids:?}"
            );
        }
        layout.check_outside("mkdir_all_concurrent");
    }
}

#[test]
fn remove_table() {
    use Expect::*;
    let rm = |p: &'static str| move |r: &Root| r.remove_file(p);
    let rmdir = |p: &'static str| move |r: &Root| r.remove_dir(p);
    let rows = vec![
        row("remove_file", rm("file"), Done).after(missing("file")),
        row(
            "remove_file through a symlink parent",
            rm("abslink/f"),
            Done,
        )
        .after(missing("d/f")),
        row(
            "remove_file of a symlink removes the link",
            rm("dirlink"),
            Done,
        )
        .after(both(missing("dirlink"), exists("d/f"))),
        row("remove_file of a host-path link", rm("hostlink"), Done).after(missing("hostlink")),
        row("remove_file of a dangling link", rm("dangling"), Done).after(missing("dangling")),
        row("remove_file missing", rm("nope"), Fail(Errno::NOENT)),
        row(
            "remove_file missing parent",
            rm("nope/x"),
            Fail(Errno::NOENT),
        ),
        row(
            "remove_file parent is a file",
            rm("file/x"),
            Fail(Errno::NOTDIR),
        ),
        row("remove_file of a dir", rm("d/sub"), Fail(Errno::ISDIR)).after(is_dir("d/sub")),
        row(
            "remove_file trailing slash on a file",
            rm("file/"),
            Fail(Errno::NOTDIR),
        )
        .after(exists("file")),
        row("remove_file loop parent", rm("loop/x"), Fail(Errno::LOOP)),
        row("remove_file ..", rm("d/.."), Invalid(Errno::INVAL)).after(is_dir("d")),
        row("remove_file .", rm("d/."), Invalid(Errno::INVAL)).after(is_dir("d")),
        row("remove_file /", rm("/"), Invalid(Errno::INVAL)),
        row("remove_file empty", rm(""), Invalid(Errno::INVAL)),
        row("remove_file ../../file (Beneath)", rm("../../file"), Xdev)
            .policy(Policy::Beneath)
            .after(exists("file")),
        row("remove_file ../../file (InRoot)", rm("../../file"), Done).after(missing("file")),
        row("remove_dir", rmdir("d/sub"), Done).after(missing("d/sub")),
        row("remove_dir trailing slash", rmdir("d/sub/"), Done).after(missing("d/sub")),
        row("remove_dir not empty", rmdir("d"), Fail(Errno::NOTEMPTY)),
        row("remove_dir of a file", rmdir("file"), Fail(Errno::NOTDIR)),
        row(
            "remove_dir of a symlink to a dir",
            rmdir("dirlink"),
            Fail(Errno::NOTDIR),
        )
        .after(both(exists("dirlink"), is_dir("d"))),
        row("remove_dir missing", rmdir("nope"), Fail(Errno::NOENT)),
        row("remove_dir ..", rmdir("d/sub/.."), Invalid(Errno::INVAL)),
    ];
    run("remove", rows);
}

#[test]
fn remove_all_table() {
    use Expect::*;
    let rm_all = |p: &'static str| move |r: &Root| r.remove_all(p);
    let rows = vec![
        row("a tree", rm_all("d"), Done).after(missing("d")),
        row("a file", rm_all("file"), Done).after(missing("file")),
        row("a symlink to a dir: only the link", rm_all("dirlink"), Done)
            .after(both(missing("dirlink"), exists("d/f"))),
        row(
            "a host-path symlink: only the link",
            rm_all("hostlink"),
            Done,
        )
        .after(missing("hostlink")),
        row("through a symlink parent", rm_all("abslink/sub"), Done).after(missing("d/sub")),
        row("missing", rm_all("nope"), Fail(Errno::NOENT)),
        row("missing parent", rm_all("nope/x"), Fail(Errno::NOENT)),
        row("parent is a file", rm_all("file/x"), Fail(Errno::NOTDIR)),
        // libpathrs's answer: the slash is ignored and the file removed.
        row("trailing slash on a file", rm_all("file/"), Done).after(missing("file")),
        row("..", rm_all("d/.."), Invalid(Errno::INVAL)).after(is_dir("d")),
        row("/", rm_all("/"), Invalid(Errno::INVAL)).after(is_dir("d")),
        row("empty", rm_all(""), Invalid(Errno::INVAL)),
        row("../../d (Beneath)", rm_all("../../d"), Xdev)
            .policy(Policy::Beneath)
            .after(is_dir("d")),
        // The whole root's contents, with every kind of link in it; nothing outside moves.
        row(
            "everything",
            |r: &Root| {
                for name in [
                    "d", "file", "abslink", "relout", "hostlink", "dangling", "loop",
                ] {
                    r.remove_all(name)?;
                }
                r.remove_all("dirlink")
            },
            Done,
        )
        .after(|l| {
            let left: Vec<_> = std::fs::read_dir(l.root_path()).unwrap().collect();
            left.is_empty()
                .then_some(())
                .ok_or(format!("left: {left:?}"))
        }),
    ];
    run("remove_all", rows);
}

/// A tree whose subdirectories hold symlinks pointing outside, in every style.
#[test]
fn remove_all_never_follows_links_out() {
    for backend in BACKENDS {
        let layout = Layout::new();
        let top = layout.top().to_path_buf();
        for i in 0..20 {
            let dir = layout.at(&format!("t/{i}/x"));
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::symlink(top.join("outside"), dir.join("abs")).unwrap();
            std::os::unix::fs::symlink("../../../../../outside", dir.join("rel")).unwrap();
            std::os::unix::fs::symlink("/", dir.join("slash")).unwrap();
            std::fs::write(dir.join("f"), b"x").unwrap();
        }
        layout.root(backend).remove_all("t").unwrap();
        assert!(!layout.at("t").exists());
        layout.check_outside("remove_all_never_follows_links_out");
    }
}

#[test]
fn remove_all_10000_deep() {
    const DEPTH: usize = 10_000;
    const FD_LIMIT: u64 = 160;
    for backend in BACKENDS {
        let layout = Layout::new_fast();
        // Built with mkdirat in a loop, holding one fd at a time: no path is ever this long.
        let mut cur = open_dir(layout.root_path());
        rustix::fs::mkdirat(&cur, "deep", Mode::from_raw_mode(0o755)).unwrap();
        cur = rustix::fs::openat(
            &cur,
            "deep",
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        for i in 0..DEPTH {
            rustix::fs::mkdirat(&cur, "d", Mode::from_raw_mode(0o755)).unwrap();
            if i % 100 == 0 {
                let f = rustix::fs::openat(
                    &cur,
                    "file",
                    OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )
                .unwrap();
                drop(f);
            }
            cur = rustix::fs::openat(&cur, "d", OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
                .unwrap();
        }
        drop(cur);
        let root = layout.root(backend);
        let deep = layout.at("deep");
        // In a child with a low fd limit: the walk must keep its fds bounded whatever the depth.
        in_child(|| {
            let limit = rustix::process::Rlimit {
                current: Some(FD_LIMIT),
                maximum: None,
            };
            let old = rustix::process::getrlimit(rustix::process::Resource::Nofile);
            rustix::process::setrlimit(
                rustix::process::Resource::Nofile,
                rustix::process::Rlimit {
                    maximum: old.maximum,
                    ..limit
                },
            )
            .unwrap();
            let start = Instant::now();
            root.remove_all("deep").unwrap();
            println!(
                "{backend:?}: removed a {DEPTH}-deep tree in {:.2?} (fd limit {FD_LIMIT})",
                start.elapsed()
            );
            assert!(!deep.exists());
        });
        assert!(!layout.at("deep").exists());
        layout.check_outside("10000 deep");
    }
}

#[test]
fn remove_all_100000_entries() {
    let entries: usize = std::env::var("PROCROOT_SCALE_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let layout = Layout::new_fast();
    let big = open_dir(layout.root_path());
    rustix::fs::mkdirat(&big, "big", Mode::from_raw_mode(0o755)).unwrap();
    let big =
        rustix::fs::openat(&big, "big", OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
    let start = Instant::now();
    for i in 0..entries {
        // Mostly files, some empty directories and symlinks out.
        let name = format!("e{i}");
        match i % 50 {
            0 => rustix::fs::mkdirat(&big, name.as_str(), Mode::from_raw_mode(0o755)).unwrap(),
            1 => rustix::fs::symlinkat("/", &big, name.as_str()).unwrap(),
            _ => drop(
                rustix::fs::openat(
                    &big,
                    name.as_str(),
                    OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )
                .unwrap(),
            ),
        }
    }
    println!("created {entries} entries in {:.2?}", start.elapsed());
    let start = Instant::now();
    layout.root(Backend::Auto).remove_all("big").unwrap();
    println!(
        "removed a directory of {entries} entries in {:.2?}",
        start.elapsed()
    );
    assert!(!layout.at("big").exists());
    layout.check_outside("100000 entries");
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn remove_all_and_mounts() {
    require_privilege("a private mount namespace and tmpfs mounts");
    for backend in BACKENDS {
        let layout = Layout::new();
        let root_path = layout.root_path();
        in_private_mount_ns(|| {
            let mnt = root_path.join("t/a/m");
            std::fs::create_dir_all(&mnt).unwrap();
            std::fs::write(root_path.join("t/a/before"), b"x").unwrap();
            mount_raw(Some("tmpfs"), &mnt, Some("tmpfs"), 0, None).unwrap();
            std::fs::write(mnt.join("keep"), b"on another mount").unwrap();
            let root = Root::open(&root_path).unwrap().with_backend(backend);

            // Not crossed by default: EXDEV, and the mount's contents survive.
            let e = root.remove_all("t").unwrap_err();
            assert_eq!(e.errno(), Errno::XDEV, "{backend:?}: {e}");
            assert_eq!(e.kind(), ErrorKind::SafetyViolation);
            assert!(
                mnt.join("keep").exists(),
                "{backend:?}: crossed into the mount"
            );
            // The mount point itself as the target is not crossed either.
            let e = root.remove_all("t/a/m").unwrap_err();
            assert_eq!(e.errno(), Errno::XDEV, "{backend:?}: {e}");
            assert!(mnt.join("keep").exists());

            // NO_XDEV applies to creating too.
            let xroot = root
                .clone()
                .with_flags(ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS);
            let e = xroot.create_file("t/a/m/new", W, 0o644).unwrap_err();
            assert_eq!(e.errno(), Errno::XDEV, "{backend:?}: {e}");
            let e = xroot.mkdir_all("t/a/m/x/y", 0o755).unwrap_err();
            assert_eq!(e.errno(), Errno::XDEV, "{backend:?}: {e}");
            let e = xroot
                .create_file("t/a/m", OFlags::TMPFILE | OFlags::RDWR, 0o600)
                .unwrap_err();
            assert_eq!(e.errno(), Errno::XDEV, "{backend:?}: {e}");
            // A bind-mounted file is not opened (nor truncated) through NO_XDEV.
            std::fs::write(root_path.join("t/a/target"), b"").unwrap();
            mount_raw(
                Some(mnt.join("keep").to_str().unwrap()),
                root_path.join("t/a/target"),
                None,
                libc::MS_BIND,
                None,
            )
            .unwrap();
            let e = xroot
                .create_file("t/a/target", W | OFlags::TRUNC, 0o644)
                .unwrap_err();
            assert_eq!(e.errno(), Errno::XDEV, "{backend:?}: {e}");
            assert_eq!(
                std::fs::read(mnt.join("keep")).unwrap(),
                b"on another mount"
            );
            rustix::mount::unmount(
                root_path.join("t/a/target"),
                rustix::mount::UnmountFlags::empty(),
            )
            .unwrap();

            // With cross_mounts the mount is emptied; the mount point itself is busy.
            let e = root
                .remove_all_with("t", RemoveAllOptions::default().with_cross_mounts(true))
                .unwrap_err();
            assert_eq!(e.errno(), Errno::BUSY, "{backend:?}: {e}");
            assert!(
                !mnt.join("keep").exists(),
                "{backend:?}: the mount was not emptied"
            );
            rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::empty()).unwrap();
            root.remove_all("t").unwrap();
            assert!(!root_path.join("t").exists());
        });
        layout.check_outside("mounts");
    }
}

#[test]
fn errors_carry_context() {
    let layout = Layout::new();
    let root = layout.root(Backend::Auto);
    let e = root.mkdir_all("file/x", 0o755).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("mkdir_all") && msg.contains("file/x"), "{msg}");
    let e = root.remove_all("nope").unwrap_err();
    assert!(e.to_string().contains("remove_all \"nope\""), "{e}");
    let e = root.create_file("d/..", W, 0o644).unwrap_err();
    assert!(e.to_string().starts_with("create"), "{e}");
    let _ = AtFlags::empty();
}
