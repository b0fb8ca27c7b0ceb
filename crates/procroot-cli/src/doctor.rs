//! `procroot doctor`: prints the library's report.

use std::io::{self, Write};
use std::process::ExitCode;

use procroot::doctor::Report;
use procroot::sys::features::Support;
use serde_json::{json, Map, Value};

use crate::cli::DoctorArgs;
use crate::output::{insert_os, print_json, Failure};

/// Runs `procroot doctor`.
pub fn run(args: &DoctorArgs) -> Result<ExitCode, Failure> {
    let report = procroot::doctor::run();
    if args.json {
        print_json(&to_json(&report))?;
    } else {
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(to_text(&report).as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| Failure::stdout(&e))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `yes`, `no (ENOSYS)`, `unknown (EPERM)`.
fn support_text(support: Support) -> String {
    match support {
        Support::Yes => "yes".to_owned(),
        Support::No(e) => format!("no ({})", procroot::sys::errno_name(e)),
        Support::Unknown(e) => format!("unknown ({})", procroot::sys::errno_name(e)),
    }
}

fn support_json(support: Support) -> Value {
    match support {
        Support::Yes => json!({"status": "yes"}),
        Support::No(e) => json!({"status": "no", "errno": procroot::sys::errno_name(e)}),
        Support::Unknown(e) => json!({"status": "unknown", "errno": procroot::sys::errno_name(e)}),
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
    let mut out = format!("kernel: {}\n\nkernel features:\n", report.kernel_release);
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
    out.push_str("\nmounts on /proc or below it: ");
    match &report.proc_overmounts {
        Ok(mounts) if mounts.is_empty() => out.push_str("none\n"),
        Ok(mounts) => {
            out.push('\n');
            for m in mounts {
                out.push_str(&format!(
                    "  {} ({} from {}{}, {})\n",
                    m.mount_point.display(),
                    m.fs_type,
                    m.source,
                    if m.root.as_os_str() == "/" {
                        String::new()
                    } else {
                        format!(" {}", m.root.display())
                    },
                    m.options
                ));
            }
        }
        Err(e) => out.push_str(&format!("cannot read mountinfo: {}\n", error_text(e))),
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
        "\nresolver backend (--backend auto): {}\n",
        report.auto_backend.as_str()
    ));
    out
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
        Ok(mounts) => Value::Array(
            mounts
                .iter()
                .map(|m| {
                    let mut obj = Map::new();
                    insert_os(&mut obj, "mount_point", m.mount_point.as_os_str());
                    obj.insert("fs_type".into(), m.fs_type.clone().into());
                    obj.insert("source".into(), m.source.clone().into());
                    insert_os(&mut obj, "root", m.root.as_os_str());
                    obj.insert("options".into(), m.options.clone().into());
                    Value::Object(obj)
                })
                .collect(),
        ),
        Err(e) => json!({"error": error_json(e)}),
    };
    json!({
        "kernel": report.kernel_release,
        "features": features,
        "procfs": {"methods": methods, "chosen": chosen},
        "global_proc": global_proc,
        "proc_overmounts": overmounts,
        "proc_trustworthy": report.proc_is_trustworthy(),
        "auto_backend": report.auto_backend.as_str(),
    })
}
