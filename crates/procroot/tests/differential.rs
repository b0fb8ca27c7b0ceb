//! Differential property tests: the emulated walker against the kernel (`openat2`).
//!
//! The kernel is the oracle. proptest generates small trees of directories, files and symlinks
//! (relative and absolute, loops, `..`-heavy, dangling, pointing at files, with trailing
//! slashes) inside a temporary directory used as the root, plus paths over the same small
//! alphabet. Some directories are sticky and world-writable (`/tmp`-like) and, when the test
//! runs as root, some symlinks belong to another user (uid 2000), so that
//! `fs.protected_symlinks` has links to refuse (the kernel refuses them even to root, if this
//! machine's sysctl is 1; both backends must agree either way). For every policy, trailing mode and a few flag combinations, both backends must
//! give the same answer: the same object (`st_dev`, `st_ino`), or the same errno.
//!
//! Every path the emulated walker reports ([`Handle::path_in_root`]) is checked too: resolved
//! again by the kernel with no symlinks allowed, it must land on the same object; and a kernel
//! handle's `path_in_root` must be the same path.
//!
//! [`Root::eval_symlinks`] is compared the same way, in both modes: on a kernel-backend root it
//! answers from the kernel's own path of what `openat2` opened (`d_path`, see `root/eval.rs`),
//! on an emulated root by the walk. The answers must be the same string, or the same error with
//! the same message; [`emulated_matches_kernel`] also checks that the kernel's path really
//! answered most of the successful calls (a fast path that always fell back would pass the
//! comparison and test nothing).
//!
//! Tests:
//! - [`emulated_matches_kernel`]: the property test (no privilege needed);
//! - [`eval_symlinks_agrees_on_escaped_and_detached_roots`]: generated trees under a root that
//!   escaped its bind mount and under a root on a detached mount, where `d_path` is not the
//!   path (issue 21 section 2);
//! - [`emulated_matches_kernel_across_mounts`]: the same with bind mounts in the generated trees,
//!   so that `NO_XDEV` has boundaries to refuse, and in half the cases with `MS_NOSYMFOLLOW` on
//!   them, so that every symlink inside is refused with `ELOOP` (private mount namespace);
//! - fixed cases the generator reaches only by chance: [`fixed_cases_agree`],
//!   [`symlink_budget_agrees`] (the 40-link budget at its edge), [`procfs_in_root_agrees`]
//!   (magic links), [`no_symlinks_refuses_an_unreadable_magic_link`] and
//!   [`unsearchable_directory_agrees`] (an unprivileged caller).
//!
//! `PROPTEST_CASES` overrides the number of generated trees (default [`DEFAULT_CASES`]; the
//! mount variant runs a quarter as many).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use procroot::{Backend, EvalMode, Handle, OFlags, Policy, ResolveFlags, Root};
use procroot_testutil::fd_identity;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use rustix::io::Errno;

/// Generated trees per run in CI; each tree is tried with up to [`MAX_PATHS`] paths.
const DEFAULT_CASES: u32 = 256;
/// The most paths tried per tree.
const MAX_PATHS: usize = 16;
/// The most entries in a tree.
const MAX_ENTRIES: usize = 12;
/// The deepest entry (in components).
const MAX_DEPTH: usize = 3;
/// How many more times a kernel `ELOOP` that disagrees with the emulated walker is asked again
/// (see [`Roots::check`]).
const KERNEL_RETRIES: usize = 50;
/// The names entries are made of. Few, so that paths and symlink targets collide with the tree
/// (and with each other, which makes loops) as often as possible.
const NAMES: &[&str] = &["a", "b", "c"];

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        // Minimal reproducers are printed in the failure message; no regression files are
        // written next to the sources.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generated inputs
// ---------------------------------------------------------------------------------------------

/// One component of a path or symlink target: a name, `.`, `..`, or empty (a doubled slash).
fn component() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => proptest::sample::select(NAMES),
        3 => Just(".."),
        1 => Just("."),
        1 => Just(""),
    ]
}

/// A path string: an optional leading `/`, up to `max` components, an optional trailing `/`.
fn path_string(max: usize) -> impl Strategy<Value = String> {
    (
        proptest::bool::weighted(0.3),
        proptest::collection::vec(component(), 0..=max),
        any::<bool>(),
    )
        .prop_map(|(absolute, components, trailing)| {
            let mut s = String::new();
            if absolute {
                s.push('/');
            }
            s.push_str(&components.join("/"));
            if trailing && !components.is_empty() {
                s.push('/');
            }
            s
        })
}

/// A symlink target: never empty (Linux cannot create an empty symlink).
fn symlink_target() -> impl Strategy<Value = String> {
    path_string(4).prop_map(|t| if t.is_empty() { ".".to_string() } else { t })
}

#[derive(Clone, Debug)]
enum Kind {
    Dir,
    /// A directory with mode 1777, like `/tmp`: where `fs.protected_symlinks` applies.
    StickyDir,
    File,
    Symlink(String),
    /// A symlink owned by uid [`FOREIGN_UID`] (when the test runs as root; else by us).
    ForeignSymlink(String),
}

