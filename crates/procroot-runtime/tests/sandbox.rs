//! The second wall: `procroot_runtime::sandbox` confines a process (or a forked child) with
//! Landlock to the trees it was given, and reports `NotSupported` where the kernel has no Landlock.

use std::io::Read;
use std::path::Path;

use procroot::{Errno, ErrorKind, OFlags, Root};
use procroot_runtime::sandbox::{self, Access, Sandbox};
use procroot_runtime::RootSandboxExt;
use procroot_testutil::{deny_syscalls, in_child, Tree};

/// `SYS_landlock_create_ruleset` (the same number on every architecture).
const SYS_LANDLOCK_CREATE_RULESET: i64 = 444;

/// The kernel's Landlock ABI, or `None` after a skip that `PROCROOT_ALLOW_SKIP=landlock` allowed:
/// a wrong errno mapping in `sandbox::abi()` must not turn these tests green.
fn landlock_or_skip() -> Option<u32> {
    match sandbox::abi() {
        Ok(abi) => Some(abi),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
            procroot_testutil::skip_unless_allowed("landlock", &format!("no Landlock: {e}"));
            None
        }
    }
}

#[test]
fn read_only_beneath_the_root_and_nothing_outside() {
    let Some(abi) = landlock_or_skip() else {
        return;
    };
    let inside = Tree::new("file etc/passwd root:x:0:0");
    let host = Tree::new("file secret host bytes");
    in_child(|| {
        let root = Root::open(inside.path()).unwrap();
        let status = Sandbox::new()
            .allow_beneath(&root, Access::READ)
            .restrict_self()
            .unwrap();
        assert_eq!(status.abi(), abi.min(7));
        assert_eq!(status.handles_truncate(), abi >= 3);
        assert_eq!(status.scopes_signals_and_abstract_sockets(), abi >= 6);
        // Inside: reading works, through the library and by plain path.
        let mut text = String::new();
        root.open_file("/etc/passwd", OFlags::RDONLY)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "root:x:0:0");
        assert!(root.read_dir("/etc").is_ok());
        // Inside, but not allowed: writing.
        let err = root.mkdir("/new", 0o755).unwrap_err();
        assert_eq!(err.errno(), Errno::ACCESS, "{err}");
        let err = std::fs::write(inside.join("etc/passwd"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES));
        // Outside: nothing.
        let err = std::fs::read(host.join("secret")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES));
        let err = std::fs::write(host.join("new"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES));
    });
    assert!(!host.join("new").exists());
    assert_eq!(
        std::fs::read(inside.join("etc/passwd")).unwrap(),
        b"root:x:0:0"
    );
}

#[test]
fn a_rule_on_a_file_allows_that_file_only() {
    if landlock_or_skip().is_none() {
        return;
    }
    let host = Tree::new("file a A\nfile b B");
    in_child(|| {
        let a = std::fs::File::open(host.join("a")).unwrap();
        // READ_WRITE on a file keeps only the file rights (a directory right would be EINVAL).
        Sandbox::new()
            .allow_beneath(&a, Access::READ_WRITE)
            .restrict_self()
            .unwrap();
        assert_eq!(std::fs::read(host.join("a")).unwrap(), b"A");
        let err = std::fs::read(host.join("b")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES));
    });
}

#[test]
fn without_landlock_it_is_not_supported_and_nothing_changes() {
    let host = Tree::new("file secret S");
    in_child(|| {
        deny_syscalls(&[SYS_LANDLOCK_CREATE_RULESET], libc::ENOSYS);
        let err = sandbox::abi().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotSupported);
        let root = Root::open(host.path()).unwrap();
        let err = Sandbox::new()
            .allow_beneath(&root, Access::READ)
            .restrict_self()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
        assert_eq!(err.errno(), Errno::NOSYS);
        assert!(err.to_string().contains("landlock_create_ruleset"), "{err}");
        // Not confined: the caller decides to go on.
        assert_eq!(std::fs::read(host.join("secret")).unwrap(), b"S");
        let err = sandboxed(&root, Access::READ_WRITE, |_| Ok(())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    });
}

