//! Resolution benchmarks: procroot's two backends side by side, in one run, with a raw
//! `openat2(2)`, libpathrs (`pathrs`, both of its backends) and the syscall floor of any
//! userspace walker.
//!
//! Rows (one criterion group each): a path to a file at depth 1, 8 or 32, with no symlink, with 4
//! relative symlinks, or with 4 absolute symlinks. Columns (bench ids in the group):
//!
//! - `raw_openat2`: `openat2(root, path, O_PATH|O_CLOEXEC, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`
//!   and the close of the fd;
//! - `procroot_kernel` / `procroot_emulated`: `Root::resolve` with that backend;
//! - `procroot_kernel_fd`: `Root::resolve_fd` (only the fd, no `Handle`) with the kernel backend;
//! - `pathrs_kernel`: `pathrs::Root::resolve` (libpathrs uses `openat2` when it works);
//! - `pathrs_emulated`: the same in a child process (this binary, re-executed with
//!   `PROCROOT_BENCH_NO_OPENAT2=1`) under a seccomp filter that makes `openat2` fail with `ENOSYS`,
//!   which is how libpathrs's own CI forces its `O_PATH` fallback;
//! - `floor`: the syscalls any userspace walker that never opens `..` must make for that path,
//!   precomputed and replayed: one `openat` per component, one `readlinkat` per symlink, one
//!   `close` per fd opened.
//!
//! Before anything is timed, every column is checked to resolve every row to the same inode.
//!
//! Run: `cargo bench -p procroot --bench resolve [-- FILTER]`. The filter and the other criterion
//! arguments apply to both processes.
//!
//! Paired mode: `PROCROOT_BENCH_PAIRED=1 cargo bench -p procroot --bench resolve` skips
//! criterion and measures the ratios the targets are about (`procroot_kernel / raw_openat2`,
//! `procroot_kernel_fd / raw_openat2` and `procroot_emulated / floor`) with interleaved batches: in each round every column runs one
//! batch of the same number of iterations, back to back, and the ratio is taken within the
//! round. Load that drifts over seconds then hits both sides of a ratio alike, which separate
//! criterion runs cannot promise on a shared machine. It prints the median ratio over the rounds
//! and its interquartile range, per row.

use std::ffi::{CStr, CString, OsString};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::Criterion;
use procroot::{Backend, ErrorKind, EvalMode, Root};
use procroot_testutil::{fd_identity, open_dir, Tree};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Set in the child process that runs the `pathrs_emulated` column.
const CHILD_ENV: &str = "PROCROOT_BENCH_NO_OPENAT2";

/// Depths of the fixture trees: the file is `d0/d1/.../d{depth-1}/file`.
const DEPTHS: [usize; 3] = [1, 8, 32];

/// How a row's path reaches its file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `d0/d1/.../file`, no symlink.
    Plain,
    /// 4 of the directories reached through relative symlinks.
    Relative,
    /// 4 of the directories reached through absolute (in-root) symlinks.
    Absolute,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Plain, Kind::Relative, Kind::Absolute];

    fn suffix(self) -> &'static str {
        match self {
            Kind::Plain => "sym0",
            Kind::Relative => "sym4rel",
            Kind::Absolute => "sym4abs",
        }
    }
}

/// One step of the floor walk.
enum Op {
    /// `openat(cur, name, flags)`; the new fd becomes the current directory.
    Open(CString, OFlags),
    /// A symlink in the current directory: the `openat(O_DIRECTORY)` that finds out it is not a
    /// directory (`ENOTDIR`, no fd to close), then `readlinkat(cur, name)`.
    Link(CString),
    /// An absolute symlink target: close the directory fds held and continue from the root.
    Restart,
}

/// One benchmark row: a path inside a fixture tree.
struct Row {
    /// Criterion group name, such as `depth8_sym4rel`.
    group: String,
    /// The path, relative (no leading slash), for the APIs that take a path.
    path: PathBuf,
    /// The same path as a C string, for the raw syscalls.
    cpath: CString,
    /// What the floor walker does for this path.
    ops: Vec<Op>,
    /// The path inside the root that the walk ends at (what `eval_symlinks` must say).
    in_root: PathBuf,
    /// `(st_dev, st_ino)` of the file the path must resolve to.
    expected: (u64, u64),
}

