//! The hardened procfs handle without an attacker: every acquisition method, every base, the
//! lookup rules (no magic links, no `..`, relative subpaths only), magic-link following and
//! reading, and `Handle::reopen` through it.
//!
//! The attacks live in `procfs_attacks.rs`; PID namespaces and PID reuse in `procfs_pidns.rs`.

use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use procroot::testing::{self, Feature};
use procroot::{Acquisition, Error, ErrorKind, OFlags, PidFd, ProcBase, Procfs, Root};
use procroot_testutil::{fd_identity, identity, in_child, require_privilege, Tree};
use rustix::io::Errno;

/// The methods [`Procfs::acquire`] accepts without a PID namespace.
const METHODS: [Acquisition; 3] = [
    Acquisition::Fsmount,
    Acquisition::OpenTreeClone,
    Acquisition::PlainOpen,
];

fn getpid() -> u32 {
    std::process::id()
}

fn gettid() -> u32 {
    rustix::thread::gettid().as_raw_pid() as u32
}

/// The value of `key:` in a `/proc/<pid>/status` text.
fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

fn acquire(method: Acquisition, masked: bool) -> Procfs {
    Procfs::acquire(method, masked)
        .unwrap_or_else(|e| panic!("acquire {method:?} (masked {masked}): {e}"))
}

/// Every (method, masked) combination.
fn all_instances() -> Vec<Procfs> {
    let mut out = Vec::new();
    for method in METHODS {
        for masked in [true, false] {
            out.push(acquire(method, masked));
        }
    }
    out
}

fn describe(p: &Procfs) -> String {
    format!(
        "{} ({})",
        p.acquisition().as_str(),
        if p.is_masked() { "masked" } else { "unmasked" }
    )
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_invalid_input<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    let e = expect_err(result, what);
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
    assert_eq!(e.errno(), Errno::INVAL, "{what}: {e}");
}

