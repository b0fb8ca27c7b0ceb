//! Container hardening benchmarks: applying runc's default masked and read-only paths to a
//! rootfs (with procfs and sysfs mounted in it), and mounting procfs into it, with procroot's
//! fd-based sequence (resolve to an `O_PATH` fd, `fsmount`/`open_tree`, `move_mount`) against the
//! path-based `mount(2)` sequence runc used (stat the path, then `mount` on the string; read-only
//! as bind + remount), side by side in one run. Only the applying is timed; the unmounting after
//! each iteration is not.
//!
//! The paths are those of `harden --defaults` (Docker's masked list, runc's read-only list), the
//! same on both sides; each side skips the ones missing on this kernel. After the criterion
//! groups, a paired run (interleaved batches, see `procroot_testutil::paired`) prints the ratios
//! that `BENCHMARKS.md` records, including `container::harden` as a whole (the mounts plus its
//! scan for processes with a handle below a covered path).
//!
//! Run (root): `cargo bench -p procroot-runtime --bench container`. The benchmark process enters a
//! private mount namespace first, so nothing it mounts is visible to the host.

use std::ffi::CString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use procroot::Root;
use procroot_runtime::container::{
    self, HardenOptions, ProcfsMountOptions, DOCKER_MASKED_PATHS, RUNC_READONLY_PATHS,
};
use procroot_testutil::{enter_private_mount_ns, mount_raw};

fn detach(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: umount2(2) with a NUL-terminated path.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    assert_eq!(
        rc,
        0,
        "umount {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn under(rootfs: &Path, p: &Path) -> PathBuf {
    rootfs.join(p.strip_prefix("/").unwrap_or(p))
}

/// procroot: `mask_paths` + `make_readonly` of the `--defaults` lists (the mounts `harden`
/// makes); returns the mount points made, for the cleanup.
fn procroot_defaults(root: &Root, rootfs: &Path) -> Vec<PathBuf> {
    let mut report = container::mask_paths(root, DOCKER_MASKED_PATHS).unwrap();
    report.extend(container::make_readonly(root, RUNC_READONLY_PATHS).unwrap());
    assert!(report.is_ok(), "{:?}", report.refused);
    made(&report, rootfs)
}

/// `container::harden(--defaults)`: the same mounts, plus the scan for processes with a handle
/// below a covered path.
fn procroot_harden(root: &Root, rootfs: &Path) -> Vec<PathBuf> {
    let report = container::harden(root, &HardenOptions::defaults()).unwrap();
    assert!(
        report.is_ok(),
        "{:?} {:?}",
        report.refused,
        report.preexisting
    );
    made(&report, rootfs)
}

fn made(report: &container::Report, rootfs: &Path) -> Vec<PathBuf> {
    report
        .masked
        .iter()
        .chain(&report.readonly)
        .map(|p| under(rootfs, p))
        .collect()
}

/// runc's path-based sequence (before its fd-based fixes), on the same paths.
fn path_defaults(rootfs: &Path) -> Vec<PathBuf> {
    let mut done = Vec::new();
    for p in DOCKER_MASKED_PATHS {
        let path = under(rootfs, Path::new(p));
        let Ok(md) = std::fs::metadata(&path) else {
            continue;
        };
        if md.is_dir() {
            mount_raw(Some("tmpfs"), &path, Some("tmpfs"), libc::MS_RDONLY, None).unwrap();
        } else {
            mount_raw(Some("/dev/null"), &path, None, libc::MS_BIND, None).unwrap();
        }
        done.push(path);
    }
    for p in RUNC_READONLY_PATHS {
        let path = under(rootfs, Path::new(p));
        if std::fs::metadata(&path).is_err() {
            continue;
        }
        let s = path.to_str().unwrap();
        mount_raw(Some(s), &path, None, libc::MS_BIND | libc::MS_REC, None).unwrap();
        let st = rustix::fs::statvfs(&path).unwrap();
        let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC;
        for (bit, flag) in [
            (rustix::fs::StatVfsMountFlags::NOSUID, libc::MS_NOSUID),
            (rustix::fs::StatVfsMountFlags::NODEV, libc::MS_NODEV),
            (rustix::fs::StatVfsMountFlags::NOEXEC, libc::MS_NOEXEC),
        ] {
            if st.f_flag.contains(bit) {
                flags |= flag;
            }
        }
        mount_raw(None, &path, None, flags, None).unwrap();
        done.push(path);
    }
    done
}

fn timed(iters: u64, mut apply: impl FnMut() -> Vec<PathBuf>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let made = black_box(apply());
        total += start.elapsed();
        for p in made.iter().rev() {
            detach(p);
        }
    }
    total
}