/// A fixture tree for one depth, and its rows.
struct Fixture {
    tree: Tree,
    rows: Vec<Row>,
}

/// The name of directory `i`'s symlink stand-in for `kind` at a symlink site.
fn link_name(kind: Kind, i: usize) -> String {
    match kind {
        Kind::Plain => format!("d{i}"),
        Kind::Relative => format!("l{i}"),
        Kind::Absolute => format!("a{i}"),
    }
}

/// The directory levels that are reached through symlinks: 4 evenly spaced levels, or, when
/// the tree is too shallow, level 0 through a chain of 4 symlinks.
fn symlink_sites(depth: usize) -> Vec<usize> {
    if depth >= 4 {
        (0..4).map(|k| k * depth / 4).collect()
    } else {
        vec![0]
    }
}

/// Builds the tree for `depth`:
///
/// ```text
/// d0/d1/.../d{D-1}/file
/// at each symlink site N, next to dN:  lN -> dN          (relative)
///                                      aN -> /d0/.../dN  (absolute, in-root)
/// depth 1 (one site, a chain of 4):    l0 -> l0_1 -> l0_2 -> l0_3 -> d0
///                                      a0 -> /a0_1 -> /a0_2 -> /a0_3 -> /d0
/// ```
fn build_fixture(depth: usize) -> Fixture {
    let dirs: Vec<String> = (0..depth).map(|i| format!("d{i}")).collect();
    let mut spec = format!("file {}/file x\n", dirs.join("/"));
    let sites = symlink_sites(depth);
    for &n in &sites {
        let parent: String = dirs[..n].iter().map(|d| format!("{d}/")).collect();
        let abs_target = format!("/{}", dirs[..=n].join("/"));
        if depth >= 4 {
            spec += &format!("symlink {parent}l{n} d{n}\n");
            spec += &format!("symlink {parent}a{n} {abs_target}\n");
        } else {
            // A chain of 4 links in the same directory.
            let chain = |prefix: &str| -> Vec<String> {
                (0..4)
                    .map(|k| match k {
                        0 => format!("{prefix}{n}"),
                        k => format!("{prefix}{n}_{k}"),
                    })
                    .collect()
            };
            let (rel, abs) = (chain("l"), chain("a"));
            for k in 0..4 {
                let rel_next = rel.get(k + 1).cloned();
                let rel_target = rel_next.unwrap_or_else(|| format!("d{n}"));
                let abs_next = abs.get(k + 1).map(|a| format!("/{parent}{a}"));
                let abs_target = abs_next.unwrap_or_else(|| abs_target.clone());
                spec += &format!("symlink {parent}{} {rel_target}\n", rel[k]);
                spec += &format!("symlink {parent}{} {abs_target}\n", abs[k]);
            }
        }
    }
    let tree = Tree::new(&spec);
    let file_rel = format!("{}/file", dirs.join("/"));
    let expected = procroot_testutil::identity(tree.join(&file_rel));
    let rows = Kind::ALL
        .iter()
        .map(|&kind| {
            let comps: Vec<String> = (0..depth)
                .map(|i| {
                    if sites.contains(&i) {
                        link_name(kind, i)
                    } else {
                        dirs[i].clone()
                    }
                })
                .collect();
            let path = format!("{}/file", comps.join("/"));
            let ops = plan_floor(tree.path(), &path);
            let symlinks = ops.iter().filter(|op| matches!(op, Op::Link(_))).count();
            assert_eq!(
                symlinks,
                if kind == Kind::Plain { 0 } else { 4 },
                "fixture for depth {depth} {path:?}"
            );
            Row {
                group: format!("depth{depth}_{}", kind.suffix()),
                cpath: CString::new(path.clone()).unwrap(),
                path: PathBuf::from(path),
                ops,
                in_root: PathBuf::from(format!("/{file_rel}")),
                expected,
            }
        })
        .collect();
    Fixture { tree, rows }
}