fn names_in(p: &Procfs, base: ProcBase<'_>, dir: &str) -> Vec<String> {
    p.read_dir(base, dir)
        .unwrap_or_else(|e| panic!("{}: read_dir {dir:?}: {e}", describe(p)))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn every_method_acquires_reports_itself_and_verifies() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    for method in METHODS {
        for masked in [true, false] {
            let p = acquire(method, masked);
            assert_eq!(p.acquisition(), method);
            assert_eq!(
                p.is_masked(),
                masked && method == Acquisition::Fsmount,
                "{method:?} masked={masked}: only fsmount can apply subset=pid"
            );
            assert_eq!(
                p.acquisition().is_detached(),
                method != Acquisition::PlainOpen
            );
            p.verify()
                .unwrap_or_else(|e| panic!("verify {}: {e}", describe(&p)));
            // The root fd is a procfs root: inode 1.
            let st = rustix::fs::fstat(p.as_fd()).expect("fstat procfs root");
            assert_eq!(st.st_ino, 1, "{}", describe(&p));
        }
    }
    // The pidns methods are not for `acquire`.
    for method in [Acquisition::PidnsOption, Acquisition::PidnsHelper] {
        assert_invalid_input(Procfs::acquire(method, false), &format!("{method:?}"));
    }
    let names: Vec<&str> = [
        Acquisition::Fsmount,
        Acquisition::OpenTreeClone,
        Acquisition::PlainOpen,
        Acquisition::PidnsOption,
        Acquisition::PidnsHelper,
    ]
    .iter()
    .map(|a| a.as_str())
    .collect();
    assert_eq!(
        names,
        [
            "fsmount",
            "open_tree",
            "open",
            "pidns-option",
            "pidns-helper"
        ]
    );
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_chain_prefers_fsmount_when_privileged() {
    require_privilege("fsopen of procfs (CAP_SYS_ADMIN)");
    let masked = Procfs::new().expect("Procfs::new");
    assert_eq!(masked.acquisition(), Acquisition::Fsmount);
    assert!(masked.is_masked());
    let unmasked = Procfs::new_unmasked().expect("Procfs::new_unmasked");
    assert_eq!(unmasked.acquisition(), Acquisition::Fsmount);
    assert!(!unmasked.is_masked());
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_chain_falls_back_when_features_are_disabled() {
    require_privilege("open_tree of procfs (CAP_SYS_ADMIN)");
    // Fill this process's cache first, as another test in the same runner process may have
    // (plain `cargo test` runs them as threads of one process): the forked child inherits it,
    // and disabling a feature must still take effect there.
    let parent = Procfs::cached().expect("cached in the parent");
    assert_eq!(parent.acquisition(), Acquisition::Fsmount);
    in_child(|| {
        testing::disable(Feature::Fsopen);
        let cached = Procfs::cached().expect("cached without fsopen");
        assert_eq!(
            cached.acquisition(),
            Acquisition::OpenTreeClone,
            "the inherited fsmount instance is still handed out after fsopen was disabled"
        );
        let err = expect_err(
            Procfs::acquire(Acquisition::Fsmount, true),
            "fsmount with fsopen disabled",
        );
        assert_eq!(err.errno(), Errno::NOSYS, "{err}");
        let p = Procfs::new().expect("Procfs::new without fsopen");
        assert_eq!(p.acquisition(), Acquisition::OpenTreeClone);
        assert!(!p.is_masked(), "open_tree cannot mask");
        testing::disable(Feature::OpenTree);
        let p = Procfs::new().expect("Procfs::new without fsopen and open_tree");
        assert_eq!(p.acquisition(), Acquisition::PlainOpen);
        // A plain open is not cached: every call makes a new instance.
        let a = Procfs::cached().expect("cached");
        let b = Procfs::cached().expect("cached");
        assert_eq!(a.acquisition(), Acquisition::PlainOpen);
        assert!(!Arc::ptr_eq(&a, &b), "a non-detached instance was cached");
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn cached_is_one_detached_instance() {
    require_privilege("fsopen of procfs (CAP_SYS_ADMIN)");
    let a = Procfs::cached().expect("cached");
    let b = Procfs::cached().expect("cached");
    assert!(Arc::ptr_eq(&a, &b), "cached() made two instances");
    assert!(a.acquisition().is_detached(), "{:?}", a.acquisition());
    assert_eq!(a.acquisition(), Acquisition::Fsmount);
    assert!(a.is_masked());
    a.verify().expect("verify cached");

    let c = Procfs::cached_unmasked().expect("cached_unmasked");
    let d = Procfs::cached_unmasked().expect("cached_unmasked");
    assert!(Arc::ptr_eq(&c, &d), "cached_unmasked() made two instances");
    assert!(
        !Arc::ptr_eq(&a, &c),
        "masked and unmasked share an instance"
    );
    assert!(c.acquisition().is_detached());
    assert!(!c.is_masked());
    c.verify().expect("verify cached_unmasked");
    // Many threads asking at once still get one instance.
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| Procfs::cached().expect("cached")))
        .collect();
    for h in handles {
        assert!(Arc::ptr_eq(&a, &h.join().expect("thread")));
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn every_base_reads_this_process() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    let pid = getpid();
    let tid = gettid();
    let pidfd = PidFd::open(pid).expect("pidfd_open(self)");
    assert_eq!(pidfd.pid(), pid);
    assert!(pidfd.is_alive());
    for p in all_instances() {
        let who = describe(&p);
        let read = |base: ProcBase<'_>| {
            p.read_to_string(base, "status")
                .unwrap_or_else(|e| panic!("{who}: read {base:?} status: {e}"))
        };
        let s = read(ProcBase::SelfProcess);
        assert_eq!(status_field(&s, "Pid"), Some(&*pid.to_string()), "{who}");
        assert_eq!(status_field(&s, "Tgid"), Some(&*pid.to_string()), "{who}");

        // thread-self is this thread (the test thread, not the main thread).
        let s = read(ProcBase::ThreadSelf);
        assert_eq!(status_field(&s, "Pid"), Some(&*tid.to_string()), "{who}");
        assert_eq!(status_field(&s, "Tgid"), Some(&*pid.to_string()), "{who}");

        let s = read(ProcBase::Pid(pid));
        assert_eq!(status_field(&s, "Pid"), Some(&*pid.to_string()), "{who}");

        let s = read(ProcBase::PidFd(&pidfd));
        assert_eq!(status_field(&s, "Pid"), Some(&*pid.to_string()), "{who}");

        // The root lists the processes, and the global files only when unmasked.
        let names = names_in(&p, ProcBase::Root, "");
        assert!(names.contains(&pid.to_string()), "{who}: {names:?}");
        assert!(names.iter().any(|n| n == "self"), "{who}: {names:?}");
        assert!(names.iter().any(|n| n == "thread-self"), "{who}: {names:?}");
        assert_eq!(
            names.iter().any(|n| n == "sys"),
            !p.is_masked(),
            "{who}: `sys` must be listed exactly when unmasked: {names:?}"
        );
        assert_eq!(
            names.iter().any(|n| n == "meminfo"),
            !p.is_masked(),
            "{who}: {names:?}"
        );
        let ostype = p.read_to_string(ProcBase::Root, "sys/kernel/ostype");
        if p.is_masked() {
            let e = expect_err(ostype, &format!("{who}: sys/kernel/ostype"));
            assert_eq!(e.kind(), ErrorKind::NotFound, "{who}: {e}");
        } else {
            assert_eq!(ostype.expect("ostype"), "Linux\n", "{who}");
        }

        // The masked instance hides global files but not this process's own directory.
        let fds = names_in(&p, ProcBase::ThreadSelf, "fd");
        assert!(fds.iter().any(|n| n == "0"), "{who}: {fds:?}");
    }
}

/// The empty subpath names the base directory itself, whatever the base: `self` and
/// `thread-self` are the process's (thread's) directory, not the `self` symlink.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn empty_subpath_is_the_base_itself() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    let pid = getpid();
    let pidfd = PidFd::open(pid).expect("pidfd_open(self)");
    for p in all_instances() {
        let who = describe(&p);
        for base in [
            ProcBase::Root,
            ProcBase::SelfProcess,
            ProcBase::ThreadSelf,
            ProcBase::Pid(pid),
            ProcBase::PidFd(&pidfd),
        ] {
            // Following: the directory.
            let names = names_in(&p, base, "");
            assert!(!names.is_empty(), "{who}: {base:?}");
            // Not following a trailing symlink must still give the directory: the base is a
            // directory, the empty subpath has no trailing symlink of its own.
            let md = p
                .symlink_metadata(base, "")
                .unwrap_or_else(|e| panic!("{who}: stat {base:?} \"\": {e}"));
            assert!(
                md.is_dir(),
                "{who}: symlink_metadata({base:?}, \"\") is a {:?}, not the base directory",
                md.file_type()
            );
        }
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn open_refuses_magic_links() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    check_open_refuses_magic_links();
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn open_refuses_magic_links_emulated() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    in_child(|| {
        testing::disable(Feature::Openat2);
        check_open_refuses_magic_links();
    });
}

fn check_open_refuses_magic_links() {
    let file = tempfile::tempfile().expect("tempfile");
    let fd_name = format!("fd/{}", file.as_raw_fd());
    for p in all_instances() {
        let who = describe(&p);
        for (base, sub) in [
            (ProcBase::SelfProcess, "exe"),
            (ProcBase::SelfProcess, "root"),
            (ProcBase::SelfProcess, "cwd"),
            (ProcBase::ThreadSelf, fd_name.as_str()),
            (ProcBase::SelfProcess, fd_name.as_str()),
            (ProcBase::Pid(getpid()), "exe"),
        ] {
            for flags in [OFlags::RDONLY, OFlags::PATH] {
                let e = expect_err(
                    p.open(base, sub, flags),
                    &format!("{who}: open {base:?} {sub} {flags:?}"),
                );
                assert_eq!(e.errno(), Errno::LOOP, "{who}: open {base:?} {sub}: {e}");
            }
            let e = expect_err(
                p.read_to_string(base, sub),
                &format!("{who}: read {base:?} {sub}"),
            );
            assert_eq!(e.errno(), Errno::LOOP, "{who}: read {base:?} {sub}: {e}");
            // Without following, the link itself can be looked at.
            let md = p
                .symlink_metadata(base, sub)
                .unwrap_or_else(|e| panic!("{who}: lstat {base:?} {sub}: {e}"));
            assert!(md.file_type().is_symlink(), "{who}: {sub}");
        }
        // Ordinary procfs symlinks are followed.
        let s = p
            .read_to_string(ProcBase::Root, "self/status")
            .unwrap_or_else(|e| panic!("{who}: read self/status: {e}"));
        assert_eq!(status_field(&s, "Tgid"), Some(&*getpid().to_string()));
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn subpaths_must_be_relative_and_without_dotdot() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    let pid = getpid();
    let pidfd = PidFd::open(pid).expect("pidfd_open(self)");
    for p in all_instances() {
        let who = describe(&p);
        for base in [
            ProcBase::Root,
            ProcBase::SelfProcess,
            ProcBase::ThreadSelf,
            ProcBase::Pid(pid),
            ProcBase::PidFd(&pidfd),
        ] {
            for sub in [
                "..",
                "../1/status",
                "task/..",
                "fd/../status",
                "a/../../b",
                "/status",
                "/proc/self/status",
                "/",
            ] {
                let what = |op: &str| format!("{who}: {op} {base:?} {sub:?}");
                assert_invalid_input(p.open(base, sub, OFlags::RDONLY), &what("open"));
                assert_invalid_input(
                    p.open_follow(base, sub, OFlags::RDONLY),
                    &what("open_follow"),
                );
                assert_invalid_input(p.readlink(base, sub), &what("readlink"));
                assert_invalid_input(p.read_to_string(base, sub), &what("read"));
                assert_invalid_input(p.write(base, sub, b"x"), &what("write"));
                assert_invalid_input(p.symlink_metadata(base, sub), &what("stat"));
                assert_invalid_input(p.read_dir(base, sub).map(|_| ()), &what("read_dir"));
            }
        }
        // Names that merely contain dots are fine (and simply do not exist).
        let e = expect_err(
            p.open(ProcBase::SelfProcess, "..status", OFlags::RDONLY),
            &format!("{who}: ..status"),
        );
        assert_eq!(e.kind(), ErrorKind::NotFound, "{who}: {e}");
        // `.` is harmless.
        let s = p
            .read_to_string(ProcBase::SelfProcess, "./status")
            .unwrap_or_else(|e| panic!("{who}: ./status: {e}"));
        assert_eq!(status_field(&s, "Pid"), Some(&*pid.to_string()));
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn open_follow_reopens_an_fd() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    let tree = Tree::new("file data hello through fd/N");
    let path = tree.join("data");
    let opath = rustix::fs::open(
        &path,
        OFlags::PATH | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("open O_PATH");
    let link = format!("fd/{}", opath.as_raw_fd());
    for p in all_instances() {
        let who = describe(&p);
        for base in [ProcBase::ThreadSelf, ProcBase::SelfProcess] {
            let mut f = p
                .open_follow(base, &link, OFlags::RDONLY)
                .unwrap_or_else(|e| panic!("{who}: open_follow {base:?} {link}: {e}"));
            assert_eq!(fd_identity(&f), fd_identity(&opath), "{who}");
            let mut s = String::new();
            f.read_to_string(&mut s).expect("read");
            // Earlier rounds appended a `!` each.
            assert!(s.starts_with("hello through fd/N"), "{who}: {s:?}");
            let target = p
                .readlink(base, &link)
                .unwrap_or_else(|e| panic!("{who}: readlink {base:?} {link}: {e}"));
            assert_eq!(target, path, "{who}");
        }
        // A writable reopen of the O_PATH fd.
        let mut w = p
            .open_follow(ProcBase::ThreadSelf, &link, OFlags::WRONLY | OFlags::APPEND)
            .unwrap_or_else(|e| panic!("{who}: open_follow for writing: {e}"));
        w.write_all(b"!").expect("append");
        // An fd that does not exist.
        let e = expect_err(
            p.open_follow(ProcBase::ThreadSelf, "fd/999999", OFlags::RDONLY),
            &format!("{who}: fd/999999"),
        );
        assert_eq!(e.kind(), ErrorKind::NotFound, "{who}: {e}");
        // A path that does not end in a link name.
        assert_invalid_input(
            p.open_follow(ProcBase::ThreadSelf, "", OFlags::RDONLY),
            &format!("{who}: open_follow of the base itself"),
        );
    }
    let contents = std::fs::read_to_string(&path).expect("read back");
    assert_eq!(contents, format!("hello through fd/N{}", "!".repeat(6)));
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn readlink_exe_is_current_exe() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    let exe = std::env::current_exe().expect("current_exe");
    let cwd = std::env::current_dir().expect("current_dir");
    for p in all_instances() {
        let who = describe(&p);
        for base in [
            ProcBase::SelfProcess,
            ProcBase::ThreadSelf,
            ProcBase::Pid(getpid()),
        ] {
            let got = p
                .readlink(base, "exe")
                .unwrap_or_else(|e| panic!("{who}: readlink {base:?} exe: {e}"));
            assert_eq!(got, exe, "{who}: {base:?}");
        }
        assert_eq!(
            p.readlink(ProcBase::SelfProcess, "cwd").expect("cwd"),
            cwd,
            "{who}"
        );
        assert_eq!(
            p.readlink(ProcBase::SelfProcess, "root").expect("root"),
            Path::new("/"),
            "{who}"
        );
        // open_follow of `exe` opens the running binary.
        let f = p
            .open_follow(ProcBase::SelfProcess, "exe", OFlags::RDONLY)
            .unwrap_or_else(|e| panic!("{who}: open_follow exe: {e}"));
        assert_eq!(fd_identity(&f), identity_following(&exe), "{who}");
        // `root` follows to this process's root directory.
        let r = p
            .open_follow(
                ProcBase::SelfProcess,
                "root",
                OFlags::PATH | OFlags::DIRECTORY,
            )
            .unwrap_or_else(|e| panic!("{who}: open_follow root: {e}"));
        assert_eq!(fd_identity(&r), identity("/"), "{who}");
        // Ordinary procfs symlinks can be read too.
        let got = p.readlink(ProcBase::Root, "self").expect("readlink self");
        assert_eq!(got, Path::new(&getpid().to_string()), "{who}");
    }
}

/// `readlink` of something that is not a symlink is `EINVAL`, as with `readlink(2)` and
/// `Handle::readlink` (`readlinkat(fd, "")` itself says `ENOENT`, which must not leak out as
/// "No such file or directory" for a file that exists).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn readlink_of_a_non_link_is_einval() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    for p in all_instances() {
        let who = describe(&p);
        for sub in ["status", "fd", "attr"] {
            let e = expect_err(
                p.readlink(ProcBase::SelfProcess, sub),
                &format!("{who}: readlink {sub}"),
            );
            assert_eq!(e.errno(), Errno::INVAL, "{who}: readlink {sub}: {e}");
            assert_ne!(e.kind(), ErrorKind::NotFound, "{who}: readlink {sub}: {e}");
        }
        // A link that really does not exist is still ENOENT.
        let e = expect_err(
            p.readlink(ProcBase::SelfProcess, "no-such-link"),
            &format!("{who}: readlink no-such-link"),
        );
        assert_eq!(e.kind(), ErrorKind::NotFound, "{who}: {e}");
    }
}

fn identity_following(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).expect("stat");
    (md.dev(), md.ino())
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn write_goes_to_the_named_file() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    // `comm` is harmless to write: it only renames the thread. Done in a child, whose single
    // thread is both `self` and `thread-self`.
    in_child(|| {
        for p in all_instances() {
            let who = describe(&p);
            let name = format!("pr-{}", p.acquisition().as_str());
            p.write(ProcBase::ThreadSelf, "comm", name.as_bytes())
                .unwrap_or_else(|e| panic!("{who}: write comm: {e}"));
            let got = p
                .read_to_string(ProcBase::SelfProcess, "comm")
                .unwrap_or_else(|e| panic!("{who}: read comm: {e}"));
            assert_eq!(got.trim_end(), name, "{who}");
            // Writing a file that does not exist does not create it.
            let e = expect_err(
                p.write(ProcBase::SelfProcess, "no-such-file", b"x"),
                &format!("{who}: write no-such-file"),
            );
            assert_eq!(e.kind(), ErrorKind::NotFound, "{who}: {e}");
        }
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn errors_name_the_operation_and_the_path() {
    require_privilege("fsopen of procfs (CAP_SYS_ADMIN)");
    let p = acquire(Acquisition::Fsmount, true);
    let e = expect_err(
        p.open(ProcBase::SelfProcess, "exe", OFlags::RDONLY),
        "open exe",
    );
    let shown = e.to_string();
    assert!(shown.contains("self/exe"), "{shown}");
    assert!(shown.contains("ELOOP"), "{shown}");
    assert!(shown.contains("fsmount"), "{shown}");
}

// --- Handle::reopen --------------------------------------------------------------------------

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn reopen_follows_the_file_across_a_rename() {
    require_privilege("fsopen of procfs (CAP_SYS_ADMIN), for the cached handle");
    let tree = Tree::new(
        "
        file dir/original first contents
        symlink dir/link original
        ",
    );
    let root = Root::open(tree.path()).expect("open root");
    let handle = root.resolve("dir/original").expect("resolve");
    // Rename it, and put another file with the old name in its place.
    std::fs::rename(tree.join("dir/original"), tree.join("dir/moved")).expect("rename");
    std::fs::write(tree.join("dir/original"), "impostor").expect("write impostor");

    let mut f = handle.reopen(OFlags::RDONLY).expect("reopen");
    let mut s = String::new();
    f.read_to_string(&mut s).expect("read");
    assert_eq!(s, "first contents");
    assert_eq!(fd_identity(&f), identity(tree.join("dir/moved")));

    // Writable reopen: the write lands in the renamed file.
    let mut w = handle.reopen(OFlags::RDWR).expect("reopen for read-write");
    w.seek(std::io::SeekFrom::End(0)).expect("seek");
    w.write_all(b" + more").expect("write");
    drop(w);
    assert_eq!(
        std::fs::read_to_string(tree.join("dir/moved")).expect("read moved"),
        "first contents + more"
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("dir/original")).expect("read impostor"),
        "impostor"
    );
}

/// `O_DIRECTORY` is an ordinary flag for a reopen. (`O_TMPFILE` contains the `O_DIRECTORY` bit,
/// so a check written as `flags.intersects(O_CREAT | O_TMPFILE)` refuses it by mistake.)
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn reopen_a_directory_handle() {
    require_privilege("fsopen of procfs (CAP_SYS_ADMIN), for the cached handle");
    let tree = Tree::new("file dir/file contents");
    let root = Root::open(tree.path()).expect("open root");
    let dir = root.resolve("dir").expect("resolve dir");
    let d = dir
        .reopen(OFlags::RDONLY | OFlags::DIRECTORY)
        .unwrap_or_else(|e| panic!("reopen a directory with O_DIRECTORY: {e}"));
    assert_eq!(fd_identity(&d), identity(tree.join("dir")));
    // O_DIRECTORY on a file handle is the kernel's ENOTDIR, not InvalidInput.
    let file = root.resolve("dir/file").expect("resolve file");
    let e = expect_err(
        file.reopen(OFlags::RDONLY | OFlags::DIRECTORY),
        "reopen a file with O_DIRECTORY",
    );
    assert_eq!(e.errno(), Errno::NOTDIR, "{e}");
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn reopen_refuses_symlinks_and_creation() {
    require_privilege("fsopen of procfs (CAP_SYS_ADMIN), for the cached handle");
    let tree = Tree::new(
        "
        file target contents
        symlink link target
        ",
    );
    let root = Root::open(tree.path()).expect("open root");
    let link = root.resolve_nofollow("link").expect("resolve_nofollow");
    assert!(link.metadata().expect("metadata").file_type().is_symlink());
    for flags in [OFlags::RDONLY, OFlags::PATH, OFlags::WRONLY] {
        let e = expect_err(link.reopen(flags), &format!("reopen symlink {flags:?}"));
        assert_eq!(e.errno(), Errno::LOOP, "{e}");
    }
    let file = root.resolve("target").expect("resolve");
    for flags in [
        OFlags::CREATE | OFlags::WRONLY,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY,
        OFlags::TMPFILE | OFlags::RDWR,
    ] {
        assert_invalid_input(file.reopen(flags), &format!("reopen {flags:?}"));
    }
    // Following the link at resolve time gives a handle that reopens the target.
    let followed = root.resolve("link").expect("resolve link");
    let mut s = String::new();
    followed
        .reopen(OFlags::RDONLY)
        .expect("reopen followed")
        .read_to_string(&mut s)
        .expect("read");
    assert_eq!(s, "contents");
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn reopen_works_with_the_emulated_walker() {
    require_privilege("fsopen of procfs (CAP_SYS_ADMIN), for the cached handle");
    in_child(|| {
        testing::disable(Feature::Openat2);
        let tree = Tree::new("file a/b contents");
        let root = Root::open(tree.path()).expect("open root");
        let handle = root.resolve("a/b").expect("resolve");
        std::fs::rename(tree.join("a"), tree.join("c")).expect("rename");
        let mut s = String::new();
        handle
            .reopen(OFlags::RDONLY)
            .expect("reopen")
            .read_to_string(&mut s)
            .expect("read");
        assert_eq!(s, "contents");
    });
}

/// A thread that is not its process's leader: `/proc/<tid>` exists, and `PidFd::open(tid)`
/// opens it (`PIDFD_THREAD`, Linux 6.9) where plain `pidfd_open` says `ENOENT`; lookups through
/// it read that thread's files, and `Root::for_pid(tid)` works as for the process (issue 21,
/// item 4).
#[test]
fn pidfd_of_a_non_leader_thread() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("pr-nonleader".into())
        .spawn(move || {
            tx.send(gettid()).expect("send");
            let _ = done_rx.recv();
        })
        .expect("spawn");
    let tid = rx.recv().expect("tid");
    assert_ne!(tid, getpid(), "the spawned thread is not the leader");
    let pidfd = PidFd::open(tid).unwrap_or_else(|e| panic!("PidFd::open({tid}): {e}"));
    assert_eq!(pidfd.pid(), tid);
    assert!(pidfd.is_alive());
    let procfs = Procfs::cached().expect("procfs");
    let comm = procfs
        .read_to_string(ProcBase::PidFd(&pidfd), "comm")
        .expect("comm through the thread's pidfd");
    assert_eq!(comm.trim(), "pr-nonleader");
    let root = Root::for_pid(tid).expect("Root::for_pid(tid)");
    assert_eq!(
        root.eval_symlinks("/", procroot::EvalMode::Full)
            .expect("eval"),
        Path::new("/")
    );
    drop(done_tx);
    thread.join().expect("join");
    // The thread is gone: its pidfd says so, and lookups through it are ESRCH. `join` returns
    // when the kernel clears the thread's tid word, a step of its exit before the task is
    // released (an unprivileged CI run once saw it still alive right there): wait for the
    // exit to finish, boundedly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pidfd.is_alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(!pidfd.is_alive());
    let err = procfs
        .read_to_string(ProcBase::PidFd(&pidfd), "comm")
        .expect_err("a gone thread");
    assert_eq!(err.errno(), Errno::SRCH, "{err}");
}

/// `pidfd_open` out of file descriptors names that cause, not "a kernel before 5.3, or a
/// seccomp filter" (issue 21, item 9).
#[test]
fn pidfd_open_emfile_names_the_fd_limit() {
    in_child(|| {
        let limit = rustix::process::Rlimit {
            current: Some(64),
            maximum: Some(64),
        };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).expect("setrlimit");
        let mut hold = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            hold.push(f);
        }
        let err = PidFd::open(getpid()).expect_err("no fd left");
        assert_eq!(err.errno(), Errno::MFILE, "{err}");
        let text = err.to_string();
        assert!(text.contains("RLIMIT_NOFILE"), "{text}");
        assert!(!text.contains("before 5.3"), "{text}");
    });
}
