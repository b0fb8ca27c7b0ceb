//! The cost of the second check of metadata changes (`Root::with_second_check`): `chmod` and
//! `set_times` of a file `depth` directories down, with the check (the default) and without,
//! paired: each round times one batch of every column back to back (alternating the order), and
//! the ratio is taken within the round, so that load from other processes weighs on both
//! sides alike.
//!
//! `cargo bench -p procroot --bench second_check` prints a markdown table (BENCHMARKS.md,
//! section 6).

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use procroot::Root;
use procroot_testutil::paired::{format_ns, format_ratio, measure};
use procroot_testutil::Tree;

const ROUNDS: usize = 150;
const BATCH: Duration = Duration::from_millis(2);

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    println!("| op | depth | with check | without | with / without (IQR) | added per call |");
    println!("|---|---:|---:|---:|---:|---:|");
    for depth in [1usize, 8] {
        let dirs: Vec<String> = (0..depth).map(|i| format!("d{i}")).collect();
        let path = format!("/{}/file", dirs.join("/"));
        let tree = Tree::new(&format!("file {} x", &path[1..]));
        let on = Root::open(tree.path()).unwrap();
        let off = Root::open(tree.path()).unwrap().with_second_check(false);
        let now = Some(SystemTime::now());
        type Op = fn(&Root, &str, Option<SystemTime>);
        let ops: [(&str, Op); 2] = [
            ("chmod", |r, p, _| r.set_permissions(p, 0o644).unwrap()),
            ("set_times", |r, p, t| r.set_times(p, t, t).unwrap()),
        ];
        for (name, op) in ops {
            let rounds = measure(
                &mut [
                    &mut || op(black_box(&on), black_box(&path), now),
                    &mut || op(black_box(&off), black_box(&path), now),
                ],
                ROUNDS,
                BATCH,
            );
            println!(
                "| {name} | {depth} | {} | {} | {} | {} |",
                format_ns(rounds.median(0)),
                format_ns(rounds.median(1)),
                format_ratio(rounds.ratio(0, 1)),
                format_ns(rounds.median(0) - rounds.median(1)),
            );
        }
    }
}
