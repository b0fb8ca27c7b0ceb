//! `procroot doctor`: prints the library's report.

use std::process::ExitCode;

use procroot_runtime::doctor::Support;
use procroot_runtime::doctor::{Overmount, ProcView, Report};
use serde_json::{json, Map, Value};

use crate::cli::DoctorArgs;
use crate::output::{insert_os, print_bytes, print_json, Failure};

/// Runs `procroot doctor`.
pub fn run(args: &DoctorArgs) -> Result<ExitCode, Failure> {
    let report = procroot_runtime::doctor::run();
    if args.json {
        print_json(&to_json(&report))?;
    } else {
        print_bytes(to_text(&report).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `yes`, `no (ENOSYS)`, `present, but refused (EPERM)`.
fn support_text(support: Support) -> String {
    match support {
        Support::Yes => "yes".to_owned(),
        Support::No(e) => format!("no ({})", procroot::error::errno_name(e)),
        Support::Refused(e) => format!("present, but refused ({})", procroot::error::errno_name(e)),
    }
}

fn support_json(support: Support) -> Value {
    match support {
        Support::Yes => json!({"status": "yes"}),
        Support::No(e) => json!({"status": "no", "errno": procroot::error::errno_name(e)}),
        Support::Refused(e) => {
            json!({"status": "refused", "errno": procroot::error::errno_name(e)})
        }
    }
}

/// An error as `description (ERRNO)`, without the operation.
fn error_text(e: &procroot::Error) -> String {
    format!("{} ({})", e.description(), e.errno_name())
}

fn error_json(e: &procroot::Error) -> Value {
    json!({"errno": e.errno_name(), "code": e.errno().raw_os_error(), "message": error_text(e)})
}

fn to_text(report: &Report) -> String {
    let mut out = String::new();
    if procroot::FAULT_INJECTION {
        out.push_str(
            "build: FAULT-INJECTION (--cfg procroot_fault_injection): the first wall is \
                      broken on purpose, for tests only\n\n",
        );
    }
    out.push_str(&format!(
        "kernel: {}\n\nkernel features:\n",
        report.kernel_release
    ));
    for (name, support) in report.features.entries() {
        out.push_str(&format!("  {name:<24}{}\n", support_text(support)));
    }
    out.push_str("\nprocfs acquisition (tried in this order):\n");
    for (method, result) in &report.procfs_methods {
        let status = match result {
            Ok(()) => "works".to_owned(),
            Err(e) => format!("fails: {}", error_text(e)),
        };
        out.push_str(&format!("  {:<24}{status}\n", method.as_str()));
    }
    let chosen = match &report.procfs_chosen {
        Ok(method) => method.as_str().to_owned(),
        Err(e) => format!("none: {}", error_text(e)),
    };
    out.push_str(&format!("  {:<24}{chosen}\n", "procroot uses"));

    out.push_str("\nglobal /proc: ");
    out.push_str(&match &report.global_proc {
        Ok(g) if g.is_procfs && g.is_procfs_root => "procfs (its root)".to_owned(),
        Ok(g) if g.is_procfs => {
            "procfs, but NOT its root: a subdirectory is mounted on /proc".to_owned()
        }
        Ok(_) => "NOT procfs: something else is mounted on /proc".to_owned(),
        Err(e) => format!("cannot check: {}", error_text(e)),
    });
    out.push_str("\n/proc shows: ");
    out.push_str(&match &report.proc_view {
        Ok(v) => view_text(v),
        Err(e) => format!("cannot check: {}\n", error_text(e)),
    });
    out.push_str("mounts on /proc or below it: ");
    match &report.proc_overmounts {
        Ok(mounts) if mounts.is_empty() => out.push_str("none\n"),
        Ok(mounts) => {
            out.push('\n');
            for m in mounts {
                out.push_str(&format!("  {}\n", mount_text(m)));
            }
        }
        Err(e) => out.push_str(&format!("cannot read mountinfo: {}\n", error_text(e))),
    }
    if !report.proc_self_binds.is_empty() {
        out.push_str(
            "self-binds under /proc (a bind of procfs onto itself: redirects nothing, accepted):\n",
        );
        for m in &report.proc_self_binds {
            out.push_str(&format!("  {}\n", mount_text(m)));
        }
    }
    out.push_str(&format!(
        "/proc trustworthy: {}\n",
        if report.proc_is_trustworthy() {
            "yes"
        } else {
            "no (procroot's own procfs handle does not depend on it)"
        }
    ));
    out.push_str(&format!(
        "procroot's PID namespace: {}\n",
        match (report.pid_namespace.ino, report.pid_namespace.is_initial) {
            (Some(ino), Some(true)) => format!(
                "{ino}, the initial one (every process on the system has a /proc/<pid> from here)"
            ),
            (Some(ino), _) => format!(
                "{ino}, NOT the initial one (processes outside it have no /proc/<pid> from here)"
            ),
            (None, _) => "cannot tell".to_owned(),
        }
    ));
    out.push_str(&format!(
        "\nresolver backend (--backend auto): {}\n",
        report.auto_backend.as_str()
    ));
    out.push_str(&format!("sealed self-binary: {}\n", sealing_text()));
    out.push_str(&sandbox_text());
    out
}

/// The second wall: the kernel's Landlock ABI and what each command is allowed.
fn sandbox_text() -> String {
    let mut out = match procroot_runtime::sandbox::abi() {
        Ok(abi) => format!(
            "\nsecond wall (Landlock): ABI {abi}{}; it confines reads, writes, creation, \
             removal, renames and links, not mode, owner, times, xattrs, stat or readlink \
             (chmod, chown and touch of an existing file: the second check). Each command, \
             unless --no-sandbox:\n",
            abi_extras(abi)
        ),
        Err(e) => format!(
            "\nsecond wall (Landlock): unavailable ({}); commands run without it (the second \
             check of chmod, chown and touch stays on). Each command would get:\n",
            error_text(&e)
        ),
    };
    for profile in crate::confine::PROFILES {
        out.push_str(&format!(
            "  {:<28}{}\n",
            profile.commands.join(", "),
            profile.describe()
        ));
    }
    out
}

/// What the ABI adds beyond ABI 1, as procroot uses it.
fn abi_extras(abi: u32) -> String {
    let extras: Vec<&str> = [
        (2, "renames and links across directories"),
        (3, "truncate"),
        (5, "ioctl on devices"),
        (6, "signal and abstract-socket scoping"),
    ]
    .iter()
    .filter(|(since, _)| abi >= *since)
    .map(|(_, what)| *what)
    .collect();
    if extras.is_empty() {
        String::new()
    } else {
        format!(" (mediates {})", extras.join(", "))
    }
}

fn sandbox_json() -> Value {
    let profiles: Vec<Value> = crate::confine::PROFILES
        .iter()
        .map(|profile| {
            let confined = !matches!(profile.confinement, crate::confine::Confinement::Unconfined);
            let rules: Vec<Value> = profile
                .confinement
                .rules()
                .iter()
                .map(|r| {
                    json!({
                        "tree": format!("{:?}", r.tree),
                        "rights": r.access.names(),
                        "make_of_type": r.of_type,
                        "with_special_files": r.special.names(),
                    })
                })
                .collect();
            json!({
                "commands": profile.commands,
                "confined": confined,
                "rules": rules,
                "access": profile.describe(),
            })
        })
        .collect();
    match procroot_runtime::sandbox::abi() {
        Ok(abi) => json!({"status": "available", "landlock_abi": abi, "profiles": profiles}),
        Err(e) => json!({
            "status": "unavailable", "landlock_abi": null, "error": error_json(&e),
            "profiles": profiles,
        }),
    }
}

/// How procroot's binary is sealed against CVE-2019-5736: the running copy (doctor itself is
/// not re-executed), and the strategy `exec` would use here.
fn sealing() -> (Option<&'static str>, Result<&'static str, procroot::Error>) {
    use procroot_runtime::exec::sealed_exe;
    let current = sealed_exe::current().ok().flatten().map(|s| s.as_str());
    (current, sealed_exe::probe().map(|s| s.as_str()))
}

fn sealing_text() -> String {
    let (current, probe) = sealing();
    let running = match current {
        Some("read-only-mount") => "running from a read-only mount (no copy needed)".to_owned(),
        Some(s) => format!("running from a sealed {s} copy"),
        None => "this run is not sealed".to_owned(),
    };
    match probe {
        Ok(s) => format!("{running}; exec would use {s}"),
        Err(e) => format!("{running}; no strategy works here: {}", error_text(&e)),
    }
}

fn sealing_json() -> Value {
    let (current, probe) = sealing();
    match probe {
        Ok(s) => json!({"running": current, "strategy": s}),
        Err(e) => json!({"running": current, "strategy": null, "error": error_json(&e)}),
    }
}

/// One mount: `/proc/sys (proc from proc /sys, ro,nosuid)`.
fn mount_text(m: &Overmount) -> String {
    format!(
        "{} ({} from {}{}, {})",
        m.mount_point.display(),
        m.fs_type,
        m.source,
        if m.root.as_os_str() == "/" {
            String::new()
        } else {
            format!(" {}", m.root.display())
        },
        m.options
    )
}

/// The `/proc shows:` paragraph: PID namespace, `self`, restrictions.
fn view_text(v: &ProcView) -> String {
    let ns = match v.pidns_ino {
        Some(ino) => format!("PID namespace {ino}"),
        None => "a PID namespace (its inode is not visible to procroot)".to_owned(),
    };
    let whose = if v.is_our_pidns {
        "procroot's own".to_owned()
    } else if v.self_pid.is_none() {
        "NOT procroot's: this process is not in it (/proc/<pid> are other processes)".to_owned()
    } else {
        format!(
            "NOT procroot's: an ancestor of it, {} levels up (/proc/<pid> are numbered in \
             another namespace)",
            v.nspid_levels.unwrap_or(1).saturating_sub(1)
        )
    };
    let self_line = match (v.self_pid, v.self_is_this_process) {
        (Some(pid), true) => format!("{pid} (this process)"),
        (Some(pid), false) => format!("{pid}, which is NOT this process"),
        (None, _) => "MISSING".to_owned(),
    };
    let restrictions = if v.restrictions.is_empty() {
        "none".to_owned()
    } else {
        format!("{} (things are hidden)", v.restrictions.join(","))
    };
    format!("{ns}, {whose}\n/proc/self: {self_line}\n/proc hides: {restrictions}\n")
}

fn view_json(v: &ProcView) -> Value {
    json!({
        "self": v.self_pid,
        "self_is_this_process": v.self_is_this_process,
        "pidns": {"ino": v.pidns_ino, "ours": v.is_our_pidns},
        "nspid_levels": v.nspid_levels,
        "restrictions": v.restrictions,
    })
}

fn mount_json(m: &Overmount) -> Value {
    let mut obj = Map::new();
    insert_os(&mut obj, "mount_point", m.mount_point.as_os_str());
    obj.insert("fs_type".into(), m.fs_type.clone().into());
    obj.insert("source".into(), m.source.clone().into());
    insert_os(&mut obj, "root", m.root.as_os_str());
    obj.insert("options".into(), m.options.clone().into());
    obj.insert("super_options".into(), m.super_options.clone().into());
    Value::Object(obj)
}

fn to_json(report: &Report) -> Value {
    let mut features = Map::new();
    for (name, support) in report.features.entries() {
        features.insert(name.to_owned(), support_json(support));
    }
    let methods: Vec<Value> = report
        .procfs_methods
        .iter()
        .map(|(method, result)| match result {
            Ok(()) => json!({"method": method.as_str(), "works": true}),
            Err(e) => json!({"method": method.as_str(), "works": false, "error": error_json(e)}),
        })
        .collect();
    let chosen = match &report.procfs_chosen {
        Ok(method) => Value::from(method.as_str()),
        Err(_) => Value::Null,
    };
    let global_proc = match &report.global_proc {
        Ok(g) => json!({"is_procfs": g.is_procfs, "is_procfs_root": g.is_procfs_root}),
        Err(e) => json!({"error": error_json(e)}),
    };
    let overmounts = match &report.proc_overmounts {
        Ok(mounts) => Value::Array(mounts.iter().map(mount_json).collect()),
        Err(e) => json!({"error": error_json(e)}),
    };
    let view = match &report.proc_view {
        Ok(v) => view_json(v),
        Err(e) => json!({"error": error_json(e)}),
    };
    json!({
        "fault_injection": procroot::FAULT_INJECTION,
        "kernel": report.kernel_release,
        "features": features,
        "procfs": {"methods": methods, "chosen": chosen},
        "global_proc": global_proc,
        "proc_overmounts": overmounts,
        "proc_self_binds": Value::Array(report.proc_self_binds.iter().map(mount_json).collect()),
        "proc_view": view,
        "pid_namespace": {
            "ino": report.pid_namespace.ino,
            "initial": report.pid_namespace.is_initial,
        },
        "proc_trustworthy": report.proc_is_trustworthy(),
        "auto_backend": report.auto_backend.as_str(),
        "sealed_exe": sealing_json(),
        "sandbox": sandbox_json(),
    })
}
