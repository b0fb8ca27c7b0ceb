//! Race tests: the rename-exchange attack.
//!
//! Modelled on the kernel's openat2 selftest (`tools/testing/selftests/openat2/
//! rename_attack_test.c`): an attacker process swaps a directory inside the root with a
//! directory outside it, over and over, with `renameat2(RENAME_EXCHANGE)`. A resolver that
//! opens `..` for real can be carried out of the root when the directory it stands in is
//! swapped out from under it. Meanwhile the test resolves `..`-heavy paths and checks every
//! successful result: it must be the in-root object the path names, never anything outside.
//!
//! ```text
//! top/
//! |-- root/               <- the Root
//! |   |-- a/
//! |   |   |-- b/          <- swapped with top/outside/x, over and over
//! |   |   |   `-- c/d/
//! |   |   `-- secret      (a decoy file)
//! |   `-- outside/secret  (a decoy file)
//! `-- outside/            <- never inside the root
//!     |-- secret          (the file an escape would reach)
//!     `-- x/c/d/          <- takes b's place inside the root half of the time
//! ```
//!
//! Every probe path names something that exists in both states, so an honest resolution always
//! succeeds or detects the race (`EAGAIN`, `EXDEV`); an escape lands on `top/outside/secret`,
//! `top/outside`, `top` or above. Errors are acceptable (detection is a correct outcome); a
//! success on any object that is never inside the root is an escape, and a success on an
//! in-root object other than the one the path names is a wrong answer. Both must be zero.
//!
//! Each policy × backend runs [`CI_ITERATIONS`] resolutions, alternating `resolve` and
//! `resolve_parent` (the except-last walk); `PROCROOT_RACE_LONG=1` runs [`LONG_ITERATIONS`].
//!
//! `kernel_backend_survives_rename_churn` checks the other side of the kernel's protection: the
//! `EAGAIN` that `openat2` gives when a `..` lookup overlaps a rename must not become a failure
//! under heavy rename churn.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use procroot::{Backend, OFlags, Policy, Root};
use procroot_testutil::racer::exchange;
use procroot_testutil::{fd_identity, identity, open_dir, with_racing_thread, Racer, Swap};
use rustix::fs::Mode;
use rustix::io::Errno;

/// Resolutions per policy × backend in the default (CI) mode.
const CI_ITERATIONS: usize = 20_000;
/// Resolutions per policy × backend with `PROCROOT_RACE_LONG=1`.
const LONG_ITERATIONS: usize = 1_000_000;
/// The attack must have swapped at least this often during a run, or it proved nothing.
const MIN_SWAPS: u64 = 1_000;

fn iterations() -> usize {
    procroot_testutil::race_rounds(CI_ITERATIONS, LONG_ITERATIONS)
}

/// A path to resolve under attack, and what it names when nobody escapes.
#[derive(Clone, Copy)]
struct Probe {
    path: &'static str,
    /// What it names under [`Policy::InRoot`] (a path relative to the root, `""` for the root).
    in_root: &'static str,
    /// What it names under [`Policy::InRootStrict`] and [`Policy::Beneath`]; `None` when it
    /// climbs above the root, which those policies refuse with `EXDEV`.
    strict: Option<&'static str>,
}

const PROBES: &[Probe] = &[
    // From b/c, `../..` climbs out of the root if b is swapped out meanwhile, and `secret` is
    // then the real secret next to it.
    Probe {
        path: "a/b/c/../../secret",
        in_root: "a/secret",
        strict: Some("a/secret"),
    },
    // Four levels up from b/c/d is the root, or, after an escape, `top`, whose `outside/secret`
    // is the real secret.
    Probe {
        path: "a/b/c/d/../../../../outside/secret",
        in_root: "outside/secret",
        strict: Some("outside/secret"),
    },
    Probe {
        path: "a/b/c/d/../../../..",
        in_root: "",
        strict: Some(""),
    },
    Probe {
        path: "a/b/../../..//../a/b/c/../../..",
        in_root: "",
        strict: None,
    },
    Probe {
        path: "a/b/c/d/../../../../../../../../../../outside/secret",
        in_root: "outside/secret",
        strict: None,
    },
    // The selftest's shape: many short down-and-up trips through the swapped directory.
    Probe {
        path: "a/b/c/../../b/c/../../b/c/../../b/c/../../b/c/../../b/c/../../b/c/../..",
        in_root: "a",
        strict: Some("a"),
    },
];

