//! `procroot harden`, `procroot mount-proc` and `procroot sysctl`: the container layer of the
//! library (`procroot::container`) from the command line.

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use procroot::container::{
    self, HardenOptions, HidePid, OciHardening, ProcfsMountOptions, Report, SysctlNamespace,
};
use procroot::Root;
use serde_json::{json, Value};

use procroot::error::{errno_name, Quoted};

use crate::output::{insert_os, print_bytes, print_json, Failure};

/// Arguments of `procroot harden`.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    long_about = "\
Mask and make read-only paths of a container rootfs, in the current mount namespace

Every path is resolved inside DIR (symlinks, at the path or an ancestor, are followed inside
DIR, never out of it) to a file descriptor, and the mount is attached onto that descriptor
with move_mount(2): a rename or a symlink swap inside DIR can never make a mount land outside
it. Paths are done one at a time (no descriptor is held per path: any number of paths works
under a low open-file limit).

  unshare -m --propagation slave procroot harden --root /var/lib/ctr/rootfs --defaults
  procroot harden --root DIR --config config.json --json

What it does:
  - A masked file is covered with the host's /dev/null, checked to be the character device
    1:3 (never DIR's own /dev/null: CVE-2025-31133), read-only, nosuid, noexec (not nodev:
    opening the mask would then fail with EACCES instead of reading empty, as runc's do); a
    masked directory with an empty read-only nosuid,nodev,noexec tmpfs.
  - A read-only path gets a recursive read-only clone of itself: every mount below it is
    read-only too, each keeping its own nosuid, nodev, noexec and atime flags.
  - Every mount is private (in no peer group) before it is attached: a mount later made on
    top of a mask inside DIR never reaches the host's /dev/null or a bind source.
  - Missing paths are skipped (also a path under a file, /proc/kcore/x). A trailing / or /. on
    a file (/proc/timer_list/) is refused. A path is applied once per name: a second path
    reaching the very same file through a symlink is skipped; hard links are distinct names,
    each covered.
  - After the mounts, it looks for processes that already have their working directory, root
    or an open file at or below a covered path (through procroot's own procfs, each candidate
    checked by mount id and inode): such a process keeps the old, writable, unmasked view,
    since lookups that start below a mount never cross it. They are listed as `preexisting`,
    and the exit status is 1.

What the caller must provide:
  - DIR's /proc mounted first (procroot mount-proc --root DIR /proc), in the container's
    private mount namespace. When paths under /proc are asked for and DIR's /proc is not a
    procfs (fstatfs of /proc resolved inside DIR, never mountinfo's text), those paths would
    be skipped: harden warns on stderr (with --json, under `warnings`) and goes on; with
    --strict it fails instead (exit 1), before mounting anything.
  - The container's mount namespace, not the host's, and one whose mounts do not propagate to
    the host: make DIR's mounts slave or private first (unshare -m --propagation slave, or
    mount --make-rslave), as runc does. A mount attached under a shared parent is propagated
    to that parent's peers by the kernel.
  - Hardening must finish before any process runs in DIR or holds anything inside it.
  - The new mount API (Linux 5.2; mount_setattr 5.12). Without it the mounts are made with
    mount(2) on /proc/thread-self/fd/N, checked through procroot's own procfs, found again by
    mount id (in mountinfo), made private at once, every mount of a read-only subtree
    remounted read-only (a mount hidden under another cannot be reached: the path is refused
    and its mounts undone), and reported as `fallback`.

--defaults applies runc's default masked and read-only lists and Docker's additions
(/proc/interrupts, /sys/devices/virtual/powercap, /sys/devices/system/cpu/cpu*/thermal_throttle).
A `*` in a path (there, or in --mask, --readonly, --config) is expanded inside DIR when harden
runs, and each existing match is masked and reported on its own. --config reads linux.maskedPaths and
linux.readonlyPaths of an OCI runtime config.json (a regular file: a FIFO or device is refused
by type, unopened; a parse error keeps the parser's line, column and field). Its linux.sysctl
entries are not applied: those a container may own are listed with the command that applies
them in its namespaces (procroot sysctl --pid); machine-wide ones (kernel.core_pattern) are
refused, as sysctl --pid would refuse them, and make the exit status 1. --readonly-proc is
Docker's read-only /proc mode: DIR's whole /proc and /sys are made read-only (before the
read-only paths); LSM label writes still work, as procroot writes labels through its own
procfs instance.

Errors: the host's /dev/null is checked before any mount; if it is not the null device,
nothing is mounted and the exit status is 1. From the first mount on, every mount made is
reported, and every failure is listed under `refused`.

Output: one line per path: `masked P`, `read-only P`, `skipped P: REASON`, `refused P: ERROR`,
`fallback P`, and `preexisting PID HANDLE: P` (HANDLE is cwd, root or fd N). With --json, one
object:
  {\"masked\": [...], \"readonly\": [...], \"skipped\": [{\"path\": P, \"reason\": R}],
   \"refused\": [{\"path\": P, \"errno\": \"EXDEV\", \"message\": M}], \"fallback\": [...],
   \"preexisting\": [{\"pid\": N, \"handle\": \"cwd\", \"path\": P}],
   \"warnings\": [{\"path\": \"/proc\", \"message\": M}],
   \"sysctl\": {\"name\": \"value\"},
   \"sysctl_refused\": [{\"name\": N, \"value\": V, \"errno\": \"EINVAL\", \"message\": M}]}
Exit status 1 if anything was refused or a preexisting handle was found."
)]
pub struct HardenArgs {
    /// The container's root directory. `--rootfs` is another spelling of this option, kept for
    /// the command lines written before every command took `--root`.
    #[arg(long, visible_alias = "rootfs", value_name = "DIR")]
    pub root: PathBuf,
    /// runc's default masked and read-only paths, plus Docker's masked additions.
    #[arg(long)]
    pub defaults: bool,
    /// An OCI runtime config.json: its linux.maskedPaths and linux.readonlyPaths.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A path (inside DIR) to mask. Repeatable.
    #[arg(long = "mask", value_name = "P")]
    pub mask: Vec<PathBuf>,
    /// A path (inside DIR) to make read-only. Repeatable.
    #[arg(long = "readonly", value_name = "P")]
    pub readonly: Vec<PathBuf>,
    /// Also make DIR's whole /proc and /sys read-only (Docker's read-only /proc mode).
    #[arg(long)]
    pub readonly_proc: bool,
    /// Fail (exit 1, nothing mounted) instead of warning when paths under /proc are asked
    /// for and DIR's /proc is not a procfs.
    #[arg(long)]
    pub strict: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `procroot mount-proc`.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    long_about = "\
Mount a new procfs on DEST inside a root, in the current mount namespace

DEST must resolve inside DIR to a real directory with no symlink anywhere on the way: a
symlink is refused (ELOOP), a file too (ENOTDIR), and nothing is mounted (CVE-2019-19921,
CVE-2023-27561). The mount is nosuid,nodev,noexec and attached onto DEST's file descriptor.

  unshare -m procroot mount-proc --root /var/lib/ctr/rootfs --pidns /proc/4242/ns/pid /proc

DEST must not be below DIR's /proc or on a procfs (EPERM: a procfs on /proc/sys would undo
the masks there); DIR's /proc itself is where it belongs. Without the new mount API (Linux
before 5.2, or a seccomp filter refusing fsopen/move_mount) the mount is made with mount(2) on
/proc/thread-self/fd/N and reported as `fallback`.