/// `in_sandbox_with`, from a test thread. The permit's promise: each test runs in a process of
/// its own (nextest), where the harness's main thread only waits for the test's thread (it holds
/// no lock and is not allocating), and the closures here only do file work through the library
/// and `std::fs` (no printing, no lock another thread could hold).
fn sandboxed<T: sandbox::Transfer>(
    root: &Root,
    access: Access,
    f: impl FnOnce(&Root) -> procroot::Result<T>,
) -> procroot::Result<T> {
    // SAFETY: see above: the only other thread waits, holding no lock and not allocating, and
    // the closures take no lock and touch no state of another thread.
    let permit = unsafe { sandbox::ForkPermit::new() };
    root.in_sandbox_with(permit, access, f)
}

#[test]
fn in_sandbox_runs_the_closure_confined_to_the_root() {
    if landlock_or_skip().is_none() {
        return;
    }
    let inside = Tree::new("file etc/hostname web");
    let host = Tree::new("file secret host bytes");
    let root = Root::open(inside.path()).unwrap();
    // A result comes back.
    let bytes: Vec<u8> = sandboxed(&root, Access::READ_WRITE, |root| {
        let mut out = Vec::new();
        root.open_file("/etc/hostname", OFlags::RDONLY)?
            .read_to_end(&mut out)?;
        root.mkdir("/made-inside", 0o755)?;
        Ok(out)
    })
    .unwrap();
    assert_eq!(bytes, b"web");
    assert!(inside.join("made-inside").is_dir());
    // The caller is not confined.
    assert_eq!(std::fs::read(host.join("secret")).unwrap(), b"host bytes");
    // The child is: a host file is EACCES, and the error comes back whole.
    let secret = host.join("secret");
    let err = sandboxed(&root, Access::READ_WRITE, |_| {
        std::fs::read(&secret)?;
        Ok(())
    })
    .unwrap_err();
    assert_eq!(err.errno(), Errno::ACCESS, "{err}");
    let escape = host.join("escaped");
    let err = sandboxed(&root, Access::READ_WRITE, |_| {
        Ok(std::fs::write(&escape, b"x")?)
    })
    .unwrap_err();
    assert_eq!(err.errno(), Errno::ACCESS, "{err}");
    assert!(!escape.exists());
    // A library error keeps its context.
    let err = sandboxed(&root, Access::READ_WRITE, |root| {
        root.open_file("/nope", OFlags::RDONLY).map(|_| ())
    })
    .unwrap_err();
    let direct = root.open_file("/nope", OFlags::RDONLY).unwrap_err();
    assert_eq!(err.to_string(), direct.to_string());
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // Read-only access: creating is refused.
    let err = sandboxed(&root, Access::READ, |root| {
        root.mkdir("/ro", 0o755).map(|_| ())
    })
    .unwrap_err();
    assert_eq!(err.errno(), Errno::ACCESS, "{err}");
    // A panic is EIO, not a hang or a crash of the caller.
    let err = sandboxed(&root, Access::READ_WRITE, |_| -> procroot::Result<()> {
        panic!("boom")
    })
    .unwrap_err();
    assert_eq!(err.errno(), Errno::IO, "{err}");
}

/// Why `harden` and `mount-proc` are not confined: a landlocked process may not mount at all,
/// even beneath a tree it may write (Landlock refuses mount(2) with EPERM).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_confined_process_cannot_mount() {
    procroot_testutil::require_privilege("mount(2) in a private mount namespace");
    if landlock_or_skip().is_none() {
        return;
    }
    let inside = Tree::new("dir mnt");
    procroot_testutil::in_private_mount_ns(|| {
        let root = Root::open(inside.path()).unwrap();
        Sandbox::new()
            .allow_beneath(&root, Access::all())
            .restrict_self()
            .unwrap();
        let err =
            procroot_testutil::mount_raw(Some("tmpfs"), inside.join("mnt"), Some("tmpfs"), 0, None)
                .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    });
}

/// `copy_sandbox` out: the copy out works; beside the destination on the host nothing can be
/// read, and nothing outside the destination directory written; a device node is never made
/// there, even with special files allowed.
#[test]
fn a_copy_out_sandbox_allows_that_copy_and_nothing_beside_it() {
    use procroot::SpecialFiles;
    use procroot_runtime::sandbox::CopyDirection;
    if landlock_or_skip().is_none() {
        return;
    }
    let inside = Tree::new("file etc/hosts 127.0.0.1\nfile etc/other x");
    let host = Tree::new("dir out\nfile out/beside secret\nfile elsewhere secret");
    let dest = host.join("out/hosts");
    in_child(|| {
        let root = Root::open(inside.path()).unwrap();
        sandbox::copy_sandbox(&root, CopyDirection::Out, &dest, SpecialFiles::Allow)
            .restrict_self()
            .unwrap();
        root.copy_out("/etc/hosts", &dest).unwrap();
        for beside in ["out/beside", "elsewhere"] {
            let err = std::fs::read(host.join(beside)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{beside}");
        }
        let err = std::fs::write(host.join("new"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES));
        // A FIFO may be made (special files allowed), a device node never.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            host.join("out/fifo").as_path(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = rustix::fs::mknodat(
            rustix::fs::CWD,
            host.join("out/null").as_path(),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o600),
            rustix::fs::makedev(1, 3),
        )
        .unwrap_err();
        assert_eq!(err, Errno::ACCESS);
    });
    assert_eq!(std::fs::read(&dest).unwrap(), b"127.0.0.1");
    assert!(!host.join("new").exists() && !host.join("out/null").exists());
}

