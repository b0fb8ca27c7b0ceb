//! Attacks on procfs, staged for real in a private mount namespace, against every acquisition
//! method and in every fallback configuration.
//!
//! Each attack is one function taking a [`Config`]; the `attacks!` macro at the bottom makes one
//! test per (attack, configuration), so a failure names both, e.g.
//! `no_openat2::sched_over_attr_current`.
//!
//! What each method must do under an attack on the global `/proc`:
//! - [`Acquisition::Fsmount`] and [`Acquisition::OpenTreeClone`] are detached: the attacker's
//!   mounts are not in them, so they must give the **correct** result (what the kernel gives for
//!   the real file), never a refusal and never the attacker's file.
//! - [`Acquisition::PlainOpen`] is the global `/proc`: it must **refuse**
//!   (`ErrorKind::SafetyViolation`, `EXDEV`), never give the attacker's file.
//!
//! Instances are checked twice: one acquired before the attacker's mounts (a long-lived handle)
//! and one acquired after (a handle made inside an already hostile mount namespace).
//!
//! The attacks (numbered as in the issue):
//! 1. `self/sched` bound over `attr/current` (CVE-2025-52881): plainly, hidden under a
//!    self-bound `attr`, arriving by mount propagation into a shared `/proc`, and another
//!    process's `attr` directory bound over ours.
//! 2. Files mounted on the magic links `exe`, `root`, `cwd`, `fd/0` (new mount API, on the link
//!    itself; the kernel may refuse, which is printed and checked), and `mount(2)` through them
//!    (which lands on the link's target).
//! 3. A tmpfs with a fake entry over `fdinfo`, and another process's `fdinfo` bound over ours.
//! 4. `/proc` itself replaced: a tmpfs, a fake procfs-shaped tree (CVE-2019-16884), a procfs
//!    subdirectory.
//! 5. Every attack in every [`Config`] (the modules of the test matrix).
//! 6. No false alarms: read-only self-binds of `/proc/sys`, of runc's read-only paths, and of
//!    per-process directories; but what is mounted *inside* a self-bind is still refused.
//! 7. A clobbered handle: its fd number `dup2`ed over or closed behind its back.
//! 8. Races: the attacker mounts and unmounts in a loop while we read, write and follow; the
//!    escapes are counted and must be 0 (`PROCROOT_RACE_LONG=1` for a long run).
//!
//! Every mounting test runs in `in_private_mount_ns` (a forked child with its own mount
//! namespace, `/` made recursively private), so nothing reaches the host.

use std::fmt::Debug;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use procroot::testing::{self, Feature};
use procroot::{Acquisition, Error, ErrorKind, OFlags, PidFd, ProcBase, Procfs};
use procroot_testutil::{
    deny_syscalls, fd_identity, identity, in_child, in_private_mount_ns, mount_raw,
    require_privilege, Racer, Swap, Target, Tree, SYS_OPENAT2,
};
use rustix::io::Errno;
use rustix::mount::{MoveMountFlags, OpenTreeFlags};

const METHODS: [Acquisition; 3] = [
    Acquisition::Fsmount,
    Acquisition::OpenTreeClone,
    Acquisition::PlainOpen,
];

// --- configurations -------------------------------------------------------------------------

/// A fallback configuration, applied in the forked child before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// Everything the kernel has (openat2, fsopen, open_tree, STATX_MNT_ID_UNIQUE).
    Default,
    /// `testing::disable(Openat2)`: the emulated walker, with a mount-id check per component.
    NoOpenat2,
    /// `testing::disable(Fsopen)`: no private instance; the chain falls to open_tree / open.
    NoFsopen,
    /// `testing::disable(StatxMntIdUnique)`: the reusable 5.8 mount ids.
    NoStatxMntIdUnique,
    /// A seccomp filter that makes `openat2` fail with `ENOSYS`, as on an old kernel or under a
    /// container runtime's filter.
    SeccompNoOpenat2,
}

impl Config {
    fn apply(self) {
        match self {
            Config::Default => {}
            Config::NoOpenat2 => testing::disable(Feature::Openat2),
            Config::NoFsopen => testing::disable(Feature::Fsopen),
            Config::NoStatxMntIdUnique => testing::disable(Feature::StatxMntIdUnique),
            Config::SeccompNoOpenat2 => deny_syscalls(&[SYS_OPENAT2], libc::ENOSYS),
        }
    }
}

/// What a method must do when the attacker's mount lies on the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The real file's content or the kernel's own error for it.
    Correct,
    /// `SafetyViolation` / `EXDEV`.
    Refused,
}

fn expect_under_attack(method: Acquisition) -> Expect {
    match method {
        Acquisition::PlainOpen => Expect::Refused,
        _ => Expect::Correct,
    }
}

/// Acquires every method that the configuration allows. `Fsmount` with fsopen disabled must fail
/// with `ENOSYS`, which is checked here.
fn instances(config: Config, masked: bool) -> Vec<Procfs> {
    let mut out = Vec::new();
    for method in METHODS {
        match Procfs::acquire(method, masked) {
            Ok(p) => {
                assert_eq!(p.acquisition(), method);
                out.push(p);
            }
            Err(e) if method == Acquisition::Fsmount && config == Config::NoFsopen => {
                assert_eq!(e.errno(), Errno::NOSYS, "fsmount with fsopen disabled: {e}");
                assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
            }
            Err(e) => panic!("{config:?}: acquire {method:?} (masked {masked}): {e}"),
        }
    }
    out
}

fn who(p: &Procfs, config: Config) -> String {
    format!(
        "[{config:?}] {}{}",
        p.acquisition().as_str(),
        if p.is_masked() { " (masked)" } else { "" }
    )
}

// --- assertions -----------------------------------------------------------------------------

#[track_caller]
fn expect_err<T: Debug>(result: Result<T, Error>, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_refused<T: Debug>(result: Result<T, Error>, what: &str) {
    let e = expect_err(result, &format!("{what}: must be refused"));
    assert_eq!(e.kind(), ErrorKind::SafetyViolation, "{what}: {e}");
    assert_eq!(e.errno(), Errno::XDEV, "{what}: {e}");
}

#[track_caller]
fn ok<T>(result: Result<T, Error>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: expected the correct result, got {e}"))
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).expect("an OS error")
}

/// What the kernel gave for a read or write on the real file, before the attack.
type Reference<T> = Result<T, Errno>;

/// The result must be exactly the reference: the same content, or the same errno (and then not
/// reported as a safety violation, which would be a false alarm).
#[track_caller]
fn assert_same_as_reference<T: Debug + PartialEq>(
    got: Result<T, Error>,
    reference: &Reference<T>,
    what: &str,
) {
    match (got, reference) {
        (Ok(got), Ok(want)) => assert_eq!(&got, want, "{what}"),
        (Err(e), Err(want)) => {
            assert_eq!(e.errno(), *want, "{what}: {e}");
            assert_ne!(e.kind(), ErrorKind::SafetyViolation, "{what}: {e}");
        }
        (got, want) => panic!("{what}: got {got:?}, the real file gives {want:?}"),
    }
}

