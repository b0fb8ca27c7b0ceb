//! Test-only helpers for procroot. Not published.
//!
//! - Processes and namespaces: [`in_child`], [`in_private_mount_ns`] (after `unshare(CLONE_NEWNS)`
//!   and `/` made recursively `MS_PRIVATE`, so a test's mounts never reach the host),
//!   [`ForkedChild`] (the one `fork(2)` of the kit), [`Target`], [`deny_syscalls`] (seccomp, to
//!   force fallbacks).
//! - Honest skips: [`require_privilege`] (a privileged test runs or fails loudly; ignored under
//!   `--cfg procroot_unprivileged`) and [`skip_unless_allowed`] (`PROCROOT_ALLOW_SKIP`).
//! - Attacks ([`racer`]): [`Racer`], [`with_racing_thread`], [`StopOnDrop`], [`race_rounds`]
//!   (more with `PROCROOT_RACE_LONG=1`), [`Snapshot`]. An attacker is stopped or killed on drop:
//!   a failing test fails, it never hangs.
//! - The CLI ([`cli`]): [`Cli`] runs the binary with a deadline; [`Run`] holds its results.
//! - Trees and timing: [`Tree`], [`mkfifo`], [`paired`]; [`TreeManifest`] to compare two trees
//!   made by different tools (an unpacked image against umoci's or tar's).
//!
//! Each in more words: docs/TESTING.md, "The test kit".

pub mod cli;
pub mod container;
mod fork;
mod manifest;
pub mod racer;
mod sentinel;
mod target;

pub use cli::{Cli, Run};
pub use fork::ForkedChild;
pub use manifest::{ManifestEntry, TreeManifest};
pub use racer::{race_rounds, with_racing_thread, Racer, StopOnDrop, Swap};
pub use sentinel::{Entry, Snapshot};
pub use target::Target;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `SYS_openat2` on x86_64 and aarch64 (the number is shared by all architectures that have it).
pub const SYS_OPENAT2: i64 = 437;

/// Runs `f` in a forked child process and waits for it. A panic in the child (or a non-zero exit,
/// or death by a signal) becomes a panic here, with the child's panic message.
///
/// The child is a copy of a possibly multi-threaded test process with only the calling thread,
/// so `f` must not depend on other threads (the allocator is fork-safe in glibc).
pub fn in_child<F: FnOnce()>(f: F) {
    let code = ForkedChild::spawn(|| {
        f();
        0
    })
    .wait();
    assert!(code == 0, "child failed (exit {code})");
}

/// Runs `f` in a forked child inside a new, private mount namespace: `unshare(CLONE_NEWNS)`,
/// then `mount(NULL, "/", NULL, MS_REC|MS_PRIVATE)`. Nothing `f` mounts is visible to the host,
/// and everything is torn down when the child exits.
///
/// Call [`require_privilege`] first.
pub fn in_private_mount_ns<F: FnOnce()>(f: F) {
    in_child(|| {
        enter_private_mount_ns();
        f()
    })
}

/// `unshare(CLONE_NEWNS)` + recursive `MS_PRIVATE` on `/`, in the calling process. Only for a
/// process that is about to exit (a forked child or a dedicated test process).
pub fn enter_private_mount_ns() {
    // SAFETY: unshare(2) with CLONE_NEWNS only changes this process's mount namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNS): {}",
        std::io::Error::last_os_error()
    );
    mount_raw(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .expect("make / MS_PRIVATE recursively");
}