--pidns NSPATH shows that PID namespace (its init is PID 1). NSPATH is opened O_PATH and must
be a PID namespace file (/proc/PID/ns/pid): a FIFO, a device or anything else is refused by
type, unopened. The instance comes from the pidns= mount option on Linux 6.18+, otherwise
from a helper process that procroot forks into the namespace (non-dumpable; procroot runs
from a sealed copy of its binary, so the helper's /proc/PID/exe is never the file on disk).
Needs CAP_SYS_ADMIN over the namespace's user namespace, and the new mount API: without it
--pidns fails up front (NotSupported, ENOSYS, nothing mounted). --subset-pid shows only
process directories; --hidepid takes 0, 1, 2, 4 or off, noaccess, invisible, ptraceable.
Run it in the container's mount namespace (unshare -m), before any container process starts."
)]
pub struct MountProcArgs {
    /// The container's root directory.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// A PID namespace file (/proc/PID/ns/pid) whose processes the new procfs shows.
    #[arg(long, value_name = "NSPATH")]
    pub pidns: Option<PathBuf>,
    /// Mount with subset=pid (only process directories, self and thread-self).
    #[arg(long)]
    pub subset_pid: bool,
    /// Mount with hidepid=N.
    #[arg(long, value_name = "N")]
    pub hidepid: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Where to mount, inside DIR (usually /proc).
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
}

