//! `container::harden`, `mask_paths` and `make_readonly` against the second review's attacks
//! (issue 18): a mask joining the host's `/dev` peer group, read-only paths without the new
//! mount API stopping at the top, handles opened before hardening, hard links skipped as "the
//! same file", trailing slashes, a failing `harden` hiding its mounts, `EMFILE` with many paths,
//! and the flags of file masks.
//!
//! Every test mounts, so every test runs in a forked child in a private mount namespace
//! (`in_private_mount_ns`) after `require_privilege`. A test's "host" is a stand-in it makes
//! inside that namespace. Where a case matters for both mount paths, it runs with the new mount
//! API and under "the ENOSYS filter" (`deny_syscalls` on the new mount API, as a kernel before
//! 5.2 answers).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use procroot::{ErrorKind, Root};
use procroot_runtime::container::{self, bind_into, make_readonly, mask_paths, HardenOptions};
use procroot_testutil::{
    deny_syscalls, in_child, in_private_mount_ns, is_null_device, mount_raw, require_privilege,
    write_errno, ForkedChild, Tree,
};
use rustix::io::Errno;

const PRIV: &str = "root: mounts in a private mount namespace";

/// The new mount API, refused as a kernel before 5.2 (or a filter) refuses it.
fn deny_new_mount_api() {
    deny_syscalls(
        &[
            libc::SYS_fsopen,
            libc::SYS_fsmount,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_mount_setattr,
        ],
        libc::ENOSYS,
    );
}

/// Both mount paths: the new API (`false`) and the ENOSYS filter (`true`).
const BOTH: [bool; 2] = [false, true];

/// `/proc/self/mountinfo` lines, whole.
fn mountinfo() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The per-mount options of the top mount at `point` (the last mountinfo line naming it).
fn mount_options(point: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = text
        .lines()
        .rfind(|l| l.split(' ').nth(4) == point.to_str())
        .unwrap_or_else(|| panic!("nothing mounted at {}", point.display()));
    line.split(' ')
        .nth(5)
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut buf)
        .unwrap();
    buf
}

/// The stand-in host's `/dev`: its own bind mount, shared (as systemd makes `/`).
fn share_dev() {
    mount_raw(
        Some("/dev"),
        "/dev",
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .unwrap();
    mount_raw(None, "/dev", None, libc::MS_SHARED, None).unwrap();
}

/// Runs `f` in a child in the runtime's mount namespace: a copy of this one with propagation
/// unchanged (`unshare -m --propagation unchanged`), so its shared mounts are peers of ours;
/// under the ENOSYS filter with `legacy`.
fn in_runtime_ns(legacy: bool, f: impl FnOnce()) {
    in_child(|| {
        // SAFETY: unshare(2) of this (forked) process's mount namespace.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNS) }, 0);
        if legacy {
            deny_new_mount_api();
        }
        f()
    })
}

// --- item 2: propagation ------------------------------------------------------------------------

/// The stand-in host's `/dev` is shared (as systemd makes `/`), and the runtime's mount
/// namespace is a copy with propagation unchanged, so its `/dev` is a peer of the host's. A
/// file mask is a clone of `/dev/null`'s mount: were it a peer too, a bind mounted over the
/// mask inside the root would appear on the host's `/dev/null`. It must stay `c 1 3`, empty.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_file_mask_never_joins_the_hosts_dev_peer_group() {
    require_privilege(PRIV);
    for legacy in BOTH {
        in_private_mount_ns(|| {
            share_dev();
            let tree = Tree::new("file f secret\nfile marker MARKER\n");
            in_runtime_ns(legacy, || {
                let root = Root::open(tree.path()).unwrap();
                let report = mask_paths(&root, &["/f"]).unwrap();
                assert_eq!(report.masked, [PathBuf::from("/f")], "{report:?}");
                assert_eq!(report.fallback.len(), usize::from(legacy), "{report:?}");
                // The attacker's bind over the mask, in the runtime's namespace.
                mount_raw(
                    Some(tree.join("marker").to_str().unwrap()),
                    tree.join("f"),
                    None,
                    libc::MS_BIND,
                    None,
                )
                .unwrap();
                assert_eq!(read(&tree.join("f")), b"MARKER");
            });
            assert!(is_null_device(Path::new("/dev/null")), "legacy={legacy}");
            assert!(read(Path::new("/dev/null")).is_empty(), "legacy={legacy}");
        });
    }
}

