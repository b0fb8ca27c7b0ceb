//! Table-driven resolver tests, run on both backends.
//!
//! Every case runs on `Backend::Kernel` and on `Backend::Emulated`, and (unless a row says
//! otherwise) under all three policies. A backend passes a case when it gives exactly the
//! expected result:
//! - success: the same object (`(st_dev, st_ino)`, compared with an `lstat` of the expected
//!   in-root path, so a path whose last component is a symlink means the symlink itself) and the
//!   same `path_in_root()`;
//! - failure: the same errno and the error kind that goes with it.
//!
//! Both backends are held to the same expectation, and a separate check reports any case where
//! they disagree with each other. Every `resolve` and `resolve_nofollow` case also runs the
//! fd-only fast path (`Root::resolve_fd`, `Root::resolve_fd_nofollow`) on the same root, which
//! must give the same object, or the same errno, kind and message, as the handle did.
//!
//! Where the tables come from:
//! - the kernel's openat2 selftests (`tools/testing/selftests/openat2/resolve_test.c`) for
//!   `RESOLVE_BENEATH`, `RESOLVE_IN_ROOT`, `RESOLVE_NO_SYMLINKS`, `RESOLVE_NO_XDEV` and
//!   `RESOLVE_NO_MAGICLINKS`. The facts are re-expressed as in-root paths. The selftest runs its
//!   `NO_*` cases without a scope; a `Root` always scopes the lookup, so they are re-expressed
//!   under each policy (a magic-link jump in a scoped lookup is `EXDEV` in the kernel, and the
//!   selftest's "magic-link jump inside the same procfs" success cannot happen in a scoped
//!   lookup);
//! - procfsroot's `EvalSymlinks` examples, under `Policy::InRootStrict`;
//! - edge cases: trailing slashes, dots, loops, the 40-symlink budget, non-UTF-8 names, bad
//!   input, `open_file` flags, `resolve_parent`, `readlink`, `read_dir`, metadata;
//! - two places where the kernel is the oracle for behaviour the emulated walker must copy: an
//!   ordinary (non-magic) procfs symlink with an absolute target, and search permission (`x` on
//!   a directory is needed to look up `.` and `..` in it) for an unprivileged caller.
//!
//! The tests print how many cases they ran (`--no-capture`). A failing test lists every failing
//! case, naming the table, policy, operation, path, flags and backend, with what it got.
//!
//! Tests that mount (NO_XDEV, and a procfs inside the root for magic links) run in a forked child
//! in a private mount namespace; the tree is created and removed by the parent, which never sees
//! those mounts.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use procroot::{
    Backend, BackendUsed, ErrorKind, EvalMode, FileType, Handle, OFlags, Policy, ResolveFlags, Root,
};
use procroot_testutil::{
    fd_identity, in_child, in_private_mount_ns, mount_raw, require_privilege, Tree,
};
use rustix::io::Errno;

const POLICIES: [Policy; 3] = [Policy::InRoot, Policy::InRootStrict, Policy::Beneath];
const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];

/// The library's default flags.
const DEFAULT: ResolveFlags = ResolveFlags::NO_MAGICLINKS;
/// No restriction at all (the selftest's plain `RESOLVE_BENEATH` / `RESOLVE_IN_ROOT`).
const NONE: ResolveFlags = ResolveFlags::empty();
const NO_SYMLINKS: ResolveFlags = ResolveFlags::NO_SYMLINKS.union(ResolveFlags::NO_MAGICLINKS);
const NO_XDEV: ResolveFlags = ResolveFlags::NO_XDEV.union(ResolveFlags::NO_MAGICLINKS);

// ------------------------------------------------------------------------------------------------
// The table model
// ------------------------------------------------------------------------------------------------

/// Which `Root` operation a row exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `Root::resolve` (a trailing symlink is followed).
    Resolve,
    /// `Root::resolve_nofollow`.
    NoFollow,
    /// `Root::resolve_parent` (except-last).
    Parent,
    /// `Root::open_file` with these flags.
    Open(OFlags),
}

/// What one policy's case must give.
#[derive(Clone, Debug)]
enum Expect {
    /// Success: the object at this in-root path.
    Ok(Vec<u8>),
    /// `resolve_parent` success: the parent's in-root path, and the last name.
    Parent(Vec<u8>, Option<Vec<u8>>),
    /// Failure with this errno, and the kind `Error::from_errno` gives it.
    Err(Errno),
    /// Failure with `ErrorKind::InvalidInput` and this errno.
    Invalid(Errno),
}

/// One path and operation, with an expectation per policy (`InRoot`, `InRootStrict`, `Beneath`).
#[derive(Clone, Debug)]
struct Row {
    path: Vec<u8>,
    op: Op,
    flags: ResolveFlags,
    expect: [Expect; 3],
}

/// A row with the same expectation under every policy.
fn row(path: impl AsRef<[u8]>, expect: Expect) -> Row {
    row3(path, expect.clone(), expect.clone(), expect)
}

/// A row with one expectation per policy: `InRoot`, `InRootStrict`, `Beneath`.
fn row3(path: impl AsRef<[u8]>, in_root: Expect, strict: Expect, beneath: Expect) -> Row {
    Row {
        path: path.as_ref().to_vec(),
        op: Op::Resolve,
        flags: DEFAULT,
        expect: [in_root, strict, beneath],
    }
}

impl Row {
    fn nofollow(mut self) -> Self {
        self.op = Op::NoFollow;
        self
    }

    fn parent(mut self) -> Self {
        self.op = Op::Parent;
        self
    }

    fn open(mut self, flags: OFlags) -> Self {
        self.op = Op::Open(flags);
        self
    }

    fn flags(mut self, flags: ResolveFlags) -> Self {
        self.flags = flags;
        self
    }
}

fn ok(path: impl AsRef<[u8]>) -> Expect {
    Expect::Ok(path.as_ref().to_vec())
}

fn par(path: impl AsRef<[u8]>, name: impl AsRef<[u8]>) -> Expect {
    Expect::Parent(path.as_ref().to_vec(), Some(name.as_ref().to_vec()))
}

fn par_none(path: impl AsRef<[u8]>) -> Expect {
    Expect::Parent(path.as_ref().to_vec(), None)
}

fn err(errno: Errno) -> Expect {
    Expect::Err(errno)
}

fn invalid(errno: Errno) -> Expect {
    Expect::Invalid(errno)
}

fn xdev() -> Expect {
    err(Errno::XDEV)
}

// ------------------------------------------------------------------------------------------------
// Running a table
// ------------------------------------------------------------------------------------------------

/// What one backend gave for one case.
enum Outcome {
    Ok {
        /// Keeps the object (and procfs dentries) alive until both backends are compared.
        _keep: OwnedFd,
        ident: (u64, u64),
        /// `path_in_root()`; `None` for `open_file`, which returns a plain `File`.
        path: Option<Result<Vec<u8>, String>>,
        /// `resolve_parent`'s last name.
        last: Option<Vec<u8>>,
        /// `None` for `open_file`.
        backend: Option<BackendUsed>,
    },
    Err {
        errno: Errno,
        kind: ErrorKind,
        message: String,
    },
}

fn os(path: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(path))
}

fn show(bytes: &[u8]) -> String {
    let s = bytes.escape_ascii().to_string();
    if s.len() > 90 {
        format!("\"{}...\" ({} bytes)", &s[..60], bytes.len())
    } else {
        format!("\"{s}\"")
    }
}

fn errno_name(errno: Errno) -> &'static str {
    procroot::error::errno_name(errno)
}

/// The kind `Error::from_errno` documents for an errno.
fn kind_of(errno: Errno) -> ErrorKind {
    match errno {
        Errno::NOENT | Errno::SRCH => ErrorKind::NotFound,
        Errno::XDEV => ErrorKind::SafetyViolation,
        Errno::NOSYS => ErrorKind::NotSupported,
        _ => ErrorKind::Os,
    }
}

fn from_handle(handle: Handle, last: Option<Vec<u8>>) -> Outcome {
    let path = Some(
        handle
            .path_in_root()
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .map_err(|e| format!("{e} [{:?}]", e.kind())),
    );
    let ident = fd_identity(&handle);
    let backend = Some(handle.backend());
    Outcome::Ok {
        _keep: handle.into_fd(),
        ident,
        path,
        last,
        backend,
    }
}

fn from_error(e: procroot::Error) -> Outcome {
    Outcome::Err {
        errno: e.errno(),
        kind: e.kind(),
        message: e.to_string(),
    }
}

fn attempt(root: &Root, op: Op, path: &[u8]) -> Outcome {
    let p = os(path);
    match op {
        Op::Resolve => root
            .resolve(p)
            .map_or_else(from_error, |h| from_handle(h, None)),
        Op::NoFollow => root
            .resolve_nofollow(p)
            .map_or_else(from_error, |h| from_handle(h, None)),
        Op::Parent => root.resolve_parent(p).map_or_else(from_error, |(h, last)| {
            from_handle(h, last.map(|n| n.as_bytes().to_vec()))
        }),
        Op::Open(flags) => match root.open_file(p, flags) {
            Ok(file) => Outcome::Ok {
                ident: fd_identity(&file),
                _keep: OwnedFd::from(file),
                path: None,
                last: None,
                backend: None,
            },
            Err(e) => from_error(e),
        },
    }
}

/// The fd-only fast path of `op` (`resolve_fd`, `resolve_fd_nofollow`), if it has one.
fn attempt_fd(root: &Root, op: Op, path: &[u8]) -> Option<Outcome> {
    let got = match op {
        Op::Resolve => root.resolve_fd(os(path)),
        Op::NoFollow => root.resolve_fd_nofollow(os(path)),
        Op::Parent | Op::Open(_) => return None,
    };
    Some(match got {
        Ok(fd) => Outcome::Ok {
            ident: fd_identity(&fd),
            _keep: fd,
            path: None,
            last: None,
            backend: None,
        },
        Err(e) => from_error(e),
    })
}

/// Why the fast path's outcome differs from the handle's, if it does: another object, another
/// errno, kind or message, or success against failure.
fn fd_disagreement(handle: &Outcome, fd: &Outcome) -> Option<String> {
    match (handle, fd) {
        (Outcome::Ok { ident: a, .. }, Outcome::Ok { ident: b, .. }) => {
            (a != b).then(|| "different objects".into())
        }
        (
            Outcome::Err {
                errno: ea,
                kind: ka,
                message: ma,
            },
            Outcome::Err {
                errno: eb,
                kind: kb,
                message: mb,
            },
        ) => (ea != eb || ka != kb || ma != mb).then(|| "different errors".into()),
        _ => Some("one succeeded, the other failed".into()),
    }
}

fn describe(got: &Outcome) -> String {
    match got {
        Outcome::Ok {
            ident,
            path,
            last,
            backend,
            ..
        } => {
            let mut s = format!("ok {ident:?}");
            match path {
                Some(Ok(p)) => s.push_str(&format!(" path_in_root={}", show(p))),
                Some(Err(e)) => s.push_str(&format!(" path_in_root failed: {e}")),
                None => {}
            }
            if let Some(last) = last {
                s.push_str(&format!(" last={}", show(last)));
            }
            if let Some(b) = backend {
                s.push_str(&format!(" backend={}", b.as_str()));
            }
            s
        }
        Outcome::Err {
            errno,
            kind,
            message,
        } => format!("{} [{kind:?}]: {message}", errno_name(*errno)),
    }
}