fn is_sched(content: &str) -> bool {
    content.contains("#threads:") || content.contains("se.exec_start")
}

// --- staging --------------------------------------------------------------------------------

/// `mount --bind src target` (mount(2) follows a trailing symlink in `target`).
fn bind(src: impl AsRef<Path>, target: impl AsRef<Path>) {
    let (src, target) = (src.as_ref(), target.as_ref());
    mount_raw(
        Some(src.to_str().expect("utf-8")),
        target,
        None,
        libc::MS_BIND,
        None,
    )
    .unwrap_or_else(|e| panic!("bind {} on {}: {e}", src.display(), target.display()));
}

/// Mounts a clone of `src` on the entry `name` of the directory `dir` itself, without following
/// it if it is a (magic) symlink: `open_tree(OPEN_TREE_CLONE)` + `move_mount` without
/// `MOVE_MOUNT_T_SYMLINKS`. The kernel may refuse (Linux 6.12+ protects some `/proc/<pid>`
/// entries); the errno is returned.
fn mount_on_entry(src: &Path, dir: &str, name: &str) -> Result<(), Errno> {
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        src,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .expect("open_tree of the attacker's file");
    let dirfd = procroot_testutil::open_dir(dir);
    rustix::mount::move_mount(
        &tree,
        "",
        &dirfd,
        name,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

fn tmpfs(target: impl AsRef<Path>) {
    let target = target.as_ref();
    mount_raw(Some("tmpfs"), target, Some("tmpfs"), 0, Some("size=1m"))
        .unwrap_or_else(|e| panic!("tmpfs on {}: {e}", target.display()));
}

/// `/proc/<pid>/task/<tid>` of the calling (only) thread: what `/proc/thread-self` names.
fn thread_self_dir() -> String {
    format!(
        "/proc/{}/task/{}",
        std::process::id(),
        rustix::thread::gettid().as_raw_pid()
    )
}

// --- 1. a bind mount of self/sched over attr/current (CVE-2025-52881) -----------------------

const LABEL: &[u8] = b"procroot-test-bogus-label";

struct AttrReference {
    read: Reference<String>,
    write: Reference<()>,
    open: Reference<()>,
}

/// What the kernel gives for `attr/current` here, before any attack (with no LSM: `EINVAL` for
/// both; with one: the label, and an error for the bogus label written).
fn attr_reference() -> AttrReference {
    let path = "/proc/thread-self/attr/current";
    let read = std::fs::read_to_string(path).map_err(|e| errno_of(&e));
    let write = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write(LABEL).map(drop))
        .map_err(|e| errno_of(&e));
    assert!(
        write.is_err(),
        "the kernel accepted the bogus label {LABEL:?}: pick another one"
    );
    let open = File::open(path).map(drop).map_err(|e| errno_of(&e));
    AttrReference { read, write, open }
}

/// The attacker's binds of `self/sched` over `attr/current` for the process and the thread.
fn stage_sched_over_attr_current() {
    let sched = format!("/proc/{}/sched", std::process::id());
    bind(&sched, "/proc/self/attr/current");
    bind(&sched, format!("{}/attr/current", thread_self_dir()));
    // The attack works on the naive path.
    for path in ["/proc/self/attr/current", "/proc/thread-self/attr/current"] {
        let naive = std::fs::read_to_string(path).expect("naive read of the overmounted file");
        assert!(
            is_sched(&naive),
            "{path}: the staging did not work: {naive:?}"
        );
    }
}

/// Every base that names this process's (or thread's) `attr/current`.
fn check_attr_current(
    p: &Procfs,
    config: Config,
    expect: Expect,
    reference: &AttrReference,
    pidfd: &PidFd,
) {
    let pid = std::process::id();
    for base in [
        ProcBase::SelfProcess,
        ProcBase::ThreadSelf,
        ProcBase::Pid(pid),
        ProcBase::PidFd(pidfd),
    ] {
        let what = |op: &str| format!("{}: {op} {base:?} attr/current", who(p, config));
        let read = p.read_to_string(base, "attr/current");
        if let Ok(content) = &read {
            assert!(!is_sched(content), "{}: read sched's content", what("read"));
        }
        let write = p.write(base, "attr/current", LABEL);
        let open = p.open(base, "attr/current", OFlags::RDONLY);
        match expect {
            Expect::Correct => {
                assert_same_as_reference(read, &reference.read, &what("read"));
                assert_same_as_reference(write, &reference.write, &what("write"));
                // The file opened is attr/current of this instance, not sched.
                let sched = ok(p.symlink_metadata(base, "sched"), &what("stat sched"));
                let real = ok(p.symlink_metadata(base, "attr/current"), &what("stat"));
                assert_eq!(
                    open.as_ref().map(drop).map_err(Error::errno),
                    reference.open,
                    "{}",
                    what("open")
                );
                if let Ok(f) = open {
                    let st = f.metadata().expect("fstat");
                    assert_eq!(
                        (st.dev(), st.ino()),
                        (real.dev(), real.ino()),
                        "{}",
                        what("open")
                    );
                    assert_ne!(st.ino(), sched.ino(), "{}: opened sched", what("open"));
                }
            }
            Expect::Refused => {
                assert_refused(read, &what("read"));
                assert_refused(write, &what("write"));
                assert_refused(open, &what("open"));
                assert_refused(p.symlink_metadata(base, "attr/current"), &what("stat"));
            }
        }
        // Siblings of the overmounted file are not false alarms.
        let exec = p.read_to_string(base, "attr/exec");
        if let Err(e) = &exec {
            assert_ne!(
                e.kind(),
                ErrorKind::SafetyViolation,
                "{}: {e}",
                what("attr/exec")
            );
        }
        ok(p.read_dir(base, "attr"), &what("read_dir attr"));
    }
}

fn sched_over_attr_current(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let reference = attr_reference();
        let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
        let before = instances(config, true);
        stage_sched_over_attr_current();
        let after = instances(config, true);
        for p in before.iter().chain(&after) {
            let expect = expect_under_attack(p.acquisition());
            check_attr_current(p, config, expect, &reference, &pidfd);
        }
    });
}

/// The same attack, hidden under a directory bound onto itself: `attr` is self-bound (which
/// looks like the harmless read-only `/proc/sys` self-bind), then `sched` is bound over
/// `attr/current` inside it. Accepting the self-bind must not accept what is mounted in it.
fn sched_over_attr_current_under_self_bind(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let reference = attr_reference();
        let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
        let before = instances(config, true);
        let attr = format!("/proc/{}/attr", std::process::id());
        bind(&attr, &attr);
        let tattr = format!("{}/attr", thread_self_dir());
        bind(&tattr, &tattr);
        stage_sched_over_attr_current();
        let after = instances(config, true);
        for p in before.iter().chain(&after) {
            let expect = expect_under_attack(p.acquisition());
            check_attr_current(p, config, expect, &reference, &pidfd);
        }
    });
}