/// The same for `bind_into` from a shared source: a mount made inside the root on top of the
/// bind never appears in the stand-in host's source directory.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn bind_into_from_a_shared_source_never_propagates_back() {
    require_privilege(PRIV);
    for legacy in BOTH {
        in_private_mount_ns(|| {
            let host = Tree::new("file vol/sub/file host\n");
            let vol = host.join("vol");
            mount_raw(Some(vol.to_str().unwrap()), &vol, None, libc::MS_BIND, None).unwrap();
            mount_raw(None, &vol, None, libc::MS_SHARED, None).unwrap();
            let tree = Tree::new("dir app\n");
            in_runtime_ns(legacy, || {
                let root = Root::open(tree.path()).unwrap();
                let report = bind_into(&root, &vol, Path::new("/app/vol"), false).unwrap();
                assert_eq!(report.fallback.len(), usize::from(legacy), "{report:?}");
                // Inside the root, a tmpfs over the bind's `sub`.
                mount_raw(
                    Some("tmpfs"),
                    tree.join("app/vol/sub"),
                    Some("tmpfs"),
                    0,
                    None,
                )
                .unwrap();
                assert!(!tree.join("app/vol/sub/file").exists());
            });
            assert_eq!(
                read(&vol.join("sub/file")),
                b"host",
                "legacy={legacy}: the host's volume was covered"
            );
        });
    }
}

// --- item 5: recursive read-only without the new mount API --------------------------------------

/// A rootfs with procfs and sysfs, writable tmpfs at `proc/sys/fs/binfmt_misc` and
/// `sys/fs/cgroup`, and a third tmpfs two levels down (`sys/fs/cgroup/a/b`, on the second),
/// `nosuid,nodev,noexec,noatime,nosymfollow`.
fn rootfs_with_submounts() -> Tree {
    let tree = Tree::new("dir proc\ndir sys\n");
    let nsx = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount_raw(Some("proc"), tree.join("proc"), Some("proc"), nsx, None).unwrap();
    mount_raw(Some("sysfs"), tree.join("sys"), Some("sysfs"), nsx, None).unwrap();
    let binfmt = tree.join("proc/sys/fs/binfmt_misc");
    mount_raw(Some("tmpfs"), &binfmt, Some("tmpfs"), 0, None).unwrap();
    let cgroup = tree.join("sys/fs/cgroup");
    mount_raw(Some("tmpfs"), &cgroup, Some("tmpfs"), 0, None).unwrap();
    std::fs::create_dir_all(cgroup.join("a/b")).unwrap();
    mount_raw(
        Some("tmpfs"),
        cgroup.join("a/b"),
        Some("tmpfs"),
        nsx | libc::MS_NOATIME | libc::MS_NOSYMFOLLOW,
        None,
    )
    .unwrap();
    tree
}

