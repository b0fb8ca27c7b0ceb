//! The progress line of `cp` and `rm -r` (stderr on a terminal only, never with --json or
//! --quiet, only after half a second) and Ctrl-C during them (exit 130; a copy leaves no
//! `.procroot-copy-*` temporary, a removal stops between two entries).
//!
//! The terminal is a pseudo-terminal from script(1) (util-linux, in every Debian). The runs
//! that must show progress set `PROCROOT_PROGRESS_DELAY_MS=0`: no test can make a copy take
//! half a second on every machine; the default delay is checked the other way (a small copy on
//! a terminal shows nothing).

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use procroot_testutil::cli::Cli;
use procroot_testutil::Tree;

const BIN: &str = env!("CARGO_BIN_EXE_procroot");
/// No run here should take a tenth of this, even on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(120);

fn procroot() -> Cli {
    Cli::new(BIN)
}

/// `top/` with `dirs` directories of `files` small files each.
fn tree_of(dirs: usize, files: usize) -> Tree {
    let tree = Tree::new("dir top");
    for d in 0..dirs {
        let dir = tree.join(format!("top/d{d}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..files {
            fs::write(dir.join(format!("f{f}")), b"some bytes\n").unwrap();
        }
    }
    tree
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Waits for `child`, killing it past [`DEADLINE`]; returns its exit code and stderr.
fn finish(mut child: Child) -> (i32, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            let code = status
                .code()
                .unwrap_or_else(|| panic!("killed by a signal: {status:?}; {stderr}"));
            return (code, stderr);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `procroot ARGS` with a pseudo-terminal as stdin, stdout and stderr (`script -qec`),
/// and returns everything the terminal showed.
fn on_a_terminal(args: &[&str], delay_ms: Option<u32>) -> String {
    let line = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| {
            assert!(!a.contains('\''), "{a}");
            format!("'{a}'")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    // stdin stays open (a pipe nobody writes to, closed once the run is over): script(1) may
    // end the session at once when its stdin reaches EOF.
    cmd.args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match delay_ms {
        Some(ms) => cmd.env("PROCROOT_PROGRESS_DELAY_MS", ms.to_string()),
        None => cmd.env_remove("PROCROOT_PROGRESS_DELAY_MS"),
    };
    let mut child = cmd.spawn().expect("script(1) (util-linux) is needed");
    let mut out = Vec::new();
    let reader = {
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
            out
        })
    };
    let (code, stderr) = finish(child);
    let shown = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    assert_eq!(code, 0, "{args:?}: {shown} {stderr}");
    shown
}

#[test]
fn progress_appears_on_a_terminal_and_not_on_a_pipe() {
    let src = tree_of(4, 100);
    let dst = Tree::new("dir in");
    let (root, from) = (dst.path().to_str().unwrap(), src.join("top"));
    let from = from.to_str().unwrap();

    // A terminal: the line, with entries, bytes, rate and a path.
    let shown = on_a_terminal(&["cp", "--root", root, from, ":/in/a"], Some(0));
    assert!(shown.contains("copied "), "{shown}");
    assert!(
        shown.contains(" entries, ") && shown.contains("B/s)"),
        "{shown}"
    );
    // The first entry is always drawn (no delay); later ones at most every 100 ms, which a
    // fast copy may not reach.
    assert!(shown.contains(" \"top"), "{shown}");
    assert_eq!(names(&dst.join("in/a")).len(), 4);
    let shown = on_a_terminal(&["rm", "-r", "--root", root, "/in/a"], Some(0));
    assert!(
        shown.contains("removed ") && shown.contains("/s)"),
        "{shown}"
    );
    assert!(!dst.join("in/a").exists());

    // --quiet and --json: nothing, on a terminal too.
    for flag in ["--quiet", "--json"] {
        let shown = on_a_terminal(&["cp", flag, "--root", root, from, ":/in/b"], Some(0));
        assert!(!shown.contains("copied "), "{flag}: {shown}");
        let shown = on_a_terminal(&["rm", "-r", flag, "--root", root, "/in/b"], Some(0));
        assert!(!shown.contains("removed "), "{flag}: {shown}");
    }
    // The default delay: a copy that is over in well under half a second shows nothing.
    let small = tree_of(1, 3);
    let small_top = small.join("top");
    let shown = on_a_terminal(
        &["cp", "--root", root, small_top.to_str().unwrap(), ":/in/c"],
        None,
    );
    assert!(!shown.contains("copied "), "{shown}");

    // A pipe: nothing on stderr, even with no delay.
    procroot()
        .args(["cp", from, ":/in/d"])
        .root(dst.path())
        .env("PROCROOT_PROGRESS_DELAY_MS", "0")
        .run()
        .success();
    procroot()
        .args(["rm", "-r", "/in/d"])
        .root(dst.path())
        .env("PROCROOT_PROGRESS_DELAY_MS", "0")
        .run()
        .success();
}

/// Starts `procroot ARGS` with stdout and stderr on pipes.
fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `done` every 2 ms until it is true, for at most [`DEADLINE`], while `child` runs. If
/// `child` exits first (the work ended before the signal could land), fails at once, with its
/// exit status and stderr, instead of waiting out the deadline for what can no longer happen.
fn wait_until(child: &mut Child, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            panic!("procroot exited ({status}) before {what} was seen: {stderr}");
        }
        assert!(start.elapsed() < DEADLINE, "never saw {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn sigint(child: &Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
}

#[test]
fn ctrl_c_during_cp_leaves_no_temporary_and_exits_130() {
    // 20000 entries: seconds of work, so the SIGINT lands in the middle of it.
    let src = tree_of(20, 1000);
    let dst = Tree::new("dir in");
    let from = src.join("top");
    let mut child = spawn(&[
        "cp",
        "--root",
        dst.path().to_str().unwrap(),
        from.to_str().unwrap(),
        ":/in/copy",
    ]);
    // The copy is being built under its temporary name: interrupt it there.
    wait_until(&mut child, "the temporary", || {
        names(&dst.join("in"))
            .iter()
            .any(|n| n.starts_with(".procroot-copy-"))
    });
    sigint(&child);
    let (code, stderr) = finish(child);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.starts_with("procroot: interrupted: copy in \"/in/copy\"")
            && stderr.contains("(ECANCELED)"),
        "{stderr}"
    );
    // Nothing left: no temporary, no copy.
    assert_eq!(names(&dst.join("in")), Vec::<String>::new());
    assert_eq!(names(&src.join("top")).len(), 20);
}

#[test]
fn ctrl_c_during_rm_r_stops_cleanly_and_exits_130() {
    let tree = tree_of(20, 1000);
    // The first file the removal meets: the first entry of the first directory, in the order
    // getdents returns them (the walker reads them the same way).
    let first_dir = fs::read_dir(tree.join("top"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let first_file = fs::read_dir(&first_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut child = spawn(&[
        "rm",
        "-r",
        "--root",
        tree.path().to_str().unwrap(),
        "/top",
        "/top",
    ]);
    wait_until(&mut child, "the first removal", || !first_file.exists());
    sigint(&child);
    let (code, stderr) = finish(child);
    assert_eq!(code, 130, "{stderr}");
    // One message: the second PATH is not attempted after Ctrl-C.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("procroot: interrupted: remove_all \"/top\"")
            && stderr.contains("(ECANCELED)"),
        "{stderr}"
    );
    // Stopped in the middle: part of the tree is still there.
    let left: usize = names(&tree.join("top"))
        .iter()
        .map(|d| names(&tree.join("top").join(d)).len())
        .sum();
    assert!(left > 0 && left < 20_000, "{left}");
}

/// The entries below the top of `dir` (one level of subdirectories).
fn entries_below(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| 1 + fs::read_dir(e.unwrap().path()).map_or(0, |d| d.count()))
                .sum()
        })
        .unwrap_or(0)
}

