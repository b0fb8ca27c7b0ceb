//! Benchmarks of the mutating operations against the syscall floor, the standard library and
//! libpathrs (`pathrs`).
//!
//! - `mkdir_all_depth16`: a new 16-deep chain under a fresh, empty parent directory (made by the
//!   batch setup, outside the timing; the trees are removed when criterion drops the outputs,
//!   also outside the timing). Columns:
//!   - `floor`: `openat(root, parent, O_PATH|O_DIRECTORY)`, then per component one `mkdirat`,
//!     one `openat(O_PATH|O_DIRECTORY|O_NOFOLLOW)` and one `close`: what any fd-based
//!     `mkdir -p` must do;
//!   - `procroot`: `Root::mkdir_all` (default backend);
//!   - `procroot_emulated`: the same with the emulated resolver;
//!   - `pathrs`: `pathrs::Root::mkdir_all`.
//! - `remove_all_10000_files`: a tree of 100 directories × 100 files, built by the setup.
//!   Columns: `std` (`std::fs::remove_dir_all`), `procroot` (`Root::remove_all`), `pathrs`.
//!
//! The fixtures live on tmpfs (`/dev/shm`) when there is one, so the numbers show the walkers'
//! overhead rather than a disk's journal; `PROCROOT_BENCH_DIR` overrides the location.
//!
//! Run: `cargo bench -p procroot --bench mutate [-- FILTER]`; `PROCROOT_BENCH_PAIRED=1` runs
//! `remove_all` against `std::fs::remove_dir_all` paired instead (60 rounds).

use std::hint::black_box;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BatchSize, Criterion};
use procroot::{Backend, Root};
use rustix::fs::{Mode, OFlags};

const DEPTH: usize = 16;
const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;

/// A directory removed (with its contents) when dropped: criterion drops routine outputs after
/// the timing, so cleanup is never measured.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bench_dir() -> tempfile::TempDir {
    let base = match std::env::var_os("PROCROOT_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let shm = Path::new("/dev/shm");
            let is_tmpfs = rustix::fs::statfs(shm).is_ok_and(|st| st.f_type == 0x0102_1994);
            if is_tmpfs {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            }
        }
    };
    tempfile::Builder::new()
        .prefix("procroot-bench-mutate-")
        .tempdir_in(base)
        .expect("tempdir")
}

/// The 16 components below the fresh parent.
fn chain() -> String {
    (0..DEPTH)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/")
}

fn floor_mkdir_all(root: &OwnedFd, parent: &str, names: &[String]) -> OwnedFd {
    let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur = rustix::fs::openat(root, parent, dir, Mode::empty()).unwrap();
    for name in names {
        rustix::fs::mkdirat(&cur, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        // Assigning drops (closes) the previous fd.
        cur =
            rustix::fs::openat(&cur, name.as_str(), dir | OFlags::NOFOLLOW, Mode::empty()).unwrap();
    }
    cur
}

fn bench_mkdir_all(c: &mut Criterion) {
    let tmp = bench_dir();
    let top = tmp.path().to_path_buf();
    let root_fd = rustix::fs::open(
        &top,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let procroot = Root::open(&top).unwrap();
    let emulated = Root::open(&top).unwrap().with_backend(Backend::Emulated);
    let pathrs = pathrs::Root::open(&top).unwrap();
    let perm = std::fs::Permissions::from_mode(0o755);
    let names: Vec<String> = (0..DEPTH).map(|i| format!("d{i}")).collect();
    let chain = chain();
    let counter = AtomicUsize::new(0);
    // A fresh, empty parent for every iteration.
    let fresh = || {
        let name = format!("p{}", counter.fetch_add(1, Ordering::Relaxed));
        std::fs::create_dir(top.join(&name)).unwrap();
        name
    };

    let mut group = c.benchmark_group(format!("mkdir_all_depth{DEPTH}"));
    group.bench_function("floor", |b| {
        b.iter_batched(
            fresh,
            |p| {
                black_box(floor_mkdir_all(&root_fd, &p, &names));
                Cleanup(top.join(p))
            },
            BatchSize::SmallInput,
        )
    });
    for (id, root) in [("procroot", &procroot), ("procroot_emulated", &emulated)] {
        group.bench_function(id, |b| {
            b.iter_batched(
                fresh,
                |p| {
                    black_box(root.mkdir_all(format!("{p}/{chain}"), 0o755).unwrap());
                    Cleanup(top.join(p))
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.bench_function("pathrs", |b| {
        b.iter_batched(
            fresh,
            |p| {
                black_box(pathrs.mkdir_all(format!("{p}/{chain}"), &perm).unwrap());
                Cleanup(top.join(p))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn build_tree(top: &Path, name: &str) {
    let t = top.join(name);
    for d in 0..DIRS {
        let dir = t.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            std::fs::File::create(dir.join(format!("f{f}"))).unwrap();
        }
    }
}

fn bench_remove_all(c: &mut Criterion) {
    let tmp = bench_dir();
    let top = tmp.path().to_path_buf();
    let procroot = Root::open(&top).unwrap();
    let pathrs = pathrs::Root::open(&top).unwrap();
    let counter = AtomicUsize::new(0);
    let fresh = || {
        let name = format!("t{}", counter.fetch_add(1, Ordering::Relaxed));
        build_tree(&top, &name);
        name
    };

    let mut group = c.benchmark_group(format!("remove_all_{}_files", DIRS * FILES_PER_DIR));
    group.sample_size(10);
    group.bench_function("std", |b| {
        b.iter_batched(
            fresh,
            |t| std::fs::remove_dir_all(top.join(t)).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("procroot", |b| {
        b.iter_batched(
            fresh,
            |t| procroot.remove_all(t).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("pathrs", |b| {
        b.iter_batched(
            fresh,
            |t| pathrs.remove_all(t).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// `PROCROOT_BENCH_PAIRED=1`: `Root::remove_all` against `std::fs::remove_dir_all`, paired:
/// in each round two identical trees are built (outside the timing), and each column removes
/// one, back to back, in alternating order; the ratio is taken within the round.
fn paired_remove_all(rounds: usize) {
    use procroot_testutil::paired::format_ratio;
    let tmp = bench_dir();
    let top = tmp.path().to_path_buf();
    let procroot = Root::open(&top).unwrap();
    let (mut std_ns, mut ours_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        build_tree(&top, "a");
        build_tree(&top, "b");
        let time = |f: &mut dyn FnMut()| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_nanos() as f64
        };
        let mut std_col = || std::fs::remove_dir_all(top.join("a")).unwrap();
        let mut ours_col = || procroot.remove_all("b").unwrap();
        let (s, o) = if round % 2 == 0 {
            let s = time(&mut std_col);
            (s, time(&mut ours_col))
        } else {
            let o = time(&mut ours_col);
            (time(&mut std_col), o)
        };
        std_ns.push(s);
        ours_ns.push(o);
        ratios.push(o / s);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    ratios.sort_by(f64::total_cmp);
    let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f) as usize];
    println!(
        "remove_all_{}_files, {rounds} rounds: std {:.2} ms, procroot {:.2} ms, procroot / std \
         {}",
        DIRS * FILES_PER_DIR,
        median(&mut std_ns) / 1e6,
        median(&mut ours_ns) / 1e6,
        format_ratio((q(0.25), q(0.5), q(0.75)))
    );
}

fn main() {
    if std::env::var_os("PROCROOT_BENCH_PAIRED").is_some() {
        paired_remove_all(60);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_mkdir_all(&mut c);
    bench_remove_all(&mut c);
    c.final_summary();
}
