//! procfs benchmarks: opening `self/status` through procroot's cached handle, against a plain
//! `open("/proc/self/status")` and pathrs's `ProcfsHandle`; and the cost of acquiring a handle
//! with each method.
//!
//! Run: `cargo bench -p procroot --bench procfs`. Needs root for the `fsmount` and `open_tree`
//! rows (they are skipped, loudly, otherwise). `PROCROOT_BENCH_PAIRED=1` measures the open
//! ratios with interleaved batches instead (see `procroot_testutil::paired`).

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use pathrs::flags::OpenFlags as PathrsFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use procroot::{Acquisition, OFlags, ProcBase, Procfs};
use rustix::fs::Mode;

/// `open("/proc/self/status")`: the baseline.
fn raw_open() {
    let fd = rustix::fs::open(
        "/proc/self/status",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .expect("open");
    black_box(fd);
}

/// `self/status` through a procroot handle the caller keeps.
fn procroot_open(procfs: &Procfs) {
    let file = procfs
        .open(ProcBase::SelfProcess, "status", OFlags::RDONLY)
        .expect("open");
    black_box(file);
}

/// The same, fetching the process-wide handle first, as a caller that does not keep it would.
fn procroot_lookup_and_open() {
    procroot_open(&Procfs::cached().expect("procfs"));
}

/// `self/status` through pathrs's `ProcfsHandle`.
fn pathrs_open(pathrs: &ProcfsHandle) {
    let file = pathrs
        .open(ProcfsBase::ProcSelf, "status", PathrsFlags::O_RDONLY)
        .expect("open");
    black_box(file);
}

fn open_self_status(c: &mut Criterion) {
    let procfs = Procfs::cached().expect("procroot procfs");
    eprintln!("procroot cached handle: {}", procfs.acquisition().as_str());
    let pathrs = ProcfsHandle::new().expect("pathrs procfs");
    let mut group = c.benchmark_group("procfs_open_self_status");
    group.bench_function("raw_open", |b| b.iter(raw_open));
    group.bench_function("procroot_cached", |b| b.iter(|| procroot_open(&procfs)));
    group.bench_function("procroot_cached_lookup", |b| {
        b.iter(procroot_lookup_and_open)
    });
    group.bench_function("pathrs_procfs_handle", |b| b.iter(|| pathrs_open(&pathrs)));
    group.finish();
}

/// `PROCROOT_BENCH_PAIRED=1`: the ratios to `raw_open`, measured with interleaved batches
/// (see `procroot_testutil::paired`) instead of criterion.
fn paired() {
    use procroot_testutil::paired::{format_ns, format_ratio, measure};
    let procfs = Procfs::cached().expect("procroot procfs");
    let pathrs = ProcfsHandle::new().expect("pathrs procfs");
    let rounds = measure(
        &mut [
            &mut raw_open,
            &mut || procroot_open(&procfs),
            &mut procroot_lookup_and_open,
            &mut || pathrs_open(&pathrs),
        ],
        200,
        Duration::from_millis(2),
    );
    println!(
        "| open self/status ({}) | median | / raw_open (IQR) |",
        procfs.acquisition().as_str()
    );
    println!("|---|---:|---:|");
    let names = [
        "raw_open",
        "procroot_cached",
        "procroot_cached_lookup",
        "pathrs_procfs_handle",
    ];
    for (i, name) in names.iter().enumerate() {
        println!(
            "| `{name}` | {} | {} |",
            format_ns(rounds.median(i)),
            format_ratio(rounds.ratio(i, 0))
        );
    }
}

fn acquire(c: &mut Criterion) {
    let mut group = c.benchmark_group("procfs_acquire");
    for method in [
        Acquisition::Fsmount,
        Acquisition::OpenTreeClone,
        Acquisition::PlainOpen,
    ] {
        if let Err(e) = Procfs::acquire(method, true) {
            eprintln!("SKIPPED procfs_acquire/{}: {e}", method.as_str());
            continue;
        }
        group.bench_function(method.as_str(), |b| {
            b.iter(|| black_box(Procfs::acquire(method, true).expect("acquire")))
        });
    }
    group.bench_function("pathrs_new", |b| {
        b.iter(|| black_box(ProcfsHandle::new().expect("pathrs")))
    });
    group.finish();
}

fn main() {
    if std::env::var_os("PROCROOT_BENCH_PAIRED").is_some_and(|v| v == "1") {
        paired();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    open_self_status(&mut c);
    acquire(&mut c);
    c.final_summary();
}