/// The owner of [`Kind::ForeignSymlink`]s: neither the follower (root) nor the owner of any
/// directory in the tree.
const FOREIGN_UID: u32 = 2000;

#[derive(Clone)]
struct Entry {
    /// Indexes into [`NAMES`], 1 to [`MAX_DEPTH`] of them.
    path: Vec<usize>,
    kind: Kind,
}

impl Entry {
    fn rel_path(&self) -> String {
        self.path
            .iter()
            .map(|&i| NAMES[i])
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Dir => write!(f, "dir {}", self.rel_path()),
            Kind::StickyDir => write!(f, "dir {} (1777)", self.rel_path()),
            Kind::File => write!(f, "file {}", self.rel_path()),
            Kind::Symlink(target) => write!(f, "symlink {} -> {target:?}", self.rel_path()),
            Kind::ForeignSymlink(target) => write!(
                f,
                "symlink {} -> {target:?} (uid {FOREIGN_UID})",
                self.rel_path()
            ),
        }
    }
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        2 => Just(Kind::Dir),
        1 => Just(Kind::StickyDir),
        1 => Just(Kind::File),
        2 => symlink_target().prop_map(Kind::Symlink),
        1 => symlink_target().prop_map(Kind::ForeignSymlink),
    ];
    (
        proptest::collection::vec(0..NAMES.len(), 1..=MAX_DEPTH),
        kind,
    )
        .prop_map(|(path, kind)| Entry { path, kind })
}

/// The tree description and the paths to try in it.
#[derive(Clone, Debug)]
struct Case {
    tree: Vec<Entry>,
    paths: Vec<String>,
    /// With mounts ([`emulated_matches_kernel_across_mounts`]): the bind mounts are
    /// `MS_NOSYMFOLLOW`.
    nosymfollow: bool,
    /// The root directory itself is sticky and world-writable (mode 1777), so that every
    /// top-level foreign link is one `fs.protected_symlinks` protects.
    sticky_root: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(entry(), 0..=MAX_ENTRIES),
        proptest::collection::vec(path_string(6), 1..=MAX_PATHS),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(tree, paths, nosymfollow, sticky_root)| Case {
            tree,
            paths,
            nosymfollow,
            sticky_root,
        })
}

// ---------------------------------------------------------------------------------------------
// Building a tree
// ---------------------------------------------------------------------------------------------

/// Creates the entries under `top`, in order. Missing parents become directories. An entry whose
/// name already exists, or whose parent exists but is not a real directory, is skipped. Nothing
/// here follows a symlink: a generated symlink can point anywhere (`/a` means the host's `/a`
/// to `std::fs`), so every step is checked with `lstat`.
fn build(top: &Path, entries: &[Entry]) {
    use std::os::unix::fs::PermissionsExt;
    let privileged = procroot_testutil::is_privileged();
    'entries: for e in entries {
        let mut dir = top.to_path_buf();
        for &i in &e.path[..e.path.len() - 1] {
            dir.push(NAMES[i]);
            match std::fs::symlink_metadata(&dir) {
                Ok(md) if md.file_type().is_dir() => {}
                Ok(_) => continue 'entries,
                Err(_) => std::fs::create_dir(&dir).expect("mkdir parent"),
            }
        }
        let full = dir.join(NAMES[*e.path.last().unwrap()]);
        if std::fs::symlink_metadata(&full).is_ok() {
            continue;
        }
        match &e.kind {
            Kind::Dir => std::fs::create_dir(&full).expect("mkdir"),
            Kind::StickyDir => {
                std::fs::create_dir(&full).expect("mkdir");
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o1777))
                    .expect("chmod 1777");
            }
            Kind::File => std::fs::write(&full, b"file").expect("write file"),
            Kind::Symlink(target) => std::os::unix::fs::symlink(target, &full).expect("symlink"),
            Kind::ForeignSymlink(target) => {
                std::os::unix::fs::symlink(target, &full).expect("symlink");
                if privileged {
                    std::os::unix::fs::lchown(&full, Some(FOREIGN_UID), Some(FOREIGN_UID))
                        .expect("lchown");
                }
            }
        }
    }
}

