//! Container rootfs hardening (`procroot_runtime::container`): the effects of masking and read-only
//! paths on a real rootfs with procfs and sysfs mounted in it, and the attacks of the runc
//! history (CVE-2025-31133, CVE-2019-19921/CVE-2023-27561, ancestor symlinks out of the root,
//! CVE-2019-16884/CVE-2025-52881, a swap race), plus procfs mounts of a child PID namespace.
//!
//! Every test mounts, so every test runs in a forked child in a private mount namespace
//! (`in_private_mount_ns`) after `require_privilege`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use procroot::testing::{disable, Feature};
use procroot::{Acquisition, ErrorKind, Procfs, Root};
use procroot_runtime::container::{
    self, bind_into, make_readonly, mask_paths, mount_procfs, mount_sysfs, HardenOptions, HidePid,
    ProcfsMountOptions,
};
use procroot_testutil::{
    in_private_mount_ns, is_null_device, mount_raw, require_privilege, write_errno, StopOnDrop,
    Target, Tree,
};
use rustix::io::Errno;

const PRIV: &str = "root: mounts in a private mount namespace";

/// One `/proc/self/mountinfo` line: the mount point and the whole line.
fn mountinfo() -> Vec<(PathBuf, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .map(|line| {
            let point = line.split(' ').nth(4).expect("mount point field");
            (PathBuf::from(unescape(point)), line.to_owned())
        })
        .collect()
}

fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The mount points in `after` that are not in `before`.
fn new_mount_points(before: &[(PathBuf, String)], after: &[(PathBuf, String)]) -> Vec<PathBuf> {
    let old: BTreeSet<&String> = before.iter().map(|(_, l)| l).collect();
    after
        .iter()
        .filter(|(_, l)| !old.contains(l))
        .map(|(p, _)| p.clone())
        .collect()
}