fn benches(c: &mut Criterion) {
    if !procroot_testutil::is_privileged() {
        eprintln!("SKIPPED: the container benchmarks need root (mounts)");
        return;
    }
    enter_private_mount_ns();
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().to_path_buf();
    for d in ["proc", "sys", "proc2"] {
        std::fs::create_dir(rootfs.join(d)).unwrap();
    }
    let nsx = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount_raw(Some("proc"), rootfs.join("proc"), Some("proc"), nsx, None).unwrap();
    mount_raw(Some("sysfs"), rootfs.join("sys"), Some("sysfs"), nsx, None).unwrap();
    let root = Root::open(&rootfs).unwrap();
    let n = procroot_defaults(&root, &rootfs);
    for p in n.iter().rev() {
        detach(p);
    }
    let p = path_defaults(&rootfs);
    for q in p.iter().rev() {
        detach(q);
    }
    assert_eq!(p, n, "both sides must mount the same paths");
    eprintln!("--defaults on this kernel: {} paths mounted", n.len());

    let mut group = c.benchmark_group("container_runc_defaults");
    group.bench_function("procroot_fd_based", |b| {
        b.iter_custom(|iters| timed(iters, || procroot_defaults(&root, &rootfs)))
    });
    group.bench_function("path_mount2", |b| {
        b.iter_custom(|iters| timed(iters, || path_defaults(&rootfs)))
    });
    group.finish();

    let proc2 = rootfs.join("proc2");
    let mut group = c.benchmark_group("container_mount_procfs");
    group.bench_function("procroot_fd_based", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                container::mount_procfs(&root, Path::new("/proc2"), &ProcfsMountOptions::default())
                    .unwrap();
                vec![proc2.clone()]
            })
        })
    });
    group.bench_function("path_mount2", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                mount_raw(Some("proc"), &proc2, Some("proc"), nsx, None).unwrap();
                vec![proc2.clone()]
            })
        })
    });
    group.finish();
    paired(&root, &rootfs, n.len());
}

/// The target's ratio, paired: 60 rounds, each timing a batch of 10 applications per column
/// (interleaved, order alternating), ratios taken within a round.
fn paired(root: &Root, rootfs: &Path, paths: usize) {
    use procroot_testutil::paired::{format_ns, format_ratio, measure_timed};
    let rounds = measure_timed(
        &mut [
            &mut |n| timed(u64::from(n), || path_defaults(rootfs)),
            &mut |n| timed(u64::from(n), || procroot_defaults(root, rootfs)),
            &mut |n| timed(u64::from(n), || procroot_harden(root, rootfs)),
        ],
        60,
        10,
    );
    println!("| `--defaults` ({paths} paths), paired | median | / path_mount2 (IQR) |");
    println!("|---|---:|---:|");
    for (i, name) in ["path_mount2", "procroot_fd_based", "procroot_harden"]
        .iter()
        .enumerate()
    {
        println!(
            "| `{name}` | {} | {} |",
            format_ns(rounds.median(i)),
            format_ratio(rounds.ratio(i, 0))
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    benches(&mut c);
    c.final_summary();
}