/// What is done with a probe path.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `Root::resolve`: the object itself.
    Resolve,
    /// `Root::resolve_parent`: the parent of the last component (the except-last walk).
    ResolveParent,
}

impl Op {
    /// What `path`, which names `rel` (relative to the root), gives with this operation.
    fn expected<'a>(self, path: &str, rel: &'a str) -> &'a str {
        match self {
            // A path ending in `..` has no last name, and is resolved in full.
            Op::ResolveParent if !path.ends_with("..") => rel.rsplit_once('/').map_or("", |p| p.0),
            _ => rel,
        }
    }
}

/// The directory layout (see the module docs), removed on drop.
struct Layout {
    dir: tempfile::TempDir,
    /// Every object that is ever inside the root, whichever way round the swap is.
    in_root: HashSet<(u64, u64)>,
    /// Names for objects, for the summary.
    names: HashMap<(u64, u64), String>,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::Builder::new()
            .prefix("procroot-race-")
            .tempdir()
            .expect("tempdir");
        let top = dir.path();
        for d in ["root/a/b/c/d", "root/outside", "outside/x/c/d"] {
            std::fs::create_dir_all(top.join(d)).expect("mkdir");
        }
        std::fs::write(top.join("root/a/secret"), b"decoy a/secret").expect("write");
        std::fs::write(top.join("root/outside/secret"), b"decoy outside/secret").expect("write");
        std::fs::write(top.join("outside/secret"), b"SECRET").expect("write");

        let mut names = HashMap::new();
        for rel in [
            "root",
            "root/a",
            "root/a/b",
            "root/a/b/c",
            "root/a/b/c/d",
            "root/a/secret",
            "root/outside",
            "root/outside/secret",
            "outside/x",
            "outside/x/c",
            "outside/x/c/d",
        ] {
            names.insert(identity(top.join(rel)), rel.to_string());
        }
        let in_root = names.keys().copied().collect();
        for rel in ["outside", "outside/secret"] {
            names.insert(identity(top.join(rel)), format!("{rel} (OUTSIDE THE ROOT)"));
        }
        names.insert(identity(top), "top (OUTSIDE THE ROOT)".to_string());
        Layout {
            dir,
            in_root,
            names,
        }
    }

    fn top(&self) -> &Path {
        self.dir.path()
    }

    fn root(&self) -> PathBuf {
        self.top().join("root")
    }

    /// The identity of `rel` (relative to the root) before the attack starts.
    fn id_in_root(&self, rel: &str) -> (u64, u64) {
        identity(self.root().join(rel))
    }

    fn name(&self, id: (u64, u64)) -> String {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("dev {} ino {} (OUTSIDE THE ROOT)", id.0, id.1))
    }
}

/// What one policy × backend run saw.
#[derive(Default)]
struct Tally {
    iterations: usize,
    successes: usize,
    errors: BTreeMap<String, usize>,
    escapes: Vec<String>,
    wrong: Vec<String>,
}