/// Issue 18 item 5: under the ENOSYS filter, `--readonly /proc/sys --readonly-proc` makes every
/// mount of each subtree read-only, not only its top: writes into the tmpfs below give
/// `EROFS`, and each keeps its own `nosuid`, `nodev`, `noexec`, `nosymfollow` and atime flags.
/// With the new API too.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn readonly_covers_every_submount_on_both_paths() {
    require_privilege(PRIV);
    for legacy in BOTH {
        in_private_mount_ns(|| {
            let tree = rootfs_with_submounts();
            if legacy {
                deny_new_mount_api();
            }
            let root = Root::open(tree.path()).unwrap();
            let opts = HardenOptions {
                readonly: vec![PathBuf::from("/proc/sys")],
                readonly_proc: true,
                ..HardenOptions::default()
            };
            let report = container::harden(&root, &opts).unwrap();
            assert!(report.is_ok(), "legacy={legacy}: {report:?}");
            // `/proc` and `/sys` first, then the read-only paths inside them.
            assert_eq!(
                report.readonly,
                [
                    PathBuf::from("/proc"),
                    PathBuf::from("/sys"),
                    PathBuf::from("/proc/sys")
                ],
                "{report:?}"
            );
            assert_eq!(report.fallback.len(), if legacy { 3 } else { 0 });
            for file in [
                "proc/sys/fs/binfmt_misc/x",
                "sys/fs/cgroup/x",
                "sys/fs/cgroup/a/b/x",
                "sys/kernel/profiling",
            ] {
                assert_eq!(
                    write_errno(&tree.join(file), b"x"),
                    Some(libc::EROFS),
                    "legacy={legacy}: {file}"
                );
            }
            let deep = mount_options(&tree.join("sys/fs/cgroup/a/b"));
            for want in ["ro", "nosuid", "nodev", "noexec", "noatime", "nosymfollow"] {
                assert!(
                    deep.iter().any(|o| o == want),
                    "legacy={legacy}: {want} missing in {deep:?}"
                );
            }
            let cgroup = mount_options(&tree.join("sys/fs/cgroup"));
            assert!(
                cgroup.iter().any(|o| o == "ro") && !cgroup.iter().any(|o| o == "nosuid"),
                "legacy={legacy}: {cgroup:?}"
            );
        });
    }
}

/// Without the new mount API, a submount that cannot be reached by its mount point (hidden
/// under a second mount on the same place) cannot be made read-only: the path is refused, and
/// the mounts made for it are detached again.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn fallback_readonly_refuses_and_undoes_when_a_submount_is_hidden() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir d/sub\n");
        mount_raw(Some("tmpfs"), tree.join("d/sub"), Some("tmpfs"), 0, None).unwrap();
        mount_raw(Some("tmpfs"), tree.join("d/sub"), Some("tmpfs"), 0, None).unwrap();
        deny_new_mount_api();
        let root = Root::open(tree.path()).unwrap();
        let before = mountinfo();
        let report = make_readonly(&root, &["/d"]).unwrap();
        assert!(report.readonly.is_empty(), "{report:?}");
        assert_eq!(report.refused.len(), 1, "{report:?}");
        assert_eq!(report.refused[0].1.kind(), ErrorKind::SafetyViolation);
        assert_eq!(mountinfo(), before, "a mount was left behind");
    });
}

// --- item 6: handles opened before harden -------------------------------------------------------

/// Issue 18 item 6: a process whose working directory is `R/proc/sys/kernel` and which holds
/// `R/sys/firmware` open keeps the unhardened view; `harden` reports both handles
/// (`preexisting`) and is not ok. A process whose cwd is elsewhere in the root is not reported.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn handles_opened_before_harden_are_reported() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir proc\ndir sys\ndir etc\n");
        let nsx = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        mount_raw(Some("proc"), tree.join("proc"), Some("proc"), nsx, None).unwrap();
        mount_raw(Some("sysfs"), tree.join("sys"), Some("sysfs"), nsx, None).unwrap();
        let (mut ready_r, ready_w) = std::io::pipe().unwrap();
        let (kernel, firmware) = (tree.join("proc/sys/kernel"), tree.join("sys/firmware"));
        let p = ForkedChild::spawn(move || {
            std::env::set_current_dir(&kernel).unwrap();
            let fd = std::fs::File::open(&firmware).unwrap();
            let mut w = ready_w;
            w.write_all(&fd.as_raw_fd().to_ne_bytes()).unwrap();
            drop(w);
            loop {
                std::thread::park();
            }
        });
        let etc = tree.join("etc");
        let (mut other_r, other_w) = std::io::pipe().unwrap();
        let bystander = ForkedChild::spawn(move || {
            std::env::set_current_dir(&etc).unwrap();
            let mut w = other_w;
            w.write_all(b"r").unwrap();
            drop(w);
            loop {
                std::thread::park();
            }
        });
        let mut buf = [0u8; 4];
        ready_r.read_exact(&mut buf).unwrap();
        let fd = i32::from_ne_bytes(buf);
        other_r.read_exact(&mut [0u8; 1]).unwrap();

        let root = Root::open(tree.path()).unwrap();
        let report = container::harden(&root, &HardenOptions::defaults()).unwrap();
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        assert!(!report.is_ok());
        let pid = p.pid() as u32;
        let mut found: Vec<(String, PathBuf)> = report
            .preexisting
            .iter()
            .filter(|h| h.pid == pid)
            .map(|h| (h.handle.clone(), h.path.clone()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("cwd".to_owned(), PathBuf::from("/proc/sys")),
                (format!("fd {fd}"), PathBuf::from("/sys/firmware")),
            ],
            "{:?}",
            report.preexisting
        );
        let other = bystander.pid() as u32;
        assert!(
            !report.preexisting.iter().any(|h| h.pid == other),
            "{:?}",
            report.preexisting
        );
        drop(p);
        drop(bystander);
    });
}