/// Issue 20 item 1: a second Ctrl-C, while the copy stopped by the first is being undone,
/// stops the undo: exit 130, the temporary kept with what is left of it, and named.
#[test]
fn ctrl_c_during_the_undo_of_a_copy_keeps_the_temporary_and_exits_130() {
    let src = tree_of(20, 1000);
    let dst = Tree::new("dir in");
    let from = src.join("top");
    let mut child = spawn(&[
        "cp",
        "--root",
        dst.path().to_str().unwrap(),
        from.to_str().unwrap(),
        ":/in/copy",
    ]);
    let temp = || {
        names(&dst.join("in"))
            .into_iter()
            .find(|n| n.starts_with(".procroot-copy-"))
    };
    wait_until(&mut child, "the temporary", || temp().is_some());
    let temp = dst.join("in").join(temp().unwrap());
    // Enough copied that the undo takes a while.
    wait_until(&mut child, "a copy 3000 entries big", || {
        entries_below(&temp) >= 3000
    });
    sigint(&child);
    let mut most = 0;
    wait_until(&mut child, "the undo removing entries", || {
        let now = entries_below(&temp);
        most = most.max(now);
        now + 20 < most
    });
    sigint(&child);
    let (code, stderr) = finish(child);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.starts_with("procroot: interrupted: copy in \"/in/copy\"")
            && stderr.contains("was stopped; the temporary")
            && stderr.contains(temp.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );
    assert!(temp.exists(), "the temporary is kept");
    assert!(entries_below(&temp) > 0);
    fs::remove_dir_all(&temp).unwrap();
}