/// `copy_sandbox` in: the host source is read, the copy lands in the root; no other host file
/// can be read, nothing outside the root written, and a device node is made in the root only
/// with special files allowed.
#[test]
fn a_copy_in_sandbox_allows_that_copy_and_nothing_else_on_the_host() {
    use procroot::SpecialFiles;
    use procroot_runtime::sandbox::CopyDirection;
    if landlock_or_skip().is_none() {
        return;
    }
    let inside = Tree::new("dir etc");
    let host = Tree::new("dir src\nfile src/a A\nfile secret S");
    let src = host.join("src");
    for special in [SpecialFiles::Refuse, SpecialFiles::Allow] {
        in_child(|| {
            let root = Root::open(inside.path()).unwrap();
            // The operand as the user wrote it: with a trailing slash once (the copy and its
            // rules split it alike).
            let operand = match special {
                SpecialFiles::Allow => format!("{}/", src.display()),
                _ => src.display().to_string(),
            };
            sandbox::copy_sandbox(&root, CopyDirection::In, Path::new(&operand), special)
                .restrict_self()
                .unwrap();
            let to = format!("/etc/{special:?}");
            root.copy_in(&operand, &to).unwrap();
            let err = std::fs::read(host.join("secret")).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EACCES));
            let err = std::fs::write(host.join("src/new"), b"x").unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EACCES));
            let made = rustix::fs::mknodat(
                rustix::fs::CWD,
                inside.join(format!("etc/{special:?}-null")).as_path(),
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::from_raw_mode(0o600),
                rustix::fs::makedev(1, 3),
            );
            match special {
                // Landlock allows it; making a device node still needs CAP_MKNOD, which the
                // unprivileged test mode does not have.
                SpecialFiles::Allow if procroot_testutil::is_privileged() => {
                    assert_eq!(made, Ok(()))
                }
                SpecialFiles::Allow => assert_eq!(made, Err(Errno::PERM)),
                _ => assert_eq!(made, Err(Errno::ACCESS)),
            }
        });
        assert_eq!(
            std::fs::read(inside.join(format!("etc/{special:?}/a"))).unwrap(),
            b"A"
        );
    }
}

/// The Landlock ABI is asked once per process: once it has answered, a seccomp filter that
/// refuses the probe changes nothing `abi()` says, and confining then fails with the filter's
/// errno from `landlock_create_ruleset` (it never goes on unconfined).
#[test]
fn the_landlock_abi_is_asked_once() {
    if landlock_or_skip().is_none() {
        return;
    }
    in_child(|| {
        let abi = sandbox::abi().unwrap();
        deny_syscalls(&[SYS_LANDLOCK_CREATE_RULESET], libc::ENOSYS);
        assert_eq!(sandbox::abi().unwrap(), abi);
        let err = Sandbox::new().restrict_self().unwrap_err();
        assert_eq!(err.errno(), Errno::NOSYS, "{err}");
        assert!(err.to_string().contains("landlock_create_ruleset"), "{err}");
    });
}