// --- item 7: hard links -------------------------------------------------------------------------

/// Issue 18 item 7: `etc/alias` is a hard link of `etc/secret`. Masking both covers both (a
/// mount covers a name, not an inode); so does making both read-only. A symlink to the secret
/// reaches the same dentry and is applied once.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn hard_links_are_covered_each_and_symlinks_once() {
    require_privilege(PRIV);
    for legacy in BOTH {
        in_private_mount_ns(|| {
            let tree = Tree::new("file etc/secret TOPSECRET\n");
            std::fs::hard_link(tree.join("etc/secret"), tree.join("etc/alias")).unwrap();
            tree.symlink("/etc/secret", "etc/link");
            if legacy {
                deny_new_mount_api();
            }
            let root = Root::open(tree.path()).unwrap();
            let report = mask_paths(&root, &["/etc/secret", "/etc/alias", "/etc/link"]).unwrap();
            assert_eq!(
                report.masked,
                [PathBuf::from("/etc/secret"), PathBuf::from("/etc/alias")],
                "legacy={legacy}: {report:?}"
            );
            assert_eq!(report.skipped.len(), 1, "{report:?}");
            assert!(report.skipped[0].1.starts_with("duplicate"), "{report:?}");
            for name in ["etc/secret", "etc/alias"] {
                assert!(read(&tree.join(name)).is_empty(), "legacy={legacy}: {name}");
            }

            let tree = Tree::new("file etc/secret TOPSECRET\n");
            std::fs::hard_link(tree.join("etc/secret"), tree.join("etc/alias")).unwrap();
            tree.symlink("/etc/secret", "etc/link");
            let root = Root::open(tree.path()).unwrap();
            let report = make_readonly(&root, &["/etc/secret", "/etc/alias", "/etc/link"]).unwrap();
            assert_eq!(report.readonly.len(), 2, "legacy={legacy}: {report:?}");
            assert_eq!(report.skipped.len(), 1, "{report:?}");
            for name in ["etc/secret", "etc/alias"] {
                assert_eq!(
                    write_errno(&tree.join(name), b"x"),
                    Some(libc::EROFS),
                    "legacy={legacy}: {name}"
                );
            }
        });
    }
}

// --- item 10: trailing slashes ------------------------------------------------------------------

/// Issue 18 item 10: `/proc/timer_list/` and `/proc/keys/.` name files: refused (`ENOTDIR`),
/// never skipped as missing; `/proc/kcore/x` (under a file) is still skipped; a directory with
/// a trailing slash is masked.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_trailing_slash_on_a_file_is_refused() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir proc/acpi\n");
        mount_raw(Some("proc"), tree.join("proc"), Some("proc"), 0, None).unwrap();
        let root = Root::open(tree.path()).unwrap();
        let before = mountinfo();
        let paths = ["/proc/timer_list/", "/proc/keys/.", "/proc/timer_list/x"];
        let report = mask_paths(&root, &paths).unwrap();
        let refused: Vec<&Path> = report.refused.iter().map(|(p, _)| p.as_path()).collect();
        assert_eq!(
            refused,
            paths[..2].iter().map(Path::new).collect::<Vec<_>>()
        );
        for (_, e) in &report.refused {
            assert_eq!(e.errno(), Errno::NOTDIR, "{e}");
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        }
        assert_eq!(report.skipped.len(), 1, "{report:?}");
        assert_eq!(report.skipped[0].0, PathBuf::from("/proc/timer_list/x"));
        assert_eq!(mountinfo(), before);
        let report = make_readonly(&root, &["/proc/sys/"]).unwrap();
        assert_eq!(report.readonly, [PathBuf::from("/proc/sys/")]);
    });
}