/// A rootfs with `dev/`, `etc/hostname`, and procfs and sysfs mounted at `proc` and `sys`.
fn rootfs_with_proc_and_sys() -> Tree {
    let tree = Tree::new("dir proc\ndir sys\ndir dev\nfile etc/hostname box\n");
    mount_raw(
        Some("proc"),
        tree.join("proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )
    .expect("mount proc");
    mount_raw(
        Some("sysfs"),
        tree.join("sys"),
        Some("sysfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )
    .expect("mount sysfs");
    tree
}

// --- effects ------------------------------------------------------------------------------------

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn defaults_mask_and_make_readonly_a_real_rootfs() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = rootfs_with_proc_and_sys();
        let root = Root::open(tree.path()).unwrap();
        let before = mountinfo();
        let report = container::harden(&root, &HardenOptions::defaults()).unwrap();
        assert!(report.is_ok(), "refused: {:?}", report.refused);
        assert!(report.fallback.is_empty());

        // /proc/kcore is the null device and reads empty (on a kernel without /proc/kcore,
        // /proc/keys stands in: it is masked the same way).
        let kcore = ["proc/kcore", "proc/keys"]
            .iter()
            .map(|p| tree.join(p))
            .find(|p| {
                report
                    .masked
                    .iter()
                    .any(|m| tree.path().join(m.strip_prefix("/").unwrap()) == *p)
            })
            .expect("kcore or keys masked");
        assert!(is_null_device(&kcore), "kcore is not 1:3");
        let mut buf = Vec::new();
        std::fs::File::open(&kcore)
            .unwrap()
            .read_to_end(&mut buf)
            .unwrap();
        assert!(buf.is_empty());
        // A write under /proc/sys fails with EROFS.
        assert_eq!(
            write_errno(&tree.join("proc/sys/kernel/hostname"), b"x"),
            Some(libc::EROFS)
        );
        // /proc/acpi, where the kernel has it, is an empty directory; otherwise it was skipped.
        let acpi = tree.join("proc/acpi");
        if report.masked.contains(&PathBuf::from("/proc/acpi")) {
            assert_eq!(std::fs::read_dir(&acpi).unwrap().count(), 0);
            assert_eq!(rustix::fs::statfs(&acpi).unwrap().f_type, libc::TMPFS_MAGIC);
        } else {
            assert!(!acpi.exists());
            assert!(report
                .skipped
                .iter()
                .any(|(p, _)| p == Path::new("/proc/acpi")));
        }
        // /sys/firmware is masked (a directory: the empty tmpfs).
        assert_eq!(
            std::fs::read_dir(tree.join("sys/firmware"))
                .unwrap()
                .count(),
            0
        );

        // Nothing else changed: every old mount is still there, unchanged, and every new one is
        // one of the reported paths inside the rootfs.
        let after = mountinfo();
        let old: BTreeSet<&String> = after.iter().map(|(_, l)| l).collect();
        for (_, line) in &before {
            assert!(old.contains(line), "changed or gone: {line}");
        }
        let reported: BTreeSet<PathBuf> = report
            .masked
            .iter()
            .chain(&report.readonly)
            .map(|p| tree.path().join(p.strip_prefix("/").unwrap()))
            .collect();
        let new: BTreeSet<PathBuf> = new_mount_points(&before, &after).into_iter().collect();
        assert_eq!(new, reported);
        // The read-only clone of /proc/sys kept nosuid,nodev,noexec.
        let line = &after
            .iter()
            .rev()
            .find(|(p, _)| p == &tree.join("proc/sys"))
            .unwrap()
            .1;
        let opts = line.split(' ').nth(5).unwrap();
        for want in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(
                opts.split(',').any(|o| o == want),
                "{want} missing in {opts}"
            );
        }
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn duplicates_once_and_missing_skipped() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir a\nfile f x\nsymlink alias /a\n");
        let root = Root::open(tree.path()).unwrap();
        let before = mountinfo();
        let report = mask_paths(&root, &["/a", "a/", "/alias", "/f", "/missing"]).unwrap();
        assert_eq!(
            report.masked,
            vec![PathBuf::from("/a"), PathBuf::from("/f")]
        );
        assert_eq!(report.skipped.len(), 3, "{:?}", report.skipped);
        assert_eq!(new_mount_points(&before, &mountinfo()).len(), 2);
        assert!(is_null_device(&tree.join("f")));
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn readonly_proc_mode_keeps_label_writes() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = rootfs_with_proc_and_sys();
        let root = Root::open(tree.path()).unwrap();
        let opts = HardenOptions {
            readonly_proc: true,
            ..HardenOptions::default()
        };
        let report = container::harden(&root, &opts).unwrap();
        assert!(report.is_ok(), "{:?}", report.refused);
        assert_eq!(
            report.readonly,
            vec![PathBuf::from("/proc"), PathBuf::from("/sys")]
        );
        // The container's /proc and /sys refuse writes, its attr files included.
        for file in [
            "proc/self/attr/exec",
            "proc/sys/kernel/hostname",
            "sys/kernel/profiling",
        ] {
            assert_eq!(
                write_errno(&tree.join(file), b"x"),
                Some(libc::EROFS),
                "{file}"
            );
        }
        // The label write goes through procroot's own instance and reaches the real attr/exec:
        // with no LSM loaded the kernel answers EINVAL (an LSM would take it), never EROFS.
        match container::set_exec_label("unconfined") {
            Ok(()) => {}
            Err(e) => assert_eq!(e.errno(), Errno::INVAL, "{e}"),
        }
    });
}

// --- attacks ------------------------------------------------------------------------------------

/// CVE-2025-31133: the rootfs's /dev/null is a symlink to `/proc/sys/kernel/core_pattern`. A
/// stand-in file plays core_pattern inside the rootfs (no procfs is mounted there), and the host's
/// real core_pattern is checked unchanged.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn cve_2025_31133_dev_null_symlink_is_never_the_mask_source() {
    require_privilege(PRIV);
    let host_core_pattern = std::fs::read("/proc/sys/kernel/core_pattern").unwrap();
    in_private_mount_ns(|| {
        let tree = Tree::new(
            "file proc/sys/kernel/core_pattern standin\nfile proc/kcore secret\ndir proc/acpi\n\
             symlink dev/null /proc/sys/kernel/core_pattern\n",
        );
        let root = Root::open(tree.path()).unwrap();
        let report = mask_paths(&root, &["/proc/kcore", "/proc/acpi"]).unwrap();
        assert!(report.is_ok(), "{:?}", report.refused);
        let kcore = tree.join("proc/kcore");
        assert!(
            is_null_device(&kcore),
            "the mask is not the host's null device"
        );
        // Writing to the masked file goes to the null device, not to the stand-in.
        std::fs::write(&kcore, b"|/tmp/evil").unwrap();
        assert_eq!(
            std::fs::read(tree.join("proc/sys/kernel/core_pattern")).unwrap(),
            b"standin"
        );
    });
    assert_eq!(
        std::fs::read("/proc/sys/kernel/core_pattern").unwrap(),
        host_core_pattern
    );
}