/// Resolves the probes under attack `iterations` times with `resolve`, classifying each result.
fn attack(
    layout: &Layout,
    probes: &[Probe],
    policy: Policy,
    label: &str,
    iterations: usize,
    ops: &[Op],
    mut resolve: impl FnMut(&str, Op) -> Result<(u64, u64), Errno>,
) -> (Tally, u64) {
    // expected[probe][op]
    let expected: Vec<Vec<Option<(u64, u64)>>> = probes
        .iter()
        .map(|p| {
            let rel = match policy {
                Policy::InRoot => Some(p.in_root),
                Policy::InRootStrict | Policy::Beneath => p.strict,
            };
            ops.iter()
                .map(|op| rel.map(|r| layout.id_in_root(op.expected(p.path, r))))
                .collect()
        })
        .collect();

    // The attacker exchanges root/a/b with outside/x. The file system must support
    // RENAME_EXCHANGE: try it once (and back).
    let (b, x) = (
        layout.top().join("root/a/b"),
        layout.top().join("outside/x"),
    );
    exchange(&b, &x).expect("renameat2(RENAME_EXCHANGE) is supported");
    exchange(&b, &x).expect("renameat2(RENAME_EXCHANGE) back");
    let mut attacker = Racer::swapping(&[Swap::Exchange(b, x)]);

    let mut tally = Tally {
        iterations,
        ..Tally::default()
    };
    let start = Instant::now();
    for i in 0..iterations {
        let which = i % probes.len();
        let probe = &probes[which];
        let op_index = (i / probes.len()) % ops.len();
        let op = ops[op_index];
        match resolve(probe.path, op) {
            Ok(id) if !layout.in_root.contains(&id) => {
                tally
                    .escapes
                    .push(format!("{op:?} {} -> {}", probe.path, layout.name(id)));
            }
            Ok(id) if Some(id) != expected[which][op_index] => {
                tally
                    .wrong
                    .push(format!("{op:?} {} -> {}", probe.path, layout.name(id)));
            }
            Ok(_) => tally.successes += 1,
            Err(errno) => {
                *tally
                    .errors
                    .entry(procroot::error::errno_name(errno).to_string())
                    .or_default() += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    let swaps = attacker.finish();

    println!(
        "{label}: {} iterations in {:.2?}, {} swaps by the attacker, {} successes, errors {:?}, \
         {} wrong, {} escapes",
        tally.iterations,
        elapsed,
        swaps,
        tally.successes,
        tally.errors,
        tally.wrong.len(),
        tally.escapes.len()
    );
    (tally, swaps)
}

/// Runs the attack against `Root` with the given policy and backend, and asserts no escapes.
fn race(policy: Policy, backend: Backend) {
    let layout = Layout::new();
    let root = Root::open(layout.root())
        .expect("open root")
        .with_policy(policy)
        .with_backend(backend);
    let label = format!("{policy:?} / {backend:?}");
    let ops = [Op::Resolve, Op::ResolveParent];
    let (tally, swaps) = attack(
        &layout,
        PROBES,
        policy,
        &label,
        iterations(),
        &ops,
        |path, op| {
            let handle = match op {
                Op::Resolve => root.resolve(path),
                Op::ResolveParent => root.resolve_parent(path).map(|(h, _)| h),
            };
            handle.map(|h| fd_identity(&h)).map_err(|e| e.errno())
        },
    );
    assert!(
        swaps >= MIN_SWAPS,
        "{label}: the attacker swapped only {swaps} times; the attack was not real"
    );
    assert!(
        tally.escapes.is_empty(),
        "{label}: {} escapes out of the root, e.g. {:?}",
        tally.escapes.len(),
        &tally.escapes[..tally.escapes.len().min(5)]
    );
    assert!(
        tally.wrong.is_empty(),
        "{label}: {} wrong (in-root but not the named) results, e.g. {:?}",
        tally.wrong.len(),
        &tally.wrong[..tally.wrong.len().min(5)]
    );
    assert!(
        tally.successes > 0 || policy != Policy::InRoot,
        "{label}: not a single resolution succeeded; the test proves nothing"
    );
}

#[test]
fn rename_exchange_in_root_emulated() {
    race(Policy::InRoot, Backend::Emulated);
}

#[test]
fn rename_exchange_in_root_kernel() {
    race(Policy::InRoot, Backend::Kernel);
}

#[test]
fn rename_exchange_in_root_strict_emulated() {
    race(Policy::InRootStrict, Backend::Emulated);
}

#[test]
fn rename_exchange_in_root_strict_kernel() {
    race(Policy::InRootStrict, Backend::Kernel);
}

#[test]
fn rename_exchange_beneath_emulated() {
    race(Policy::Beneath, Backend::Emulated);
}

#[test]
fn rename_exchange_beneath_kernel() {
    race(Policy::Beneath, Backend::Kernel);
}

/// The control: a plain `openat(2)` of the paths that stay inside the root when nobody races,
/// which opens `..` for real. It is not asserted to escape (that depends on scheduling), only
/// reported, to show what the attack does to a resolver without protection.
#[test]
fn rename_exchange_naive_openat_control() {
    let layout = Layout::new();
    let root_fd = open_dir(layout.root());
    let probes: Vec<Probe> = PROBES
        .iter()
        .copied()
        .filter(|p| p.strict.is_some())
        .collect();
    let (tally, swaps) = attack(
        &layout,
        &probes,
        Policy::InRoot,
        "naive openat (control)",
        iterations(),
        &[Op::Resolve],
        |path, _| {
            rustix::fs::openat(
                root_fd.as_fd(),
                path,
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map(|fd| fd_identity(&fd))
        },
    );
    assert!(
        swaps >= MIN_SWAPS,
        "the attacker swapped only {swaps} times"
    );
    if let Some(example) = tally.escapes.first() {
        println!("naive openat escaped, for example: {example}");
    }
}

/// Rename churn anywhere on the system makes `openat2` fail with `EAGAIN` when a lookup that
/// crosses `..` overlaps a rename (the kernel checks a global rename sequence count), and a long
/// lookup on a host that renames flat out may never fit between two renames. The library
/// retries, then lets the emulated walker answer. So even with [`Backend::Kernel`] forced, every
/// resolution must succeed on the right file, and some must have been answered by the fallback,
/// or the churn did not exercise it.
#[test]
fn kernel_backend_survives_rename_churn() {
    const LINKS: usize = 30;
    // At least this many resolutions, and then until this many fallbacks were seen (or the time
    // is up): how often a lookup loses to the renamer depends on the machine's scheduling.
    const MIN_RESOLUTIONS: usize = 5_000;
    const ENOUGH_FALLBACKS: usize = 20;
    const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);
    // l0 -> d/../l1 -> ... -> d/../l30 -> d/f: 31 links, each with a `..`.
    let mut spec = String::from("dir d\nfile d/f target\n");
    for i in 0..LINKS {
        spec.push_str(&format!("symlink l{i} d/../l{}\n", i + 1));
    }
    spec.push_str(&format!("symlink l{LINKS} d/f\n"));
    let tree = procroot_testutil::Tree::new(&spec);
    let want = identity(tree.path().join("d/f"));
    let root = Root::open(tree.path())
        .expect("open root")
        .with_backend(Backend::Kernel);

    let churn = tempfile::tempdir().expect("tempdir");
    std::fs::write(churn.path().join("a"), b"").expect("create churn file");
    let (mut fallbacks, mut resolutions) = (0usize, 0usize);
    let start = Instant::now();
    let (a, b) = (churn.path().join("a"), churn.path().join("b"));
    let renamer = || {
        std::fs::rename(&a, &b).expect("rename a b");
        std::fs::rename(&b, &a).expect("rename b a");
        true
    };
    // The renamer stops however this ends, a failed assertion included (it used to wait for
    // the renamer forever).
    let ((), rounds) = with_racing_thread(renamer, || {
        while resolutions < MIN_RESOLUTIONS
            || (fallbacks < ENOUGH_FALLBACKS && start.elapsed() < TIME_LIMIT)
        {
            let i = resolutions;
            resolutions += 1;
            let handle = root
                .resolve("l0")
                .unwrap_or_else(|e| panic!("resolution {i} under rename churn failed: {e}"));
            assert_eq!(
                fd_identity(&handle),
                want,
                "resolution {i} opened the wrong file"
            );
            if handle.backend() == procroot::BackendUsed::Emulated {
                fallbacks += 1;
            }
        }
    });
    let renames = 2 * rounds;
    println!(
        "{resolutions} resolutions under {renames} renames: {fallbacks} answered by the \
         emulated walker after openat2 kept failing with EAGAIN"
    );
    assert!(
        fallbacks > 0,
        "openat2 never gave up with EAGAIN under {renames} renames, so the fallback was not \
         exercised; the test needs more churn on this machine"
    );
}

/// A mount or unmount anywhere on the system during a lookup makes the kernel restart the
/// lookup (its lockless walk cannot be made to stick: `ECHILD`, then a walk with references),
/// and the restarted walk keeps counting symlinks from where the first one stopped
/// (`nameidata.total_link_count` is set once per call). A path through 40 symlinks, which the
/// kernel allows, then fails with a spurious `ELOOP`: seen about once in 150 lookups under
/// this churn. The library asks the kernel again on `ELOOP` (a bounded number of times; a
/// real `ELOOP` is the same every time), so every resolution of such a path must succeed,
/// and always on the right file: the answer stays the kernel's own.
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn kernel_backend_survives_mount_churn_on_a_40_link_path() {
    procroot_testutil::require_privilege("CAP_SYS_ADMIN (mounts in a private mount namespace)");
    // Resolutions go on until the mounter has made this many mount/unmount pairs (with at
    // least MIN_RESOLUTIONS made), or the time is up: how many lookups overlap a mount depends
    // on the machine's scheduling.
    const MOUNT_PAIRS: u64 = 3_000;
    const MIN_RESOLUTIONS: usize = 3_000;
    const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
    use std::sync::atomic::{AtomicU64, Ordering};
    let pairs = AtomicU64::new(0);
    // ch/l1 -> l2 -> ... -> l40 -> ../f: exactly 40 links, the kernel's limit.
    let mut spec = String::from("file f target\ndir ch\n");
    for i in 1..=40 {
        let target = if i == 40 {
            "../f".to_string()
        } else {
            format!("l{}", i + 1)
        };
        spec.push_str(&format!("symlink ch/l{i} {target}\n"));
    }
    let tree = procroot_testutil::Tree::new(&spec);
    let want = identity(tree.path().join("f"));
    let mountpoint = tempfile::tempdir().expect("tempdir");
    // The mounts are made in a forked child's private mount namespace: never the host's.
    procroot_testutil::in_private_mount_ns(|| {
        let root = Root::open(tree.path())
            .expect("open root")
            .with_backend(Backend::Kernel);
        let mounter = || {
            procroot_testutil::mount_raw(Some("none"), mountpoint.path(), Some("tmpfs"), 0, None)
                .expect("mount tmpfs");
            rustix::mount::unmount(mountpoint.path(), rustix::mount::UnmountFlags::DETACH)
                .expect("unmount tmpfs");
            pairs.fetch_add(1, Ordering::Relaxed);
            true
        };
        let start = Instant::now();
        let (resolutions, rounds) = with_racing_thread(mounter, || {
            let mut n = 0;
            while (n < MIN_RESOLUTIONS || pairs.load(Ordering::Relaxed) < MOUNT_PAIRS)
                && start.elapsed() < TIME_LIMIT
            {
                let handle = root
                    .resolve("ch/l1")
                    .unwrap_or_else(|e| panic!("resolution {n} under mount churn failed: {e}"));
                assert_eq!(fd_identity(&handle), want, "resolution {n}: the wrong file");
                n += 1;
            }
            n
        });
        println!("{resolutions} resolutions under {rounds} mount/unmount pairs");
        assert!(rounds > 0, "the mounter never ran");
    });
}