/// Another process's `attr` directory bound over ours: the same file system, a directory, but
/// not a self-bind. Reading "our" label there would read someone else's.
fn foreign_attr_dir(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let reference = attr_reference();
        let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
        let before = instances(config, true);
        let other = Target::spawn(|| {});
        let foreign = format!("{}/attr", other.proc_dir());
        bind(&foreign, format!("/proc/{}/attr", std::process::id()));
        bind(&foreign, format!("{}/attr", thread_self_dir()));
        let after = instances(config, true);
        for p in before.iter().chain(&after) {
            let what = format!("{}: foreign attr dir", who(p, config));
            let expect = expect_under_attack(p.acquisition());
            for base in [
                ProcBase::SelfProcess,
                ProcBase::ThreadSelf,
                ProcBase::PidFd(&pidfd),
            ] {
                let read = p.read_to_string(base, "attr/current");
                match expect {
                    Expect::Correct => {
                        assert_same_as_reference(read, &reference.read, &what);
                        let listing = ok(p.read_dir(base, "attr"), &what);
                        assert!(listing.count() > 0, "{what}");
                    }
                    Expect::Refused => {
                        assert_refused(read, &format!("{what}: {base:?}"));
                        assert_refused(
                            p.read_dir(base, "attr").map(|_| ()),
                            &format!("{what}: read_dir {base:?}"),
                        );
                    }
                }
            }
        }
        drop(other);
    });
}

/// CVE-2025-52881 proper: the attacker's mount arrives through mount propagation. `/proc` is
/// made shared, the instances are acquired, and only then is `sched` bound over
/// `attr/current`. A clone of a shared mount may be in its peer group, so the bind may
/// propagate into an `open_tree` clone; it must then be refused, never followed.
fn sched_over_attr_current_propagated(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        mount_raw(None, "/proc", None, libc::MS_SHARED, None).expect("make /proc shared");
        let reference = attr_reference();
        let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
        let before = instances(config, true);
        stage_sched_over_attr_current();
        for p in &before {
            let method = p.acquisition();
            if method == Acquisition::OpenTreeClone {
                // Either outcome is safe; say which one this kernel gives.
                let read = p.read_to_string(ProcBase::SelfProcess, "attr/current");
                let propagated = matches!(&read, Err(e) if e.kind() == ErrorKind::SafetyViolation);
                eprintln!(
                    "[{config:?}] open_tree clone of a shared /proc: the attacker's bind {}",
                    if propagated {
                        "propagated into the clone (refused)"
                    } else {
                        "did not propagate into the clone"
                    }
                );
                let expect = if propagated {
                    Expect::Refused
                } else {
                    Expect::Correct
                };
                check_attr_current(p, config, expect, &reference, &pidfd);
            } else {
                check_attr_current(p, config, expect_under_attack(method), &reference, &pidfd);
            }
        }
    });
}

// --- 2. mounts on magic links: exe, root, cwd, fd/0 -----------------------------------------

/// One magic link, what it really points to, and whether the attacker managed to cover it.
struct Link {
    base: ProcBase<'static>,
    /// The directory holding the link, for the attacker (`/proc/self`, `/proc/<pid>/task/<tid>`).
    dir: String,
    name: &'static str,
    /// The path `readlink` must give.
    target: PathBuf,
    /// `(st_dev, st_ino)` of what `open_follow` must open.
    identity: (u64, u64),
    flags: OFlags,
    mounted: Option<Result<(), Errno>>,
}