/// The host's /dev/null itself replaced (a test can do it in its own mount namespace): masking a
/// file refuses rather than use it.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_host_dev_null_that_is_not_1_3_is_refused() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("file f x\nfile fake y\n");
        mount_raw(
            Some(tree.join("fake").to_str().unwrap()),
            "/dev/null",
            None,
            libc::MS_BIND,
            None,
        )
        .expect("bind over /dev/null");
        let root = Root::open(tree.path()).unwrap();
        let err = mask_paths(&root, &["/f"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
        assert_eq!(std::fs::read(tree.join("f")).unwrap(), b"x");
    });
}

/// CVE-2019-19921 / CVE-2023-27561: the rootfs's `/proc` is a symlink (to another directory of
/// the root, and to the host), or a file. `mount_procfs` and `mount_sysfs` refuse, and nothing is
/// mounted.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mount_procfs_refuses_a_symlink_or_a_file() {
    require_privilege(PRIV);
    let host = Tree::new("dir target\n");
    let host_target = host.join("target");
    in_private_mount_ns(|| {
        let tree = Tree::new("dir elsewhere\nfile sysfile x\ndir d\n");
        tree.symlink("/elsewhere", "proc");
        tree.symlink(&host_target, "sys");
        tree.symlink("/elsewhere", "d/link");
        let root = Root::open(tree.path()).unwrap();
        let before = mountinfo();
        let opts = ProcfsMountOptions::default();
        for dest in ["/proc", "/sys", "/proc/", "/d/link/x"] {
            let err = mount_procfs(&root, Path::new(dest), &opts).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{dest}: {err}");
            assert_eq!(err.errno(), Errno::LOOP, "{dest}: {err}");
        }
        let err = mount_sysfs(&root, Path::new("/sys")).unwrap_err();
        assert_eq!(err.errno(), Errno::LOOP, "{err}");
        let err = mount_procfs(&root, Path::new("/sysfile"), &opts).unwrap_err();
        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::SafetyViolation, Errno::NOTDIR),
            "{err}"
        );
        assert_eq!(
            new_mount_points(&before, &mountinfo()),
            Vec::<PathBuf>::new()
        );
        // A real directory works.
        let report = mount_procfs(&root, Path::new("/elsewhere"), &opts).unwrap();
        assert_eq!(report.mounted, vec![PathBuf::from("/elsewhere")]);
        assert!(tree.join("elsewhere/self").exists());
    });
}

/// A masked or read-only path whose ancestor is a symlink out of the root (absolute, and via
/// `..`): nothing outside the root is mounted over.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn ancestor_symlink_out_of_the_root_never_mounts_outside() {
    require_privilege(PRIV);
    let host = Tree::new("dir acpi\nfile kcore k\ndir sys\n");
    let host_dir = host.path().to_path_buf();
    in_private_mount_ns(|| {
        let tree = Tree::new("dir other\n");
        tree.symlink(&host_dir, "proc");
        let depth = tree.path().components().count();
        tree.symlink(
            format!("{}{}", "../".repeat(depth + 2), host_dir.display()),
            "up",
        );
        let root = Root::open(tree.path()).unwrap();
        let before = mountinfo();
        let paths = ["/proc/acpi", "/proc/kcore", "/up/acpi", "/up/kcore"];
        let report = mask_paths(&root, &paths).unwrap();
        let ro = make_readonly(&root, &["/proc/sys", "/up/sys"]).unwrap();
        let new = new_mount_points(&before, &mountinfo());
        for point in &new {
            assert!(
                point.starts_with(tree.path()),
                "mounted outside the root: {} (report {report:?} {ro:?})",
                point.display()
            );
        }
        // Resolved inside the root, the links name nothing that exists: all skipped.
        assert!(
            report.masked.is_empty() && ro.readonly.is_empty(),
            "{report:?} {ro:?}"
        );
        assert_eq!(std::fs::read(host_dir.join("kcore")).unwrap(), b"k");
    });
}