/// Computes the exact sequence of steps a perfect walker makes for `path` under `top`, by
/// looking at the tree (outside any timing). No `..` appears in the fixtures.
fn plan_floor(top: &Path, path: &str) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut at: PathBuf = top.to_path_buf();
    let mut queue: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    while let Some(name) = queue.pop() {
        if name.is_empty() || name == "." {
            continue;
        }
        assert_ne!(name, "..", "the floor walker does not handle ..");
        let host = at.join(&name);
        let md = std::fs::symlink_metadata(&host).expect("lstat fixture");
        if md.file_type().is_symlink() {
            ops.push(Op::Link(CString::new(name).unwrap()));
            let target = std::fs::read_link(&host).expect("readlink fixture");
            let target = target.to_str().expect("UTF-8 fixture");
            if target.starts_with('/') {
                ops.push(Op::Restart);
                at = top.to_path_buf();
            }
            queue.extend(target.split('/').rev().map(str::to_owned));
        } else {
            let is_last = queue.iter().all(|c| c.is_empty());
            let flags = if is_last {
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC
            } else {
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC
            };
            ops.push(Op::Open(CString::new(name).unwrap(), flags));
            at = host;
        }
    }
    ops
}

/// Replays a floor plan: the minimum syscalls of a userspace walk. Like a walker that never
/// opens `..`, it keeps the directory fds it descended through (in `stack`, a buffer reused
/// across calls so that the loop allocates nothing) and closes them when an absolute symlink
/// restarts the walk and at the end. Holding them measured slightly cheaper than closing each
/// parent as soon as the child is open, with the same number of syscalls.
fn floor_walk(root: BorrowedFd<'_>, ops: &[Op], stack: &mut Vec<OwnedFd>) -> OwnedFd {
    let mut buf = [MaybeUninit::<u8>::uninit(); libc::PATH_MAX as usize];
    for op in ops {
        match op {
            Op::Open(name, flags) => {
                let dir = stack.last().map_or(root, |fd| fd.as_fd());
                let fd = rustix::fs::openat(dir, name.as_c_str(), *flags, Mode::empty())
                    .expect("floor openat");
                stack.push(fd);
            }
            Op::Link(name) => {
                let dir = stack.last().map_or(root, |fd| fd.as_fd());
                let probe = rustix::fs::openat(
                    dir,
                    name.as_c_str(),
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                );
                assert!(matches!(probe, Err(Errno::NOTDIR)), "floor probe");
                let (target, _) = rustix::fs::readlinkat_raw(dir, name.as_c_str(), &mut buf[..])
                    .expect("floor readlinkat");
                black_box(target);
            }
            Op::Restart => stack.clear(),
        }
    }
    let fd = stack.pop().expect("the floor walk opened something");
    stack.clear();
    fd
}