/// Arguments of `procroot sysctl`.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    long_about = "\
Read or write a sysctl through procroot's own procfs

NAME is dotted (kernel.hostname) or a path under /proc/sys (kernel/hostname; with a slash,
dots are part of the names, as in net/ipv4/conf/eth0.100/forwarding). A name that is empty,
absolute, or has `.`, `..` or a NUL byte is refused (EINVAL). NAME=VALUE writes VALUE in one
write(2); NAME alone prints the value. The file is opened through a private procfs instance:
a /proc mounted over, or a file mounted over inside /proc/sys, is refused (EXDEV).

  procroot sysctl kernel.ostype
  procroot sysctl --pid 4242 net.ipv4.ip_forward=1

--pid PID reads or writes the sysctl in the namespace of PID that owns it, or refuses (exit 1,
nothing opened). Accepted, as runc's validator accepts them for a container:
  net.*                                    PID's network namespace
  kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall,
  kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced, fs.mqueue.*
                                           PID's IPC namespace
  kernel.hostname, kernel.domainname       PID's UTS namespace
  user.*                                   PID's user namespace
  kernel.pid_max                           PID's PID namespace (Linux 6.14+)
Anything else (kernel.core_pattern, vm.*, most of fs.*) is the whole machine's: refused
(EINVAL, \"not in a separate kernel namespace\"). So is a name whose namespace PID shares
with procroot (a container in the host's network namespace has the host's net.*). user.* and
kernel.pid_max are opened by a helper forked into PID's user and PID namespaces (so procroot
runs from a sealed copy of its binary first); the others by a thread that joined the one
namespace. Needs CAP_SYS_ADMIN over those namespaces; on a kernel where kernel.pid_max is
machine-wide (before 6.14) it is refused (NotSupported)."
)]
pub struct SysctlArgs {
    /// Act in the namespace of this process that owns the sysctl (see above), or refuse.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// NAME to read, or NAME=VALUE to write.
    #[arg(value_name = "NAME[=VALUE]")]
    pub name: String,
}

/// A path of a report in JSON: the string itself when it is UTF-8, else an object with the
/// lossy text and a `path_base64` twin holding the exact bytes (as every command's `--json`).
fn path_json(path: &Path) -> Value {
    match path.to_str() {
        Some(text) => Value::from(text),
        None => Value::Object(entry_json(path)),
    }
}

/// `{"path": ...}` (with a `path_base64` twin where needed), to add fields to.
fn entry_json(path: &Path) -> serde_json::Map<String, Value> {
    let mut obj = serde_json::Map::new();
    insert_os(&mut obj, "path", path.as_os_str());
    obj
}

fn report_json(report: &Report, sysctl: &serde_json::Map<String, Value>) -> Value {
    let paths = |list: &[PathBuf]| list.iter().map(|p| path_json(p)).collect::<Vec<_>>();
    let skipped = report.skipped.iter().map(|(p, why)| {
        let mut obj = entry_json(p);
        obj.insert("reason".into(), Value::from(why.to_string()));
        Value::Object(obj)
    });
    let refused = report.refused.iter().map(|(p, e)| {
        let mut obj = entry_json(p);
        obj.insert("errno".into(), Value::from(errno_name(e.errno())));
        obj.insert("message".into(), Value::from(e.to_string()));
        Value::Object(obj)
    });
    let preexisting = report.preexisting.iter().map(|h| {
        let mut obj = entry_json(&h.path);
        obj.insert("pid".into(), Value::from(h.pid));
        obj.insert("handle".into(), Value::from(h.handle.clone()));
        Value::Object(obj)
    });
    json!({
        "masked": paths(&report.masked),
        "readonly": paths(&report.readonly),
        "mounted": paths(&report.mounted),
        "skipped": skipped.collect::<Vec<_>>(),
        "refused": refused.collect::<Vec<_>>(),
        "fallback": paths(&report.fallback),
        "preexisting": preexisting.collect::<Vec<_>>(),
        "sysctl": sysctl,
    })
}