/// CVE-2019-16884 / CVE-2025-52881: `attr/current` overmounted by another procfs file
/// (`self/sched`), with procroot forced onto the global `/proc` (no fsopen, no open_tree, so
/// that the overmount is visible to it): the label write refuses. And a fake procfs (a tmpfs
/// with an `attr/current` file) on `/proc`: refused too.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn label_writes_refuse_a_fake_or_overmounted_attr_current() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        disable(Feature::Fsopen);
        disable(Feature::OpenTree);
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        let pid = std::process::id();
        let current = format!("/proc/{pid}/task/{tid}/attr/current");
        let sched = format!("/proc/{pid}/task/{tid}/sched");
        match mount_raw(Some(&sched), &current, None, libc::MS_BIND, None) {
            Ok(()) => {
                let err = container::set_current_label("unconfined").unwrap_err();
                assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
                assert_eq!(err.errno(), Errno::XDEV, "{err}");
                rustix::mount::unmount(current.as_str(), rustix::mount::UnmountFlags::DETACH)
                    .unwrap();
            }
            // Linux 6.12+ refuses mounts on some /proc/<pid> entries: the attack is impossible.
            Err(e) => eprintln!("the kernel refused the overmount ({e}): attack impossible"),
        }
        let fake = Tree::new("file thread-self/attr/current x\nfile thread-self/attr/exec x\n");
        mount_raw(
            Some(fake.path().to_str().unwrap()),
            "/proc",
            None,
            libc::MS_BIND,
            None,
        )
        .expect("fake /proc");
        let err = container::set_exec_label("unconfined").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
        assert_eq!(
            std::fs::read(fake.join("thread-self/attr/exec")).unwrap(),
            b"x"
        );
    });
}