/// `mount(2)`, for tests in a private mount namespace.
pub fn mount_raw(
    source: Option<&str>,
    target: impl AsRef<Path>,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let source = source.map(|s| CString::new(s).unwrap());
    let target = CString::new(target.as_ref().as_os_str().as_bytes()).unwrap();
    let fstype = fstype.map(|s| CString::new(s).unwrap());
    let data = data.map(|s| CString::new(s).unwrap());
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is NUL-terminated and outlives the call, or is null where mount(2)
    // allows it.
    let rc = unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Installs a seccomp filter on the calling thread that makes each syscall in `syscalls` fail with
/// `errno` and allows everything else. Irreversible: call it in a child ([`in_child`]).
pub fn deny_syscalls(syscalls: &[i64], errno: i32) {
    // Classic BPF: load the syscall number, compare with each, return ERRNO or ALLOW. The
    // architecture is not checked because the filter only narrows what this test process can do.
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let mut prog = vec![stmt(LD_W_ABS, 0)]; // offsetof(struct seccomp_data, nr)
    for &nr in syscalls {
        prog.push(libc::sock_filter {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: nr as u32,
        });
        prog.push(stmt(RET_K, SECCOMP_RET_ERRNO | (errno as u32 & 0xffff)));
    }
    prog.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    install_seccomp_filter(&prog);
}

/// Drops the calling (forked, single-threaded) process to uid and gid `id` with no
/// supplementary groups, for good; panics if the kernel refuses. Irreversible: call it in a
/// child ([`in_child`]).
pub fn become_user(id: libc::uid_t) {
    // SAFETY: setgroups(2) with a count of zero reads nothing through its NULL list.
    let rc = unsafe { libc::setgroups(0, std::ptr::null()) };
    assert_eq!(rc, 0, "setgroups: {}", std::io::Error::last_os_error());
    // SAFETY: plain integer arguments; no memory is involved.
    let rc = unsafe { libc::setresgid(id, id, id) };
    assert_eq!(rc, 0, "setresgid: {}", std::io::Error::last_os_error());
    // SAFETY: plain integer arguments; no memory is involved.
    let rc = unsafe { libc::setresuid(id, id, id) };
    assert_eq!(rc, 0, "setresuid: {}", std::io::Error::last_os_error());
}

/// Sets `no_new_privs` and installs the classic-BPF seccomp program `prog` on the calling
/// thread; panics if the kernel refuses it. Irreversible: call it in a child ([`in_child`]).
pub fn install_seccomp_filter(prog: &[libc::sock_filter]) {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers; no memory is involved.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0);
    // SAFETY: PR_SET_SECCOMP gets a pointer to a valid sock_fprog whose filter array outlives
    // the call (the kernel copies it and never writes through the pointer).
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    };
    assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
}

/// The errno of writing `data` to `path` (opened for appending, created if missing), or `None`
/// if the write worked: for checking that a read-only mount refuses it (`EROFS`).
pub fn write_errno(path: &Path, data: &[u8]) -> Option<i32> {
    use std::io::Write;
    match std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        Ok(mut f) => f.write_all(data).err().and_then(|e| e.raw_os_error()),
        Err(e) => e.raw_os_error(),
    }
}

/// Whether `path` is the null device (`c 1 3`).
pub fn is_null_device(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::metadata(path).expect("stat");
    md.file_type().is_char_device()
        && rustix::fs::major(md.rdev()) == 1
        && rustix::fs::minor(md.rdev()) == 3
}

/// Whether this process can do privileged things (mount namespaces, mounts): effective uid 0.
pub fn is_privileged() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Checks that the test has the privilege it needs, and fails the test, naming `what` it needs,
/// when it does not. A privileged test therefore never passes without having run.
///
/// To run the suite without root, build the tests with `--cfg procroot_unprivileged`
/// (`RUSTFLAGS='--cfg procroot_unprivileged' cargo nextest run --workspace`): every test that
/// calls this is marked `#[cfg_attr(procroot_unprivileged, ignore = "...")]`, so it is *skipped*,
/// and counted as skipped in the runner's closing line, instead of reporting "ok" having done
/// nothing.
pub fn require_privilege(what: &str) {
    assert!(
        is_privileged(),
        "this test needs {what}: run it as root, or build the tests with \
         RUSTFLAGS='--cfg procroot_unprivileged' to skip (ignore) every privileged test"
    );
}

/// The environment variable that lets a test skip for a missing kernel or host feature:
/// a comma-separated list of skip classes (`PROCROOT_ALLOW_SKIP=landlock,cgroup`).
pub const ALLOW_SKIP_VAR: &str = "PROCROOT_ALLOW_SKIP";