/// Names every object in the tree by its path, for readable failure messages. Another file
/// system mounted in the tree (procfs) is named but not walked.
fn index(top: &Path) -> HashMap<(u64, u64), String> {
    use std::os::unix::fs::MetadataExt;
    fn walk(dir: &Path, dev: u64, rel: &str, out: &mut HashMap<(u64, u64), String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let rel = format!("{rel}/{}", entry.file_name().to_string_lossy());
            let md = std::fs::symlink_metadata(entry.path()).expect("lstat");
            out.insert((md.dev(), md.ino()), rel.clone());
            if md.file_type().is_dir() && md.dev() == dev {
                walk(&entry.path(), dev, &rel, out);
            }
        }
    }
    let mut out = HashMap::new();
    let top_id = procroot_testutil::identity(top);
    out.insert(top_id, "/".to_string());
    walk(top, top_id.0, "", &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Running one resolution
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Root::resolve`: follow a trailing symlink, `O_PATH`.
    Follow,
    /// `Root::resolve_nofollow`.
    NoFollow,
    /// `Root::resolve_parent`: the parent and the last name.
    ParentOnly,
    /// `Root::open_file(O_RDONLY)`.
    OpenRead,
    /// `Root::open_file(O_RDONLY | O_NOFOLLOW)`.
    OpenReadNoFollow,
    /// `Root::open_file(O_RDONLY | O_DIRECTORY)`.
    OpenDir,
    /// `Root::open_file(O_WRONLY)`: no `O_TRUNC`, so files are left as they are.
    OpenWrite,
}

const MODES: &[Mode] = &[
    Mode::Follow,
    Mode::NoFollow,
    Mode::ParentOnly,
    Mode::OpenRead,
    Mode::OpenReadNoFollow,
    Mode::OpenDir,
    Mode::OpenWrite,
];

const POLICIES: &[Policy] = &[Policy::InRoot, Policy::InRootStrict, Policy::Beneath];

fn flag_combos() -> [ResolveFlags; 4] {
    [
        ResolveFlags::NO_MAGICLINKS,
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS,
        ResolveFlags::empty(),
    ]
}

/// What one backend answered.
#[derive(Clone, PartialEq, Eq)]
enum Outcome {
    /// The object it opened.
    Found((u64, u64)),
    /// With [`Mode::ParentOnly`]: the parent directory and the last name.
    Parent((u64, u64), Option<OsString>),
    /// The errno it failed with.
    Failed(Errno),
}

/// An outcome with the tree's names for inodes.
struct Shown<'a>(&'a Outcome, &'a HashMap<(u64, u64), String>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |id: &(u64, u64)| {
            self.1
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("<outside the tree: dev {} ino {}>", id.0, id.1))
        };
        match self.0 {
            Outcome::Found(id) => write!(f, "{}", name(id)),
            Outcome::Parent(id, last) => write!(f, "parent {} + last {last:?}", name(id)),
            Outcome::Failed(errno) => {
                write!(
                    f,
                    "error {} ({errno:?})",
                    procroot::error::errno_name(*errno)
                )
            }
        }
    }
}

/// What [`run`] opened, kept open until the comparison is done: inode numbers on procfs are
/// only stable while something holds the inode.
type Held = (Option<Handle>, Option<File>);

/// Runs `mode` on `root`, returning the outcome and what was opened.
fn run(root: &Root, path: &str, mode: Mode) -> (Outcome, Held) {
    let handle = |r: procroot::Result<Handle>| match r {
        Ok(h) => (Outcome::Found(fd_identity(&h)), (Some(h), None)),
        Err(e) => (Outcome::Failed(e.errno()), (None, None)),
    };
    match mode {
        Mode::Follow => handle(root.resolve(path)),
        Mode::NoFollow => handle(root.resolve_nofollow(path)),
        Mode::ParentOnly => match root.resolve_parent(path) {
            Ok((h, last)) => (Outcome::Parent(fd_identity(&h), last), (Some(h), None)),
            Err(e) => (Outcome::Failed(e.errno()), (None, None)),
        },
        Mode::OpenRead | Mode::OpenReadNoFollow | Mode::OpenDir | Mode::OpenWrite => {
            let flags = match mode {
                Mode::OpenReadNoFollow => OFlags::RDONLY | OFlags::NOFOLLOW,
                Mode::OpenDir => OFlags::RDONLY | OFlags::DIRECTORY,
                Mode::OpenWrite => OFlags::WRONLY,
                _ => OFlags::RDONLY,
            };
            match root.open_file(path, flags) {
                Ok(file) => (Outcome::Found(fd_identity(&file)), (None, Some(file))),
                Err(e) => (Outcome::Failed(e.errno()), (None, None)),
            }
        }
    }
}

/// The roots of one tree: the same directory with each backend and option set.
struct Roots {
    top: PathBuf,
    index: HashMap<(u64, u64), String>,
    /// `(policy, flags, emulated root, kernel root)`.
    combos: Vec<(Policy, ResolveFlags, Root, Root)>,
    /// Re-resolves reported paths: kernel, `InRoot`, `NO_SYMLINKS`, no trailing follow.
    checker: Root,
}

impl Roots {
    fn new(top: &Path) -> Roots {
        Roots::with_base(Root::open(top).expect("open root"), top)
    }

    /// The roots for `base`, whose tree is (now) at `top`.
    fn with_base(base: Root, top: &Path) -> Roots {
        let mut combos = Vec::new();
        for &policy in POLICIES {
            for flags in flag_combos() {
                let with = |backend| {
                    base.clone()
                        .with_policy(policy)
                        .with_flags(flags)
                        .with_backend(backend)
                };
                combos.push((
                    policy,
                    flags,
                    with(Backend::Emulated),
                    with(Backend::Kernel),
                ));
            }
        }
        let checker = base
            .clone()
            .with_policy(Policy::InRoot)
            .with_flags(ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS)
            .with_backend(Backend::Kernel);
        Roots {
            top: top.to_path_buf(),
            index: index(top),
            combos,
            checker,
        }
    }

    /// Compares the backends on `path`; the first disagreement is returned as a message.
    fn check(&self, path: &str) -> Result<(), String> {
        self.check_eval(path)?;
        self.check_resolve(path)
    }

    /// [`Roots::check`] for `eval_symlinks` only.
    fn check_eval(&self, path: &str) -> Result<(), String> {
        for (policy, flags, emulated, kernel) in &self.combos {
            for mode in [EvalMode::Full, EvalMode::ExceptLast] {
                let before = procroot::testing::eval_symlinks_kernel_answers();
                let want = emulated
                    .eval_symlinks(path, mode)
                    .map_err(|e| e.to_string());
                let got = kernel.eval_symlinks(path, mode).map_err(|e| e.to_string());
                let answered = procroot::testing::eval_symlinks_kernel_answers() - before;
                EVAL_STATS.with(|s| {
                    let mut s = s.borrow_mut();
                    s.0 += u64::from(got.is_ok());
                    s.1 += answered;
                });
                if want != got {
                    return Err(format!(
                        "eval_symlinks differs on path {path:?}, policy {policy:?}, flags \
                         {flags:?}, {mode:?} (tree at {}):\n  emulated walk: {want:?}\n  \
                         kernel path:   {got:?} (answered by the kernel's path: {})",
                        self.top.display(),
                        answered == 1
                    ));
                }
            }
        }
        Ok(())
    }

    /// [`Roots::check`] for the resolver's backends only.
    fn check_resolve(&self, path: &str) -> Result<(), String> {
        for (policy, flags, emulated, kernel) in &self.combos {
            for &mode in MODES {
                let ctx = || {
                    format!(
                        "path {path:?}, policy {policy:?}, flags {flags:?}, mode {mode:?} \
                         (tree at {})",
                        self.top.display()
                    )
                };
                let (emu, (emu_handle, _emu_file)) = run(emulated, path, mode);
                let (mut ker, (mut ker_handle, mut _ker_file)) = run(kernel, path, mode);
                // The kernel's answer can depend on what the rest of the system is doing: ELOOP
                // near the 40-link budget, when a mount or unmount anywhere on the system makes
                // an RCU path walk fall back to a ref-walk (the kernel restarts the walk without
                // resetting its link count, set_nameidata sets it once). The library takes a
                // kernel ELOOP as final (a refusal never becomes a success; a spurious one is
                // an error, the safe side), and lets the walker answer an EAGAIN that persists
                // (a rename during every attempt). So a disagreement on ELOOP is asked again a
                // little later before it counts, since a real one persists. EAGAIN is never
                // expected.
                let mut tries = 0;
                while matches!(ker, Outcome::Failed(Errno::LOOP)) && emu != ker {
                    tries += 1;
                    if tries > KERNEL_RETRIES {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    (ker, (ker_handle, _ker_file)) = run(kernel, path, mode);
                }
                if emu != ker {
                    return Err(format!(
                        "backends disagree on {}:\n  emulated: {}\n  kernel:   {}",
                        ctx(),
                        Shown(&emu, &self.index),
                        Shown(&ker, &self.index),
                    ));
                }
                if let Some(h) = &emu_handle {
                    self.check_reported_path(h, mode, &emu)
                        .map_err(|m| format!("{m}, for {}", ctx()))?;
                    if let Some(k) = &ker_handle {
                        let (want, got) = (h.path_in_root(), k.path_in_root());
                        let same = match (&want, &got) {
                            (Ok(a), Ok(b)) => a == b,
                            _ => false,
                        };
                        if !same {
                            return Err(format!(
                                "path_in_root differs for {}: emulated {want:?}, kernel handle \
                                 {got:?}",
                                ctx()
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The emulated walker's reported path, resolved again by the kernel without following any
    /// symlink, must be the object the walker opened.
    fn check_reported_path(&self, h: &Handle, mode: Mode, outcome: &Outcome) -> Result<(), String> {
        let reported = h
            .path_in_root()
            .map_err(|e| format!("emulated path_in_root failed: {e}"))?;
        if !reported.as_os_str().as_bytes().starts_with(b"/") {
            return Err(format!("reported path {reported:?} is not absolute"));
        }
        let want = match outcome {
            Outcome::Found(id) | Outcome::Parent(id, _) => *id,
            Outcome::Failed(_) => unreachable!("a handle means success"),
        };
        let again = self
            .checker
            .resolve_nofollow(reported)
            .map(|h| fd_identity(&h));
        match again {
            Ok(id) if id == want => Ok(()),
            other => Err(format!(
                "emulated {mode:?} result {} was reported as {reported:?}, which resolves to {}",
                Shown(&Outcome::Found(want), &self.index),
                Shown(
                    &match other {
                        Ok(id) => Outcome::Found(id),
                        Err(e) => Outcome::Failed(e.errno()),
                    },
                    &self.index
                ),
            )),
        }
    }
}

thread_local! {
    /// `(successful eval_symlinks calls on kernel roots, of which the kernel's path answered)`.
    static EVAL_STATS: std::cell::RefCell<(u64, u64)> = const { std::cell::RefCell::new((0, 0)) };
}

/// Builds the case's tree in a fresh temporary directory and compares the backends on each of
/// its paths. With `mount_dirs`, every directory named `b` is first bind-mounted onto itself,
/// which changes nothing but where the mount boundaries are (for `NO_XDEV`); that needs a
/// private mount namespace.
fn check_case(case: &Case, mount_dirs: bool) -> Result<(), TestCaseError> {
    let dir = tempfile::Builder::new()
        .prefix("procroot-diff-")
        .tempdir()
        .expect("tempdir");
    build(dir.path(), &case.tree);
    if case.sticky_root {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod 1777");
    }
    // Declared after `dir`, so the mounts go away before the directory is removed.
    let _mounts = if mount_dirs {
        Mounts::bind_dirs_named(dir.path(), "b", case.nosymfollow)
    } else {
        Mounts(Vec::new())
    };
    let roots = Roots::new(dir.path());
    for path in &case.paths {
        if let Err(msg) = roots.check(path) {
            return Err(TestCaseError::fail(format!(
                "{msg}\n  tree: {:#?}",
                case.tree
            )));
        }
    }
    Ok(())
}

/// [`check_case`] on roots whose kernel path (`d_path`) is not their path, which `d_path`
/// does not mark (issue 21 section 2), in a private mount namespace:
/// - an *escaped* root: the tree is built in `src/sub/d`, `src/sub` is bind-mounted on `m`, the
///   root is an fd of `m/d`, and `src/sub/d` is then moved out of the bind mount's subtree
///   (`d_path` of the root and its files is then relative to the file system, unmarked);
/// - a root on a *detached* mount: the tree is built in `r` on a tmpfs at `t`, the root is an
///   fd of `t/r`, and `t` is detached (`MNT_DETACH`; `d_path` is relative to the detached
///   mount's root).
///
/// The emulated walk and the kernel's path must agree exactly, as everywhere (and on the
/// detached root, the resolver's backends too).
fn check_case_moved_roots(case: &Case) -> Result<(), TestCaseError> {
    let dir = tempfile::Builder::new()
        .prefix("procroot-diffm-")
        .tempdir()
        .expect("tempdir");
    let top = dir.path();
    let open = |p: &Path| {
        rustix::fs::open(
            p,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open root directory")
    };
    let fail = |what: &str, msg: String| {
        Err(TestCaseError::fail(format!(
            "{what}: {msg}\n  tree: {:#?}",
            case.tree
        )))
    };
    // Escaped bind mount.
    std::fs::create_dir_all(top.join("src/sub/d")).expect("mkdir");
    std::fs::create_dir_all(top.join("m")).expect("mkdir");
    build(&top.join("src/sub/d"), &case.tree);
    let m = top.join("m");
    let src = top.join("src/sub");
    procroot_testutil::mount_raw(Some(src.to_str().unwrap()), &m, None, libc::MS_BIND, None)
        .expect("bind mount");
    let _bind = Mounts(vec![m.clone()]);
    let fd = open(&m.join("d"));
    std::fs::rename(top.join("src/sub/d"), top.join("src/moved")).expect("move out");
    let roots = Roots::with_base(Root::from_fd(fd).expect("root"), &top.join("src/moved"));
    for path in &case.paths {
        // eval_symlinks only: the resolver's backends differ on an escaped root by design of
        // the kernel (a `..` whose parent is outside the bind mount's subtree is ENOENT,
        // `path_connected`; the walker pops its stack).
        if let Err(msg) = roots.check_eval(path) {
            return fail("escaped bind mount", msg);
        }
    }
    // Detached mount.
    let t = top.join("t");
    std::fs::create_dir_all(&t).expect("mkdir");
    procroot_testutil::mount_raw(Some("tmpfs"), &t, Some("tmpfs"), 0, None).expect("tmpfs");
    std::fs::create_dir(t.join("r")).expect("mkdir");
    build(&t.join("r"), &case.tree);
    let fd = open(&t.join("r"));
    drop(Mounts(vec![t.clone()]));
    let root = Root::from_fd(fd).expect("root");
    // The tree is only reachable through the root now: its index is built from a fresh view.
    let view = format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&root))
    );
    let roots = Roots::with_base(root, Path::new(&view));
    for path in &case.paths {
        if let Err(msg) = roots.check(path) {
            return fail("detached mount", msg);
        }
    }
    Ok(())
}

