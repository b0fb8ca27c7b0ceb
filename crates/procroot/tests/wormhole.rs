//! The `/proc/<pid>/root` wormhole, at the library level.
//!
//! A process in its own mount namespace sees files that nobody else sees: here, a tmpfs on its
//! `/run` holding a file. `/proc/<pid>/root` is a way into that namespace, but only half of one:
//! the kernel resolves an absolute symlink met on the way against the *caller's* root. With
//! `/var/run -> /run`, the naive path `/proc/<pid>/root/var/run/<file>` therefore looks in the
//! caller's `/run` and misses the file (or finds a different one). [`Root::for_pid`] resolves
//! the whole path inside the process's root, so `/var/run/<file>` is the process's
//! `/run/<file>`, and `eval_symlinks` reports that path, as procfsroot's `EvalSymlinks` does.
//!
//! Two setups:
//! - [`wormhole_into_built_rootfs`] (always): a small rootfs on a tmpfs, with `var/run -> /run`,
//!   that the target process `chroot`s into after mounting its own tmpfs on its `run`;
//! - [`wormhole_into_host_rootfs`]: the host's own `/var/run`, when it is a symlink to `/run`;
//!   the target only mounts a tmpfs on `/run` in its own namespace.
//!
//! Everything runs in a private mount namespace ([`in_private_mount_ns`]); the target process
//! has one of its own. Nothing is mounted in the host's namespace.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use procroot::{Backend, BackendUsed, EvalMode, OFlags, Policy, Root};
use procroot_testutil::{in_private_mount_ns, mount_raw, require_privilege, Target};

/// A name no other test or process uses.
fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("procroot-wormhole-{}-{nanos}.txt", std::process::id())
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("no NUL in path")
}

/// Starts the target process: in its own mount namespace, with a tmpfs on `<rootfs>/run`
/// holding `run/<file>`, `chroot`ed into `rootfs` if asked (`rootfs` is `/` for the host's
/// root), waiting to be told to exit. Killed and reaped on drop.
fn spawn_target(rootfs: &Path, chroot: bool, file: &str, content: &[u8]) -> Target {
    Target::spawn_in_mount_ns(|| {
        let run = rootfs.join("run");
        mount_raw(Some("tmpfs"), &run, Some("tmpfs"), 0, Some("mode=0755"))
            .unwrap_or_else(|e| panic!("mount tmpfs on {}: {e}", run.display()));
        std::fs::write(run.join(file), content).expect("write the file");
        if chroot {
            std::os::unix::fs::chroot(rootfs).expect("chroot");
            std::env::set_current_dir("/").expect("chdir /");
        }
    })
}

/// A tmpfs mounted on a directory, unmounted on drop (before the directory is removed).
struct TmpfsMount(PathBuf);

