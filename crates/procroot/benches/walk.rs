//! `Root::walk` listing names and types over a tree of 10,100 entries (100 directories of 100
//! files, on the temp dir's file system), paired against two by-path walks of the same tree
//! with `std::fs`: `read_dir` recursion using the listing's type (no syscall per entry, as
//! `walkdir` does), and the same plus an `lstat` per entry (as `find` does where the file system
//! gives no type). Each round times one walk of every column back to back (alternating the
//! order); the ratio is taken within the round, so load from other processes weighs on both
//! sides alike.
//!
//! `nice -n -20 cargo bench -p procroot --bench walk` prints a markdown table (BENCHMARKS.md,
//! section 9).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use procroot::Root;
use procroot_testutil::paired::{format_ns, format_ratio, measure};

const ROUNDS: usize = 40;
const BATCH: Duration = Duration::from_millis(50);

/// Entries below `dir`, by path, with the listing's type (`d_type`).
fn by_path(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        n += 1;
        if entry.file_type().unwrap().is_dir() {
            n += by_path(&entry.path());
        }
    }
    n
}

/// [`by_path`] with an `lstat` of every entry.
fn by_path_lstat(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        n += 1;
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            n += by_path_lstat(&path);
        }
    }
    n
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    for d in 0..100 {
        let dir = tmp.path().join(format!("d{d}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f}")), b"").unwrap();
        }
    }
    let root = Root::open(tmp.path()).unwrap();
    let walk = || {
        let mut n = 0;
        for entry in root.walk("/").min_depth(1) {
            black_box(entry.unwrap().file_type());
            n += 1;
        }
        n
    };
    assert_eq!(walk(), 10_100);
    assert_eq!(by_path(tmp.path()), 10_100);
    assert_eq!(by_path_lstat(tmp.path()), 10_100);
    let rounds = measure(
        &mut [
            &mut || {
                black_box(walk());
            },
            &mut || {
                black_box(by_path(black_box(tmp.path())));
            },
            &mut || {
                black_box(by_path_lstat(black_box(tmp.path())));
            },
        ],
        ROUNDS,
        BATCH,
    );
    println!("| walk of 10,100 entries | time | Root::walk / this (IQR) |");
    println!("|---|---:|---:|");
    println!(
        "| `Root::walk`, names and types | {} | |",
        format_ns(rounds.median(0))
    );
    println!(
        "| `std::fs::read_dir` recursion, `d_type` | {} | {} |",
        format_ns(rounds.median(1)),
        format_ratio(rounds.ratio(0, 1))
    );
    println!(
        "| `std::fs::read_dir` recursion + `lstat` | {} | {} |",
        format_ns(rounds.median(2)),
        format_ratio(rounds.ratio(0, 2))
    );
}