// --- item 12: no hidden mounts, no fd per path --------------------------------------------------

/// Issue 18 item 12 (a): the host's `/dev/null` replaced by `/dev/zero`. `harden --defaults`
/// fails before any mount: mountinfo is the same before and after (the directory masks listed
/// before the first file mask are not made either).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_bad_dev_null_stops_harden_before_any_mount() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir proc\ndir sys\n");
        mount_raw(Some("proc"), tree.join("proc"), Some("proc"), 0, None).unwrap();
        mount_raw(Some("sysfs"), tree.join("sys"), Some("sysfs"), 0, None).unwrap();
        mount_raw(Some("/dev/zero"), "/dev/null", None, libc::MS_BIND, None).unwrap();
        let root = Root::open(tree.path()).unwrap();
        let before = mountinfo();
        let err = container::harden(&root, &HardenOptions::defaults()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
        assert_eq!(mountinfo(), before, "a mount was made and not reported");
    });
}

/// Issue 18 item 12 (b): 300 and 5,000 files masked under `RLIMIT_NOFILE` 128: every one is
/// masked (no fd is held per path). 300 also under the ENOSYS filter.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn thousands_of_paths_under_a_low_fd_limit() {
    require_privilege(PRIV);
    for (n, legacy) in [(300, false), (5000, false), (300, true)] {
        in_private_mount_ns(|| {
            let tree = Tree::new("dir m\n");
            let paths: Vec<PathBuf> = (0..n).map(|i| PathBuf::from(format!("/m/{i}"))).collect();
            for p in &paths {
                std::fs::write(tree.join(p.strip_prefix("/").unwrap()), b"x").unwrap();
            }
            let limit = rustix::process::Rlimit {
                current: Some(128),
                maximum: Some(128),
            };
            rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
            if legacy {
                deny_new_mount_api();
            }
            let root = Root::open(tree.path()).unwrap();
            let report = mask_paths(&root, &paths).unwrap();
            assert!(
                report.is_ok(),
                "n={n} legacy={legacy}: {:?}",
                report.refused.first()
            );
            assert_eq!(report.masked.len(), n, "n={n} legacy={legacy}");
            assert!(read(&tree.join("m/0")).is_empty());
            assert!(read(&tree.join(format!("m/{}", n - 1))).is_empty());
        });
    }
}

// --- item 14: file mask flags -------------------------------------------------------------------

/// Issue 18 item 14: a file mask is `ro,nosuid,noexec` (not `nodev`, or opening it would fail
/// with `EACCES`) and reads 0 bytes, on both mount paths.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_file_mask_is_nosuid_noexec_and_reads_empty() {
    require_privilege(PRIV);
    for legacy in BOTH {
        in_private_mount_ns(|| {
            let tree = Tree::new("file f secret\n");
            if legacy {
                deny_new_mount_api();
            }
            let root = Root::open(tree.path()).unwrap();
            let report = mask_paths(&root, &["/f"]).unwrap();
            assert!(report.is_ok(), "{report:?}");
            let opts = mount_options(&tree.join("f"));
            for want in ["ro", "nosuid", "noexec"] {
                assert!(
                    opts.iter().any(|o| o == want),
                    "legacy={legacy}: {want} missing in {opts:?}"
                );
            }
            assert!(!opts.iter().any(|o| o == "nodev"), "{opts:?}");
            assert!(read(&tree.join("f")).is_empty());
        });
    }
}

