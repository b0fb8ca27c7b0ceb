//! What each syscall of `Root::eval_symlinks`'s kernel path costs, against one raw
//! `openat2(RESOLVE_IN_ROOT)` of the same path, measured in alternating rounds in one process
//! (BENCHMARKS.md section 7.4: where the floor of the verified fast path is).
//! usage: eval_syscall_costs <root> <path> <symlink-free path of the same file> <iters>

use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use rustix::fs::{openat2, statx, AtFlags, Mode, OFlags, ResolveFlags, StatxFlags, CWD};

/// One measured call: its name, and the call.
type Case<'a> = (&'static str, Box<dyn Fn() + 'a>);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, path, plain) = (&args[1], &args[2], &args[3]);
    let iters = args[4].parse::<u32>().expect("iters");
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let root = openat2(
        CWD,
        dir.as_str(),
        flags | OFlags::DIRECTORY,
        Mode::empty(),
        ResolveFlags::empty(),
    )
    .expect("root");
    let fd = openat2(
        &root,
        path.as_str(),
        flags,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .expect("file");
    let fddir = openat2(
        CWD,
        "/proc/thread-self/fd",
        flags | OFlags::DIRECTORY,
        Mode::empty(),
        ResolveFlags::empty(),
    )
    .expect("fd dir");
    let fd_name = fd.as_raw_fd().to_string();
    let pid_dir = format!("/proc/{}", std::process::id());
    let proc_dir = openat2(
        CWD,
        pid_dir.as_str(),
        flags | OFlags::DIRECTORY,
        Mode::empty(),
        ResolveFlags::empty(),
    )
    .expect("pid dir");
    let id = StatxFlags::INO | StatxFlags::TYPE | StatxFlags::from_bits_retain(0x4000);
    let cases: Vec<Case<'_>> = vec![
        (
            "raw openat2 IN_ROOT + close (the baseline)",
            Box::new(|| {
                drop(
                    openat2(
                        &root,
                        path.as_str(),
                        flags,
                        Mode::empty(),
                        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                    )
                    .expect("openat2"),
                );
            }),
        ),
        (
            "verifying openat2 BENEATH|NO_SYMLINKS + close",
            Box::new(|| {
                let how =
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
                drop(
                    openat2(
                        &root,
                        plain.as_str(),
                        flags | OFlags::NOFOLLOW,
                        Mode::empty(),
                        how,
                    )
                    .expect("verify"),
                );
            }),
        ),
        (
            "openat2 of the root directory (absolute path) + close",
            Box::new(|| {
                drop(
                    openat2(
                        CWD,
                        dir.as_str(),
                        flags | OFlags::DIRECTORY,
                        Mode::empty(),
                        ResolveFlags::NO_SYMLINKS,
                    )
                    .expect("root"),
                );
            }),
        ),
        (
            "statx of the root directory by path (no fd)",
            Box::new(|| {
                statx(CWD, dir.as_str(), AtFlags::SYMLINK_NOFOLLOW, id).expect("statx");
            }),
        ),
        (
            "readlinkat(thread-self/fd, N) (d_path)",
            Box::new(|| {
                let mut b = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
                rustix::fs::readlinkat_raw(&fddir, fd_name.as_str(), &mut b).expect("readlink");
            }),
        ),
        (
            "statx(fd, \"\", AT_EMPTY_PATH)",
            Box::new(|| {
                statx(fd.as_fd(), "", AtFlags::EMPTY_PATH, id).expect("statx");
            }),
        ),
        (
            "statx(fd, \"\", AT_EMPTY_PATH | AT_STATX_DONT_SYNC), STATX_INO only",
            Box::new(|| {
                statx(
                    fd.as_fd(),
                    "",
                    AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC,
                    StatxFlags::INO,
                )
                .expect("statx");
            }),
        ),
        (
            "statx(/proc/<pid>, \"root\") through the magic link",
            Box::new(|| {
                statx(&proc_dir, "root", AtFlags::empty(), id).expect("statx root");
            }),
        ),
        (
            "gettid",
            Box::new(|| {
                std::hint::black_box(rustix::thread::gettid());
            }),
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..15 {
        for (i, (_, f)) in cases.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            times[i].push(t.elapsed().as_nanos() as f64 / f64::from(iters));
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let base = times[0][7];
    for ((name, _), t) in cases.iter().zip(&times) {
        println!("{:>8.0} ns {:>6.3}x  {name}", t[7], t[7] / base);
    }
}