/// `MS_NOSYMFOLLOW` (Linux 5.10), which the libc crate does not name.
const MS_NOSYMFOLLOW: libc::c_ulong = 256;

/// Mounts made by a test (in a private mount namespace), undone on drop.
struct Mounts(Vec<PathBuf>);

impl Mounts {
    /// Bind-mounts every directory named `name` under `top` onto itself, with `MS_NOSYMFOLLOW`
    /// if `nosymfollow`.
    fn bind_dirs_named(top: &Path, name: &str, nosymfollow: bool) -> Mounts {
        fn find(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("read_dir") {
                let entry = entry.expect("dir entry");
                if entry.file_type().expect("file type").is_dir() {
                    if entry.file_name() == name {
                        out.push(entry.path());
                    }
                    find(&entry.path(), name, out);
                }
            }
        }
        let mut dirs = Vec::new();
        find(top, name, &mut dirs);
        let mut mounts = Mounts(Vec::new());
        for d in dirs {
            let source = d.to_str().expect("temporary paths are UTF-8");
            procroot_testutil::mount_raw(Some(source), &d, None, libc::MS_BIND, None)
                .unwrap_or_else(|e| panic!("bind-mount {} onto itself: {e}", d.display()));
            if nosymfollow {
                let flags = libc::MS_REMOUNT | libc::MS_BIND | MS_NOSYMFOLLOW;
                procroot_testutil::mount_raw(None, &d, None, flags, None)
                    .unwrap_or_else(|e| panic!("remount {} nosymfollow: {e}", d.display()));
            }
            mounts.0.push(d);
        }
        mounts
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        // Innermost first.
        for d in self.0.iter().rev() {
            let target = std::ffi::CString::new(d.as_os_str().as_bytes()).unwrap();
            // SAFETY: `target` is a NUL-terminated path that outlives the call.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Emulated and kernel backends agree on every generated tree and path.
    #[test]
    fn emulated_matches_kernel(case in case()) {
        check_case(&case, false)?;
    }
}

/// Generated trees under escaped and detached roots ([`check_case_moved_roots`]), a quarter of
/// the cases of [`emulated_matches_kernel`].
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn eval_symlinks_agrees_on_escaped_and_detached_roots() {
    procroot_testutil::require_privilege("bind mounts in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        let mut config = config();
        config.cases = config.cases.div_ceil(4);
        let mut runner = proptest::test_runner::TestRunner::new(config);
        if let Err(e) = runner.run(&case(), |case| check_case_moved_roots(&case)) {
            panic!("{e}");
        }
    });
}

/// [`emulated_matches_kernel`]'s `eval_symlinks` comparisons tested the kernel's path: it
/// answered nearly every successful call (nothing moves in these trees, so it falls back only
/// where the kernel refuses what the walk allows: the strict policy's absolute symlinks).
///
/// Privileged: the kernel's path needs a private procfs instance (`CAP_SYS_ADMIN`); without
/// one the walk answers every `eval_symlinks` call, and those comparisons compare the walk with
/// itself.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn eval_symlinks_kernel_path_was_compared() {
    procroot_testutil::require_privilege("a private procfs instance for the kernel's path");
    let mut runner = proptest::test_runner::TestRunner::new(Config {
        cases: 32,
        ..config()
    });
    runner
        .run(&case(), |case| check_case(&case, false))
        .expect("the comparison itself");
    let (ok, answered) = EVAL_STATS.with(|s| *s.borrow());
    assert!(ok > 0, "no successful eval_symlinks call at all");
    assert!(
        answered * 10 >= ok * 7,
        "the kernel's path answered only {answered} of {ok} successful calls"
    );
}