impl TmpfsMount {
    fn new(dir: &Path) -> TmpfsMount {
        mount_raw(Some("tmpfs"), dir, Some("tmpfs"), 0, Some("mode=0755")).expect("mount tmpfs");
        TmpfsMount(dir.to_path_buf())
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let target = cstring(&self.0);
        // SAFETY: `target` is NUL-terminated and outlives the call.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The assertions, against a running target whose `/var/run` is a symlink to `/run` and whose
/// `/run/<file>` holds `content` in its own mount namespace.
fn check_wormhole(target: &Target, file: &str, content: &[u8]) {
    let pid = target.pid();
    let wanted = format!("/var/run/{file}");
    let real = PathBuf::from(format!("/run/{file}"));

    for policy in [Policy::InRoot, Policy::InRootStrict] {
        for backend in [Backend::Kernel, Backend::Emulated] {
            let label = format!("{policy:?} / {backend:?}");
            let root = Root::for_pid(pid)
                .unwrap_or_else(|e| panic!("{label}: Root::for_pid({pid}): {e}"))
                .with_policy(policy)
                .with_backend(backend);

            let mut got = Vec::new();
            root.open_file(&wanted, OFlags::RDONLY)
                .unwrap_or_else(|e| panic!("{label}: open_file({wanted:?}): {e}"))
                .read_to_end(&mut got)
                .expect("read");
            assert_eq!(
                got, content,
                "{label}: open_file({wanted:?}) read the wrong file"
            );

            let answered_before = procroot::testing::eval_symlinks_kernel_answers();
            let full = root
                .eval_symlinks(&wanted, EvalMode::Full)
                .unwrap_or_else(|e| panic!("{label}: eval_symlinks(Full): {e}"));
            assert_eq!(full, real, "{label}: eval_symlinks({wanted:?}, Full)");
            let except_last = root
                .eval_symlinks(&wanted, EvalMode::ExceptLast)
                .unwrap_or_else(|e| panic!("{label}: eval_symlinks(ExceptLast): {e}"));
            assert_eq!(
                except_last, real,
                "{label}: eval_symlinks({wanted:?}, ExceptLast)"
            );
            // procfsroot's example, one level up: the symlinked directory itself.
            let dir = root
                .eval_symlinks("/var/run", EvalMode::Full)
                .unwrap_or_else(|e| panic!("{label}: eval_symlinks(/var/run): {e}"));
            assert_eq!(
                dir,
                Path::new("/run"),
                "{label}: eval_symlinks(/var/run, Full)"
            );
            // The three answers came from the kernel's path (`d_path` in the target's mount
            // namespace, which is relative to that namespace's root and compared with the root's
            // own, read the same way), except where the walk must answer: the emulated backend,
            // and the strict policy's absolute symlink (asked with RESOLVE_BENEATH).
            let by_kernel = procroot::testing::eval_symlinks_kernel_answers() - answered_before;
            let absolute = std::fs::read_link(format!("/proc/{pid}/root/var/run"))
                .is_ok_and(|t| t.is_absolute());
            let expected = match (backend, policy) {
                (Backend::Emulated, _) => 0,
                (_, Policy::InRootStrict) if absolute => 0,
                _ => 3,
            };
            assert_eq!(by_kernel, expected, "{label}: answers by the kernel's path");

            let handle = root
                .resolve(&wanted)
                .unwrap_or_else(|e| panic!("{label}: resolve({wanted:?}): {e}"));
            assert_eq!(handle.path_in_root().expect("path_in_root"), real.as_path());
            if policy == Policy::InRoot {
                let used = match backend {
                    Backend::Kernel => BackendUsed::Kernel,
                    _ => BackendUsed::Emulated,
                };
                assert_eq!(handle.backend(), used, "{label}: which backend answered");
            }
        }
    }

    // The naive path follows /var/run -> /run in *our* root, not the target's: it misses the
    // target's file, which is why the resolver is needed.
    let naive = format!("/proc/{pid}/root/var/run/{file}");
    match std::fs::read(&naive) {
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::NotFound,
            "the naive path {naive} failed, but not with ENOENT: {e}"
        ),
        Ok(data) => assert_ne!(
            data, content,
            "the naive path {naive} reached the target's file; the wormhole demo shows nothing"
        ),
    }
    // Control: without a symlink on the way, the naive path does reach the target's mounts, so
    // the file is there; only the absolute symlink misleads it.
    let direct = format!("/proc/{pid}/root/run/{file}");
    assert_eq!(
        std::fs::read(&direct).unwrap_or_else(|e| panic!("read {direct}: {e}")),
        content,
        "the target's /run/{file}, through {direct}"
    );
}

/// A rootfs built for the test: `var/run -> /run` (absolute) and `run/`, on a tmpfs of our own.
/// The target mounts its own tmpfs on `run`, writes the file and `chroot`s into the rootfs.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn wormhole_into_built_rootfs() {
    require_privilege("mounts and chroot in private mount namespaces");
    in_private_mount_ns(|| {
        let dir = tempfile::Builder::new()
            .prefix("procroot-wormhole-")
            .tempdir()
            .expect("tempdir");
        // Declared after `dir`, so it is unmounted before the directory is removed.
        let rootfs = TmpfsMount::new(dir.path());
        std::fs::create_dir(rootfs.0.join("run")).expect("mkdir run");
        std::fs::create_dir(rootfs.0.join("var")).expect("mkdir var");
        std::os::unix::fs::symlink("/run", rootfs.0.join("var/run")).expect("symlink var/run");

        let file = unique_name();
        let content = format!("inside the target's /run: {file}\n").into_bytes();
        let target = spawn_target(&rootfs.0, true, &file, &content);
        // The target really is elsewhere: its root is the rootfs, and our rootfs/run is empty
        // (the tmpfs holding the file exists only in the target's mount namespace).
        assert_eq!(
            procroot_testutil::identity(format!("/proc/{}/root/", target.pid())),
            procroot_testutil::identity(&rootfs.0),
            "the target's root is the rootfs"
        );
        assert!(!rootfs.0.join("run").join(&file).exists());

        check_wormhole(&target, &file, &content);
        drop(target);
    });
}

/// The host's own root, when its `/var/run` is a symlink to `/run` (as on most distributions):
/// the target only mounts a tmpfs on `/run` in its own mount namespace.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn wormhole_into_host_rootfs() {
    if std::fs::read_link("/var/run").ok().as_deref() != Some(Path::new("/run")) {
        eprintln!(
            "NOT APPLICABLE: this host's /var/run is not a symlink to /run; \
             wormhole_into_built_rootfs covers the case with a rootfs of its own"
        );
        return;
    }
    require_privilege("mounts in private mount namespaces");
    in_private_mount_ns(|| {
        let file = unique_name();
        let content = format!("inside the target's /run: {file}\n").into_bytes();
        let target = spawn_target(Path::new("/"), false, &file, &content);
        assert!(!Path::new("/run").join(&file).exists());
        check_wormhole(&target, &file, &content);
        drop(target);
    });
}
