//! `procroot find` and `procroot audit`: parse, one library call
//! ([`procroot_runtime::inspect`]), print text, `--print0` or `--json`.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use procroot::error::Quoted;
use procroot::FileType;
use procroot_runtime::inspect::audit::{self, AuditOptions, Class, Finding, HostView, Value};
use procroot_runtime::inspect::find::{self, Found, Query};
use serde_json::{Map, Value as Json};

use crate::cli::{AuditArgs, FindArgs, RootOpts};
use crate::commands::check_operand;
use crate::confine::{self, confine, Notice};
use crate::output::{insert_os, write_os, Failure};

/// A walk error, reported on stderr (and with `--json` on stdout) where it happened, as find
/// does, and remembered for the exit status.
fn report_entry_error(
    root: &procroot::Root,
    err: procroot::Error,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    // What was printed before the error goes out before it.
    out.flush().map_err(|e| Failure::stdout(&e))?;
    let failure = if err.operation().is_empty() {
        Failure::from(err.in_root(root.display_name()))
    } else {
        Failure::from(err)
    };
    failure.report(json);
    Ok(())
}

/// `procroot find`.
pub fn find(args: &FindArgs) -> Result<ExitCode, Failure> {
    for path in args.paths.iter().chain(&args.newer) {
        check_operand("find", path)?;
    }
    let json = args.root.json;
    let root = args.root.open()?;
    confine(Notice::json(json), confine::Job::on("find", &root))?;
    let query = Query {
        paths: args.paths.clone(),
        names: args.name.clone(),
        path_globs: args.path_glob.clone(),
        types: args.types,
        perm: args.perm,
        uid: args.uid,
        gid: args.gid,
        size: args.size,
        newer: args.newer.clone(),
        min_depth: args.min_depth,
        max_depth: args.max_depth,
        follow_links: args.follow,
        cross_mounts: args.cross_mounts,
        sort: args.sort,
        with_stat: json,
    };
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let mut failed = false;
    let end = if args.print0 { b'\0' } else { b'\n' };
    let mut line = Vec::new();
    let walked = find::find(&root, &query, |found| -> Result<(), Failure> {
        match found {
            Ok(found) => {
                line.clear();
                if json {
                    write_found_json(&mut line, &found);
                } else {
                    line.extend_from_slice(found.entry.path().as_os_str().as_bytes());
                    line.push(end);
                }
                out.write_all(&line).map_err(|e| Failure::stdout(&e))
            }
            Err(err) => {
                failed = true;
                report_entry_error(&root, err, json, &mut out)
            }
        }
    });
    finish(walked, out, failed)
}

/// Flushes `out` and makes the exit status: a closed stdout ends quietly (as every command),
/// with 1 if an entry failed before.
fn finish(
    walked: Result<(), Failure>,
    mut out: impl Write,
    failed: bool,
) -> Result<ExitCode, Failure> {
    let status = ExitCode::from(u8::from(failed));
    match walked.and_then(|()| out.flush().map_err(|e| Failure::stdout(&e))) {
        Ok(()) => Ok(status),
        Err(f) if f.is_broken_pipe() => Ok(status),
        Err(f) => Err(f),
    }
}

/// Writes one JSON value and a newline.
fn write_json(out: &mut impl Write, value: &Json) -> Result<(), Failure> {
    writeln!(out, "{value}").map_err(|e| Failure::stdout(&e))
}

/// Writes `find --json`'s object for one entry, and a newline, into `out`: `stat`'s fields
/// and formats (mode and dev as strings), written by hand rather than through a [`Map`] (half
/// of the user time of a `find --json` of /usr went to building maps).
fn write_found_json(out: &mut Vec<u8>, found: &Found<'_>) {
    use std::io::Write as _;
    let entry = found.entry;
    let st = found
        .stat
        .expect("find gives every match its statx with --json");
    let mode = u32::from(st.stx_mode);
    let ft = FileType::from_mode(mode);
    out.push(b'{');
    write_os(out, "path", entry.path().as_os_str());
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        ",\"type\":\"{}\",\"mode\":\"{:04o}\",\"size\":{},\"uid\":{},\"gid\":{},\"mtime\":{},\
         \"mtime_nsec\":{},\"nlink\":{},\"ino\":{},\"dev\":\"{}:{}\",",
        ft.as_str(),
        mode & 0o7777,
        st.stx_size,
        st.stx_uid,
        st.stx_gid,
        st.stx_mtime.tv_sec,
        st.stx_mtime.tv_nsec,
        st.stx_nlink,
        st.stx_ino,
        st.stx_dev_major,
        st.stx_dev_minor,
    );
    // The link's own target, as stored; a link whose target cannot be read (it vanished)
    // gets null rather than failing the entry that was found.
    match (ft == FileType::Symlink)
        .then(|| entry.link_target().ok())
        .flatten()
    {
        Some(target) => write_os(out, "target", target.as_os_str()),
        None => out.extend_from_slice(b"\"target\":null"),
    }
    out.extend_from_slice(b"}\n");
}