fn describe_expect(e: &Expect) -> String {
    match e {
        Expect::Ok(p) => format!("ok {}", show(p)),
        Expect::Parent(p, None) => format!("parent {} last=None", show(p)),
        Expect::Parent(p, Some(n)) => format!("parent {} last={}", show(p), show(n)),
        Expect::Err(errno) => errno_name(*errno).to_string(),
        Expect::Invalid(errno) => format!("InvalidInput/{}", errno_name(*errno)),
    }
}

/// The `(st_dev, st_ino)` of the object at `in_root` under `root_dir`, not following a final
/// symlink. The expected paths are canonical (no symlinks before the last component), so the
/// host lookup finds the same object.
fn expected_ident(root_dir: &Path, in_root: &[u8]) -> Result<(u64, u64), String> {
    let start = in_root
        .iter()
        .position(|&b| b != b'/')
        .unwrap_or(in_root.len());
    let full: PathBuf = if start == in_root.len() {
        root_dir.to_path_buf()
    } else {
        root_dir.join(os(&in_root[start..]))
    };
    std::fs::symlink_metadata(&full)
        .map(|md| (md.dev(), md.ino()))
        .map_err(|e| format!("bad expectation: lstat {}: {e}", full.display()))
}

fn verify(
    expect: &Expect,
    got: &Outcome,
    root_dir: &Path,
    _policy: Policy,
    backend: Backend,
) -> Result<(), String> {
    match (expect, got) {
        (
            Expect::Ok(want) | Expect::Parent(want, _),
            Outcome::Ok {
                ident,
                path,
                last,
                backend: used,
                ..
            },
        ) => {
            let mut problems = Vec::new();
            let want_ident = expected_ident(root_dir, want)?;
            if *ident != want_ident {
                problems.push(format!(
                    "wrong object {ident:?}, expected {want_ident:?} (the object at {})",
                    show(want)
                ));
            }
            match path {
                Some(Ok(p)) if p != want => problems.push(format!(
                    "path_in_root {} but expected {}",
                    show(p),
                    show(want)
                )),
                Some(Err(e)) => problems.push(format!("path_in_root failed: {e}")),
                _ => {}
            }
            if let Expect::Parent(_, want_last) = expect {
                if last != want_last {
                    problems.push(format!(
                        "last name {:?} but expected {:?}",
                        last.as_deref().map(show),
                        want_last.as_deref().map(show)
                    ));
                }
            }
            if let Some(used) = used {
                let fine = match backend {
                    Backend::Emulated => *used == BackendUsed::Emulated,
                    // InRootStrict hands a kernel EXDEV to the emulated walker, and a persistent
                    // EAGAIN goes to it too (other tests rename and mount). fallback.rs checks
                    // that the kernel answers when nothing interferes.
                    Backend::Kernel => true,
                    Backend::Auto => true,
                };
                if !fine {
                    problems.push(format!("answered by the {} backend", used.as_str()));
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        }
        (Expect::Err(want), Outcome::Err { errno, kind, .. }) => {
            if errno != want || *kind != kind_of(*want) {
                Err(format!(
                    "expected {} [{:?}]",
                    errno_name(*want),
                    kind_of(*want)
                ))
            } else {
                Ok(())
            }
        }
        (Expect::Invalid(want), Outcome::Err { errno, kind, .. }) => {
            if errno != want || *kind != ErrorKind::InvalidInput {
                Err(format!("expected {} [InvalidInput]", errno_name(*want)))
            } else {
                Ok(())
            }
        }
        (_, _) => Err(format!("expected {}", describe_expect(expect))),
    }
}

/// Why two outcomes differ, if they do.
fn disagreement(a: &Outcome, b: &Outcome) -> Option<String> {
    match (a, b) {
        (
            Outcome::Ok {
                ident: ia,
                path: pa,
                last: la,
                ..
            },
            Outcome::Ok {
                ident: ib,
                path: pb,
                last: lb,
                ..
            },
        ) => {
            if ia != ib {
                Some("different objects".into())
            } else if pa != pb {
                Some("different path_in_root".into())
            } else if la != lb {
                Some("different last names".into())
            } else {
                None
            }
        }
        (
            Outcome::Err {
                errno: ea,
                kind: ka,
                ..
            },
            Outcome::Err {
                errno: eb,
                kind: kb,
                ..
            },
        ) => (ea != eb || ka != kb).then(|| "different errors".into()),
        _ => Some("one succeeded, the other failed".into()),
    }
}

/// Runs tables and collects every failure, so that one run shows all of them.
#[derive(Default)]
struct Checker {
    cases: usize,
    failures: Vec<String>,
}

impl Checker {
    /// Runs `rows` against `root` (whose directory is `root_dir` in this process's view) on both
    /// backends.
    fn table(&mut self, table: &str, root: &Root, root_dir: &Path, rows: &[Row]) {
        for row in rows {
            for (policy, expect) in POLICIES.iter().zip(&row.expect) {
                self.cases += 1;
                let name = format!(
                    "[{table}] {:?} {:?} {} flags={:?}",
                    policy,
                    row.op,
                    show(&row.path),
                    row.flags
                );
                let mut outcomes = Vec::new();
                for backend in BACKENDS {
                    let r = root
                        .clone()
                        .with_policy(*policy)
                        .with_flags(row.flags)
                        .with_backend(backend);
                    let got = attempt(&r, row.op, &row.path);
                    if let Err(problem) = verify(expect, &got, root_dir, *policy, backend) {
                        self.failures.push(format!(
                            "{name} on {backend:?}: {problem}\n        got: {}",
                            describe(&got)
                        ));
                    }
                    if let Some(fd) = attempt_fd(&r, row.op, &row.path) {
                        self.cases += 1;
                        if let Some(why) = fd_disagreement(&got, &fd) {
                            self.failures.push(format!(
                                "{name} on {backend:?}: resolve_fd differs from the handle \
                                 ({why}): handle {} / resolve_fd {}",
                                describe(&got),
                                describe(&fd)
                            ));
                        }
                    }
                    outcomes.push(got);
                }
                if let Some(why) = disagreement(&outcomes[0], &outcomes[1]) {
                    self.failures.push(format!(
                        "{name}: backends disagree ({why}): kernel {} / emulated {}",
                        describe(&outcomes[0]),
                        describe(&outcomes[1])
                    ));
                }
            }
        }
    }

    /// Runs `eval_symlinks` rows under `policy` on both backends.
    fn eval(&mut self, table: &str, root: &Root, policy: Policy, rows: &[EvalRow]) {
        for row in rows {
            self.cases += 1;
            let name = format!(
                "[{table}] {policy:?} eval_symlinks({}, {:?})",
                show(&row.path),
                row.mode
            );
            let mut got_all = Vec::new();
            for backend in BACKENDS {
                let r = root.clone().with_policy(policy).with_backend(backend);
                let got = r
                    .eval_symlinks(os(&row.path), row.mode)
                    .map(|p| p.into_os_string().into_vec())
                    .map_err(|e| (e.errno(), e.kind(), e.to_string()));
                let fine = match (&row.expect, &got) {
                    (Ok(want), Ok(p)) => want == p,
                    (Err(want), Err((errno, kind, _))) => want == errno && *kind == kind_of(*want),
                    _ => false,
                };
                if !fine {
                    self.failures.push(format!(
                        "{name} on {backend:?}: expected {}, got {}",
                        eval_show(
                            &row.expect
                                .clone()
                                .map_err(|e| (e, kind_of(e), String::new()))
                        ),
                        eval_show(&got)
                    ));
                }
                got_all.push(got);
            }
            let same = match (&got_all[0], &got_all[1]) {
                (Ok(a), Ok(b)) => a == b,
                (Err(a), Err(b)) => (a.0, a.1) == (b.0, b.1),
                _ => false,
            };
            if !same {
                self.failures.push(format!(
                    "{name}: backends disagree: kernel {} / emulated {}",
                    eval_show(&got_all[0]),
                    eval_show(&got_all[1])
                ));
            }
        }
    }

    /// Records a failure found outside a table.
    fn check(&mut self, what: &str, fine: bool, detail: impl FnOnce() -> String) {
        self.cases += 1;
        if !fine {
            self.failures.push(format!("{what}: {}", detail()));
        }
    }

    fn finish(self, test: &str) {
        eprintln!(
            "{test}: {} cases (table cases each run on both backends), {} failures",
            self.cases,
            self.failures.len()
        );
        assert!(
            self.failures.is_empty(),
            "{test}: {} failure(s) in {} cases:\n  {}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n  ")
        );
    }
}

type EvalGot = Result<Vec<u8>, (Errno, ErrorKind, String)>;

fn eval_show(r: &EvalGot) -> String {
    match r {
        Ok(p) => format!("ok {}", show(p)),
        Err((errno, kind, msg)) => format!("{} [{kind:?}] {msg}", errno_name(*errno)),
    }
}

struct EvalRow {
    path: Vec<u8>,
    mode: EvalMode,
    expect: Result<Vec<u8>, Errno>,
}

fn full(path: &str, expect: Result<&str, Errno>) -> EvalRow {
    EvalRow {
        path: path.as_bytes().to_vec(),
        mode: EvalMode::Full,
        expect: expect.map(|p| p.as_bytes().to_vec()),
    }
}

fn except_last(path: &str, expect: Result<&str, Errno>) -> EvalRow {
    EvalRow {
        mode: EvalMode::ExceptLast,
        ..full(path, expect)
    }
}

// ------------------------------------------------------------------------------------------------
// 1. The kernel's openat2 selftests
// ------------------------------------------------------------------------------------------------

/// The selftest's tree, under `<tmp>/root`. `<tmp>/etc/passwd` is a decoy outside the root: an
/// escape would find it instead of `root/etc/passwd`, and `../root` from the root would find the
/// root itself instead of `root/root`.
fn selftest_tree() -> (Tree, PathBuf) {
    let tree = Tree::new(
        "
        file etc/passwd decoy-outside-the-root
        dir root/root
        dir root/mnt
        dir root/proc
        dir root/tmp
        dir root/bm
        file root/fbm
        file root/etc/passwd inside
        file root/sys/fs/xfs/stats/stats
        symlink root/procexe /proc/self/exe
        symlink root/procroot /proc/self/root
        symlink root/creatlink /newfile3
        symlink root/reletc etc/
        symlink root/relsym etc/passwd
        symlink root/absetc /etc/
        symlink root/abssym /etc/passwd
        symlink root/abscheeky /cheeky
        symlink root/lmnt mnt
        symlink root/cheeky/absself /
        symlink root/cheeky/self ../../root/
        symlink root/cheeky/garbageself /../../root/
        symlink root/cheeky/passwd ../cheeky/../etc/../etc/passwd
        symlink root/cheeky/abspasswd /../cheeky/../etc/../etc/passwd
        symlink root/cheeky/dotdotlink ../../../../../../../../../../../../../../etc/passwd
        symlink root/cheeky/garbagelink /../../../../../../../../../../../../../../etc/passwd
        ",
    );
    let root_dir = tree.join("root");
    (tree, root_dir)
}

/// RESOLVE_BENEATH and RESOLVE_IN_ROOT, each path under all three policies.
fn selftest_scope_rows() -> Vec<Row> {
    let p = "/etc/passwd";
    let mut rows = vec![
        row3("/", ok("/"), ok("/"), xdev()),
        row3("cheeky/absself", ok("/"), ok("/"), xdev()),
        row3("abscheeky/absself", ok("/"), ok("/"), xdev()),
        row3("..", ok("/"), xdev(), xdev()),
        row3("../root/", ok("/root"), xdev(), xdev()),
        row3("cheeky/self", ok("/root"), xdev(), xdev()),
        row3("abscheeky/self", ok("/root"), xdev(), xdev()),
        row3("cheeky/garbageself", ok("/root"), xdev(), xdev()),
        row3("abscheeky/garbageself", ok("/root"), xdev(), xdev()),
        row("root", ok("/root")),
        row("etc", ok("/etc")),
        row("etc/passwd", ok(p)),
        row("relsym", ok(p)),
        row("cheeky/passwd", ok(p)),
        row3("abscheeky/passwd", ok(p), ok(p), xdev()),
        row3("abssym", ok(p), ok(p), xdev()),
        row3("/etc/passwd", ok(p), ok(p), xdev()),
        row3("cheeky/abspasswd", ok(p), xdev(), xdev()),
        row3("abscheeky/abspasswd", ok(p), xdev(), xdev()),
        row3("cheeky/dotdotlink", ok(p), xdev(), xdev()),
        row3("abscheeky/dotdotlink", ok(p), xdev(), xdev()),
        row3("/../../../../abscheeky/dotdotlink", ok(p), xdev(), xdev()),
        row3("cheeky/garbagelink", ok(p), xdev(), xdev()),
        row3("abscheeky/garbagelink", ok(p), xdev(), xdev()),
        row3("/../../../../abscheeky/garbagelink", ok(p), xdev(), xdev()),
        // The escaping links themselves, not followed.
        row("cheeky/dotdotlink", ok("/cheeky/dotdotlink")).nofollow(),
        row("cheeky/garbagelink", ok("/cheeky/garbagelink")).nofollow(),
        row3(
            "abscheeky/garbagelink",
            ok("/cheeky/garbagelink"),
            ok("/cheeky/garbagelink"),
            xdev(),
        )
        .nofollow(),
        // The selftest's O_CREAT cases: creation resolves the parent and keeps the name, and a
        // dangling trailing symlink's target is looked up inside the root.
        row("newfile1", par("/", "newfile1")).parent(),
        row3(
            "/newfile2",
            par("/", "newfile2"),
            par("/", "newfile2"),
            xdev(),
        )
        .parent(),
        row3(
            "/creatlink",
            par("/", "creatlink"),
            par("/", "creatlink"),
            xdev(),
        )
        .parent(),
        row3("creatlink", err(Errno::NOENT), err(Errno::NOENT), xdev()),
        row("creatlink", ok("/creatlink")).nofollow(),
        row("cheeky/garbagelink", par("/cheeky", "garbagelink")).parent(),
        // The parent is a file under InRoot.
        row3("cheeky/garbagelink/x", err(Errno::NOTDIR), xdev(), xdev()).parent(),
    ];
    for r in &mut rows {
        r.flags = NONE;
    }
    rows
}

/// RESOLVE_NO_SYMLINKS: every followed symlink is ELOOP, whatever the policy; a trailing symlink
/// that is not followed is returned.
fn selftest_no_symlinks_rows() -> Vec<Row> {
    let lp = || err(Errno::LOOP);
    [
        row(".", ok("/")),
        row("root", ok("/root")),
        row("etc", ok("/etc")),
        row("etc/passwd", ok("/etc/passwd")),
        row("relsym", lp()),
        row("reletc/passwd", lp()),
        row("abssym", lp()),
        row("absetc/passwd", lp()),
        row("cheeky/garbagelink", lp()),
        row("abscheeky/garbagelink", lp()),
        row("abscheeky/absself", lp()),
        row("relsym", ok("/relsym")).nofollow(),
        row("abssym", ok("/abssym")).nofollow(),
        row("cheeky/garbagelink", ok("/cheeky/garbagelink")).nofollow(),
        row("abscheeky/absself", lp()).nofollow(),
        row("abscheeky/garbagelink", lp()).nofollow(),
        row("reletc/", lp()).nofollow(),
        row("relsym", par("/", "relsym")).parent(),
        row("reletc/passwd", lp()).parent(),
        row("relsym", lp()).open(OFlags::RDONLY),
    ]
    .into_iter()
    .map(|r| r.flags(NO_SYMLINKS))
    .collect()
}

#[test]
fn selftest_beneath_in_root_no_symlinks() {
    let (_tree, root_dir) = selftest_tree();
    let root = Root::open(&root_dir).expect("open root");
    let mut c = Checker::default();
    c.table("selftest scope", &root, &root_dir, &selftest_scope_rows());
    c.table(
        "selftest no_symlinks",
        &root,
        &root_dir,
        &selftest_no_symlinks_rows(),
    );
    // RESOLVE_NO_MAGICLINKS leaves ordinary symlinks alone.
    c.table(
        "selftest no_magiclinks",
        &root,
        &root_dir,
        &[
            row("relsym", ok("/etc/passwd")).flags(ResolveFlags::NO_MAGICLINKS),
            row("cheeky/passwd", ok("/etc/passwd")).flags(ResolveFlags::NO_MAGICLINKS),
        ],
    );
    c.finish("selftest_beneath_in_root_no_symlinks");
}

/// Mounts the selftest's mountpoints inside the tree (private mount namespace only): a tmpfs on
/// `mnt` (with `self -> ../mnt/`, `absself -> /mnt/`, and `mnt/mnt`, `mnt/sub` to land on), a
/// procfs on `proc`, a tmpfs on `tmp`, a bind mount of `etc` on `bm` and one of `etc/passwd` on
/// `fbm`.
fn mount_selftest_tree(root_dir: &Path) {
    let at = |p: &str| root_dir.join(p);
    let nosuid_nodev = libc::MS_NOSUID | libc::MS_NODEV;
    mount_raw(Some("tmpfs"), at("mnt"), Some("tmpfs"), nosuid_nodev, None).expect("mount mnt");
    std::os::unix::fs::symlink("../mnt/", at("mnt/self")).unwrap();
    std::os::unix::fs::symlink("/mnt/", at("mnt/absself")).unwrap();
    std::fs::create_dir(at("mnt/mnt")).unwrap();
    std::fs::create_dir(at("mnt/sub")).unwrap();
    mount_raw(
        Some("proc"),
        at("proc"),
        Some("proc"),
        nosuid_nodev | libc::MS_NOEXEC,
        None,
    )
    .expect("mount proc");
    mount_raw(Some("tmpfs"), at("tmp"), Some("tmpfs"), nosuid_nodev, None).expect("mount tmp");
    let etc = at("etc");
    mount_raw(etc.to_str(), at("bm"), None, libc::MS_BIND, None).expect("bind etc");
    let passwd = at("etc/passwd");
    mount_raw(passwd.to_str(), at("fbm"), None, libc::MS_BIND, None).expect("bind passwd");
}

/// RESOLVE_NO_XDEV. Crossing into a mount is EXDEV; in a scoped lookup one can only leave a
/// mount after entering it, so the selftest's "cross up" cases are EXDEV at the way in. Its
/// "dir = mnt" cases are re-expressed with the tmpfs itself as the root.
fn selftest_no_xdev_rows() -> Vec<Row> {
    let mut rows: Vec<Row> = [
        row("mnt", xdev()),
        row("mnt/", xdev()),
        row("mnt/.", xdev()),
        row("mnt/..", xdev()),
        row("mnt/../mnt", xdev()),
        row("mnt/self", xdev()),
        row("mnt/absself", xdev()),
        row("mnt", xdev()).nofollow(),
        row("mnt", par("/", "mnt")).parent(),
        row("mnt/x", xdev()).parent(),
        row("lmnt", xdev()),
        row("lmnt", ok("/lmnt")).nofollow(),
        row3("/", ok("/"), ok("/"), xdev()),
        row(".", ok("/")),
        row("/proc/1", xdev()),
        row("proc/1", xdev()),
        row("proc", xdev()),
        row("/tmp", xdev()),
        row("etc/passwd", ok("/etc/passwd")),
        row("relsym", ok("/etc/passwd")),
        row3("abssym", ok("/etc/passwd"), ok("/etc/passwd"), xdev()),
        row3("cheeky/self", ok("/root"), xdev(), xdev()),
        row("bm", xdev()),
        row("bm/passwd", xdev()),
        row("fbm", xdev()),
        row("fbm", xdev()).nofollow(),
        row("fbm", xdev()).open(OFlags::RDONLY),
        row("fbm", xdev()).open(OFlags::WRONLY),
        row("etc/passwd", ok("/etc/passwd")).open(OFlags::RDONLY),
    ]
    .into_iter()
    .map(|r| r.flags(NO_XDEV))
    .collect();
    // Magic links are refused by NO_XDEV on their own (the lookup crosses into procfs first).
    rows.push(row("proc/self/root", xdev()).flags(ResolveFlags::NO_XDEV));
    rows.push(row("procroot/etc", xdev()).flags(ResolveFlags::NO_XDEV));
    rows
}

/// The same tree without NO_XDEV: mounts are crossed freely, and `..` out of a mount lands on
/// the mountpoint's parent.
fn selftest_xdev_allowed_rows() -> Vec<Row> {
    vec![
        row("mnt", ok("/mnt")),
        row("mnt/.", ok("/mnt")),
        row("mnt/..", ok("/")),
        row("mnt/../mnt", ok("/mnt")),
        row("mnt/self", ok("/mnt")),
        row3("mnt/absself", ok("/mnt"), ok("/mnt"), xdev()),
        row("mnt/sub/../..", ok("/")),
        row("lmnt/sub", ok("/mnt/sub")),
        row3("/proc/1", ok("/proc/1"), ok("/proc/1"), xdev()),
        row3("/tmp", ok("/tmp"), ok("/tmp"), xdev()),
        row("bm/passwd", ok("/bm/passwd")),
        row("bm/..", ok("/")),
        row("fbm", ok("/fbm")),
        row("fbm", ok("/fbm")).open(OFlags::RDONLY),
    ]
}

/// The tmpfs mounted on `mnt`, used as the root itself with NO_XDEV (the selftest's `dir = mnt`
/// cases). `..` at the root does not leave it, so nothing crosses a mount.
fn selftest_mount_root_rows() -> Vec<Row> {
    [
        row(".", ok("/")),
        row3("/", ok("/"), ok("/"), xdev()),
        row3("..", ok("/"), xdev(), xdev()),
        row3("../mnt", ok("/mnt"), xdev(), xdev()),
        row3("self", ok("/mnt"), xdev(), xdev()),
        row3("absself", ok("/mnt"), ok("/mnt"), xdev()),
        row("sub", ok("/sub")),
        row("sub/..", ok("/")),
    ]
    .into_iter()
    .map(|r| r.flags(NO_XDEV))
    .collect()
}

/// RESOLVE_NO_MAGICLINKS, and magic links without it, through a procfs mounted in the root.
/// `file_fd`, `pipe_fd` and `dir_fd` are open in this process (the forked child).
fn magic_rows(file_fd: i32, pipe_fd: i32, dir_fd: i32) -> Vec<Row> {
    let pid = std::process::id();
    let me = format!("/proc/{pid}");
    let lp = || err(Errno::LOOP);
    let mut rows = Vec::new();
    // Following a magic link: ELOOP with NO_MAGICLINKS; EXDEV without it (a scoped lookup never
    // jumps through a magic link).
    let magic_follow = [
        "proc/self/exe".to_string(),
        format!("proc/{pid}/exe"),
        "proc/self/root".to_string(),
        "proc/self/root/etc".to_string(),
        "proc/self/cwd".to_string(),
        "proc/self/cwd/".to_string(),
        "proc/thread-self/exe".to_string(),
        format!("proc/self/fd/{file_fd}"),
        format!("proc/self/fd/{pipe_fd}"),
        format!("proc/self/fd/{dir_fd}/passwd"),
        format!("proc/self/fd/{dir_fd}/"),
        "proc/self/ns/net".to_string(),
        "proc/self/ns/mnt".to_string(),
    ];
    for path in &magic_follow {
        rows.push(row(path, lp()));
        rows.push(row(path, xdev()).flags(NONE));
        rows.push(row(path, lp()).open(OFlags::RDONLY));
    }
    // Through an absolute symlink or an absolute path: Beneath refuses the jump to the root
    // first.
    for path in [
        "procexe",
        "procroot/etc",
        "/proc/self/exe",
        "/proc/self/root/etc",
    ] {
        rows.push(row3(path, lp(), lp(), xdev()));
        rows.push(row(path, xdev()).flags(NONE));
    }
    // A magic link in the middle is followed even with nofollow.
    rows.push(row("proc/self/root/etc", lp()).nofollow());
    rows.push(row("proc/self/root/etc", xdev()).nofollow().flags(NONE));
    rows.push(row3("/proc/self/root/etc", lp(), lp(), xdev()).nofollow());
    rows.push(row("proc/self/cwd/", lp()).nofollow());
    rows.push(row(format!("proc/self/fd/{dir_fd}/passwd"), lp()).parent());
    // NO_SYMLINKS refuses the ordinary `self` symlink before the magic link is reached.
    rows.push(row("proc/self/exe", lp()).flags(NO_SYMLINKS));
    rows.push(row(format!("proc/{pid}/exe"), lp()).flags(NO_SYMLINKS));
    // A trailing magic link that is not followed is the link itself.
    for flags in [DEFAULT, NONE] {
        for (path, want) in [
            ("proc/self/exe".to_string(), format!("{me}/exe")),
            ("proc/self/root".to_string(), format!("{me}/root")),
            ("proc/self/cwd".to_string(), format!("{me}/cwd")),
            ("proc/self/ns/net".to_string(), format!("{me}/ns/net")),
            (
                format!("proc/self/fd/{file_fd}"),
                format!("{me}/fd/{file_fd}"),
            ),
            (
                format!("proc/self/fd/{pipe_fd}"),
                format!("{me}/fd/{pipe_fd}"),
            ),
        ] {
            let (dir, name) = want.rsplit_once('/').unwrap();
            rows.push(row(&path, ok(&want)).nofollow().flags(flags));
            rows.push(row(&path, par(dir, name)).parent().flags(flags));
        }
        rows.push(
            row3(
                "/proc/self/exe",
                ok(format!("{me}/exe")),
                ok(format!("{me}/exe")),
                xdev(),
            )
            .nofollow()
            .flags(flags),
        );
    }
    rows.push(
        row(format!("proc/{pid}/exe"), ok(format!("{me}/exe")))
            .nofollow()
            .flags(NO_SYMLINKS),
    );
    rows.push(row("proc/self/exe", err(Errno::LOOP)).open(OFlags::RDONLY | OFlags::NOFOLLOW));
    // Ordinary procfs symlinks (`self`, `thread-self`, `mounts`) are followed like any other.
    let tid = rustix::thread::gettid().as_raw_nonzero().get();
    rows.extend([
        row("proc/self", ok(&me)),
        row("proc/self/", ok(&me)),
        row("proc/self", ok("/proc/self")).nofollow(),
        row("proc/self/status", ok(format!("{me}/status"))),
        row("proc/self/..", ok("/proc")),
        row("proc/self/../..", ok("/")),
        row("proc/thread-self", ok(format!("{me}/task/{tid}"))),
        row("proc/mounts", ok(format!("{me}/mounts"))),
        row("proc/self/status", ok(format!("{me}/status"))).open(OFlags::RDONLY),
        row("proc/self/exe", par(&me, "exe")).parent(),
    ]);
    rows
}

/// `/proc/fs/xfs/stat -> /sys/fs/xfs/stats/stats`: a procfs symlink created with
/// `proc_symlink()`, whose target is a plain absolute path (present when xfs is loaded).
const XFS_STAT: &str = "proc/fs/xfs/stat";

fn procfs_plain_absolute_symlink_rows() -> Vec<Row> {
    let target = "/sys/fs/xfs/stats/stats";
    vec![
        row3(XFS_STAT, ok(target), ok(target), xdev()),
        row3(XFS_STAT, ok(target), ok(target), xdev()).flags(NONE),
        row3(XFS_STAT, ok(target), ok(target), xdev()).open(OFlags::RDONLY),
        row(XFS_STAT, ok("/proc/fs/xfs/stat")).nofollow(),
        row(XFS_STAT, err(Errno::LOOP)).flags(NO_SYMLINKS),
        row3(
            format!("{XFS_STAT}/"),
            err(Errno::NOTDIR),
            err(Errno::NOTDIR),
            xdev(),
        ),
    ]
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn selftest_no_xdev_and_magiclinks() {
    require_privilege("mounts (tmpfs, procfs, bind) in a private mount namespace");
    let (tree, root_dir) = selftest_tree();
    in_private_mount_ns(|| {
        mount_selftest_tree(&root_dir);
        let root = Root::open(&root_dir).expect("open root");
        let mut c = Checker::default();
        c.table(
            "selftest no_xdev",
            &root,
            &root_dir,
            &selftest_no_xdev_rows(),
        );
        c.table(
            "selftest xdev allowed",
            &root,
            &root_dir,
            &selftest_xdev_allowed_rows(),
        );
        let mnt_dir = root_dir.join("mnt");
        let mnt_fd = procroot_testutil::open_dir(&mnt_dir);
        let mnt_root = Root::from_fd(mnt_fd).expect("Root::from_fd(mnt)");
        c.table(
            "selftest mount as root",
            &mnt_root,
            &mnt_dir,
            &selftest_mount_root_rows(),
        );

        let file = std::fs::File::open(root_dir.join("etc/passwd")).expect("open passwd");
        let (pipe_r, _pipe_w) = rustix::pipe::pipe().expect("pipe");
        let dir = std::fs::File::open(root_dir.join("etc")).expect("open etc");
        let rows = magic_rows(file.as_raw_fd(), pipe_r.as_raw_fd(), dir.as_raw_fd());
        c.table("selftest magiclinks", &root, &root_dir, &rows);

        // An ordinary procfs symlink with an absolute target is not a magic link: the kernel
        // follows it like any absolute symlink (restart at the root; EXDEV under Beneath).
        match std::fs::read_link(root_dir.join(XFS_STAT)) {
            Ok(target) if target.is_absolute() => c.table(
                "procfs ordinary absolute symlink",
                &root,
                &root_dir,
                &procfs_plain_absolute_symlink_rows(),
            ),
            _ => eprintln!(
                "NOT RUN: /proc/{XFS_STAT} is not an absolute symlink on this kernel (xfs not \
                 loaded), so the ordinary-procfs-absolute-symlink cases cannot be staged"
            ),
        }

        // readlink of a magic link reads it; it does not follow it.
        let want = std::fs::read_link("/proc/self/exe").expect("readlink /proc/self/exe");
        for backend in BACKENDS {
            let got = root.clone().with_backend(backend).readlink("proc/self/exe");
            c.check(
                &format!("readlink proc/self/exe {backend:?}"),
                got.as_ref().is_ok_and(|p| *p == want),
                || format!("expected {want:?}, got {got:?}"),
            );
        }
        c.finish("selftest_no_xdev_and_magiclinks");
    });
    drop(tree);
}

// ------------------------------------------------------------------------------------------------
// 2. procfsroot's examples
// ------------------------------------------------------------------------------------------------

fn procfsroot_tree() -> (Tree, PathBuf) {
    let tree = Tree::new(
        "
        file outofreach.txt secret
        file root/a/b.txt b
        file root/a/d/dummy.txt
        symlink root/relsymlink a/b.txt
        symlink root/unrooter/tryingtoleavethebox ../../outofreach.txt
        symlink root/var/run /run
        file root/run/x.sock
        ",
    );
    let root_dir = tree.join("root");
    (tree, root_dir)
}

#[test]
fn procfsroot_examples() {
    let (_tree, root_dir) = procfsroot_tree();
    let root = Root::open(&root_dir).expect("open root");
    let xd = Err(Errno::XDEV);
    let strict = vec![
        full("/a/b.txt", Ok("/a/b.txt")),
        full("/////a/////b.txt", Ok("/a/b.txt")),
        full("", Ok("/")),
        full("a", Ok("/a")),
        full("/a/b.txt/c", Err(Errno::NOTDIR)),
        full("/a/zzz/b.txt", Err(Errno::NOENT)),
        full("//a//", Ok("/a")),
        full("/./a/./b.txt", Ok("/a/b.txt")),
        full("/a/../a/b.txt", Ok("/a/b.txt")),
        full("/a/d/../b.txt", Ok("/a/b.txt")),
        full("/a/zzz.txt", Err(Errno::NOENT)),
        full("/relsymlink", Ok("/a/b.txt")),
        full("/../foo", xd),
        full("/a/d/../../../foo", xd),
        full("/unrooter/tryingtoleavethebox", xd),
        full("/var/run/x.sock", Ok("/run/x.sock")),
        full("/var/run", Ok("/run")),
        full("/var/run/", Ok("/run")),
        full("/var/run/../a/b.txt", Ok("/a/b.txt")),
        except_last("/a/b.txt", Ok("/a/b.txt")),
        except_last("/////a/////b.txt", Ok("/a/b.txt")),
        except_last("", Ok("/")),
        except_last("a", Ok("/a")),
        except_last("/a/b.txt/c", Err(Errno::NOTDIR)),
        except_last("/a/zzz/b.txt", Err(Errno::NOENT)),
        except_last("//a//", Ok("/a")),
        except_last("/./a/./b.txt", Ok("/a/b.txt")),
        except_last("/a/../a/b.txt", Ok("/a/b.txt")),
        except_last("/a/d/../b.txt", Ok("/a/b.txt")),
        except_last("/a/zzz.txt", Ok("/a/zzz.txt")),
        except_last("/relsymlink", Ok("/relsymlink")),
        except_last("/../foo", xd),
        except_last("/a/d/../../../foo", xd),
        except_last(
            "/unrooter/tryingtoleavethebox",
            Ok("/unrooter/tryingtoleavethebox"),
        ),
        except_last("/unrooter/tryingtoleavethebox/x", xd),
        except_last("/var/run/x.sock", Ok("/run/x.sock")),
        except_last("/var/run/new.sock", Ok("/run/new.sock")),
        except_last("/var/run", Ok("/var/run")),
        except_last("/a/..", Ok("/")),
        except_last("/a/.", Ok("/a")),
    ];
    // InRoot clamps instead: the escape lands on a missing file inside the root, never on the
    // file outside it.
    let in_root = vec![
        full("/../foo", Err(Errno::NOENT)),
        full("/../a/b.txt", Ok("/a/b.txt")),
        full("/unrooter/tryingtoleavethebox", Err(Errno::NOENT)),
        full("/var/run/x.sock", Ok("/run/x.sock")),
        except_last(
            "/unrooter/tryingtoleavethebox",
            Ok("/unrooter/tryingtoleavethebox"),
        ),
        except_last("/../foo", Ok("/foo")),
    ];
    // Beneath: relative paths only. An empty path means the root (documented), which Beneath
    // can name.
    let beneath = vec![
        full("a/b.txt", Ok("/a/b.txt")),
        full("relsymlink", Ok("/a/b.txt")),
        full("/a/b.txt", xd),
        full("var/run/x.sock", xd),
        full("", Ok("/")),
        except_last("var/run", Ok("/var/run")),
        except_last("", Ok("/")),
    ];
    let mut c = Checker::default();
    c.eval("procfsroot strict", &root, Policy::InRootStrict, &strict);
    c.eval("procfsroot in_root", &root, Policy::InRoot, &in_root);
    c.eval("procfsroot beneath", &root, Policy::Beneath, &beneath);
    c.finish("procfsroot_examples");
}

// ------------------------------------------------------------------------------------------------
// 3. Edge cases
// ------------------------------------------------------------------------------------------------

/// The edge-case tree (the root is the tree's top directory).
fn edge_tree() -> Tree {
    let mut spec = String::from(
        "
        dir d/e/g
        file d/f hello
        file f data
        file trunc contents
        symlink ld d
        symlink lf f
        symlink lfslash f/
        symlink ldeep d/e/g
        symlink dangling nonexistent
        symlink danglingslash nonexistent/
        symlink self self
        symlink loop1 loop2
        symlink loop2 loop1
        symlink abs /d/f
        symlink absdir /d
        symlink absroot /
        symlink absup /..
        symlink up ..
        symlink d/up ../..
        symlink d/rel ../f
        symlink d/e/g/back ../../..
        symlink ldot .
        symlink dslash //d//f
        file ... three-dots
        ",
    );
    // Chains: ch40 follows exactly 40 symlinks, ch41 needs 41; ach* are absolute.
    for (dir, n, end, absolute) in [
        ("ch40", 40, "../f", false),
        ("ch41", 41, "../f", false),
        ("ch40d", 40, "../d", false),
        ("ach40", 40, "/f", true),
        ("ach41", 41, "/f", true),
    ] {
        for i in 1..=n {
            let target = if i == n {
                end.to_string()
            } else if absolute {
                format!("/{dir}/l{}", i + 1)
            } else {
                format!("l{}", i + 1)
            };
            spec.push_str(&format!("symlink {dir}/l{i} {target}\n"));
        }
    }
    // Long symlink bodies, nested: each body is walked on its own by the kernel, so their total
    // length does not matter as long as each is below PATH_MAX.
    let pad = "/.".repeat(1998);
    spec.push_str(&format!("symlink nest/c ../d{pad}\n"));
    spec.push_str(&format!("symlink nest/b c{pad}\n"));
    spec.push_str(&format!("symlink nest/a b{pad}\n"));
    let tree = Tree::new(&spec);

    // Names that are not UTF-8.
    let b = |bytes: &[u8]| tree.join(OsStr::from_bytes(bytes));
    std::fs::create_dir(b(b"\xff\xfe")).unwrap();
    std::fs::write(b(b"\xff\xfe/\x80file"), b"not utf-8").unwrap();
    std::os::unix::fs::symlink(OsStr::from_bytes(b"\xff\xfe/\x80file"), b(b"lnk\xff")).unwrap();
    std::os::unix::fs::symlink(
        OsStr::from_bytes(b"/\xff\xfe/\x80file"),
        b(b"\xff\xfe/abs\xfe"),
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        tree.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    tree
}

fn edge_rows() -> Vec<Row> {
    let nd = || err(Errno::NOTDIR);
    let ne = || err(Errno::NOENT);
    let lp = || err(Errno::LOOP);
    let mut rows = vec![
        // Trailing slashes.
        row("d/", ok("/d")),
        row("d//", ok("/d")),
        row("d/", ok("/d")).nofollow(),
        row("f/", nd()),
        row("f/", nd()).nofollow(),
        row("f//", nd()),
        row("ld/", ok("/d")),
        row("ld/", ok("/d")).nofollow(),
        row("ld", ok("/ld")).nofollow(),
        row("ld", ok("/d")),
        row("ldeep/", ok("/d/e/g")).nofollow(),
        row("lf/", nd()),
        row("lf/", nd()).nofollow(),
        row("lf", ok("/lf")).nofollow(),
        row("lfslash", nd()),
        row("lfslash", ok("/lfslash")).nofollow(),
        row("dangling/", ne()),
        row("dangling/", ne()).nofollow(),
        row("danglingslash", ne()),
        row("danglingslash", ok("/danglingslash")).nofollow(),
        row("missing/", ne()),
        row3("absdir/", ok("/d"), ok("/d"), xdev()),
        row3("absdir/", ok("/d"), ok("/d"), xdev()).nofollow(),
        // `.` and `..` as the last component, and as the whole path.
        row(".", ok("/")),
        row("./", ok("/")),
        row("./.", ok("/")),
        row(".", ok("/")).nofollow(),
        row3("/", ok("/"), ok("/"), xdev()),
        row3("//", ok("/"), ok("/"), xdev()),
        row3("///.", ok("/"), ok("/"), xdev()),
        row3("/.", ok("/"), ok("/"), xdev()),
        row("d/.", ok("/d")),
        row("d/./", ok("/d")),
        row("d/..", ok("/")),
        row("d/e/..", ok("/d")),
        row("ld/..", ok("/")),
        row("ld/..", ok("/")).nofollow(),
        row("ldeep/..", ok("/d/e")),
        row("ldeep/../..", ok("/d")),
        row("ldeep/.", ok("/d/e/g")),
        row("d/e/g/back", ok("/")),
        row("d/e/g/back/d/f", ok("/d/f")),
        // Names that only look special, symlinks to `.` and with doubled slashes.
        row("...", ok("/...")),
        row("d/../...", ok("/...")),
        row(".../", nd()),
        row("d/...", ne()),
        row("ldot", ok("/")),
        row("ldot/ldot/d/f", ok("/d/f")),
        row3("ldot/..", ok("/"), xdev(), xdev()),
        row3("ldot/../..", ok("/"), xdev(), xdev()),
        row3("dslash", ok("/d/f"), ok("/d/f"), xdev()),
        // A FIFO is neither a directory nor a symlink.
        row("fifo", ok("/fifo")),
        row("fifo", ok("/fifo")).nofollow(),
        row("fifo/", nd()),
        row("fifo/x", nd()),
        row("fifo/..", nd()),
        row("fifo/x", err(Errno::NOTDIR)).parent(),
        // Empty components.
        row("d//f", ok("/d/f")),
        row("d/.//./f", ok("/d/f")),
        row("d//e///g", ok("/d/e/g")),
        row3("//d///f", ok("/d/f"), ok("/d/f"), xdev()),
        // The empty path.
        row("", ne()),
        row("", ne()).nofollow(),
        row("", ne()).parent(),
        row("", ne()).open(OFlags::RDONLY),
        // Dangling symlinks and loops.
        row("dangling", ne()),
        row("dangling", ok("/dangling")).nofollow(),
        row("dangling/x", ne()),
        row("dangling/..", ne()),
        row("self", lp()),
        row("self", ok("/self")).nofollow(),
        row("self/", lp()).nofollow(),
        row("self/x", lp()),
        row("loop1", lp()),
        row("loop2/x", lp()),
        row("loop1", ok("/loop1")).nofollow(),
        // The symlink budget: 40 is allowed, the 41st is ELOOP, counted over the whole walk.
        row("ch40/l1", ok("/f")),
        row("ch40/l1", ok("/ch40/l1")).nofollow(),
        row("ch41/l1", lp()),
        row("ch41/l2", ok("/f")),
        row("ch40d/l1/f", ok("/d/f")),
        row("ch40d/l1/rel", lp()),
        row("ch40d/l1/rel", ok("/d/rel")).nofollow(),
        row("ch40d/l1/", ok("/d")),
        row("ch40d/l2/rel", ok("/f")),
        row3("ach40/l1", ok("/f"), ok("/f"), xdev()),
        row3("ach41/l1", lp(), lp(), xdev()),
        row3("ach41/l2", ok("/f"), ok("/f"), xdev()),
        row("ch40/l1", lp()).flags(NO_SYMLINKS),
        // Non-directories in the middle.
        row("f/x", nd()),
        row("f/..", nd()),
        row("f/.", nd()),
        row("lf/..", nd()),
        row("d/f/x", nd()),
        row("d/f/..", nd()),
        row3("abs/..", nd(), nd(), xdev()),
        row("missing/x", ne()),
        row("missing/..", ne()),
        // NO_SYMLINKS with trailing symlinks.
        row("lf", err(Errno::LOOP)).flags(NO_SYMLINKS),
        row("lf", ok("/lf")).nofollow().flags(NO_SYMLINKS),
        row("ld/", lp()).nofollow().flags(NO_SYMLINKS),
        row("ld/f", lp()).flags(NO_SYMLINKS),
        row("d/f", ok("/d/f")).flags(NO_SYMLINKS),
        row("abs", ok("/abs")).nofollow().flags(NO_SYMLINKS),
        row("abs", lp()).flags(NO_SYMLINKS),
        row("dangling", ok("/dangling"))
            .nofollow()
            .flags(NO_SYMLINKS),
        row("dangling", lp()).flags(NO_SYMLINKS),
        row3("/d/f", ok("/d/f"), ok("/d/f"), xdev()).flags(NO_SYMLINKS),
        // Absolute symlinks under each policy.
        row3("abs", ok("/d/f"), ok("/d/f"), xdev()),
        row("abs", ok("/abs")).nofollow(),
        row3("absroot", ok("/"), ok("/"), xdev()),
        row3("absroot/d/f", ok("/d/f"), ok("/d/f"), xdev()),
        row3("absroot/..", ok("/"), xdev(), xdev()),
        row3("absup", ok("/"), xdev(), xdev()),
        row3("absup/d", ok("/d"), xdev(), xdev()),
        row3("/d/f", ok("/d/f"), ok("/d/f"), xdev()),
        row3("d/../abs", ok("/d/f"), ok("/d/f"), xdev()),
        // `..` above the root under each policy.
        row3("..", ok("/"), xdev(), xdev()),
        row3("../", ok("/"), xdev(), xdev()),
        row3("../..", ok("/"), xdev(), xdev()),
        row3("../d/f", ok("/d/f"), xdev(), xdev()),
        row3("d/../../d", ok("/d"), xdev(), xdev()),
        row3("/..", ok("/"), xdev(), xdev()),
        row3("/../d", ok("/d"), xdev(), xdev()),
        row3("d/e/g/back/..", ok("/"), xdev(), xdev()),
        row3("up", ok("/"), xdev(), xdev()),
        row3("up/d/f", ok("/d/f"), xdev(), xdev()),
        row("up", ok("/up")).nofollow(),
        row3("d/up", ok("/"), xdev(), xdev()),
        row3("d/up/f", ok("/f"), xdev(), xdev()),
        row("d/rel", ok("/f")),
        row3("../missing", ne(), xdev(), xdev()),
        row3("../f/x", nd(), xdev(), xdev()),
        // Non-UTF-8 names in directories, files and symlink targets.
        row(b"\xff\xfe", ok(b"/\xff\xfe")),
        row(b"\xff\xfe/", ok(b"/\xff\xfe")),
        row(b"\xff\xfe/\x80file", ok(b"/\xff\xfe/\x80file")),
        row(b"\xff\xfe/\x80file/", nd()),
        row(b"lnk\xff", ok(b"/\xff\xfe/\x80file")),
        row(b"lnk\xff", ok(b"/lnk\xff")).nofollow(),
        row3(
            b"\xff\xfe/abs\xfe",
            ok(b"/\xff\xfe/\x80file"),
            ok(b"/\xff\xfe/\x80file"),
            xdev(),
        ),
        row(b"\xff\xfe/abs\xfe", ok(b"/\xff\xfe/abs\xfe")).nofollow(),
        row(b"\xff\xfe/new\xff", par(b"/\xff\xfe", b"new\xff")).parent(),
        row(b"\xff\xfe/missing\xff", ne()),
        row(b"lnk\xff", ok(b"/\xff\xfe/\x80file")).open(OFlags::RDONLY),
        // Long paths and names.
        row(format!("{}f", "./".repeat(2047)), ok("/f")),
        row(format!("d/{}", "a".repeat(255)), ne()),
        row(format!("d/{}", "a".repeat(256)), err(Errno::NAMETOOLONG)),
        // Nested symlinks with long bodies: the kernel walks each body on its own.
        row("nest/b/f", ok("/d/f")),
        row("nest/a/f", ok("/d/f")),
        row("nest/a", ok("/d")),
    ];
    // Bad input: a clear InvalidInput, never a panic, for every operation.
    let too_long = vec![b'a'; 4096];
    let slashes = vec![b'/'; 4096];
    let way_too_long = format!("d/{}", "x/".repeat(3000));
    for path in [&b"a\0b"[..], b"\0", b"d/\0", b"/d/f\0"] {
        rows.push(row(path, invalid(Errno::INVAL)));
        rows.push(row(path, invalid(Errno::INVAL)).nofollow());
        rows.push(row(path, invalid(Errno::INVAL)).parent());
        rows.push(row(path, invalid(Errno::INVAL)).open(OFlags::RDONLY));
    }
    // Around the fast path's stack buffer (paths below 256 bytes are NUL-terminated there):
    // the same answers just below, at and above its size, and a NUL byte inside it, at its
    // last byte and beyond it is InvalidInput, never a truncated path that would resolve.
    for len in 253..=259 {
        let pad = "./".repeat((len - 1) / 2);
        let path = if len % 2 == 1 {
            format!("{pad}f")
        } else {
            format!("{pad}/f")
        };
        assert_eq!(path.len(), len);
        rows.push(row(&path, ok("/f")));
        rows.push(row(&path, ok("/f")).nofollow());
    }
    for nul_at in [0, 1, 254, 255, 256, 300] {
        let mut path = format!("{}f", "./".repeat(200)).into_bytes();
        path[nul_at] = 0;
        rows.push(row(&path, invalid(Errno::INVAL)));
        rows.push(row(&path, invalid(Errno::INVAL)).nofollow());
    }
    let mut nul_last = format!("{}f", "./".repeat(127)).into_bytes();
    nul_last.push(0);
    rows.push(row(&nul_last, invalid(Errno::INVAL)));
    for path in [&too_long[..], &slashes[..], way_too_long.as_bytes()] {
        rows.push(row(path, invalid(Errno::NAMETOOLONG)));
        rows.push(row(path, invalid(Errno::NAMETOOLONG)).nofollow());
        rows.push(row(path, invalid(Errno::NAMETOOLONG)).parent());
        rows.push(row(path, invalid(Errno::NAMETOOLONG)).open(OFlags::RDONLY));
    }
    rows
}

fn resolve_parent_rows() -> Vec<Row> {
    let rows = vec![
        row("d/f", par("/d", "f")),
        row("d/missing", par("/d", "missing")),
        row("missing/x", err(Errno::NOENT)),
        row("dangling/x", err(Errno::NOENT)),
        row("d/..", par_none("/")),
        row("d/.", par_none("/d")),
        row("d/e/g/..", par_none("/d/e")),
        row("f/x", err(Errno::NOTDIR)),
        row("f/..", err(Errno::NOTDIR)),
        row("ld/f", par("/d", "f")),
        row("ldeep/x", par("/d/e/g", "x")),
        row("lf", par("/", "lf")),
        row("x", par("/", "x")),
        row(".", par_none("/")),
        row3("/", par_none("/"), par_none("/"), xdev()),
        row3("//", par_none("/"), par_none("/"), xdev()),
        row("d/f/", par("/d", "f")),
        row("d//f//", par("/d", "f")),
        row("dangling", par("/", "dangling")),
        row("self", par("/", "self")),
        row("self/x", err(Errno::LOOP)),
        row3("..", par_none("/"), xdev(), xdev()),
        row3("../x", par("/", "x"), xdev(), xdev()),
        row3("/x", par("/", "x"), par("/", "x"), xdev()),
        row3("/d/x", par("/d", "x"), par("/d", "x"), xdev()),
        row3("abs/x", err(Errno::NOTDIR), err(Errno::NOTDIR), xdev()),
        row3("absdir/x", par("/d", "x"), par("/d", "x"), xdev()),
        row3("up/x", par("/", "x"), xdev(), xdev()),
        row3("d/up/x", par("/", "x"), xdev(), xdev()),
        row("up", par("/", "up")),
        row("ch41/l1/x", err(Errno::LOOP)),
        row("ch40d/l1/x", par("/d", "x")),
        row("ld/f", err(Errno::LOOP)).flags(NO_SYMLINKS),
        row("lf", par("/", "lf")).flags(NO_SYMLINKS),
    ];
    rows.into_iter().map(Row::parent).collect()
}

fn open_file_rows() -> Vec<Row> {
    let rd = OFlags::RDONLY;
    vec![
        row("f", ok("/f")).open(rd),
        row("lf", ok("/f")).open(rd),
        row("lf", err(Errno::LOOP)).open(rd | OFlags::NOFOLLOW),
        row("lf", ok("/lf")).open(OFlags::PATH | OFlags::NOFOLLOW),
        row("f", ok("/f")).open(rd | OFlags::NOFOLLOW),
        row("ld/", ok("/d")).open(rd | OFlags::NOFOLLOW),
        row("ld", err(Errno::LOOP)).open(rd | OFlags::NOFOLLOW),
        row("ld/f", ok("/d/f")).open(rd | OFlags::NOFOLLOW),
        row("d", err(Errno::ISDIR)).open(OFlags::WRONLY),
        row("d", ok("/d")).open(rd | OFlags::DIRECTORY),
        row("ld", ok("/d")).open(rd | OFlags::DIRECTORY),
        row("f", err(Errno::NOTDIR)).open(rd | OFlags::DIRECTORY),
        row("f/", err(Errno::NOTDIR)).open(rd),
        row("dangling", err(Errno::NOENT)).open(rd),
        row("missing", err(Errno::NOENT)).open(rd),
        row("self", err(Errno::LOOP)).open(rd),
        row("ch40/l1", ok("/f")).open(rd),
        row("ch41/l1", err(Errno::LOOP)).open(rd),
        row3("abs", ok("/d/f"), ok("/d/f"), xdev()).open(rd),
        row3("/", ok("/"), ok("/"), xdev()).open(rd),
        row(".", ok("/")).open(rd),
        row("d/..", ok("/")).open(rd),
        row("d/e/g/back", ok("/")).open(rd | OFlags::DIRECTORY),
        row3("../f", ok("/f"), xdev(), xdev()).open(rd),
        row("trunc", ok("/trunc")).open(OFlags::WRONLY),
        row("trunc", ok("/trunc")).open(OFlags::RDWR | OFlags::APPEND),
        // O_DIRECTORY is checked before O_NOFOLLOW: a symlink is ENOTDIR, not ELOOP.
        row("ld", err(Errno::NOTDIR)).open(rd | OFlags::DIRECTORY | OFlags::NOFOLLOW),
        row("ld", err(Errno::NOTDIR)).open(OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW),
        row("ld", ok("/d")).open(OFlags::PATH | OFlags::DIRECTORY),
        row("f", err(Errno::NOTDIR)).open(OFlags::PATH | OFlags::DIRECTORY),
        row("d/", ok("/d")).open(rd | OFlags::DIRECTORY | OFlags::NOFOLLOW),
        // FIFOs: open_file refuses them unless the root allows special files (tested in
        // tests/mutate_special.rs); O_PATH opens nothing, so it is fine.
        row("fifo", ok("/fifo")).open(OFlags::PATH),
        // Creating is a separate operation.
        row("f", invalid(Errno::INVAL)).open(OFlags::CREATE | OFlags::WRONLY),
        row("newfile", invalid(Errno::INVAL)).open(OFlags::CREATE | OFlags::EXCL | OFlags::RDWR),
        row("d", invalid(Errno::INVAL)).open(OFlags::TMPFILE | OFlags::RDWR),
    ]
}

#[test]
fn edge_cases() {
    let tree = edge_tree();
    let root = Root::open(tree.path()).expect("open root");
    let mut c = Checker::default();
    c.table("edge", &root, tree.path(), &edge_rows());
    c.table("resolve_parent", &root, tree.path(), &resolve_parent_rows());
    c.table("open_file", &root, tree.path(), &open_file_rows());
    c.finish("edge_cases");
}

/// `readlink`, `read_dir`, `metadata` and `symlink_metadata`, on both backends.
#[test]
fn readlink_read_dir_metadata() {
    let tree = edge_tree();
    let base = Root::open(tree.path()).expect("open root");
    let mut c = Checker::default();
    type ReadlinkCase = (&'static [u8], Result<&'static [u8], Errno>);
    let readlinks: Vec<ReadlinkCase> = vec![
        (b"lf", Ok(b"f")),
        (b"abs", Ok(b"/d/f")),
        (b"d/rel", Ok(b"../f")),
        (b"ld/rel", Ok(b"../f")),
        (b"dangling", Ok(b"nonexistent")),
        (b"self", Ok(b"self")),
        (b"lnk\xff", Ok(b"\xff\xfe/\x80file")),
        (b"\xff\xfe/abs\xfe", Ok(b"/\xff\xfe/\x80file")),
        (b"ch40/l1", Ok(b"l2")),
        (b"f", Err(Errno::INVAL)),
        (b"d", Err(Errno::INVAL)),
        (b".", Err(Errno::INVAL)),
        (b"ld/", Err(Errno::INVAL)),
        (b"missing", Err(Errno::NOENT)),
        (b"self/", Err(Errno::LOOP)),
        (b"", Err(Errno::NOENT)),
    ];
    for policy in POLICIES {
        for backend in BACKENDS {
            let root = base.clone().with_policy(policy).with_backend(backend);
            for (path, want) in &readlinks {
                let got = root
                    .readlink(os(path))
                    .map(|p| p.into_os_string().into_vec())
                    .map_err(|e| (e.errno(), e.kind()));
                let fine = match (want, &got) {
                    (Ok(w), Ok(g)) => w == g,
                    (Err(w), Err((e, k))) => w == e && *k == kind_of(*w),
                    _ => false,
                };
                c.check(
                    &format!("readlink {} {policy:?} {backend:?}", show(path)),
                    fine,
                    || format!("expected {want:?}, got {got:?}"),
                );
            }
        }
    }

    let listing = |root: &Root, path: &str| -> Result<Vec<(Vec<u8>, FileType)>, Errno> {
        let mut names: Vec<_> = root
            .read_dir(path)
            .map_err(|e| e.errno())?
            .map(|e| {
                let e = e.expect("dir entry");
                (e.file_name().as_bytes().to_vec(), e.file_type())
            })
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(names)
    };
    let d_entries: Vec<(Vec<u8>, FileType)> = vec![
        (b"e".to_vec(), FileType::Dir),
        (b"f".to_vec(), FileType::File),
        (b"rel".to_vec(), FileType::Symlink),
        (b"up".to_vec(), FileType::Symlink),
    ];
    let utf_entries: Vec<(Vec<u8>, FileType)> = vec![
        (b"abs\xfe".to_vec(), FileType::Symlink),
        (b"\x80file".to_vec(), FileType::File),
    ];
    for policy in POLICIES {
        for backend in BACKENDS {
            let root = base.clone().with_policy(policy).with_backend(backend);
            let tag = format!("{policy:?} {backend:?}");
            for path in ["d", "ld", "ld/", "d/e/g/back/d", "ch40d/l1"] {
                let got = listing(&root, path);
                c.check(
                    &format!("read_dir {path} {tag}"),
                    got.as_ref() == Ok(&d_entries),
                    || format!("got {got:?}"),
                );
            }
            let got = listing(&root, "\u{0}");
            c.check(
                &format!("read_dir NUL {tag}"),
                got == Err(Errno::INVAL),
                || format!("got {got:?}"),
            );
            let got = root
                .read_dir(os(b"\xff\xfe"))
                .map(|it| {
                    let mut v: Vec<_> = it
                        .map(|e| {
                            let e = e.expect("dir entry");
                            (e.file_name().as_bytes().to_vec(), e.file_type())
                        })
                        .collect();
                    v.sort_by(|a, b| a.0.cmp(&b.0));
                    v
                })
                .map_err(|e| e.errno());
            c.check(
                &format!("read_dir non-UTF-8 {tag}"),
                got.as_ref() == Ok(&utf_entries),
                || format!("got {got:?}"),
            );
            for (path, want) in [
                ("f", Errno::NOTDIR),
                ("lf", Errno::NOTDIR),
                ("dangling", Errno::NOENT),
                ("self", Errno::LOOP),
            ] {
                let got = listing(&root, path);
                c.check(&format!("read_dir {path} {tag}"), got == Err(want), || {
                    format!("expected {}, got {got:?}", errno_name(want))
                });
            }
            if policy != Policy::Beneath {
                let got = listing(&root, "/").map(|v| {
                    v.into_iter()
                        .map(|(n, _)| n)
                        .filter(|n| [&b"d"[..], b"f", b"ld", b".", b".."].contains(&&n[..]))
                        .collect::<Vec<_>>()
                });
                c.check(
                    &format!("read_dir / {tag}"),
                    got == Ok(vec![b"d".to_vec(), b"f".to_vec(), b"ld".to_vec()]),
                    || format!("expected d, f, ld and no dot entries, got {got:?}"),
                );
            }

            let f = std::fs::symlink_metadata(tree.join("f")).unwrap();
            let lf = std::fs::symlink_metadata(tree.join("lf")).unwrap();
            let md = root.metadata("lf");
            c.check(
                &format!("metadata lf {tag}"),
                md.as_ref().is_ok_and(|m| m.is_file() && m.ino() == f.ino()),
                || format!("got {md:?}"),
            );
            let md = root.symlink_metadata("lf");
            c.check(
                &format!("symlink_metadata lf {tag}"),
                md.as_ref()
                    .is_ok_and(|m| m.file_type().is_symlink() && m.ino() == lf.ino()),
                || format!("got {md:?}"),
            );
            let md = root.metadata("ld/");
            c.check(
                &format!("metadata ld/ {tag}"),
                md.as_ref().is_ok_and(|m| m.is_dir()),
                || format!("got {md:?}"),
            );
            let md = root.metadata("dangling").map_err(|e| e.errno());
            c.check(
                &format!("metadata dangling {tag}"),
                md.as_ref().err() == Some(&Errno::NOENT),
                || format!("got {md:?}"),
            );
            let md = root.symlink_metadata("dangling");
            c.check(
                &format!("symlink_metadata dangling {tag}"),
                md.as_ref().is_ok_and(|m| m.file_type().is_symlink()),
                || format!("got {md:?}"),
            );
            let h = root
                .resolve_nofollow("lf")
                .map(|h| h.file_type().map_err(|e| e.errno()));
            c.check(
                &format!("file_type lf {tag}"),
                matches!(h, Ok(Ok(FileType::Symlink))),
                || format!("got {h:?}"),
            );
        }
    }
    c.finish("readlink_read_dir_metadata");
}

/// Search permission, as an unprivileged user: the kernel checks `x` on every directory it looks
/// a component up in, `.` and `..` included. `locked` (mode 0700, owned by root) can be opened
/// `O_PATH` from its parent, but nothing can be looked up inside it, not even `..`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn search_permission_unprivileged() {
    use std::os::unix::fs::PermissionsExt;
    require_privilege("switching to uid 65534 in a child");
    let tree = Tree::new(
        "
        dir locked/sub
        file locked/f x
        file f y
        symlink ll locked
        symlink lup locked/..
        ",
    );
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(tree.path(), 0o755).unwrap();
    mode(&tree.join("f"), 0o644).unwrap();
    mode(&tree.join("locked"), 0o700).unwrap();
    let acc = || err(Errno::ACCESS);
    let rows = vec![
        row("f", ok("/f")),
        row("locked", ok("/locked")),
        row("locked/", ok("/locked")),
        row("ll", ok("/locked")),
        row("ll", ok("/ll")).nofollow(),
        row("locked/f", acc()),
        row("locked/sub", acc()),
        row("locked/.", acc()),
        row("locked/./", acc()),
        row("locked/..", acc()),
        row("locked/../f", acc()),
        row("ll/..", acc()),
        row("lup", acc()),
        row("locked/x", par("/locked", "x")).parent(),
        row("locked/sub/x", acc()).parent(),
        row("locked/..", acc()).parent(),
        row("locked/../f", acc()).open(OFlags::RDONLY),
    ];
    in_child(|| {
        procroot_testutil::become_user(65534);
        let root = Root::open(tree.path()).expect("open root as uid 65534");
        let mut c = Checker::default();
        c.table("search permission", &root, tree.path(), &rows);
        c.finish("search_permission_unprivileged");
    });
}

/// `Root::from_fd` takes any directory fd (not only `O_PATH`), and refuses a non-directory.
#[test]
fn root_from_fd() {
    let tree = Tree::new(
        "
        file d/f x
        symlink abs /d/f
        ",
    );
    let dir = OwnedFd::from(std::fs::File::open(tree.path()).expect("open dir O_RDONLY"));
    let root = Root::from_fd(dir).expect("Root::from_fd(dir)");
    let mut c = Checker::default();
    c.table(
        "from_fd",
        &root,
        tree.path(),
        &[
            row("d/f", ok("/d/f")),
            row3("abs", ok("/d/f"), ok("/d/f"), xdev()),
            row3("..", ok("/"), xdev(), xdev()),
            row("d/f", ok("/d/f")).open(OFlags::RDONLY),
        ],
    );
    let file = OwnedFd::from(std::fs::File::open(tree.join("d/f")).expect("open file"));
    let got = Root::from_fd(file).map(drop).map_err(|e| e.errno());
    c.check("Root::from_fd(file)", got == Err(Errno::NOTDIR), || {
        format!("expected ENOTDIR, got {got:?}")
    });
    c.finish("root_from_fd");
}

// ------------------------------------------------------------------------------------------------
// The kernel's refusals of a symlink: MS_NOSYMFOLLOW and fs.protected_symlinks
// ------------------------------------------------------------------------------------------------

/// `MS_NOSYMFOLLOW` (Linux 5.10), which the libc crate does not name.
const MS_NOSYMFOLLOW: libc::c_ulong = 256;

/// On a mount with `MS_NOSYMFOLLOW` the kernel refuses every symlink with `ELOOP`; a symlink
/// that is not followed is still returned. The emulated walker used to follow them (and, since
/// it confirms every kernel `ELOOP`, so did the kernel backend): `cat` printed the target.
/// Checked for a mount inside the root and for a root that is itself on such a mount.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn nosymfollow_mount_refuses_symlinks() {
    require_privilege("a nosymfollow bind mount in a private mount namespace");
    let tree = Tree::new(
        "
        file f x
        dir d
        symlink lf f
        symlink ld d
        file nsf/f y
        dir nsf/d
        symlink nsf/lf f
        symlink nsf/ld d
        symlink nsf/up ../f
        symlink nsf/abs /f
        symlink into nsf/lf
        ",
    );
    let nsf = tree.join("nsf");
    let loops = || err(Errno::LOOP);
    let rows_top = vec![
        row("lf", ok("/f")),
        row("ld/", ok("/d")),
        row("nsf/f", ok("/nsf/f")),
        row("nsf/lf", loops()),
        row("nsf/lf", loops()).open(OFlags::RDONLY),
        row("nsf/lf", ok("/nsf/lf")).nofollow(),
        row("nsf/lf", loops()).flags(NO_SYMLINKS),
        row("nsf/ld/", loops()),
        row("nsf/ld/..", loops()),
        row("nsf/ld/x", loops()).parent(),
        row("nsf/ld", par("/nsf", "ld")).parent(),
        row("nsf/up", loops()),
        row("nsf/abs", loops()),
        // A link on the ordinary mount, whose target is a link on the nosymfollow one.
        row("into", loops()),
        row("into", ok("/into")).nofollow(),
    ];
    let rows_nsf = vec![
        row("f", ok("/f")),
        row("lf", loops()),
        row("lf", loops()).open(OFlags::RDONLY),
        row("lf", ok("/lf")).nofollow(),
        row("ld/", loops()),
        row("abs", loops()),
    ];
    in_private_mount_ns(|| {
        let source = nsf.to_str().expect("temporary paths are UTF-8");
        mount_raw(Some(source), &nsf, None, libc::MS_BIND, None).expect("bind nsf");
        mount_raw(
            None,
            &nsf,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | MS_NOSYMFOLLOW,
            None,
        )
        .expect("remount nsf nosymfollow");
        let mut c = Checker::default();
        let top = Root::open(tree.path()).expect("open root");
        c.table(
            "nosymfollow mount in the root",
            &top,
            tree.path(),
            &rows_top,
        );
        let inner = Root::open(&nsf).expect("open root on the nosymfollow mount");
        c.table("root on a nosymfollow mount", &inner, &nsf, &rows_nsf);
        // Backend::Auto too: the kernel's ELOOP is final.
        for root in [&top, &inner] {
            let auto = root.clone().with_backend(Backend::Auto);
            let path = if std::ptr::eq(root, &top) {
                "nsf/lf"
            } else {
                "lf"
            };
            let got = auto.resolve(path).map(|_| ()).map_err(|e| e.errno());
            c.check(
                "Backend::Auto on a nosymfollow link",
                got == Err(Errno::LOOP),
                || format!("{path}: expected ELOOP, got {got:?}"),
            );
        }
        c.finish("nosymfollow_mount_refuses_symlinks");
    });
}

/// The tree for the `fs.protected_symlinks` tests, as root: `tmp` is `/tmp`-like (1777, owned
/// by root) with links owned by uid 2000 (a stranger to the follower, uid 1000), by the
/// follower, and by root (the directory's owner); `pub` is world-writable but not sticky;
/// `own` is sticky, world-writable and owned by uid 2000, like the links in it.
fn protected_symlinks_tree() -> Tree {
    use std::os::unix::fs::PermissionsExt;
    let tree = Tree::new(
        "
        file tmp/t x
        file tmp/d/x y
        symlink tmp/foreign t
        symlink tmp/foreign_dir d
        symlink tmp/mine t
        symlink tmp/rootown t
        file pub/t z
        symlink pub/foreign t
        file own/t w
        symlink own/foreign t
        symlink via tmp/foreign
        ",
    );
    let mode = |p: &str, m: u32| {
        std::fs::set_permissions(tree.join(p), std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    mode("", 0o755);
    mode("tmp", 0o1777);
    mode("pub", 0o777);
    mode("own", 0o1777);
    let chown = |p: &str, uid: u32| {
        std::os::unix::fs::lchown(tree.join(p), Some(uid), Some(uid)).expect("lchown")
    };
    for link in [
        "tmp/foreign",
        "tmp/foreign_dir",
        "pub/foreign",
        "own/foreign",
        "own",
    ] {
        chown(link, 2000);
    }
    chown("tmp/mine", 1000);
    tree
}

/// With `fs.protected_symlinks=1` the kernel refuses (`EACCES`) to follow a trailing symlink in
/// a sticky, world-writable directory unless the link's owner is the follower or the directory's
/// owner.
/// Both backends must give the kernel's answer for this machine's setting; the emulated walker
/// used to follow such a link whatever the setting.
///
/// A link in the middle of a path is not protected (the kernel only checks trailing links);
/// `resolve_parent`'s parent is resolved as a path of its own, as the kernel backend's
/// `openat2` of the parent does, so a protected link that ends the parent is refused.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn protected_symlinks_agree_with_the_kernel() {
    require_privilege("links owned by other users, and uid 1000 in a child");
    let sysctl = std::fs::read_to_string("/proc/sys/fs/protected_symlinks")
        .expect("read fs.protected_symlinks");
    let protected = sysctl.trim() != "0";
    eprintln!("fs.protected_symlinks = {}", sysctl.trim());
    let tree = protected_symlinks_tree();
    let refused = |otherwise: Expect| {
        if protected {
            err(Errno::ACCESS)
        } else {
            otherwise
        }
    };
    let rows = vec![
        row("tmp/foreign", refused(ok("/tmp/t"))),
        row("tmp/foreign", refused(ok("/tmp/t"))).open(OFlags::RDONLY),
        row("tmp/foreign", ok("/tmp/foreign")).nofollow(),
        // The kernel asks may_follow_link before RESOLVE_NO_SYMLINKS.
        row("tmp/foreign", refused(err(Errno::LOOP))).flags(NO_SYMLINKS),
        row("tmp/foreign_dir/", refused(ok("/tmp/d"))),
        row("tmp/foreign_dir/x", ok("/tmp/d/x")),
        row("tmp/foreign_dir/.", ok("/tmp/d")),
        row("tmp/foreign_dir/x", refused(par("/tmp/d", "x"))).parent(),
        row("tmp/foreign", par("/tmp", "foreign")).parent(),
        row("via", refused(ok("/tmp/t"))),
        row("tmp/mine", ok("/tmp/t")),
        row("tmp/rootown", ok("/tmp/t")),
        row("pub/foreign", ok("/pub/t")),
        row("own/foreign", ok("/own/t")),
    ];
    in_child(|| {
        procroot_testutil::become_user(1000);
        let root = Root::open(tree.path()).expect("open root as uid 1000");
        let mut c = Checker::default();
        c.table("protected symlinks", &root, tree.path(), &rows);
        c.finish("protected_symlinks_agree_with_the_kernel");
    });
}

/// The emulated walker's side of `fs.protected_symlinks`, whatever this machine's setting (the
/// kernel's side needs the sysctl at 1, see [`protected_symlinks_agree_with_the_kernel`]): told
/// the sysctl is 1 it refuses exactly what the kernel's rule refuses, told 0 it follows; and
/// root (fsuid 0) is no exception, even in a directory it owns.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn protected_symlinks_emulated_follows_the_sysctl() {
    require_privilege("links owned by other users, and uid 1000 in a child");
    let tree = protected_symlinks_tree();
    in_child(|| {
        procroot_testutil::become_user(1000);
        let root = Root::open(tree.path())
            .expect("open root as uid 1000")
            .with_backend(Backend::Emulated);
        let errno = |path: &str| root.resolve(path).map(|_| ()).map_err(|e| e.errno());
        procroot::testing::set_protected_symlinks(Some(true));
        assert_eq!(
            errno("tmp/foreign"),
            Err(Errno::ACCESS),
            "sysctl 1: tmp/foreign"
        );
        assert_eq!(errno("via"), Err(Errno::ACCESS), "sysctl 1: via");
        assert_eq!(
            errno("tmp/foreign_dir/x"),
            Ok(()),
            "sysctl 1: a link mid-path"
        );
        assert_eq!(
            errno("tmp/mine"),
            Ok(()),
            "sysctl 1: the follower's own link"
        );
        assert_eq!(
            errno("tmp/rootown"),
            Ok(()),
            "sysctl 1: the directory owner's link"
        );
        assert_eq!(errno("pub/foreign"), Ok(()), "sysctl 1: not sticky");
        assert_eq!(
            errno("own/foreign"),
            Ok(()),
            "sysctl 1: link and directory owner match"
        );
        procroot::testing::set_protected_symlinks(Some(false));
        assert_eq!(errno("tmp/foreign"), Ok(()), "sysctl 0: tmp/foreign");
    });
    // Root (fsuid 0): owning `tmp` does not help with uid 2000's link in it (the kernel only
    // asks whether the link's owner is the follower or the directory's owner), and a link owned
    // by uid 3000 in uid 2000's sticky directory is refused too.
    std::os::unix::fs::symlink("t", tree.join("own/stranger")).expect("symlink");
    std::os::unix::fs::lchown(tree.join("own/stranger"), Some(3000), Some(3000)).expect("lchown");
    in_child(|| {
        let root = Root::open(tree.path())
            .expect("open root")
            .with_backend(Backend::Emulated);
        procroot::testing::set_protected_symlinks(Some(true));
        let got = root
            .resolve("own/stranger")
            .map(|_| ())
            .map_err(|e| e.errno());
        assert_eq!(
            got,
            Err(Errno::ACCESS),
            "root following uid 3000's link in uid 2000's /tmp"
        );
        let got = root
            .resolve("tmp/foreign")
            .map(|_| ())
            .map_err(|e| e.errno());
        assert_eq!(
            got,
            Err(Errno::ACCESS),
            "root following uid 2000's link in its own /tmp"
        );
        assert!(root.resolve("tmp/rootown").is_ok(), "root's own link");
    });
}

/// `Handle::path_in_root` names the file the kernel opened. Where the kernel's printed path
/// cannot be used (uid 1000 here: no detached procfs), the emulated walk names it, and must not
/// apply `fs.protected_symlinks` again with a value it only assumes (1, where it cannot read it:
/// `/proc/sys` masked, or a process confined without reading it first): the kernel, with this
/// machine's real value, followed `tmp/foreign` or refused it itself. With the sysctl at 0 the
/// walk used to refuse (`EACCES`) to name what the kernel had followed.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn path_in_root_names_what_the_kernel_followed_whatever_the_walker_assumes() {
    require_privilege("links owned by other users, and uid 1000 in a child");
    let sysctl = std::fs::read_to_string("/proc/sys/fs/protected_symlinks").expect("sysctl");
    let protected = sysctl.trim() != "0";
    eprintln!("fs.protected_symlinks = {}", sysctl.trim());
    let tree = protected_symlinks_tree();
    in_child(|| {
        procroot_testutil::become_user(1000);
        procroot::testing::set_protected_symlinks(Some(true));
        let root = Root::open(tree.path()).expect("open root as uid 1000");
        match root.resolve("tmp/foreign") {
            Ok(handle) => {
                assert!(!protected, "the kernel followed a protected link");
                assert_eq!(handle.path_in_root().unwrap(), Path::new("/tmp/t"));
            }
            Err(e) => assert!(protected && e.errno() == Errno::ACCESS, "{e}"),
        }
    });
}