/// An attacker swaps a masked directory with a symlink to the host (`RENAME_EXCHANGE`) in a loop
/// while masking (and, in some rounds, `make_readonly` and `mount_procfs`) runs. Over 1,000
/// rounds no mount lands outside the root (checked in `/proc/self/mountinfo` after every round).
/// Bounded by a deadline.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn swap_race_never_mounts_outside_the_root() {
    require_privilege(PRIV);
    let host = Tree::new("dir victim\n");
    let victim = host.join("victim");
    in_private_mount_ns(|| {
        let tree = Tree::new("dir proc/acpi\n");
        tree.symlink(&victim, "proc/swap");
        let root = Root::open(tree.path()).unwrap();
        let stop = AtomicBool::new(false);
        let swaps = AtomicU64::new(0);
        let (acpi, swap) = (tree.join("proc/acpi"), tree.join("proc/swap"));
        let before = mountinfo();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut rounds = 0;
        let mut masked = 0;
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &acpi,
                        rustix::fs::CWD,
                        &swap,
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .is_ok()
                    {
                        swaps.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let _stop = StopOnDrop(&stop);
            while rounds < 1000 && Instant::now() < deadline {
                rounds += 1;
                // Mostly masks; every third round a read-only clone, every fifth a procfs mount
                // (refused: inside /proc, EPERM; and a symlink when it sees one, ELOOP).
                let report = if rounds % 5 == 0 {
                    let opts = ProcfsMountOptions::default();
                    match mount_procfs(&root, Path::new("/proc/acpi"), &opts) {
                        Ok(report) => report,
                        Err(e) => {
                            assert!(
                                matches!(
                                    e.errno(),
                                    Errno::LOOP | Errno::NOENT | Errno::NOTDIR | Errno::PERM
                                ),
                                "{e}"
                            );
                            container::Report::default()
                        }
                    }
                } else if rounds % 3 == 0 {
                    make_readonly(&root, &["/proc/acpi"]).unwrap()
                } else {
                    mask_paths(&root, &["/proc/acpi"]).unwrap()
                };
                masked += report.masked.len() + report.readonly.len() + report.mounted.len();
                // Every mount made must be inside the root. The cleanup unmounts by the name
                // mountinfo shows; under heavy load a name was seen not to be the mount point
                // any more by the time of umount2 (EINVAL, once in five full-suite runs), so the
                // check and the cleanup are repeated on a fresh mountinfo, a bounded number of
                // times.
                let mut attempts = 0;
                loop {
                    let new = new_mount_points(&before, &mountinfo());
                    for point in &new {
                        assert!(
                            point.starts_with(tree.path()),
                            "round {rounds}: mounted outside the root: {}",
                            point.display()
                        );
                    }
                    let mut left = 0;
                    for point in &new {
                        if rustix::mount::unmount(point, rustix::mount::UnmountFlags::DETACH)
                            .is_err()
                        {
                            left += 1;
                        }
                    }
                    if left == 0 {
                        break;
                    }
                    attempts += 1;
                    assert!(attempts < 100, "round {rounds}: cannot unmount {new:?}");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        assert!(rounds >= 100, "only {rounds} rounds before the deadline");
        assert!(
            swaps.load(Ordering::Relaxed) > 0,
            "the attacker never swapped"
        );
        assert!(masked > 0, "no round masked anything");
        assert!(std::fs::read_dir(&victim).is_ok());
    });
}

// --- pidns procfs ------------------------------------------------------------------------------

fn starttime(stat: &str) -> String {
    // Field 22, counted after the parenthesised command name.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(19).unwrap().to_owned()
}

/// Mounts a procfs of a child PID namespace with `pidns=` (6.18), or, with that option
/// disabled, with the helper forked into the namespace; and checks which of the two made it.
fn check_pidns_mount(disable_option: bool) {
    in_private_mount_ns(|| {
        if disable_option {
            disable(Feature::ProcPidnsOption);
        }
        let init = Target::spawn_pidns_init(|| {});
        let tree = Tree::new("dir proc\n");
        let root = Root::open(tree.path()).unwrap();
        let ns = std::fs::File::open(format!("/proc/{}/ns/pid", init.pid())).unwrap();
        use std::os::fd::AsFd;
        let opts = ProcfsMountOptions {
            pidns: Some(ns.as_fd()),
            subset_pid: true,
            hidepid: Some(HidePid::Off),
        };
        let report = mount_procfs(&root, Path::new("/proc"), &opts).unwrap();
        assert_eq!(report.mounted, vec![PathBuf::from("/proc")]);
        let pids: Vec<String> = std::fs::read_dir(tree.join("proc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        assert_eq!(pids, vec!["1".to_owned()], "the namespace's processes");
        let inside = std::fs::read_to_string(tree.join("proc/1/stat")).unwrap();
        let outside = std::fs::read_to_string(format!("{}/stat", init.proc_dir())).unwrap();
        assert_eq!(
            starttime(&inside),
            starttime(&outside),
            "PID 1 is the child's init"
        );
        // subset=pid: no global files.
        assert!(!tree.join("proc/sys").exists());

        // Which acquisition made it. The procfs layer's own choice:
        let want = if disable_option {
            Acquisition::PidnsHelper
        } else {
            Acquisition::PidnsOption
        };
        let procfs = Procfs::for_pidns(ns.as_fd()).unwrap();
        assert_eq!(procfs.acquisition(), want);
        // And the mount's, seen from outside: only the helper forks (into the namespace). With
        // every way to fork denied, `pidns=` still mounts, and the helper cannot.
        let again = Tree::new("dir proc\n");
        procroot_testutil::in_child(|| {
            let root = Root::open(again.path()).unwrap();
            let forks = [
                libc::SYS_clone,
                libc::SYS_clone3,
                libc::SYS_fork,
                libc::SYS_vfork,
            ];
            procroot_testutil::deny_syscalls(&forks, libc::EPERM);
            let result = mount_procfs(&root, Path::new("/proc"), &opts);
            if disable_option {
                let err = result.expect_err("the helper made a procfs without forking");
                assert_eq!(err.errno(), Errno::PERM, "{err}");
            } else {
                result.expect("pidns= needs no fork");
                assert!(again.join("proc/1/stat").exists());
            }
        });
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mount_procfs_of_a_child_pidns_with_the_option() {
    require_privilege(PRIV);
    check_pidns_mount(false);
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mount_procfs_of_a_child_pidns_with_the_helper() {
    require_privilege(PRIV);
    check_pidns_mount(true);
}

// --- bind mounts, fallback ---------------------------------------------------------------------

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn bind_into_creates_the_destination_and_refuses_symlinks() {
    require_privilege(PRIV);
    let host = Tree::new("file src.txt hello\ndir srcdir\nfile srcdir/a A\n");
    host.symlink(host.join("src.txt"), "link");
    in_private_mount_ns(|| {
        let tree = Tree::new("dir dev\n");
        tree.symlink("/etc/passwd", "dev/console");
        let root = Root::open(tree.path()).unwrap();
        bind_into(
            &root,
            &host.join("src.txt"),
            Path::new("/new/dir/file"),
            true,
        )
        .unwrap();
        assert_eq!(std::fs::read(tree.join("new/dir/file")).unwrap(), b"hello");
        assert_eq!(
            write_errno(&tree.join("new/dir/file"), b"x"),
            Some(libc::EROFS)
        );
        bind_into(&root, &host.join("srcdir"), Path::new("/mnt/d"), false).unwrap();
        assert_eq!(std::fs::read(tree.join("mnt/d/a")).unwrap(), b"A");
        // CVE-2025-52565: a symlink as the destination (never followed) or as the source.
        let err = bind_into(
            &root,
            &host.join("src.txt"),
            Path::new("/dev/console"),
            false,
        )
        .unwrap_err();
        assert_eq!(err.errno(), Errno::LOOP, "{err}");
        let err = bind_into(&root, &host.join("link"), Path::new("/x"), false).unwrap_err();
        assert_eq!(err.errno(), Errno::LOOP, "{err}");
    });
}

/// Without the new mount API (fsopen and open_tree disabled, as before Linux 5.2), masks and
/// read-only paths are made with mount(2) on `/proc/thread-self/fd/N` and reported as such.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn fallback_without_the_new_mount_api() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        disable(Feature::Fsopen);
        disable(Feature::OpenTree);
        let tree = rootfs_with_proc_and_sys();
        let root = Root::open(tree.path()).unwrap();
        let report = container::harden(&root, &HardenOptions::defaults()).unwrap();
        assert!(report.is_ok(), "{:?}", report.refused);
        assert!(!report.fallback.is_empty());
        assert_eq!(
            report.fallback.len(),
            report.masked.len() + report.readonly.len()
        );
        assert!(is_null_device(&tree.join("proc/keys")));
        assert_eq!(
            write_errno(&tree.join("proc/sys/kernel/hostname"), b"x"),
            Some(libc::EROFS)
        );
    });
}

// --- sysctl -------------------------------------------------------------------------------------

#[test]
fn sysctl_names() {
    use container::sysctl_subpath;
    assert_eq!(
        sysctl_subpath("kernel.hostname").unwrap(),
        Path::new("sys/kernel/hostname")
    );
    assert_eq!(
        sysctl_subpath("kernel/hostname").unwrap(),
        Path::new("sys/kernel/hostname")
    );
    assert_eq!(
        sysctl_subpath("net/ipv4/conf/eth0.100/forwarding").unwrap(),
        Path::new("sys/net/ipv4/conf/eth0.100/forwarding")
    );
    for bad in [
        "",
        "/kernel/hostname",
        "kernel..hostname",
        "kernel/../x",
        "..",
        "a\0b",
        "a/./b",
    ] {
        let err = sysctl_subpath(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
}

/// A sysctl written in another process's UTS namespace changes that namespace, not ours.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn sysctl_in_another_processs_namespaces() {
    require_privilege(PRIV);
    procroot_testutil::in_child(|| {
        let ours = container::read_sysctl("kernel.hostname").unwrap();
        let (mut r, mut w) = std::io::pipe().unwrap();
        let (release_r, release_w) = std::io::pipe().unwrap();
        // SAFETY: fork(2); the child unshares its UTS namespace, reports, and waits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            drop(r);
            drop(release_w);
            // SAFETY: unshare(2) of the UTS namespace takes a plain flag.
            unsafe { libc::unshare(libc::CLONE_NEWUTS) };
            let _ = w.write_all(b"r");
            drop(w);
            let mut b = [0u8; 1];
            let _ = (&release_r).read(&mut b);
            // SAFETY: _exit(2) ends this forked child without the harness's destructors.
            unsafe { libc::_exit(0) };
        }
        drop(w);
        drop(release_r);
        let mut b = [0u8; 1];
        r.read_exact(&mut b).unwrap();
        container::write_sysctl_in(pid as u32, "kernel/hostname", "inside").unwrap();
        assert_eq!(
            container::read_sysctl_in(pid as u32, "kernel.hostname").unwrap(),
            "inside"
        );
        assert_eq!(container::read_sysctl("kernel.hostname").unwrap(), ours);
        drop(release_w);
        // SAFETY: reaping our child.
        unsafe {
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    });
}

/// A file bind-mounted over a `/proc/sys` entry (procroot forced onto the global `/proc`, where
/// the overmount is visible): `write_sysctl` refuses (`EXDEV`) and the file under it and the
/// one mounted over it keep their contents.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn write_sysctl_refuses_an_overmounted_entry() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        disable(Feature::Fsopen);
        disable(Feature::OpenTree);
        // SAFETY: unshare(2) of this (forked) process's UTS namespace, so that the real write
        // below changes nothing of the host's.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUTS) }, 0);
        let decoy = Tree::new("file value decoy\n");
        let target = "/proc/sys/kernel/domainname";
        let before = std::fs::read_to_string(target).unwrap();
        mount_raw(
            Some(decoy.join("value").to_str().unwrap()),
            target,
            None,
            libc::MS_BIND,
            None,
        )
        .expect("bind over domainname");
        let err = container::write_sysctl("kernel.domainname", "evil").unwrap_err();
        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::SafetyViolation, Errno::XDEV),
            "{err}"
        );
        assert_eq!(std::fs::read(decoy.join("value")).unwrap(), b"decoy");
        rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).unwrap();
        assert_eq!(std::fs::read_to_string(target).unwrap(), before);
        // Without the overmount the same write goes through (in our own UTS namespace).
        container::write_sysctl("kernel.domainname", "inside").unwrap();
        assert_eq!(
            container::read_sysctl("kernel.domainname").unwrap(),
            "inside"
        );
    });
}