/// How the host names the root of `opts`: what `escaping-symlink`'s `host` is computed against.
fn host_view(opts: &RootOpts) -> Result<HostView, Failure> {
    Ok(match (opts.pid, &opts.root) {
        (Some(pid), _) => HostView::Process(pid),
        (None, Some(dir)) => HostView::for_dir(dir).map_err(|e| {
            Failure::from(procroot::Error::from(e).context("open root", dir.as_path()))
        })?,
        (None, None) => HostView::HostRoot,
    })
}

/// `procroot audit`.
pub fn audit(args: &AuditArgs) -> Result<ExitCode, Failure> {
    check_operand("audit", &args.path)?;
    let json = args.root.json;
    let host = host_view(&args.root)?;
    let root = args.root.open()?;
    confine(Notice::json(json), confine::Job::on("audit", &root))?;
    let opts = AuditOptions {
        path: args.path.clone(),
        host,
        cross_mounts: args.cross_mounts,
    };
    let fail_on: Vec<Class> = args.fail_on.iter().flatten().copied().collect();
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let mut failed = false;
    let mut gate = false;
    let mut findings = Vec::new();
    let walked = audit::audit(&root, &opts, |item| -> Result<(), Failure> {
        match item {
            Ok(finding) => {
                gate |= fail_on.contains(&finding.class);
                if json {
                    write_json(&mut out, &finding_json(&finding))
                } else {
                    findings.push(finding);
                    Ok(())
                }
            }
            Err(err) => {
                failed = true;
                report_entry_error(&root, err, json, &mut out)
            }
        }
    });
    let walked = walked.and_then(|()| {
        if json {
            Ok(())
        } else {
            print_report(&mut out, findings)
        }
    });
    finish(walked, out, failed || gate)
}

/// `audit --json`'s object for one finding.
fn finding_json(finding: &Finding) -> Json {
    let mut obj = Map::new();
    obj.insert("class".into(), finding.class.as_str().into());
    insert_os(&mut obj, "path", finding.path.as_os_str());
    for (key, value) in &finding.fields {
        match value {
            Value::Num(n) => {
                obj.insert((*key).into(), (*n).into());
            }
            Value::Text(t) => {
                obj.insert((*key).into(), t.as_str().into());
            }
            Value::Path(p) => insert_os(&mut obj, key, p),
            Value::Null => {
                obj.insert((*key).into(), Json::Null);
            }
        }
    }
    Json::Object(obj)
}

/// The text report: a `CLASS: COUNT` line per class, a blank line, then the findings grouped
/// by class (in walk order within a class), one per line: class, path, fields. Paths and link
/// targets are quoted and escaped as the library's messages show them ([`Quoted`]): they are
/// chosen by whoever controls the root, and a newline, a terminal escape sequence or a
/// bidirectional override in a name must not forge a line of the report or reach the
/// operator's terminal.
fn print_report(out: &mut impl Write, mut findings: Vec<Finding>) -> Result<(), Failure> {
    // Stable: the walk order stays within each class.
    findings.sort_by_key(|f| f.class);
    let mut text = Vec::new();
    for class in Class::ALL {
        let count = findings.iter().filter(|f| f.class == class).count();
        text.extend_from_slice(format!("{}: {count}\n", class.as_str()).as_bytes());
    }
    if !findings.is_empty() {
        text.push(b'\n');
    }
    for finding in &findings {
        if text.len() > 64 * 1024 {
            out.write_all(&text).map_err(|e| Failure::stdout(&e))?;
            text.clear();
        }
        text.extend_from_slice(finding.class.as_str().as_bytes());
        text.push(b' ');
        text.extend_from_slice(Quoted(finding.path.as_os_str()).to_string().as_bytes());
        let mut sep: &[u8] = b": ";
        for (key, value) in &finding.fields {
            if *value == Value::Null {
                continue;
            }
            text.extend_from_slice(sep);
            sep = b", ";
            let label = if *key == "host" {
                "host would read"
            } else {
                key
            };
            text.extend_from_slice(label.as_bytes());
            text.push(b' ');
            match value {
                Value::Num(n) => text.extend_from_slice(n.to_string().as_bytes()),
                Value::Text(t) => text.extend_from_slice(t.as_bytes()),
                Value::Path(p) => text.extend_from_slice(Quoted(p).to_string().as_bytes()),
                Value::Null => {}
            }
        }
        text.push(b'\n');
    }
    out.write_all(&text).map_err(|e| Failure::stdout(&e))
}