/// The text report: one line per path, by what happened to it.
fn report_text(report: &Report) -> String {
    // Writing to a String cannot fail.
    let mut out = String::new();
    for p in &report.masked {
        let _ = writeln!(out, "masked {}", Quoted(p.as_os_str()));
    }
    for p in &report.readonly {
        let _ = writeln!(out, "read-only {}", Quoted(p.as_os_str()));
    }
    for p in &report.mounted {
        let _ = writeln!(out, "mounted {}", Quoted(p.as_os_str()));
    }
    for (p, why) in &report.skipped {
        let _ = writeln!(out, "skipped {}: {why}", Quoted(p.as_os_str()));
    }
    for (p, e) in &report.refused {
        let _ = writeln!(out, "refused {}: {e}", Quoted(p.as_os_str()));
    }
    for p in &report.fallback {
        let _ = writeln!(
            out,
            "fallback {}: mount(2) on /proc/thread-self/fd/N",
            Quoted(p.as_os_str())
        );
    }
    for h in &report.preexisting {
        let _ = writeln!(
            out,
            "preexisting {} {}: at or below {}, keeps the unhardened view",
            h.pid,
            h.handle,
            Quoted(h.path.as_os_str())
        );
    }
    out
}

/// Re-executes procroot from a sealed copy of its binary first (CVE-2019-5736), as `exec` does:
/// `harden` and `mount-proc` work on a container's rootfs, and `mount-proc --pidns`,
/// `proc --pidns` and `sysctl --pid` (for `user.*` and `kernel.pid_max`) fork a helper into the
/// container's namespaces: a process of the container can see `/proc/<pid>/exe` of ours or of
/// the helper while we run.
pub(crate) fn seal_self(command: &'static str) -> Result<(), Failure> {
    procroot::exec::sealed_exe::ensure()
        .map(drop)
        .map_err(|e| Failure::from(e.context(command, Path::new("/proc/self/exe"))))
}