/// The new mount API refused by a seccomp filter with `ENOSYS` (what a pre-5.2 kernel answers):
/// the masks and read-only paths are made with `mount(2)` on `/proc/thread-self/fd/N` and
/// reported under `fallback`; the effects are the same.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn fallback_when_a_filter_refuses_the_new_mount_api() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = rootfs_with_proc_and_sys();
        procroot_testutil::deny_syscalls(
            &[
                libc::SYS_fsopen,
                libc::SYS_fsmount,
                libc::SYS_open_tree,
                libc::SYS_move_mount,
                libc::SYS_mount_setattr,
            ],
            libc::ENOSYS,
        );
        let root = Root::open(tree.path()).unwrap();
        let report = container::harden(&root, &HardenOptions::defaults()).unwrap();
        assert!(report.is_ok(), "{:?}", report.refused);
        assert_eq!(
            report.fallback.len(),
            report.masked.len() + report.readonly.len()
        );
        assert!(is_null_device(&tree.join("proc/keys")));
        assert_eq!(
            write_errno(&tree.join("proc/sys/kernel/hostname"), b"x"),
            Some(libc::EROFS)
        );
        assert_eq!(
            std::fs::read_dir(tree.join("sys/firmware"))
                .unwrap()
                .count(),
            0
        );
    });
}

/// As uid 1000 (no CAP_SYS_ADMIN) nothing can be mounted: every path is refused with the
/// kernel's EPERM, never reported as done.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn unprivileged_masking_is_refused_not_faked() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir d\nfile f x\n");
        std::fs::set_permissions(
            tree.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        procroot_testutil::become_user(1000);
        let root = Root::open(tree.path()).unwrap();
        let report = mask_paths(&root, &["/d", "/f"]).unwrap();
        assert!(report.masked.is_empty(), "{report:?}");
        assert_eq!(report.refused.len(), 2, "{report:?}");
        for (_, e) in &report.refused {
            assert_eq!(e.errno(), Errno::PERM, "{e}");
        }
        let report = make_readonly(&root, &["/d"]).unwrap();
        assert_eq!(report.refused.len(), 1, "{report:?}");
        let err = mount_procfs(&root, Path::new("/d"), &ProcfsMountOptions::default()).unwrap_err();
        assert_eq!(err.errno(), Errno::PERM, "{err}");
    });
}