/// Whether the skip `class` is allowed by `value`, the value of [`ALLOW_SKIP_VAR`]: one of its
/// comma-separated entries is exactly `class` (no wildcard: each skip is allowed by name).
pub fn skip_allowed_by(value: Option<&str>, class: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|c| c.trim() == class))
}

/// A test cannot run here because the machine lacks something (`class`: `landlock`, `cgroup`,
/// ...; `why` says what). Without `PROCROOT_ALLOW_SKIP=<class>` this fails the test, so that a
/// broken feature probe (a wrong errno mapping that reads as "not supported") never turns the
/// test green. With it, the skip is printed loudly and the caller returns early.
///
/// Use: `if !feature_present { skip_unless_allowed("landlock", "no Landlock"); return; }`.
#[track_caller]
pub fn skip_unless_allowed(class: &str, why: &str) {
    let value = std::env::var(ALLOW_SKIP_VAR).ok();
    assert!(
        skip_allowed_by(value.as_deref(), class),
        "this test cannot run here ({why}); a skip is a failure unless \
         {ALLOW_SKIP_VAR}={class} is set"
    );
    eprintln!("SKIPPED ({ALLOW_SKIP_VAR}={class}): {why}");
}

/// A temporary directory tree, removed on drop.
pub struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    /// Builds a tree from lines such as:
    ///
    /// ```text
    /// dir a/b
    /// file a/b/c contents
    /// symlink a/link ../target
    /// ```
    ///
    /// Parents are created as needed. A file's contents are the rest of the line (may be empty).
    pub fn new(spec: &str) -> Tree {
        let tree = Tree {
            dir: tempfile::Builder::new()
                .prefix("procroot-test-")
                .tempdir()
                .expect("tempdir"),
        };
        for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut parts = line.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let path = parts.next().expect("a path");
            let rest = parts.next().unwrap_or("");
            match kind {
                "dir" => tree.mkdir(path),
                "file" => tree.write(path, rest.as_bytes()),
                "symlink" => tree.symlink(rest, path),
                other => panic!("unknown tree entry kind {other:?}"),
            }
        }
        tree
    }

    /// The tree's top directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `path` joined under the tree.
    pub fn join(&self, path: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(path)
    }

    /// Creates a directory (and its parents).
    pub fn mkdir(&self, path: impl AsRef<Path>) {
        std::fs::create_dir_all(self.join(path)).expect("mkdir");
    }

    /// Writes a file (creating its parents).
    pub fn write(&self, path: impl AsRef<Path>, contents: &[u8]) {
        let full = self.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir parent");
        }
        std::fs::write(full, contents).expect("write");
    }

    /// Creates a symlink at `link` (creating its parents) whose target is `target`, verbatim.
    pub fn symlink(&self, target: impl AsRef<Path>, link: impl AsRef<Path>) {
        let full = self.join(link);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir parent");
        }
        std::os::unix::fs::symlink(target, full).expect("symlink");
    }
}

/// Lowers this process's soft `RLIMIT_NOFILE` to `limit` (the hard limit unchanged), for a
/// test that shows a walk's fds stay bounded. Irreversible in practice: call it in a child
/// ([`in_child`]).
pub fn limit_open_files(limit: u64) {
    let old = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: old.maximum,
        },
    )
    .expect("setrlimit(RLIMIT_NOFILE)");
}

/// `mkfifo(path, 0666)` (minus the umask), panicking with the path on failure.
pub fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o666),
        0,
    )
    .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

/// The `(st_dev, st_ino)` of `path` without following a final symlink: the identity tests use to
/// compare results.
pub fn identity(path: impl AsRef<Path>) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(path).expect("lstat");
    (md.dev(), md.ino())
}

/// The `(st_dev, st_ino)` of an open fd.
pub fn fd_identity(fd: impl std::os::fd::AsFd) -> (u64, u64) {
    let st = rustix::fs::fstat(fd).expect("fstat");
    (st.st_dev, st.st_ino)
}