fn magic_links(fd0_path: &Path) -> Vec<Link> {
    let exe = std::env::current_exe().expect("current_exe");
    let exe_identity = fd_identity(File::open("/proc/self/exe").expect("open exe"));
    let cwd = std::env::current_dir().expect("cwd");
    let mut links = Vec::new();
    for (base, dir) in [
        (
            ProcBase::SelfProcess,
            format!("/proc/{}", std::process::id()),
        ),
        (ProcBase::ThreadSelf, thread_self_dir()),
    ] {
        let entries: [(&'static str, PathBuf, (u64, u64), OFlags); 4] = [
            ("exe", exe.clone(), exe_identity, OFlags::RDONLY),
            (
                "root",
                PathBuf::from("/"),
                identity("/"),
                OFlags::PATH | OFlags::DIRECTORY,
            ),
            (
                "cwd",
                cwd.clone(),
                identity(&cwd),
                OFlags::PATH | OFlags::DIRECTORY,
            ),
            (
                "fd/0",
                fd0_path.to_path_buf(),
                identity(fd0_path),
                OFlags::RDONLY,
            ),
        ];
        for (name, target, identity, flags) in entries {
            let (link_dir, _) = name.rsplit_once('/').unwrap_or(("", name));
            let dir = if link_dir.is_empty() {
                dir.clone()
            } else {
                format!("{dir}/{link_dir}")
            };
            links.push(Link {
                base,
                dir,
                name,
                target,
                identity,
                flags,
                mounted: None,
            });
        }
    }
    links
}

fn check_links(p: &Procfs, config: Config, links: &[Link]) {
    for link in links {
        let what = |op: &str| {
            format!(
                "{}: {op} {:?} {} ({})",
                who(p, config),
                link.base,
                link.name,
                match link.mounted {
                    Some(Ok(())) => "overmounted",
                    Some(Err(_)) => "overmount refused by the kernel",
                    None => "not attacked",
                }
            )
        };
        let attacked = matches!(link.mounted, Some(Ok(())));
        let expect = if attacked {
            expect_under_attack(p.acquisition())
        } else {
            Expect::Correct
        };
        let readlink = p.readlink(link.base, link.name);
        let followed = p.open_follow(link.base, link.name, link.flags);
        match expect {
            Expect::Correct => {
                assert_eq!(
                    ok(readlink, &what("readlink")),
                    link.target,
                    "{}",
                    what("readlink")
                );
                let f = ok(followed, &what("open_follow"));
                assert_eq!(fd_identity(&f), link.identity, "{}", what("open_follow"));
            }
            Expect::Refused => {
                assert_refused(readlink, &what("readlink"));
                assert_refused(followed, &what("open_follow"));
            }
        }
        // `open` never follows a magic link, attacked or not; under attack it may also refuse
        // the crossing first.
        let e = expect_err(
            p.open(link.base, link.name, OFlags::RDONLY),
            &what("open (no follow)"),
        );
        assert!(
            e.errno() == Errno::LOOP || (attacked && e.kind() == ErrorKind::SafetyViolation),
            "{}: {e}",
            what("open (no follow)")
        );
    }
}

fn magic_link_overmounts(config: Config) {
    require_privilege("mounts in a private mount namespace");
    let tree = Tree::new(
        "
        file fake this is the attacker's file
        file fd0 the real fd 0
        ",
    );
    in_private_mount_ns(|| {
        config.apply();
        // fd 0 is a file we know.
        let fd0 = File::open(tree.join("fd0")).expect("open fd0 target");
        // SAFETY: replacing this child's stdin.
        assert_eq!(unsafe { libc::dup2(fd0.as_raw_fd(), 0) }, 0);
        let mut links = magic_links(&tree.join("fd0"));
        let before = instances(config, true);
        let fake = tree.join("fake");
        for link in &mut links {
            let name = link.name.rsplit('/').next().expect("name");
            let result = mount_on_entry(&fake, &link.dir, name);
            match result {
                Ok(()) => {
                    // The attack works on the naive path.
                    let naive = std::fs::read_to_string(format!("{}/{name}", link.dir))
                        .expect("naive read of the overmounted link");
                    assert_eq!(naive, "this is the attacker's file", "{}", link.name);
                }
                Err(e) => eprintln!(
                    "[{config:?}] the kernel refused the overmount of {}/{name}: {e}",
                    link.dir
                ),
            }
            link.mounted = Some(result);
        }
        // Every attempt either failed in the kernel or is now in place: nothing unchecked.
        assert!(links.iter().all(|l| l.mounted.is_some()));
        let after = instances(config, true);
        for p in before.iter().chain(&after) {
            check_links(p, config, &links);
        }
    });
}

/// `mount(2)` follows a magic link given as its target, so `mount --bind fake /proc/self/exe`
/// covers the file the link points to, not the link. The kernel refuses (`EINVAL`) when that
/// file's mount is not in the caller's mount namespace (the binary and fd 0 were opened before
/// `unshare`); `cwd` was moved into the new namespace and can be covered. Either way nothing is
/// mounted on the links themselves, so every method must give the real targets.
fn magic_link_mount_follows(config: Config) {
    require_privilege("mounts in a private mount namespace");
    let tree = Tree::new(
        "
        file fake this is the attacker's file
        file fakedir/marker the attacker's directory
        file fd0 the real fd 0
        dir cwd
        ",
    );
    in_private_mount_ns(|| {
        config.apply();
        let fd0 = File::open(tree.join("fd0")).expect("open fd0 target");
        // SAFETY: replacing this child's stdin.
        assert_eq!(unsafe { libc::dup2(fd0.as_raw_fd(), 0) }, 0);
        std::env::set_current_dir(tree.join("cwd")).expect("chdir");
        let links = magic_links(&tree.join("fd0"));
        let before = instances(config, true);
        let exe = std::env::current_exe().expect("exe");
        let attempts = [
            ("/proc/self/exe", tree.join("fake"), exe),
            ("/proc/self/fd/0", tree.join("fake"), tree.join("fd0")),
            ("/proc/self/cwd", tree.join("fakedir"), tree.join("cwd")),
        ];
        let mut made = 0;
        for (link, source, covered) in &attempts {
            match mount_raw(
                Some(source.to_str().expect("utf-8")),
                link,
                None,
                libc::MS_BIND,
                None,
            ) {
                Ok(()) => {
                    made += 1;
                    // The bind landed on the link's target, as seen by path.
                    let md = std::fs::metadata(covered).expect("stat covered target");
                    assert_eq!(
                        (md.dev(), md.ino()),
                        identity(source),
                        "mount(2) on {link} did not land on {}",
                        covered.display()
                    );
                }
                Err(e) => {
                    eprintln!("[{config:?}] mount(2) on {link} refused by the kernel: {e}");
                    assert!(e.raw_os_error().is_some(), "{link}: {e}");
                }
            }
        }
        assert!(
            made > 0,
            "no bind through a magic link worked: nothing was tested"
        );
        let after = instances(config, true);
        for p in before.iter().chain(&after) {
            check_links(p, config, &links);
        }
    });
}

// --- 3. mounts over fdinfo -------------------------------------------------------------------

/// The `ino:` line of an fdinfo text.
fn fdinfo_ino(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("ino:"))
        .and_then(|v| v.trim().parse().ok())
}

fn check_fdinfo(p: &Procfs, config: Config, expect: Expect, fd: &File, pidfd: &PidFd, how: &str) {
    let n = fd.as_raw_fd();
    let real_ino = fd.metadata().expect("fstat").ino();
    let entry = format!("fdinfo/{n}");
    for base in [
        ProcBase::SelfProcess,
        ProcBase::ThreadSelf,
        ProcBase::Pid(std::process::id()),
        ProcBase::PidFd(pidfd),
    ] {
        let what = |op: &str| format!("{}: {how}: {op} {base:?} {entry}", who(p, config));
        let read = p.read_to_string(base, &entry);
        let list = p.read_dir(base, "fdinfo");
        match expect {
            Expect::Correct => {
                let text = ok(read, &what("read"));
                assert_eq!(
                    fdinfo_ino(&text),
                    Some(real_ino),
                    "{}: {text:?}",
                    what("read")
                );
                let names: Vec<String> = ok(list, &what("read_dir"))
                    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .collect();
                assert!(
                    names.contains(&n.to_string()),
                    "{}: {names:?}",
                    what("read_dir")
                );
            }
            Expect::Refused => {
                assert_refused(read, &what("read"));
                assert_refused(list.map(|_| ()), &what("read_dir"));
            }
        }
        // fd/N next to it is not covered: no false alarm. Except for a PidFd base on an
        // instance that refuses fdinfo: it translates its PID through our own
        // `thread-self/fdinfo/<pidfd>`, so the refusal is right there too.
        let follow = p.open_follow(base, format!("fd/{n}"), OFlags::RDONLY);
        if matches!(base, ProcBase::PidFd(_)) && expect == Expect::Refused {
            assert_refused(follow, &what("open_follow fd/N"));
            continue;
        }
        let f = ok(follow, &what("open_follow fd/N"));
        assert_eq!(
            fd_identity(&f),
            fd_identity(fd),
            "{}",
            what("open_follow fd/N")
        );
    }
}