/// The same comparison with mount points in the tree, so that `NO_XDEV` has something to
/// refuse: in a private mount namespace, every directory named `b` is bind-mounted onto itself.
/// A quarter of the cases of [`emulated_matches_kernel`].
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn emulated_matches_kernel_across_mounts() {
    procroot_testutil::require_privilege("bind mounts in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        // The mounts really are boundaries: NO_XDEV refuses to enter one, on both backends.
        let dir = tempfile::Builder::new()
            .prefix("procroot-diff-")
            .tempdir()
            .expect("tempdir");
        build(dir.path(), &[entry_of("a/b/c", Kind::Dir)]);
        let mounts = Mounts::bind_dirs_named(dir.path(), "b", false);
        assert_eq!(mounts.0.len(), 1);
        for backend in [Backend::Emulated, Backend::Kernel] {
            let root = Root::open(dir.path())
                .expect("open root")
                .with_flags(ResolveFlags::NO_XDEV)
                .with_backend(backend);
            assert!(root.resolve("a").is_ok());
            let err = root.resolve("a/b/c").expect_err("a/b is a mount point");
            assert_eq!(err.errno(), Errno::XDEV, "{backend:?}: {err}");
        }
        drop(mounts);
        // With MS_NOSYMFOLLOW, a symlink on the mount is refused (ELOOP) by both backends; the
        // kernel's ELOOP is final.
        build(
            dir.path(),
            &[entry_of("a/b/a", Kind::Symlink("c".to_string()))],
        );
        let mounts = Mounts::bind_dirs_named(dir.path(), "b", true);
        for backend in [Backend::Emulated, Backend::Kernel, Backend::Auto] {
            let root = Root::open(dir.path())
                .expect("open root")
                .with_backend(backend);
            let err = root.resolve("a/b/a").expect_err("a/b is nosymfollow");
            assert_eq!(err.errno(), Errno::LOOP, "{backend:?}: {err}");
            assert!(
                root.resolve_nofollow("a/b/a").is_ok(),
                "{backend:?}: not followed"
            );
        }
        drop(mounts);

        let mut config = config();
        config.cases = config.cases.div_ceil(4);
        let mut runner = proptest::test_runner::TestRunner::new(config);
        if let Err(e) = runner.run(&case(), |case| check_case(&case, true)) {
            panic!("{e}");
        }
    });
}