/// `openat2(root, path, O_PATH|O_CLOEXEC, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`.
fn raw_openat2(root: BorrowedFd<'_>, path: &CStr) -> Result<OwnedFd, Errno> {
    rustix::fs::openat2(
        root,
        path,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Panics unless `fd` is the row's file.
fn check(row: &Row, column: &str, fd: impl AsFd) {
    let got = fd_identity(fd);
    assert_eq!(
        got, row.expected,
        "{column} resolved {:?} ({}) to the wrong inode",
        row.path, row.group
    );
}

/// The in-process columns, after checking that each gives the right answer for each row.
fn bench_in_process(c: &mut Criterion, fixtures: &[Fixture]) {
    for fx in fixtures {
        let top = fx.tree.path();
        let rootfd = open_dir(top);
        let kernel = Root::open(top).unwrap().with_backend(Backend::Kernel);
        let emulated = Root::open(top).unwrap().with_backend(Backend::Emulated);
        let pathrs_root = pathrs::Root::open(top).unwrap();
        for row in &fx.rows {
            check(
                row,
                "raw_openat2",
                raw_openat2(rootfd.as_fd(), &row.cpath).unwrap(),
            );
            let mut stack = Vec::with_capacity(128);
            check(
                row,
                "floor",
                floor_walk(rootfd.as_fd(), &row.ops, &mut stack),
            );
            let h = kernel.resolve(&row.path).unwrap();
            assert_eq!(h.backend(), procroot::BackendUsed::Kernel);
            check(row, "procroot_kernel", &h);
            check(
                row,
                "procroot_kernel_fd",
                kernel.resolve_fd(&row.path).unwrap(),
            );
            let h = emulated.resolve(&row.path).unwrap();
            assert_eq!(h.backend(), procroot::BackendUsed::Emulated);
            assert_eq!(h.path_in_root().unwrap(), row.in_root);
            check(row, "procroot_emulated", &h);
            check(
                row,
                "pathrs_kernel",
                pathrs_root.resolve(&row.path).unwrap(),
            );

            let mut g = c.benchmark_group(&row.group);
            g.bench_function("raw_openat2", |b| {
                b.iter(|| drop(raw_openat2(rootfd.as_fd(), black_box(&row.cpath)).unwrap()))
            });
            g.bench_function("procroot_kernel", |b| {
                b.iter(|| drop(kernel.resolve(black_box(&row.path)).unwrap()))
            });
            g.bench_function("procroot_kernel_fd", |b| {
                b.iter(|| drop(kernel.resolve_fd(black_box(&row.path)).unwrap()))
            });
            g.bench_function("procroot_emulated", |b| {
                b.iter(|| drop(emulated.resolve(black_box(&row.path)).unwrap()))
            });
            g.bench_function("pathrs_kernel", |b| {
                b.iter(|| drop(pathrs_root.resolve(black_box(&row.path)).unwrap()))
            });
            g.bench_function("floor", |b| {
                b.iter(|| drop(floor_walk(rootfd.as_fd(), black_box(&row.ops), &mut stack)))
            });
            g.finish();
        }
    }
}

/// Informational: the cost of opening a root, and of `eval_symlinks` with the emulated backend.
fn bench_extra(c: &mut Criterion, fixtures: &[Fixture]) {
    let fx = fixtures
        .iter()
        .find(|fx| fx.rows[0].group.starts_with("depth8_"))
        .expect("a depth-8 fixture");
    let top = fx.tree.path();
    let emulated = Root::open(top).unwrap().with_backend(Backend::Emulated);
    let mut g = c.benchmark_group("extra");
    g.bench_function("procroot_root_open", |b| {
        b.iter(|| drop(Root::open(black_box(top)).unwrap()))
    });
    g.bench_function("pathrs_root_open", |b| {
        b.iter(|| drop(pathrs::Root::open(black_box(top)).unwrap()))
    });
    for row in fx.rows.iter().filter(|r| r.group != "depth8_sym0") {
        let got = emulated.eval_symlinks(&row.path, EvalMode::Full).unwrap();
        assert_eq!(got, row.in_root, "eval_symlinks({:?})", row.path);
        let id = format!("eval_symlinks_emulated_{}", row.group);
        g.bench_function(id, |b| {
            b.iter(|| {
                emulated
                    .eval_symlinks(black_box(&row.path), EvalMode::Full)
                    .unwrap()
            })
        });
    }
    g.finish();
}

/// The child's column: libpathrs with `openat2` denied by seccomp.
fn bench_pathrs_emulated(c: &mut Criterion, fixtures: &[Fixture]) {
    // libpathrs picks its backend when a `Root` is created: `openat2` until it has seen `openat2`
    // fail once. Make it fail once, so that the benchmarked roots use the O_PATH resolver
    // directly instead of paying a failing `openat2` on every call.
    let top = fixtures[0].tree.path();
    let warmup = pathrs::Root::open(top).unwrap();
    check(
        &fixtures[0].rows[0],
        "pathrs (fallback)",
        warmup.resolve(&fixtures[0].rows[0].path).unwrap(),
    );

    for fx in fixtures {
        let top = fx.tree.path();
        let rootfd = open_dir(top);
        let pathrs_root = pathrs::Root::open(top).unwrap();
        let debug = format!("{pathrs_root:?}");
        assert!(
            debug.contains("EmulatedOpath"),
            "pathrs did not pick its emulated backend: {debug}"
        );
        let kernel = Root::open(top).unwrap().with_backend(Backend::Kernel);
        for row in &fx.rows {
            // openat2 really is gone: raw and procroot's kernel backend both see it.
            assert_eq!(
                raw_openat2(rootfd.as_fd(), &row.cpath).unwrap_err(),
                Errno::NOSYS,
                "openat2 is not denied in the child"
            );
            let err = kernel.resolve(&row.path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
            check(
                row,
                "pathrs_emulated",
                pathrs_root.resolve(&row.path).unwrap(),
            );

            let mut g = c.benchmark_group(&row.group);
            g.bench_function("pathrs_emulated", |b| {
                b.iter(|| drop(pathrs_root.resolve(black_box(&row.path)).unwrap()))
            });
            g.finish();
        }
    }
}

/// Set to run the paired (interleaved) ratio measurement instead of criterion.
const PAIRED_ENV: &str = "PROCROOT_BENCH_PAIRED";

/// Rounds of the paired measurement, and the time one batch of one column should take.
const PAIRED_ROUNDS: usize = 200;
const PAIRED_BATCH: Duration = Duration::from_millis(2);

/// The paired measurement: per row, the median over rounds of `procroot_kernel / raw_openat2`,
/// `procroot_kernel_fd / raw_openat2` and `procroot_emulated / floor`, each round timing the
/// five columns back to back.
fn paired(fixtures: &[Fixture]) {
    use procroot_testutil::paired::{format_ns, format_ratio, measure};
    println!(
        "| row | raw_openat2 | procroot_kernel | kernel / raw (IQR) | procroot_kernel_fd \
         | kernel_fd / raw (IQR) | floor | procroot_emulated | emulated / floor (IQR) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for fx in fixtures {
        let top = fx.tree.path();
        let rootfd = open_dir(top);
        let kernel = Root::open(top).unwrap().with_backend(Backend::Kernel);
        let emulated = Root::open(top).unwrap().with_backend(Backend::Emulated);
        for row in &fx.rows {
            let mut stack = Vec::with_capacity(128);
            check(
                row,
                "floor",
                floor_walk(rootfd.as_fd(), &row.ops, &mut stack),
            );
            check(
                row,
                "procroot_emulated",
                emulated.resolve(&row.path).unwrap(),
            );
            check(
                row,
                "procroot_kernel_fd",
                kernel.resolve_fd(&row.path).unwrap(),
            );
            let rounds = measure(
                &mut [
                    &mut || drop(raw_openat2(rootfd.as_fd(), black_box(&row.cpath)).unwrap()),
                    &mut || drop(kernel.resolve(black_box(&row.path)).unwrap()),
                    &mut || drop(kernel.resolve_fd(black_box(&row.path)).unwrap()),
                    &mut || drop(floor_walk(rootfd.as_fd(), black_box(&row.ops), &mut stack)),
                    &mut || drop(emulated.resolve(black_box(&row.path)).unwrap()),
                ],
                PAIRED_ROUNDS,
                PAIRED_BATCH,
            );
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.group,
                format_ns(rounds.median(0)),
                format_ns(rounds.median(1)),
                format_ratio(rounds.ratio(1, 0)),
                format_ns(rounds.median(2)),
                format_ratio(rounds.ratio(2, 0)),
                format_ns(rounds.median(3)),
                format_ns(rounds.median(4)),
                format_ratio(rounds.ratio(4, 3)),
            );
        }
    }
}

fn main() {
    let child = std::env::var_os(CHILD_ENV).is_some_and(|v| v == "1");
    if child {
        // Before anything else, so that any thread criterion starts inherits the filter.
        procroot_testutil::deny_syscalls(&[procroot_testutil::SYS_OPENAT2], libc::ENOSYS);
    }
    let fixtures: Vec<Fixture> = DEPTHS.iter().map(|&d| build_fixture(d)).collect();
    if !child && std::env::var_os(PAIRED_ENV).is_some_and(|v| v == "1") {
        paired(&fixtures);
        return;
    }
    // Shorter than criterion's defaults (3 s + 5 s) so that a full run (58 benchmarks) takes
    // about 5 minutes; the command line still overrides both.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    if child {
        bench_pathrs_emulated(&mut c, &fixtures);
        c.final_summary();
        return;
    }
    bench_in_process(&mut c, &fixtures);
    bench_extra(&mut c, &fixtures);
    c.final_summary();
    drop(fixtures);

    // The pathrs_emulated column, in a child under the seccomp filter, with the same arguments.
    let exe = std::env::current_exe().expect("current_exe");
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let status = Command::new(exe)
        .args(&args)
        .env(CHILD_ENV, "1")
        .status()
        .expect("run the pathrs_emulated child");
    assert!(
        status.success(),
        "the pathrs_emulated child failed: {status}"
    );
}