fn tmpfs_over_fdinfo(config: Config) {
    require_privilege("mounts in a private mount namespace");
    let tree = Tree::new("file data some data");
    in_private_mount_ns(|| {
        config.apply();
        let file = File::open(tree.join("data")).expect("open data");
        let n = file.as_raw_fd();
        let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
        let before = instances(config, true);
        for dir in [
            format!("/proc/{}/fdinfo", std::process::id()),
            format!("{}/fdinfo", thread_self_dir()),
        ] {
            tmpfs(&dir);
            // A plausible fake, with the wrong inode.
            std::fs::write(
                format!("{dir}/{n}"),
                "pos:\t0\nflags:\t0100000\nino:\t4242\n",
            )
            .expect("write the fake fdinfo");
        }
        let naive = std::fs::read_to_string(format!("/proc/self/fdinfo/{n}")).expect("naive");
        assert_eq!(fdinfo_ino(&naive), Some(4242), "the staging did not work");
        let after = instances(config, true);
        for p in before.iter().chain(&after) {
            let expect = expect_under_attack(p.acquisition());
            check_fdinfo(p, config, expect, &file, &pidfd, "tmpfs over fdinfo");
        }
    });
}

/// Another process's `fdinfo` directory bound over ours: procfs, a directory, the same names,
/// but the wrong process. The other process has another file at the same fd number.
fn foreign_fdinfo_dir(config: Config) {
    require_privilege("mounts in a private mount namespace");
    let tree = Tree::new(
        "
        file data ours
        file other theirs
        ",
    );
    in_private_mount_ns(|| {
        config.apply();
        let file = File::open(tree.join("data")).expect("open data");
        let other_file = File::open(tree.join("other")).expect("open other");
        let n = file.as_raw_fd();
        let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
        let before = instances(config, true);
        let sleeper = Target::spawn(|| {
            // SAFETY: rearranging the sleeper's own fd table.
            unsafe { libc::dup2(other_file.as_raw_fd(), n) };
        });
        let foreign = format!("{}/fdinfo", sleeper.proc_dir());
        bind(&foreign, format!("/proc/{}/fdinfo", std::process::id()));
        bind(&foreign, format!("{}/fdinfo", thread_self_dir()));
        let naive = std::fs::read_to_string(format!("/proc/self/fdinfo/{n}")).expect("naive");
        assert_eq!(
            fdinfo_ino(&naive),
            Some(other_file.metadata().expect("fstat").ino()),
            "the staging did not work"
        );
        let after = instances(config, true);
        for p in before.iter().chain(&after) {
            let expect = expect_under_attack(p.acquisition());
            check_fdinfo(p, config, expect, &file, &pidfd, "foreign fdinfo dir");
        }
        drop(sleeper);
    });
}

// --- 4. something else on /proc itself --------------------------------------------------------

fn status_pid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// After `/proc` was replaced: `PlainOpen` and `OpenTreeClone` refuse with `detail`, `Fsmount`
/// gives real data, the chain does not fall back to the fake, and instances acquired before the
/// replacement still hold the real procfs.
fn check_replaced_proc(config: Config, before: &[Procfs], detail: &str) {
    let pid = std::process::id();
    for masked in [true, false] {
        for method in METHODS {
            let what = format!("[{config:?}] acquire {method:?} masked={masked} ({detail})");
            let got = Procfs::acquire(method, masked);
            match method {
                Acquisition::Fsmount if config == Config::NoFsopen => {
                    let e = expect_err(got, &what);
                    assert_eq!(e.errno(), Errno::NOSYS, "{what}: {e}");
                }
                Acquisition::Fsmount => {
                    let p = ok(got, &what);
                    let status = ok(p.read_to_string(ProcBase::SelfProcess, "status"), &what);
                    assert_eq!(status_pid(&status), Some(pid), "{what}: {status:?}");
                    if !masked {
                        let ostype =
                            ok(p.read_to_string(ProcBase::Root, "sys/kernel/ostype"), &what);
                        assert_eq!(ostype, "Linux\n", "{what}");
                    }
                }
                _ => {
                    let e = expect_err(got, &what);
                    assert_eq!(e.kind(), ErrorKind::SafetyViolation, "{what}: {e}");
                    assert_eq!(e.errno(), Errno::XDEV, "{what}: {e}");
                    assert!(e.to_string().contains(detail), "{what}: {e}");
                }
            }
        }
        // The chain: fsmount when it can; otherwise an error, never the fake.
        let chain = if masked {
            Procfs::new()
        } else {
            Procfs::new_unmasked()
        };
        let what = format!("[{config:?}] Procfs::new (masked={masked}, {detail})");
        if config == Config::NoFsopen {
            let e = expect_err(chain, &what);
            assert_eq!(e.kind(), ErrorKind::SafetyViolation, "{what}: {e}");
        } else {
            let p = ok(chain, &what);
            assert_eq!(p.acquisition(), Acquisition::Fsmount, "{what}");
            let status = ok(p.read_to_string(ProcBase::SelfProcess, "status"), &what);
            assert_eq!(status_pid(&status), Some(pid), "{what}");
        }
    }
    let cached = Procfs::cached();
    let what = format!("[{config:?}] Procfs::cached ({detail})");
    if config == Config::NoFsopen {
        // Nothing was cached before the replacement in this child, so this acquires now.
        let e = expect_err(cached, &what);
        assert_eq!(e.kind(), ErrorKind::SafetyViolation, "{what}: {e}");
    } else {
        assert_eq!(
            ok(cached, &what).acquisition(),
            Acquisition::Fsmount,
            "{what}"
        );
    }
    // Handles taken before the replacement keep pointing at the real procfs root.
    for p in before {
        let what = format!("{}: acquired before ({detail})", who(p, config));
        ok(p.verify(), &what);
        let status = ok(p.read_to_string(ProcBase::SelfProcess, "status"), &what);
        assert_eq!(status_pid(&status), Some(pid), "{what}");
    }
}

fn tmpfs_on_proc(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let before = instances(config, true);
        tmpfs("/proc");
        check_replaced_proc(config, &before, "not procfs");
    });
}

/// A tmpfs shaped like procfs (CVE-2019-16884): `self/status`, `self/attr/current`,
/// `sys/kernel/ostype`, all fake.
fn fake_procfs_tree_on_proc(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let before = instances(config, true);
        tmpfs("/proc");
        for (path, content) in [
            ("/proc/self/status", "Name:\tfake\nPid:\t1\n"),
            ("/proc/self/attr/current", "unconfined\n"),
            ("/proc/thread-self/attr/current", "unconfined\n"),
            ("/proc/sys/kernel/ostype", "FakeOS\n"),
            ("/proc/1/status", "Name:\tfake\nPid:\t1\n"),
        ] {
            std::fs::create_dir_all(Path::new(path).parent().expect("parent")).expect("mkdir");
            std::fs::write(path, content).expect("write fake");
        }
        check_replaced_proc(config, &before, "not procfs");
    });
}

/// A procfs *subdirectory* bound on `/proc`: it is procfs, but not its root.
fn procfs_subdir_on_proc(config: Config) {
    require_privilege("mounts in a private mount namespace");
    for subdir in ["/proc/1", "self", "/proc/sys"] {
        in_private_mount_ns(|| {
            config.apply();
            let before = instances(config, true);
            let source = if subdir == "self" {
                format!("/proc/{}", std::process::id())
            } else {
                subdir.to_owned()
            };
            bind(&source, "/proc");
            check_replaced_proc(config, &before, "not the root of a procfs");
        });
    }
}