/// An entry from its path (names from [`NAMES`]) and kind.
fn entry_of(path: &str, kind: Kind) -> Entry {
    Entry {
        path: path
            .split('/')
            .map(|n| {
                NAMES
                    .iter()
                    .position(|&x| x == n)
                    .expect("a name from NAMES")
            })
            .collect(),
        kind,
    }
}

/// A few hand-picked cases that the generator reaches only by chance, so they are always run.
#[test]
fn fixed_cases_agree() {
    let dir = tempfile::Builder::new()
        .prefix("procroot-diff-")
        .tempdir()
        .expect("tempdir");
    let e = entry_of;
    let sym = |t: &str| Kind::Symlink(t.to_string());
    build(
        dir.path(),
        &[
            e("a/b", Kind::Dir),
            e("a/c", Kind::File),
            e("b", sym("b")),                 // self loop
            e("c", sym("a/../c")),            // loop through ..
            e("a/a", sym("/a/b/")),           // absolute, trailing slash
            e("a/b/a", sym("../../../../a")), // .. above the root
            e("a/b/b", sym("../c/")),         // a file with a trailing slash
            e("a/b/c", sym("/c/x")),          // dangling, absolute
        ],
    );
    let roots = Roots::new(dir.path());
    for path in [
        "",
        "/",
        ".",
        "..",
        "//..//",
        "a",
        "a/",
        "a/a",
        "a/a/",
        "a/a/a",
        "a/b/a/b/a",
        "a/b/b",
        "a/b/b/",
        "a/b/c",
        "a/b/c/",
        "b",
        "b/",
        "c",
        "/a/c/",
        "a/c/..",
        "a/b/a/..",
        "../a/b",
        "a/./b/../c",
        "a/b/a/b/b",
    ] {
        if let Err(msg) = roots.check(path) {
            panic!("{msg}");
        }
    }
}

