//! procfs benchmarks: opening `self/status` through procroot's cached handle, against a plain
//! `open("/proc/self/status")` and pathrs's `ProcfsHandle`; and the cost of acquiring a handle
//! with each method.
//!
//! Run: `cargo bench -p procroot --bench procfs`. Needs root for the `fsmount` and `open_tree`
//! rows (they are skipped, loudly, otherwise).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pathrs::flags::OpenFlags as PathrsFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use procroot::{Acquisition, OFlags, ProcBase, Procfs};
use rustix::fs::Mode;

fn open_self_status(c: &mut Criterion) {
    let mut group = c.benchmark_group("procfs_open_self_status");
    group.bench_function("raw_open", |b| {
        b.iter(|| {
            let fd = rustix::fs::open(
                "/proc/self/status",
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .expect("open");
            black_box(fd);
        })
    });
    let procfs = Procfs::cached().expect("procroot procfs");
    eprintln!("procroot cached handle: {}", procfs.acquisition().as_str());
    group.bench_function("procroot_cached", |b| {
        b.iter(|| {
            let file = procfs
                .open(ProcBase::SelfProcess, "status", OFlags::RDONLY)
                .expect("open");
            black_box(file);
        })
    });
    group.bench_function("procroot_cached_lookup", |b| {
        // Includes fetching the process-wide handle, as a caller that does not keep it would.
        b.iter(|| {
            let file = Procfs::cached()
                .expect("procfs")
                .open(ProcBase::SelfProcess, "status", OFlags::RDONLY)
                .expect("open");
            black_box(file);
        })
    });
    let pathrs = ProcfsHandle::new().expect("pathrs procfs");
    group.bench_function("pathrs_procfs_handle", |b| {
        b.iter(|| {
            let file = pathrs
                .open(ProcfsBase::ProcSelf, "status", PathrsFlags::O_RDONLY)
                .expect("open");
            black_box(file);
        })
    });
    group.finish();
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

criterion_group!(benches, open_self_status, acquire);
criterion_main!(benches);