// --- item 2 under a race ------------------------------------------------------------------------

/// The lines of `after` whose mount id is not in `before`: the mounts made since. By id, not by
/// the whole line: a rename inside the root changes the mount point text of a mount that was
/// there before (and the id of a mount that is still there is not reused).
fn new_lines(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<String> {
    let id = |line: &String| line.split(' ').next().unwrap().to_owned();
    let old: BTreeSet<String> = before.iter().map(id).collect();
    after
        .iter()
        .filter(|line| !old.contains(&id(line)))
        .cloned()
        .collect()
}

/// Whether a mountinfo line's optional fields put the mount in a peer group.
fn is_shared(line: &str) -> bool {
    let fields = line.split(" - ").next().unwrap();
    fields.split(' ').skip(6).any(|f| f.starts_with("shared:"))
}

/// Item 2 while an attacker inside the root exchanges the masked path's parent with a symlink to
/// an already-masked sibling, on both mount paths, with the stand-in host's `/dev` shared and
/// the runtime's namespace a peer copy: after every round, no mount made is in a peer group
/// (the fallback finds its new mount by id, so a rename cannot make it privatize another one).
/// Bounded rounds and a deadline.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn masks_stay_private_while_the_parent_is_swapped() {
    masks_stay_private_while_the_parent_is_swapped_on(false);
}

/// The same on the fallback's path (`mount(2)` under the ENOSYS filter). The fallback reaches its
/// new mount again from the target's held parent directory, by name, and identifies it by mount
/// id; it used to re-open the mount point mountinfo printed, which the exchange kept moving, and
/// then left the `/dev/null` mask `rw` and in `/dev`'s peer group (`shared:1`) in about one run
/// in four, with only a line in `Report::refused`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn masks_stay_private_while_the_parent_is_swapped_fallback() {
    masks_stay_private_while_the_parent_is_swapped_on(true);
}

fn masks_stay_private_while_the_parent_is_swapped_on(legacy: bool) {
    race_while_the_parent_is_swapped(
        legacy,
        &SwapRace {
            spec: "file a/f A\nfile d/f D\n",
            prepare: |_| {},
            first: |root| assert_eq!(mask_paths(root, &["/a/f"]).unwrap().masked.len(), 1),
            apply: |root| mask_paths(root, &["/d/f"]).unwrap(),
            most_lines: 1,
        },
    );
}

/// Without the new mount API the root directory itself cannot be covered: the fallback reaches
/// its new mount again from the target's parent directory, and the root has none inside the
/// root. Masking or making `/` read-only is refused up front (`NotSupported`), nothing mounted.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_fallback_refuses_the_root_itself() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir x\n");
        in_runtime_ns(true, || {
            let root = Root::open(tree.path()).unwrap();
            let before = mountinfo();
            for report in [
                mask_paths(&root, &["/"]).unwrap(),
                make_readonly(&root, &["/"]).unwrap(),
            ] {
                assert_eq!(report.refused.len(), 1, "{report:?}");
                let err = &report.refused[0].1;
                assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
                assert!(err.to_string().contains("root directory itself"), "{err}");
            }
            assert_eq!(mountinfo(), before);
        });
    });
}

/// Item 5 under the same race: `/d/r` (a directory with a writable tmpfs at `sub`) is made
/// read-only while `d` is exchanged with a symlink to `/a` (whose `r` has no submount), on both
/// mount paths. The fallback reaches the recursive bind from the held parent and finds its
/// submount by id; every mount made is read-only and private, or the path is refused with
/// nothing mounted. Bounded rounds and a deadline.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn readonly_subtrees_stay_readonly_while_the_parent_is_swapped() {
    for legacy in BOTH {
        race_while_the_parent_is_swapped(
            legacy,
            &SwapRace {
                spec: "dir a/r\ndir d/r/sub\n",
                prepare: |tree| {
                    mount_raw(Some("tmpfs"), tree.join("d/r/sub"), Some("tmpfs"), 0, None).unwrap()
                },
                first: |_| {},
                apply: |root| make_readonly(root, &["/d/r"]).unwrap(),
                most_lines: 2,
            },
        );
    }
}