// --- 6. no false alarms ----------------------------------------------------------------------

/// `mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys`, as container runtimes
/// do: ordinary reads through it must keep working with every method.
fn readonly_proc_sys_self_bind(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let before = instances(config, false);
        bind("/proc/sys", "/proc/sys");
        mount_raw(
            None,
            "/proc/sys",
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            None,
        )
        .expect("remount /proc/sys read-only");
        // The bind is really read-only.
        let e = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/sys/kernel/hostname")
            .expect_err("write through the read-only bind");
        assert_eq!(errno_of(&e), Errno::ROFS);
        let after = instances(config, false);
        let pid = std::process::id();
        for p in before.iter().chain(&after) {
            let what = format!("{}: ro self-bind of /proc/sys", who(p, config));
            let ostype = p.read_to_string(ProcBase::Root, "sys/kernel/ostype");
            assert_eq!(ok(ostype, &what), "Linux\n", "{what}");
            let names: Vec<String> = ok(p.read_dir(ProcBase::Root, "sys/kernel"), &what)
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            assert!(names.iter().any(|n| n == "ostype"), "{what}: {names:?}");
            ok(p.symlink_metadata(ProcBase::Root, "sys"), &what);
            let status = ok(p.read_to_string(ProcBase::SelfProcess, "status"), &what);
            assert_eq!(status_pid(&status), Some(pid), "{what}");
        }
    });
}

/// runc's and Docker's default read-only paths, each bound read-only onto itself:
/// `/proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger` (REFERENCES.md). A file bound onto
/// itself is as harmless as a directory bound onto itself, so looking at any of them must work
/// with every method.
fn runc_readonly_paths(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let before = instances(config, false);
        let mut bound = Vec::new();
        // `uptime` stands in for `sysrq-trigger` on kernels without CONFIG_MAGIC_SYSRQ: another
        // top-level procfs file, and one that can be read to check the result.
        for name in ["bus", "fs", "irq", "sys", "sysrq-trigger", "uptime"] {
            let path = format!("/proc/{name}");
            if std::fs::symlink_metadata(&path).is_err() {
                continue; // A path that does not exist is skipped, as runc does.
            }
            bind(&path, &path);
            mount_raw(
                None,
                &path,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                None,
            )
            .unwrap_or_else(|e| panic!("remount {path} read-only: {e}"));
            bound.push(name);
        }
        assert!(
            bound.contains(&"sys") && bound.contains(&"uptime"),
            "{bound:?}"
        );
        let after = instances(config, false);
        for p in before.iter().chain(&after) {
            let what = format!("{}: runc read-only paths", who(p, config));
            let ostype = p.read_to_string(ProcBase::Root, "sys/kernel/ostype");
            assert_eq!(ok(ostype, &what), "Linux\n", "{what}");
            for name in &bound {
                let md = ok(
                    p.symlink_metadata(ProcBase::Root, name),
                    &format!("{what}: stat {name}"),
                );
                assert_eq!(
                    md.is_dir(),
                    !["sysrq-trigger", "uptime"].contains(name),
                    "{what}: {name}"
                );
            }
            let uptime = ok(
                p.read_to_string(ProcBase::Root, "uptime"),
                &format!("{what}: read uptime"),
            );
            assert!(uptime.ends_with('\n'), "{what}: {uptime:?}");
        }
    });
}

/// Self-binds of per-process directories (harmless: the same directory) must not break
/// lookups either.
fn self_bind_of_process_dirs(config: Config) {
    require_privilege("mounts in a private mount namespace");
    let tree = Tree::new("file data some data");
    in_private_mount_ns(|| {
        config.apply();
        let file = File::open(tree.join("data")).expect("open data");
        let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
        let before = instances(config, true);
        for dir in [
            format!("/proc/{}/fdinfo", std::process::id()),
            format!("{}/fdinfo", thread_self_dir()),
        ] {
            bind(&dir, &dir);
        }
        let after = instances(config, true);
        for p in before.iter().chain(&after) {
            check_fdinfo(
                p,
                config,
                Expect::Correct,
                &file,
                &pidfd,
                "self-bound fdinfo",
            );
        }
    });
}

/// What is mounted *inside* a read-only `/proc/sys` self-bind is still an attack: another sysctl
/// directory bound over `sys/kernel`.
fn mount_inside_proc_sys_self_bind(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let before = instances(config, false);
        bind("/proc/sys", "/proc/sys");
        mount_raw(
            None,
            "/proc/sys",
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            None,
        )
        .expect("remount /proc/sys read-only");
        bind("/proc/sys/vm", "/proc/sys/kernel");
        assert!(
            std::fs::metadata("/proc/sys/kernel/ostype").is_err(),
            "the staging did not work"
        );
        let after = instances(config, false);
        for p in before.iter().chain(&after) {
            let what = format!("{}: sys/vm bound over sys/kernel", who(p, config));
            let ostype = p.read_to_string(ProcBase::Root, "sys/kernel/ostype");
            match expect_under_attack(p.acquisition()) {
                Expect::Correct => assert_eq!(ok(ostype, &what), "Linux\n", "{what}"),
                Expect::Refused => assert_refused(ostype, &what),
            }
        }
    });
}

// --- 7. a clobbered handle ---------------------------------------------------------------------

/// What the procfs fd number is made to refer to behind the library's back.
#[derive(Clone, Copy, Debug)]
enum Clobber {
    /// Another directory, shaped like procfs (`self/status`, `sys/kernel/ostype`).
    FakeTree,
    /// A procfs directory that is not the root (`/proc/self`).
    ProcfsSubdir,
    /// The root of another procfs instance (a new fsmount, so another device).
    OtherProcfsRoot,
    /// Nothing: the fd number is closed.
    Closed,
}

