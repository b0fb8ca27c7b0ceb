//! `procroot harden`, `procroot mount-proc` and `procroot sysctl`: the container layer of the
//! library (`procroot_runtime::container`) from the command line.

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use procroot::Root;
use procroot_runtime::container::{
    self, HardenOptions, HidePid, OciHardening, ProcfsMountOptions, Report, SysctlNamespace,
};
use serde_json::{json, Value};

use procroot::error::{errno_name, Quoted};

use crate::cli::{HardenArgs, MountProcArgs, SysctlArgs};
use crate::output::{insert_os, print_bytes, print_json, print_stderr, Failure};

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
    procroot_runtime::exec::sealed_exe::ensure()
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
        print_stderr(format_args!(
            "procroot: warning: harden {}: {warning}",
            Quoted(args.root.as_os_str())
        ));
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