/// `Root::resolve_except_last`: the path `eval_symlinks(ExceptLast)` gives, the last
/// component's own type looked up in the resolved parent (a symlink is not followed, a missing
/// name is `None`), and the whole path's type when it ends in `.`, `..` or `/`.
#[test]
fn resolve_except_last_reports_the_last_component_unfollowed() {
    let tree = Tree::new(
        "
        file etc/passwd x
        symlink var/run /run
        dir run
        symlink run/link /etc/passwd
        ",
    );
    for backend in [Backend::Kernel, Backend::Emulated] {
        let root = Root::open(tree.path()).unwrap().with_backend(backend);
        for (path, want_path, want_type, last) in [
            (
                "/var/run/link",
                "/run/link",
                Some(FileType::Symlink),
                Some("link"),
            ),
            ("/var/run/new", "/run/new", None, Some("new")),
            ("/var/run", "/var/run", Some(FileType::Symlink), Some("run")),
            // A trailing slash makes the last name a directory to resolve, as procfsroot's
            // EvalExceptLast does (issue 21, item 4): the symlink is followed, no last name.
            ("/var/run/", "/run", Some(FileType::Dir), None),
            ("/etc/..", "/", Some(FileType::Dir), None),
            ("", "/", Some(FileType::Dir), None),
        ] {
            let what = format!("{backend:?} {path:?}");
            let found = root.resolve_except_last(path).expect(&what);
            assert_eq!(
                found.path_in_root().unwrap(),
                Path::new(want_path),
                "{what}"
            );
            assert_eq!(
                root.eval_symlinks(path, EvalMode::ExceptLast).unwrap(),
                Path::new(want_path),
                "{what}"
            );
            assert_eq!(found.file_type().unwrap(), want_type, "{what}");
            assert_eq!(found.last(), last.map(std::ffi::OsStr::new), "{what}");
        }
        let err = root.resolve_except_last("/nope/x").unwrap_err();
        assert_eq!(err.errno(), Errno::NOENT, "{err}");
    }
}