/// Issue 20 item 5: Ctrl-C while `write` waits for more input on a pipe held open: exit 130,
/// the temporary removed, the target unchanged.
#[test]
fn ctrl_c_during_write_removes_the_temporary_and_exits_130() {
    let tree = Tree::new("file etc/motd old motd");
    let mut child = Command::new(BIN)
        .args([
            "write",
            "--root",
            tree.path().to_str().unwrap(),
            "/etc/motd",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"half a li").unwrap();
    wait_until(&mut child, "the temporary", || {
        names(&tree.join("etc"))
            .iter()
            .any(|n| n.starts_with(".procroot-copy-"))
    });
    // Let it read the bytes and block for more.
    std::thread::sleep(Duration::from_millis(200));
    sigint(&child);
    let (code, stderr) = finish(child);
    drop(stdin);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.starts_with("procroot: interrupted: write \"/etc/motd\""),
        "{stderr}"
    );
    assert_eq!(names(&tree.join("etc")), ["motd"]);
    assert_eq!(fs::read(tree.join("etc/motd")).unwrap(), b"old motd");
}

/// Issue 20, Performance: `procroot rm -r` of a 10,000-deep tree works under `ulimit -n 128`.
/// With `--no-sandbox`: Landlock checks each access by walking from the file up to the rule's
/// directory, so at this depth the sandboxed removal costs O(depth²) in the kernel (37.7 s
/// against 0.29 s, release build; BENCHMARKS.md section 8), past any sane deadline for a debug
/// build on a loaded machine. The fd bound is the same either way.
#[test]
fn rm_r_10000_deep_at_ulimit_128() {
    let tree = Tree::new("dir deep");
    // One fd at a time: no path is this long.
    let mut cur = procroot_testutil::open_dir(tree.join("deep"));
    for _ in 0..10_000 {
        rustix::fs::mkdirat(&cur, "d", rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
        cur = rustix::fs::openat(
            &cur,
            "d",
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
    }
    drop(cur);
    let child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 128 && exec \"$0\" rm -r --no-sandbox --root \"$1\" /deep")
        .arg(BIN)
        .arg(tree.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(!tree.join("deep").exists());
}

#[test]
fn unpack_shows_progress_on_a_terminal_and_not_with_quiet() {
    // A layer of 400 small files, written by GNU tar from a tree (what a user unpacks).
    let src = tree_of(4, 100);
    let layer = src.join("layer.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&layer)
        .arg("-C")
        .arg(src.path())
        .arg("top")
        .status()
        .unwrap();
    assert!(status.success());
    let dst = Tree::new("dir a\ndir b");
    let layer = layer.to_str().unwrap();
    let a = dst.join("a");
    let shown = on_a_terminal(&["unpack", "--root", a.to_str().unwrap(), layer], Some(0));
    assert!(
        shown.contains("unpacked ") && shown.contains(" entries, ") && shown.contains("B/s)"),
        "{shown}"
    );
    assert_eq!(names(&dst.join("a/top")).len(), 4);
    let b = dst.join("b");
    let shown = on_a_terminal(
        &["unpack", "-q", "--root", b.to_str().unwrap(), layer],
        Some(0),
    );
    assert!(!shown.contains("unpacked "), "{shown}");
    assert_eq!(names(&dst.join("b/top")).len(), 4);
}