/// The 40-symlink budget (MAXSYMLINKS) at its edge: `a -> .` costs one link per use and
/// `b -> a/a/a/a/a/a/a/a/a/a` eleven, so paths cost exactly 39, 40 and 41 links (a trailing link
/// that is not followed costs nothing).
#[test]
fn symlink_budget_agrees() {
    let dir = tempfile::Builder::new()
        .prefix("procroot-diff-")
        .tempdir()
        .expect("tempdir");
    build(
        dir.path(),
        &[
            entry_of("a", Kind::Symlink(".".to_string())),
            entry_of("b", Kind::Symlink("a/a/a/a/a/a/a/a/a/a".to_string())),
            entry_of("c", Kind::Dir),
        ],
    );
    let roots = Roots::new(dir.path());
    let mut paths = Vec::new();
    for b_uses in 0..=4 {
        for a_uses in 0..=12 {
            let cost = b_uses * 11 + a_uses;
            if !(38..=42).contains(&cost) {
                continue;
            }
            let mut parts = vec!["b"; b_uses];
            parts.extend(std::iter::repeat_n("a", a_uses));
            let path = parts.join("/");
            paths.push(path.clone());
            paths.push(format!("{path}/"));
            paths.push(format!("{path}/c"));
            paths.push(format!("/{path}/c/.."));
        }
    }
    for path in &paths {
        if let Err(msg) = roots.check(path) {
            panic!("{msg}");
        }
    }
}

/// Paths into a procfs mounted at `/p` in the root: magic links (`root`, `cwd`, `exe`, `fd/N`,
/// `ns/*`), procfs's ordinary symlinks (`self`, `thread-self`, `mounts`, `net`), and `..` around
/// them. The tree also has `c -> /p/self/`, an absolute symlink into procfs.
///
/// Only this process's own entries: whether another process's magic links can be read depends
/// on the machine (ptrace access), which [`no_symlinks_refuses_an_unreadable_magic_link`] pins
/// down.
const PROC_PATHS: &[&str] = &[
    "p",
    "p/",
    "p/self",
    "p/self/",
    "p/thread-self",
    "p/thread-self/",
    "p/self/root",
    "p/self/root/",
    "p/self/root/a/b",
    "p/self/root/..",
    "p/self/cwd",
    "p/self/cwd/..",
    "p/self/exe",
    "p/self/fd/0",
    "p/self/fd/0/",
    "p/self/fd/",
    "p/self/fd/../fd/1",
    "p/self/ns/mnt",
    "p/self/ns/",
    "p/self/../self/root",
    "p/self/../..",
    "p/self/../../..",
    "p/self/task/../root",
    "p/thread-self/root",
    "p/thread-self/../../self/exe",
    "p/mounts",
    "p/net",
    "p/net/",
    "p/net/dev",
    "/p/self/root/p/self",
    "c",
    "c/",
    "c/root",
    "c/root/",
    "c/fd/0",
    "c/exe",
    "c/root/a",
    "c/../../c/..",
    "c/../../../p",
];