/// Runs `procroot harden`.
pub fn harden(args: &HardenArgs) -> Result<ExitCode, Failure> {
    let fail = |e: procroot::Error| Failure::from(e.context("harden", &args.root));
    seal_self("harden")?;
    let root = Root::open(&args.root).map_err(fail)?;
    let mut opts = if args.defaults {
        HardenOptions::defaults()
    } else {
        HardenOptions::default()
    };
    // A config's sysctls are not applied here: those a container may own are listed with the
    // command that applies them in its namespaces; the others (machine-wide, such as
    // kernel.core_pattern) are refused, as `sysctl --pid` would refuse them, never advised.
    let mut sysctl = serde_json::Map::new();
    let mut sysctl_refused = Vec::new();
    if let Some(config) = &args.config {
        let oci = OciHardening::load(config).map_err(Failure::from)?;
        oci.apply_to(&mut opts);
        for (k, v) in &oci.sysctl {
            match container::sysctl_namespace(k) {
                Ok(_) => {
                    sysctl.insert(k.clone(), Value::String(v.clone()));
                }
                Err(e) => sysctl_refused.push((k.clone(), v.clone(), e)),
            }
        }
    }
    opts.masked.extend(args.mask.iter().cloned());
    opts.readonly.extend(args.readonly.iter().cloned());
    opts.readonly_proc = args.readonly_proc;
    let warning = proc_warning(&root, &opts);
    if let (Some(warning), true) = (&warning, args.strict) {
        // Before any mount: --strict leaves nothing half-hardened.
        let err = procroot::Error::invalid_input(procroot::Errno::INVAL, warning.clone());
        return Err(fail(err));
    }
    if let Some(warning) = &warning {
        eprintln!(
            "procroot: warning: harden {}: {warning}",
            Quoted(args.root.as_os_str())
        );
    }
    let report = container::harden(&root, &opts).map_err(fail)?;
    if args.json {
        let mut out = report_json(&report, &sysctl);
        let warnings = warning
            .iter()
            .map(|w| json!({"path": "/proc", "message": w}));
        out["warnings"] = Value::Array(warnings.collect());
        let refused = sysctl_refused.iter().map(|(k, v, e)| {
            json!({"name": k, "value": v, "errno": errno_name(e.errno()), "message": e.to_string()})
        });
        out["sysctl_refused"] = Value::Array(refused.collect());
        print_json(&out)?;
    } else {
        let mut text = report_text(&report);
        for (k, v) in &sysctl {
            let ns = container::sysctl_namespace(k).map_or("", |n| n.as_str());
            let _ = writeln!(
                text,
                "sysctl {k}={} not applied: it belongs in the container's {ns} namespace: \
                 procroot sysctl --pid PID {k}=VALUE",
                v.as_str().unwrap_or("")
            );
        }
        for (k, v, e) in &sysctl_refused {
            let _ = writeln!(text, "refused sysctl {k}={v}: {e}");
        }
        print_bytes(text.as_bytes())?;
    }
    Ok(if report.is_ok() && sysctl_refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Why hardening `opts` in `root` would not do what it says, if it would not: paths under
/// `/proc` are asked for (`--defaults` has many) but the root's `/proc` is not a procfs
/// ([`container::proc_is_mounted`], by `fstatfs` of the resolved fd), so they would be skipped
/// as missing, or cover a plain directory that the procfs mounted later hides again.
fn proc_warning(root: &Root, opts: &HardenOptions) -> Option<String> {
    let under_proc = |p: &PathBuf| {
        p.components()
            .find(|c| !matches!(c, Component::RootDir | Component::CurDir))
            .is_some_and(|c| c.as_os_str() == "proc")
    };
    let wanted = opts
        .masked
        .iter()
        .chain(&opts.readonly)
        .filter(|p| under_proc(p))
        .count()
        + usize::from(opts.readonly_proc);
    if wanted == 0 {
        return None;
    }
    let what = match container::proc_is_mounted(root) {
        Ok(true) => return None,
        Ok(false) => "is not a procfs".to_owned(),
        Err(e) => format!("could not be checked ({e})"),
    };
    Some(format!(
        "/proc inside the root {what}: the {wanted} path(s) asked for under /proc would not be \
         hardened; mount it first, in the container's private mount namespace \
         (procroot mount-proc --root DIR /proc)"
    ))
}

/// Runs `procroot mount-proc`.
pub fn mount_proc(args: &MountProcArgs) -> Result<ExitCode, Failure> {
    let fail = |e: procroot::Error| Failure::from(e.context("mount-proc", &args.dest));
    seal_self("mount-proc")?;
    let hidepid = args
        .hidepid
        .as_deref()
        .map(str::parse::<HidePid>)
        .transpose()
        .map_err(fail)?;
    let root = Root::open(&args.root).map_err(fail)?;
    let ns = args
        .pidns
        .as_deref()
        .map(procroot::procfs::open_pid_namespace)
        .transpose()
        .map_err(Failure::from)?;
    let opts = ProcfsMountOptions {
        pidns: ns.as_ref().map(|f| f.as_fd()),
        subset_pid: args.subset_pid,
        hidepid,
    };
    let report = container::mount_procfs(&root, &args.dest, &opts).map_err(fail)?;
    if args.json {
        print_json(&report_json(&report, &serde_json::Map::new()))?;
    } else {
        print_bytes(report_text(&report).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `procroot sysctl`.
pub fn sysctl(args: &SysctlArgs) -> Result<ExitCode, Failure> {
    let (name, value) = match args.name.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (args.name.as_str(), None),
    };
    let fail = |e: procroot::Error| Failure::from(e.context("sysctl", Path::new(name)));
    if args.pid.is_some()
        && matches!(
            container::sysctl_namespace(name),
            Ok(SysctlNamespace::User | SysctlNamespace::Pid)
        )
    {
        // These are opened by a helper forked into the target's user and PID namespaces.
        seal_self("sysctl")?;
    }
    match (value, args.pid) {
        (Some(v), None) => container::write_sysctl(name, v).map_err(fail)?,
        (Some(v), Some(pid)) => container::write_sysctl_in(pid, name, v).map_err(fail)?,
        (None, pid) => {
            let value = match pid {
                None => container::read_sysctl(name),
                Some(pid) => container::read_sysctl_in(pid, name),
            }
            .map_err(fail)?;
            if args.json {
                print_json(&json!({"name": name, "value": value}))?;
            } else {
                print_bytes(format!("{value}\n").as_bytes())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
