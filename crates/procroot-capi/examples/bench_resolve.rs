//! One resolve through the Rust API (`Root::resolve_fd`, what `procroot_resolve` calls) against
//! raw `openat2(RESOLVE_IN_ROOT)`, alternating rounds, for scripts/bench-bindings.sh; also
//! `Root::eval_symlinks` and `Root::eval_symlinks_in` (the root opened per call, as procfsroot's
//! `EvalSymlinks` does), and `Root::for_pid` + `eval_symlinks` (the drop-in's `/proc/<pid>/root`
//! case). The ratios are all to the first baseline, one raw `openat2` of `<path>` in `<root>`;
//! a second raw `openat2`, of the PID case's own (longer) path in our own `/proc/<pid>/root`,
//! is printed beside it, to show how much of that row is the longer path.
//! usage: bench_resolve <root> <path> <iters>

use std::time::Instant;

use procroot::{EvalMode, Policy, Root};
use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, path, iters) = (&args[1], &args[2], args[3].parse::<u32>().expect("iters"));
    let root = Root::open(dir).expect("root");
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let (mut raw, mut lib, mut eval, mut eval_in, mut eval_pid, mut raw_pid) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    // The drop-in's /proc/<pid>/root case: our own root through a pidfd, the fixture's path.
    let full = format!("{dir}/{path}");
    let me = std::process::id();
    let pid_root = rustix::fs::open(
        format!("/proc/{me}/root"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .expect("/proc/<pid>/root");
    for _ in 0..15 {
        let t0 = Instant::now();
        for _ in 0..iters {
            drop(openat2(&root, path.as_str(), flags, Mode::empty(), how).expect("openat2"));
        }
        let t1 = Instant::now();
        for _ in 0..iters {
            drop(root.resolve_fd(path).expect("resolve_fd"));
        }
        let t2 = Instant::now();
        for _ in 0..iters / 8 {
            root.eval_symlinks(path, EvalMode::Full)
                .expect("eval_symlinks");
        }
        let t3 = Instant::now();
        // procfsroot's EvalSymlinks(path, root, mode): the root opened for each call.
        for _ in 0..iters / 8 {
            Root::eval_symlinks_in(dir, path, Policy::InRootStrict, EvalMode::Full)
                .expect("eval_symlinks_in");
        }
        let t4 = Instant::now();
        for _ in 0..iters / 8 {
            Root::for_pid(me)
                .expect("for_pid")
                .with_policy(Policy::InRootStrict)
                .eval_symlinks(&full, EvalMode::Full)
                .expect("eval_symlinks in /proc/<pid>/root");
        }
        let t5 = Instant::now();
        for _ in 0..iters / 8 {
            drop(openat2(&pid_root, full.as_str(), flags, Mode::empty(), how).expect("openat2"));
        }
        let t6 = Instant::now();
        raw_pid.push((t6 - t5).as_nanos() as f64 / f64::from(iters / 8));
        eval_pid.push((t5 - t4).as_nanos() as f64 / f64::from(iters / 8));
        eval.push((t3 - t2).as_nanos() as f64 / f64::from(iters / 8));
        eval_in.push((t4 - t3).as_nanos() as f64 / f64::from(iters / 8));
        raw.push((t1 - t0).as_nanos() as f64 / f64::from(iters));
        lib.push((t2 - t1).as_nanos() as f64 / f64::from(iters));
    }
    raw.sort_by(f64::total_cmp);
    lib.sort_by(f64::total_cmp);
    println!("rust_raw_openat2_ns {:.0}", raw[7]);
    println!("rust_resolve_fd_ns {:.0}", lib[7]);
    eval.sort_by(f64::total_cmp);
    println!("rust_eval_symlinks_ns {:.0}", eval[7]);
    eval_in.sort_by(f64::total_cmp);
    println!("rust_eval_symlinks_in_ns {:.0}", eval_in[7]);
    eval_pid.sort_by(f64::total_cmp);
    println!("rust_for_pid_eval_symlinks_ns {:.0}", eval_pid[7]);
    raw_pid.sort_by(f64::total_cmp);
    println!("rust_raw_openat2_pid_root_full_path_ns {:.0}", raw_pid[7]);
    println!(
        "ratios (median of rounds): eval_symlinks/raw {:.2}x, eval_symlinks_in/raw {:.2}x, \
         for_pid + eval_symlinks/raw {:.2}x (/raw of its own path in the PID root {:.2}x)",
        eval[7] / raw[7],
        eval_in[7] / raw[7],
        eval_pid[7] / raw[7],
        eval_pid[7] / raw_pid[7]
    );
}