fn clobbered_handle(config: Config) {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    let tree = Tree::new(
        "
        file thread-self/status fake
        file sys/kernel/ostype FakeOS
        symlink self/exe /fake-exe
        ",
    );
    tree.write("self/status", b"Name:\tfake\nPid:\t1\n");
    in_child(|| {
        config.apply();
        let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
        for clobber in [
            Clobber::FakeTree,
            Clobber::ProcfsSubdir,
            Clobber::OtherProcfsRoot,
            Clobber::Closed,
        ] {
            for method in METHODS {
                if method == Acquisition::Fsmount && config == Config::NoFsopen {
                    continue;
                }
                let p = Procfs::acquire(method, false).expect("acquire");
                let replacement: Option<OwnedFd> = match clobber {
                    Clobber::FakeTree => {
                        Some(File::open(tree.path()).expect("open fake tree").into())
                    }
                    Clobber::ProcfsSubdir => Some(
                        rustix::fs::open(
                            format!("/proc/{}", std::process::id()),
                            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                            rustix::fs::Mode::empty(),
                        )
                        .expect("open /proc/<pid>"),
                    ),
                    Clobber::OtherProcfsRoot => {
                        if config == Config::NoFsopen {
                            continue;
                        }
                        let other =
                            Procfs::acquire(Acquisition::Fsmount, false).expect("another instance");
                        Some(other.as_fd().try_clone_to_owned().expect("dup"))
                    }
                    Clobber::Closed => None,
                };
                let raw = p.as_fd().as_raw_fd();
                match &replacement {
                    // SAFETY: deliberately replacing the fd number under the Procfs; the
                    // Procfs is forgotten below, never dropped.
                    Some(fd) => assert_eq!(unsafe { libc::dup2(fd.as_raw_fd(), raw) }, raw),
                    // SAFETY: as above; nothing opens an fd before the checks below.
                    None => assert_eq!(unsafe { libc::close(raw) }, 0),
                }
                let what =
                    |op: &str| format!("[{config:?}] {method:?} clobbered ({clobber:?}): {op}");
                check_clobbered(p.verify(), &what("verify"));
                check_clobbered(
                    p.read_to_string(ProcBase::SelfProcess, "status"),
                    &what("read self/status"),
                );
                check_clobbered(
                    p.read_to_string(ProcBase::Root, "sys/kernel/ostype"),
                    &what("read sys/kernel/ostype"),
                );
                check_clobbered(
                    p.open(ProcBase::ThreadSelf, "status", OFlags::RDONLY),
                    &what("open thread-self/status"),
                );
                check_clobbered(
                    p.open(ProcBase::Pid(std::process::id()), "status", OFlags::RDONLY),
                    &what("open <pid>/status"),
                );
                check_clobbered(
                    p.open(ProcBase::PidFd(&pidfd), "status", OFlags::RDONLY),
                    &what("open pidfd status"),
                );
                check_clobbered(
                    p.open_follow(ProcBase::SelfProcess, "exe", OFlags::RDONLY),
                    &what("open_follow self/exe"),
                );
                check_clobbered(
                    p.readlink(ProcBase::SelfProcess, "exe"),
                    &what("readlink self/exe"),
                );
                check_clobbered(
                    p.write(ProcBase::ThreadSelf, "comm", b"clobbered"),
                    &what("write thread-self/comm"),
                );
                check_clobbered(
                    p.symlink_metadata(ProcBase::Root, "self"),
                    &what("stat self"),
                );
                check_clobbered(
                    p.read_dir(ProcBase::Root, "").map(|_| ()),
                    &what("read_dir"),
                );
                // The Procfs's OwnedFd no longer owns what it thinks: never drop it.
                std::mem::forget(p);
                drop(replacement);
            }
        }
        // The comm write never landed anywhere.
        let comm = std::fs::read_to_string("/proc/thread-self/comm").expect("comm");
        assert_ne!(comm.trim_end(), "clobbered");
    });
}

#[track_caller]
fn check_clobbered<T: Debug>(result: Result<T, Error>, what: &str) {
    let e = expect_err(result, what);
    assert_eq!(e.kind(), ErrorKind::SafetyViolation, "{what}: {e}");
    assert_eq!(e.errno(), Errno::BADF, "{what}: {e}");
}

// --- 8. races: the attacker mounts and unmounts while we work ------------------------------------

/// Operations per instance in the default (CI) mode.
const RACE_CI_ITERATIONS: usize = 2_000;
/// With `PROCROOT_RACE_LONG=1`.
const RACE_LONG_ITERATIONS: usize = 100_000;
/// The attacker must have mounted at least this often during a run, or the run proved nothing.
const RACE_MIN_MOUNTS: u64 = 50;

fn race_iterations() -> usize {
    procroot_testutil::race_rounds(RACE_CI_ITERATIONS, RACE_LONG_ITERATIONS)
}

fn umount_nofollow(path: &str) -> bool {
    let c = std::ffi::CString::new(path).expect("path");
    // SAFETY: umount2(2) with a NUL-terminated path.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) == 0 }
}

/// Tallies of a race run, per method.
#[derive(Default, Debug)]
struct Tally {
    /// The attacker's file was read or written: must stay 0.
    escapes: u64,
    /// Refusals (`SafetyViolation`).
    refused: u64,
    /// The real file's result.
    correct: u64,
    /// Anything else (an error that is neither the real file's nor a refusal).
    other: u64,
    /// The first few escapes and others, described.
    samples: Vec<String>,
}

impl Tally {
    fn sample(&mut self, what: String) {
        if self.samples.len() < 5 {
            self.samples.push(what);
        }
    }
}

/// `sched` bound over `attr/current` and unmounted again, in a loop, while every method reads
/// and writes `attr/current`.
fn racing_sched_over_attr_current(config: Config) {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        config.apply();
        let reference = attr_reference();
        let victim = std::process::id();
        let instances = instances(config, true);
        let sched = format!("/proc/{victim}/sched");
        let targets = [
            format!("/proc/{victim}/attr/current"),
            format!("/proc/{victim}/task/{victim}/attr/current"),
        ];
        // Both binds, then both detached, over and over.
        let mut attacker = Racer::swapping(&targets.map(|target| Swap::BindMount {
            source: sched.clone().into(),
            target: target.into(),
        }));
        let mut tallies: Vec<Tally> = instances.iter().map(|_| Tally::default()).collect();
        for i in 0..race_iterations() {
            for (p, tally) in instances.iter().zip(&mut tallies) {
                let base = if i % 2 == 0 {
                    ProcBase::ThreadSelf
                } else {
                    ProcBase::SelfProcess
                };
                match p.read_to_string(base, "attr/current") {
                    Ok(s) if is_sched(&s) => {
                        tally.escapes += 1;
                        tally.sample(format!("read sched's content through {base:?}"));
                    }
                    Ok(s) if Ok(&s) == reference.read.as_ref() => tally.correct += 1,
                    Err(e) if e.kind() == ErrorKind::SafetyViolation => tally.refused += 1,
                    Err(e) if Err(e.errno()) == reference.read => tally.correct += 1,
                    other => {
                        tally.other += 1;
                        tally.sample(format!("read through {base:?}: {other:?}"));
                    }
                }
                match p.write(base, "attr/current", LABEL) {
                    Ok(()) => {
                        tally.escapes += 1;
                        tally.sample(format!("the write through {base:?} succeeded"));
                    }
                    Err(e) if e.kind() == ErrorKind::SafetyViolation => tally.refused += 1,
                    Err(e) if Err(e.errno()) == reference.write => tally.correct += 1,
                    Err(e) => {
                        tally.other += 1;
                        tally.sample(format!("write through {base:?}: {e}"));
                    }
                }
            }
        }
        let mounts = attacker.finish();
        for (p, tally) in instances.iter().zip(&tallies) {
            eprintln!("{}: {tally:?} ({mounts} attacker mounts)", who(p, config));
        }
        assert!(
            mounts >= RACE_MIN_MOUNTS,
            "the attacker only mounted {mounts} times"
        );
        for (p, tally) in instances.iter().zip(&tallies) {
            let what = who(p, config);
            assert_eq!(tally.escapes, 0, "{what}: {tally:?}");
            if p.acquisition().is_detached() {
                // Nothing the attacker does reaches a detached instance.
                assert_eq!(tally.refused + tally.other, 0, "{what}: {tally:?}");
            }
        }
    });
}