/// procfs inside the root: magic links must be refused the same way by both backends (`ELOOP`
/// with `NO_MAGICLINKS`, `EXDEV` without, since a scoped lookup never follows one), ordinary
/// procfs symlinks followed the same way, and `NO_XDEV` must stop at the procfs mount.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn procfs_in_root_agrees() {
    procroot_testutil::require_privilege("mounting procfs in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        let dir = tempfile::Builder::new()
            .prefix("procroot-diff-")
            .tempdir()
            .expect("tempdir");
        build(
            dir.path(),
            &[
                entry_of("a/b", Kind::Dir),
                entry_of("c", Kind::Symlink("/p/self/".to_string())),
            ],
        );
        let proc_dir = dir.path().join("p");
        std::fs::create_dir(&proc_dir).expect("mkdir p");
        procroot_testutil::mount_raw(Some("proc"), &proc_dir, Some("proc"), 0, None)
            .expect("mount procfs");
        // Declared after `dir`, so procfs is unmounted before the directory is removed.
        let _mounts = Mounts(vec![proc_dir]);
        let roots = Roots::new(dir.path());
        for path in PROC_PATHS {
            if let Err(msg) = roots.check(path) {
                panic!("{msg}");
            }
        }
    });
}

/// With `NO_SYMLINKS`, the kernel refuses a symlink before it reads it: `ELOOP`, whatever the
/// link. A magic link that the caller may not read (another user's `/proc/<pid>/root`: no
/// ptrace access) must give the same `ELOOP` on the emulated backend, not the `EACCES` of
/// reading it.
///
/// Found by [`procfs_in_root_agrees`] with `p/1/root` on a machine where pid 1 is not
/// ptrace-readable; pinned down here with an unprivileged child looking at a root-owned process.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn no_symlinks_refuses_an_unreadable_magic_link() {
    procroot_testutil::require_privilege("changing to an unprivileged uid in a child");
    // A root-owned process: this test process.
    let owner = std::process::id();
    procroot_testutil::in_child(|| {
        let proc = procroot_testutil::open_dir("/proc");
        const NOBODY: libc::uid_t = 65534;
        procroot_testutil::become_user(NOBODY);
        let path = format!("{owner}/root");
        match rustix::fs::readlinkat(&proc, path.as_str(), Vec::new()) {
            Err(Errno::ACCESS) => {}
            other => {
                eprintln!(
                    "NOT APPLICABLE: readlink /proc/{path} as nobody gave {other:?}, not EACCES \
                     (hidepid?)"
                );
                return;
            }
        }
        for policy in POLICIES.iter().copied() {
            for flags in [
                ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
                ResolveFlags::NO_SYMLINKS,
            ] {
                let errno = |backend| {
                    let root = Root::from_fd(proc.try_clone().expect("dup"))
                        .expect("root")
                        .with_policy(policy)
                        .with_flags(flags)
                        .with_backend(backend);
                    match root.resolve(&path) {
                        Ok(h) => panic!("{backend:?} resolved {path} to {:?}", fd_identity(&h)),
                        Err(e) => e.errno(),
                    }
                };
                let (emu, ker) = (errno(Backend::Emulated), errno(Backend::Kernel));
                assert_eq!(
                    (emu, ker),
                    (Errno::LOOP, Errno::LOOP),
                    "/proc/{path} with {policy:?}, {flags:?}: emulated {} (want the kernel's {})",
                    procroot::error::errno_name(emu),
                    procroot::error::errno_name(ker),
                );
            }
        }
    });
}

/// Permissions: the kernel checks search (`x`) permission on a directory before it looks up
/// *any* name in it, `.` and `..` included. An unprivileged caller with a directory `a` it may
/// not search must get the same answers from both backends, for `a/..` and `a/.` too.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn unsearchable_directory_agrees() {
    use std::os::unix::fs::PermissionsExt;
    procroot_testutil::require_privilege("changing to an unprivileged uid in a child");
    // Made and removed by this (root) process; only the child drops to nobody.
    let dir = tempfile::Builder::new()
        .prefix("procroot-diff-")
        .tempdir()
        .expect("tempdir");
    build(
        dir.path(),
        &[
            entry_of("a/b", Kind::Dir),
            entry_of("a/c", Kind::File),
            entry_of("b", Kind::Symlink("a/..".to_string())),
            entry_of("c", Kind::Symlink("/a/./".to_string())),
        ],
    );
    let chmod = |rel: &str, mode: u32| {
        std::fs::set_permissions(dir.path().join(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod")
    };
    chmod("", 0o755);
    chmod("a", 0o644); // readable, not searchable
    procroot_testutil::in_child(|| {
        let roots = Roots::new(dir.path());
        const NOBODY: libc::uid_t = 65534;
        procroot_testutil::become_user(NOBODY);
        let mut failures = Vec::new();
        for path in [
            "a", "a/", "a/b", "a/c", "a/..", "a/../", "a/.", "a/./", "a/../a", "a/./..", "b", "b/",
            "c", "c/..", "/a/../b",
        ] {
            if let Err(msg) = roots.check(path) {
                failures.push(msg);
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
    chmod("a", 0o755);
}