/// `open(path, O_PATH|O_DIRECTORY|O_CLOEXEC)`, panicking with the path on failure: the fd of a
/// test's or benchmark's directory, for raw `*at` syscalls and `Root::from_fd`.
pub fn open_dir(path: impl AsRef<Path>) -> std::os::fd::OwnedFd {
    let path = path.as_ref();
    rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Interleaved A/B timing for benchmarks whose targets are ratios.
///
/// Each round runs one batch of every column back to back (in forward order on even rounds,
/// reverse on odd ones), and ratios are taken within a round. Load that drifts over seconds on
/// a shared machine then weighs on both sides of a ratio alike, which two separate criterion
/// measurements cannot promise.
pub mod paired {
    use std::time::{Duration, Instant};

    /// Per-round times of each column, in nanoseconds per call.
    pub struct Rounds {
        times: Vec<Vec<f64>>,
    }

    /// Runs `rounds` rounds over `columns`, each batch sized so that the slowest column takes
    /// about `batch` (at least 20 calls).
    pub fn measure(columns: &mut [&mut dyn FnMut()], rounds: usize, batch: Duration) -> Rounds {
        let slowest = columns
            .iter_mut()
            .map(|f| time_batch(200, *f))
            .fold(0.0, f64::max);
        let iters = ((batch.as_nanos() as f64 / slowest) as u32).max(20);
        let n = columns.len();
        let mut times = vec![Vec::with_capacity(rounds); n];
        for round in 0..rounds {
            for k in 0..n {
                let i = if round % 2 == 0 { k } else { n - 1 - k };
                times[i].push(time_batch(iters, columns[i]));
            }
        }
        Rounds { times }
    }

    /// As [`measure`], for columns that time themselves: each is called with a batch size and
    /// returns the time that counts for that batch (the benchmark leaves out its own cleanup,
    /// such as unmounting what it mounted). `iters` calls per batch.
    pub fn measure_timed(
        columns: &mut [&mut dyn FnMut(u32) -> Duration],
        rounds: usize,
        iters: u32,
    ) -> Rounds {
        let n = columns.len();
        let mut times = vec![Vec::with_capacity(rounds); n];
        for round in 0..rounds {
            for k in 0..n {
                let i = if round % 2 == 0 { k } else { n - 1 - k };
                let took = columns[i](iters);
                times[i].push(took.as_nanos() as f64 / f64::from(iters));
            }
        }
        Rounds { times }
    }

    impl Rounds {
        /// The median time per call of column `i`, in nanoseconds.
        pub fn median(&self, i: usize) -> f64 {
            quartiles(self.times[i].clone()).1
        }

        /// Quartiles (first, median, third) over the rounds of column `num` / column `den`.
        pub fn ratio(&self, num: usize, den: usize) -> (f64, f64, f64) {
            let r = self.times[num]
                .iter()
                .zip(&self.times[den])
                .map(|(a, b)| a / b)
                .collect();
            quartiles(r)
        }
    }

    /// A ratio as `1.083x (1.05-1.12)`: the median and the interquartile range.
    pub fn format_ratio((q1, median, q3): (f64, f64, f64)) -> String {
        format!("{median:.3}x ({q1:.2}-{q3:.2})")
    }

    /// Nanoseconds as `1.23 µs` (or `456 ns`).
    pub fn format_ns(ns: f64) -> String {
        if ns >= 1000.0 {
            format!("{:.2} µs", ns / 1000.0)
        } else {
            format!("{ns:.0} ns")
        }
    }

    fn time_batch(iters: u32, f: &mut dyn FnMut()) -> f64 {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(iters)
    }

    fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(0.25), at(0.5), at(0.75))
    }
}

#[cfg(test)]
mod skip_tests {
    use super::skip_allowed_by;

    #[test]
    fn a_skip_is_allowed_only_by_its_own_class() {
        assert!(!skip_allowed_by(None, "landlock"));
        assert!(!skip_allowed_by(Some(""), "landlock"));
        assert!(!skip_allowed_by(Some("landlocked"), "landlock"));
        assert!(!skip_allowed_by(Some("cgroup"), "landlock"));
        assert!(!skip_allowed_by(Some("*"), "landlock"));
        assert!(skip_allowed_by(Some("landlock"), "landlock"));
        assert!(skip_allowed_by(Some("cgroup, landlock"), "landlock"));
    }
}