/// `Preload::for_root`: the sysctl only where the emulated walker answers the root's lookups
/// (or re-examines the kernel's), the procfs handle always.
#[test]
fn preload_for_root_reads_the_sysctl_only_where_the_walker_answers() {
    use procroot::{Backend, Policy, Preload};
    let tree = Tree::new("dir d");
    let open = || Root::open(tree.path()).unwrap();
    assert_eq!(Preload::for_root(&open()), Preload::PROCFS);
    assert_eq!(
        Preload::for_root(&open().with_backend(Backend::Kernel)),
        Preload::PROCFS
    );
    assert_eq!(
        Preload::for_root(&open().with_backend(Backend::Emulated)),
        Preload::all()
    );
    for backend in [Backend::Auto, Backend::Kernel] {
        assert_eq!(
            Preload::for_root(
                &open()
                    .with_backend(backend)
                    .with_policy(Policy::InRootStrict)
            ),
            Preload::all(),
            "{backend:?} in-root-strict"
        );
    }
    // openat2 known to be unavailable: Auto is the walker.
    in_child(|| {
        deny_syscalls(&[procroot_testutil::SYS_OPENAT2], libc::ENOSYS);
        let root = open();
        // The first lookup learns that openat2 is gone.
        let _ = root.resolve("/d");
        assert_eq!(Preload::for_root(&root), Preload::all());
    });
}

/// A sandbox that preloads only the procfs handle (what `Preload::for_root` gives a root whose
/// lookups the kernel answers) does not read `fs.protected_symlinks`: the kernel still applies
/// it itself, and the emulated walker, should it run after confinement, takes it as 1 and
/// refuses a stranger's trailing symlink in a sticky, world-writable directory (`EACCES`),
/// never follows it. On a machine where the sysctl is 0 the kernel follows it, and so did the
/// walker when every sandbox read the sysctl first.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn without_the_sysctl_preloaded_the_walker_refuses_protected_links() {
    use procroot::{Backend, Preload};
    use std::os::unix::fs::PermissionsExt;
    procroot_testutil::require_privilege("a symlink owned by another user");
    if landlock_or_skip().is_none() {
        return;
    }
    let sysctl = std::fs::read_to_string("/proc/sys/fs/protected_symlinks").unwrap();
    let protected = sysctl.trim() != "0";
    eprintln!("fs.protected_symlinks = {}", sysctl.trim());
    let tree = Tree::new("file tmp/target TARGET\nsymlink tmp/link target");
    std::fs::set_permissions(tree.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::lchown(tree.join("tmp/link"), Some(2000), Some(2000)).unwrap();
    in_child(|| {
        let root = Root::open(tree.path()).unwrap();
        // The same directory with the walker answering, as a fallback after confinement would.
        let walker = Root::open(tree.path())
            .unwrap()
            .with_backend(Backend::Emulated);
        Sandbox::new()
            .allow_beneath(&root, Access::READ)
            .preload(Preload::for_root(&root))
            .restrict_self()
            .unwrap();
        let read = |root: &Root| -> procroot::Result<String> {
            let mut text = String::new();
            root.open_file("/tmp/link", OFlags::RDONLY)?
                .read_to_string(&mut text)?;
            Ok(text)
        };
        // The kernel's answer, with this machine's setting.
        match read(&root) {
            Ok(text) => assert!(!protected && text == "TARGET", "{text:?}"),
            Err(e) => assert!(protected && e.errno() == Errno::ACCESS, "{e}"),
        }
        // The walker's: strict.
        let err = read(&walker).unwrap_err();
        assert_eq!(err.errno(), Errno::ACCESS, "{err}");
    });
}

/// A sandbox that leaves out `Preload::PROCFS`: the first use of procroot's procfs handle after
/// confinement (reopening a file to read it) fails, saying why, instead of opening a procfs
/// then (the fallbacks would end at the host's `/proc`, whose `O_PATH` open Landlock does not
/// mediate). With the handle preloaded (the default) the same read works.
#[test]
fn without_procfs_preloaded_its_first_use_fails_closed() {
    use procroot::{Preload, Procfs};
    if landlock_or_skip().is_none() {
        return;
    }
    let tree = Tree::new("file f F");
    for preload in [
        Preload::empty(),
        Preload::PROTECTED_SYMLINKS,
        Preload::PROCFS,
    ] {
        in_child(|| {
            let root = Root::open(tree.path()).unwrap();
            Sandbox::new()
                .allow_beneath(&root, Access::READ)
                .preload(preload)
                .restrict_self()
                .unwrap();
            let read = root.open_file("/f", OFlags::RDONLY);
            if preload.contains(Preload::PROCFS) {
                let mut text = String::new();
                read.unwrap().read_to_string(&mut text).unwrap();
                assert_eq!(text, "F");
                return;
            }
            let err = read.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
            assert_eq!(err.errno(), Errno::ACCESS, "{err}");
            assert!(err.to_string().contains("Preload::PROCFS"), "{err}");
            let err = Procfs::cached().unwrap_err();
            assert!(err.to_string().contains("Preload::PROCFS"), "{err}");
        });
    }
}