/// A race of [`race_while_the_parent_is_swapped`].
struct SwapRace {
    /// The tree ([`Tree::new`]); a symlink `e` to `/a` is added.
    spec: &'static str,
    /// Runs in the stand-in host's mount namespace, before the runtime's is made.
    prepare: fn(&Tree),
    /// Runs once in the runtime's, before the race; what it mounts stays.
    first: fn(&Root),
    /// One round, while `d` and `e` are exchanged.
    apply: fn(&Root) -> container::Report,
    /// The most mounts one round makes: some round must make that many (the race reached the
    /// interesting case).
    most_lines: usize,
}

/// Runs `race` with the stand-in host's `/dev` shared and the runtime's namespace a peer copy,
/// under the ENOSYS filter with `legacy`, while a thread exchanges `d` with the symlink `e`.
/// After every round, each mount made is private and read-only, and a round that did nothing
/// (refused) made no mount; then everything made is undone for the next round.
fn race_while_the_parent_is_swapped(legacy: bool, race: &SwapRace) {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        share_dev();
        let tree = Tree::new(race.spec);
        tree.symlink("/a", "e");
        (race.prepare)(&tree);
        in_runtime_ns(legacy, || {
            let root = Root::open(tree.path()).unwrap();
            (race.first)(&root);
            let before = mountinfo();
            let (d, e) = (tree.join("d"), tree.join("e"));
            let rounds = procroot_testutil::race_rounds(150, 2000);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let (mut done, mut refused, mut most) = (0, 0, 0);
            let ((), swaps) = procroot_testutil::with_racing_thread(
                || procroot_testutil::racer::exchange(&d, &e).is_ok(),
                || {
                    for round in 0..rounds {
                        if std::time::Instant::now() > deadline {
                            break;
                        }
                        let start = mountinfo();
                        let report = (race.apply)(&root);
                        let did = report.masked.len() + report.readonly.len();
                        done += did;
                        refused += report.refused.len();
                        for (_, e) in &report.refused {
                            eprintln!("legacy={legacy} round {round}: refused: {e}");
                        }
                        let new = new_lines(&start, &mountinfo());
                        most = most.max(new.len());
                        // A round covers the path (private, read-only mounts) or refuses it
                        // having mounted nothing: never a mount left as mount(2) made it.
                        for line in &new {
                            assert!(!is_shared(line), "legacy={legacy} round {round}: {line}");
                            assert!(
                                line.split(' ')
                                    .nth(5)
                                    .unwrap()
                                    .split(',')
                                    .any(|o| o == "ro"),
                                "legacy={legacy} round {round}: not read-only: {line}; made \
                                 {new:#?}; report {report:?}; before the round {start:#?}"
                            );
                        }
                        if did == 0 {
                            assert!(
                                new.is_empty(),
                                "legacy={legacy} round {round}: refused ({:?}), yet mounted: \
                                 {new:?}",
                                report.refused
                            );
                        }
                        // Undone for the next round by the mount point text, which the
                        // exchange keeps changing (`d` may lead through the symlink): until
                        // nothing made since `before` is left.
                        for attempt in 0.. {
                            let left = new_lines(&before, &mountinfo());
                            if left.is_empty() {
                                break;
                            }
                            assert!(attempt < 100_000, "round {round}: left {left:?}");
                            for line in left.iter().rev() {
                                let point = line.split(' ').nth(4).unwrap();
                                let _ = rustix::mount::unmount(
                                    point,
                                    rustix::mount::UnmountFlags::DETACH,
                                );
                            }
                        }
                    }
                },
            );
            eprintln!("legacy={legacy}: {done} done, {refused} refused, {swaps} swaps");
            assert!(done > 0, "legacy={legacy}: no round did anything");
            assert!(swaps > 0, "legacy={legacy}: the attacker never swapped");
            assert_eq!(
                most, race.most_lines,
                "legacy={legacy}: no round made {} mounts",
                race.most_lines
            );
        });
    });
}