/// A file mounted on `exe` and unmounted again, in a loop, while every method reads and follows
/// the link: never the attacker's file, never another path.
fn racing_exe_overmount(config: Config) {
    require_privilege("mounts in a private mount namespace");
    let tree = Tree::new("file fake this is the attacker's file");
    in_private_mount_ns(|| {
        config.apply();
        let victim = std::process::id();
        let exe = std::env::current_exe().expect("current_exe");
        let exe_identity = fd_identity(File::open("/proc/self/exe").expect("open exe"));
        let fake_identity = identity(tree.join("fake"));
        let instances = instances(config, true);
        // Can the link be overmounted at all on this kernel?
        let probe = mount_on_entry(&tree.join("fake"), &format!("/proc/{victim}"), "exe");
        if let Err(e) = probe {
            eprintln!(
                "[{config:?}] the kernel refuses mounts on /proc/<pid>/exe ({e}): the race is moot"
            );
            for p in &instances {
                let f = ok(
                    p.open_follow(ProcBase::SelfProcess, "exe", OFlags::RDONLY),
                    "exe",
                );
                assert_eq!(fd_identity(&f), exe_identity);
            }
            return;
        }
        assert!(
            umount_nofollow(&format!("/proc/{victim}/exe")),
            "umount the probe"
        );
        let fake = tree.join("fake");
        let dir = format!("/proc/{victim}");
        let link = format!("/proc/{victim}/exe");
        let mut attacker = Racer::spawn(|| {
            let made = mount_on_entry(&fake, &dir, "exe").is_ok();
            umount_nofollow(&link);
            made
        });
        let mut tallies: Vec<Tally> = instances.iter().map(|_| Tally::default()).collect();
        // Mostly open_follow, which has the wider window; readlink every fourth time. The
        // non-detached instance, the only one the attacker can reach, gets more tries.
        for (p, tally) in instances.iter().zip(&mut tallies) {
            let n = if p.acquisition().is_detached() {
                race_iterations()
            } else {
                5 * race_iterations()
            };
            for i in 0..n {
                if i % 4 != 3 {
                    match p.open_follow(ProcBase::SelfProcess, "exe", OFlags::RDONLY) {
                        Ok(f) if fd_identity(&f) == exe_identity => tally.correct += 1,
                        Ok(f) => {
                            tally.escapes += 1;
                            let id = fd_identity(&f);
                            tally.sample(format!(
                                "open_follow opened {id:?} ({})",
                                if id == fake_identity {
                                    "the attacker's file"
                                } else {
                                    "?"
                                }
                            ));
                        }
                        Err(e) if e.kind() == ErrorKind::SafetyViolation => tally.refused += 1,
                        Err(e) => {
                            tally.other += 1;
                            tally.sample(format!("open_follow: {e}"));
                        }
                    }
                } else {
                    match p.readlink(ProcBase::SelfProcess, "exe") {
                        Ok(target) if target == exe => tally.correct += 1,
                        Ok(target) => {
                            tally.escapes += 1;
                            tally.sample(format!("readlink gave {}", target.display()));
                        }
                        Err(e) if e.kind() == ErrorKind::SafetyViolation => tally.refused += 1,
                        Err(e) => {
                            tally.other += 1;
                            tally.sample(format!("readlink: {e}"));
                        }
                    }
                }
            }
        }
        let mounts = attacker.finish();
        for (p, tally) in instances.iter().zip(&tallies) {
            eprintln!("{}: {tally:?} ({mounts} attacker mounts)", who(p, config));
        }
        assert!(
            mounts >= RACE_MIN_MOUNTS,
            "the attacker only mounted {mounts} times"
        );
        for (p, tally) in instances.iter().zip(&tallies) {
            let what = who(p, config);
            assert_eq!(tally.escapes, 0, "{what}: {tally:?}");
            if p.acquisition().is_detached() {
                assert_eq!(tally.refused + tally.other, 0, "{what}: {tally:?}");
            }
        }
    });
}

// --- the test matrix ---------------------------------------------------------------------------

macro_rules! attacks {
    ($module:ident, $config:expr) => {
        mod $module {
            use super::Config;

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn sched_over_attr_current() {
                super::sched_over_attr_current($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn sched_over_attr_current_under_self_bind() {
                super::sched_over_attr_current_under_self_bind($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn sched_over_attr_current_propagated() {
                super::sched_over_attr_current_propagated($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn foreign_attr_dir() {
                super::foreign_attr_dir($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn magic_link_overmounts() {
                super::magic_link_overmounts($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn magic_link_mount_follows() {
                super::magic_link_mount_follows($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn tmpfs_over_fdinfo() {
                super::tmpfs_over_fdinfo($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn foreign_fdinfo_dir() {
                super::foreign_fdinfo_dir($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn tmpfs_on_proc() {
                super::tmpfs_on_proc($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn fake_procfs_tree_on_proc() {
                super::fake_procfs_tree_on_proc($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn procfs_subdir_on_proc() {
                super::procfs_subdir_on_proc($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn readonly_proc_sys_self_bind() {
                super::readonly_proc_sys_self_bind($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn runc_readonly_paths() {
                super::runc_readonly_paths($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn self_bind_of_process_dirs() {
                super::self_bind_of_process_dirs($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn mount_inside_proc_sys_self_bind() {
                super::mount_inside_proc_sys_self_bind($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn clobbered_handle() {
                super::clobbered_handle($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn racing_sched_over_attr_current() {
                super::racing_sched_over_attr_current($config)
            }

            #[test]
            #[cfg_attr(
                procroot_unprivileged,
                ignore = "needs root: built with --cfg procroot_unprivileged"
            )]
            fn racing_exe_overmount() {
                super::racing_exe_overmount($config)
            }
        }
    };
}

attacks!(default, Config::Default);
attacks!(no_openat2, Config::NoOpenat2);
attacks!(no_fsopen, Config::NoFsopen);
attacks!(no_statx_mnt_id_unique, Config::NoStatxMntIdUnique);
attacks!(seccomp_no_openat2, Config::SeccompNoOpenat2);
