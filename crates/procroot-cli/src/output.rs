//! Printing: errors as the library renders them (`procroot: <context>: <cause>`), JSON fields
//! for paths that may not be UTF-8, and writing to stdout.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use base64::Engine as _;
use procroot::Errno;
use serde_json::{Map, Value};

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// A library call failed. Its `Display` already says everything: the operation, the path
    /// (quoted and escaped), the root, the cause and the errno.
    Library(procroot::Error),
    /// Ctrl-C stopped a `cp`, `rm -r` or `write` (or the undo of a failed `cp`): the library
    /// call's error, after the library cleaned up. Exit status 130, as shells expect.
    Interrupted(procroot::Error),
    /// Writing our own output failed (stdout was closed, the disk is full).
    Stdout(procroot::Error),
    /// A usage error found after parsing, such as `cp` with both operands inside the root:
    /// printed by clap, exit status 2.
    Usage(clap::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Library(e) | Failure::Interrupted(e) | Failure::Stdout(e) => Some(e),
            Failure::Usage(e) => Some(e),
        }
    }
}

impl From<procroot::Error> for Failure {
    fn from(err: procroot::Error) -> Failure {
        Failure::Library(err)
    }
}

/// The operation of a [`Failure::Stdout`].
const STDOUT_OP: &str = "write to stdout";

impl Failure {
    /// A failure to write to stdout.
    pub fn stdout(err: &io::Error) -> Failure {
        Failure::Stdout(procroot::Error::from_errno(
            Errno::from_io_error(err).unwrap_or(Errno::IO),
        ))
    }

    /// Whether this is a write to a closed pipe (`procroot cat big | head`), which ends the
    /// program quietly and successfully.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Failure::Stdout(e) if e.errno() == Errno::PIPE)
    }

    /// The exit status this failure ends the program with: 2 for a usage error, 130 (128 +
    /// SIGINT) for Ctrl-C, 127 or 126 when `exec`'s command was not found or could not be
    /// executed ([`procroot_runtime::exec::not_run_status`]), else 1.
    pub fn exit_status(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Interrupted(_) => 130,
            // `exec`'s command could not be run: 127 not found, 126 not executable, as shells.
            Failure::Library(e) => procroot_runtime::exec::not_run_status(e).unwrap_or(1),
            _ => 1,
        }
    }

    /// The message without the `procroot: ` prefix: the library error's `Display`, such as
    /// `resolve "/nope" in /srv/root: No such file or directory (ENOENT)`.
    pub fn message(&self) -> String {
        match self {
            Failure::Library(e) => e.to_string(),
            Failure::Interrupted(e) => format!("interrupted: {e}"),
            Failure::Stdout(e) => format!("{STDOUT_OP}: {e}"),
            Failure::Usage(e) => e.to_string(),
        }
    }

    /// `{"error": {"errno": "ENOENT", "code": 2, "message": "...", "kind": "not_found",
    /// "operation": "resolve", "path": "/nope", "root": "/srv/root"}}`, every field from the library
    /// error's accessors; `path` and `root` are null when the error has none, and get a
    /// `_base64` twin when they are not UTF-8 (see [`insert_os`]).
    pub fn to_json(&self) -> Value {
        let (err, operation) = match self {
            Failure::Library(e) | Failure::Interrupted(e) => (e, e.operation()),
            Failure::Stdout(e) => (e, STDOUT_OP),
            Failure::Usage(_) => return Value::Null,
        };
        let mut obj = Map::new();
        obj.insert("errno".into(), err.errno_name().into());
        obj.insert("code".into(), err.errno().raw_os_error().into());
        obj.insert("message".into(), self.message().into());
        obj.insert("kind".into(), err.kind().as_str().into());
        obj.insert("operation".into(), operation.into());
        obj.insert("syscall".into(), err.syscall().into());
        insert_os_or_null(&mut obj, "path", err.path().map(Path::as_os_str));
        insert_os_or_null(&mut obj, "root", err.root().map(Path::as_os_str));
        let mut top = Map::new();
        top.insert("error".into(), Value::Object(obj));
        Value::Object(top)
    }

    /// Prints the failure: a usage error as clap does; anything else on stderr, and with `json`
    /// also as a JSON object on stdout. Errors while printing are ignored: there is nowhere left
    /// to report them.
    pub fn report(&self, json: bool) {
        if let Failure::Usage(e) = self {
            let _ = e.print();
            return;
        }
        if json {
            let mut stdout = io::stdout().lock();
            let _ = writeln!(stdout, "{}", self.to_json());
            let _ = stdout.flush();
        }
        print_stderr(format_args!("procroot: {}", self.message()));
    }
}

/// Inserts a path or name into a JSON object as `key`: the string itself when it is UTF-8;
/// otherwise the lossy text (U+FFFD for invalid bytes) plus `<key>_base64` with the exact bytes
/// (standard base64, RFC 4648 §4, with padding).
pub fn insert_os(obj: &mut Map<String, Value>, key: &str, value: &OsStr) {
    let (text, base64) = os_text(value);
    obj.insert(key.to_string(), Value::from(text));
    if let Some(encoded) = base64 {
        obj.insert(format!("{key}_base64"), Value::from(encoded));
    }
}

/// [`insert_os`] for a JSON object written straight into `out` (the per-entry objects of `find
/// --json`, where building a [`Map`] per entry cost more than the walk): `"key":"text"`, and
/// `,"key_base64":"..."` when the value is not UTF-8. No separator is written before it.
pub fn write_os(out: &mut Vec<u8>, key: &str, value: &OsStr) {
    let (text, base64) = os_text(value);
    write_json_str(out, key);
    out.push(b':');
    write_json_str(out, &text);
    if let Some(encoded) = base64 {
        out.push(b',');
        write_json_str(out, &format!("{key}_base64"));
        out.push(b':');
        write_json_str(out, &encoded);
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it.
pub fn write_json_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("writing to a Vec cannot fail");
}

/// The JSON text of a path or name, and its exact bytes in base64 when it is not UTF-8.
fn os_text(value: &OsStr) -> (std::borrow::Cow<'_, str>, Option<String>) {
    match value.to_str() {
        Some(text) => (text.into(), None),
        None => {
            let bytes = value.as_bytes();
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            (String::from_utf8_lossy(bytes), Some(encoded))
        }
    }
}

/// [`insert_os`], or `null` for `None`.
fn insert_os_or_null(obj: &mut Map<String, Value>, key: &str, value: Option<&OsStr>) {
    match value {
        Some(value) => insert_os(obj, key, value),
        None => {
            obj.insert(key.to_string(), Value::Null);
        }
    }
}

/// Writes `bytes` and a newline to `out`.
pub fn write_line(out: &mut impl Write, bytes: &[u8]) -> Result<(), Failure> {
    out.write_all(bytes)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| Failure::stdout(&e))
}

/// Writes `line` and a newline to stderr, where failures and warnings go. A failure to write is
/// ignored: there is nowhere left to report it, and `eprintln!` would panic (exit 101) when
/// stderr is a pipe whose reader has gone (`procroot ... 2>&1 | head -c0`).
pub fn print_stderr(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Writes `bytes` to stdout and flushes it: every command's text goes out through here,
/// [`write_line`] or [`print_json`], never `print!` (which panics when the reader has gone, exit
/// 101). A closed pipe comes back as a [`Failure::is_broken_pipe`] failure, which `main` turns
/// into a quiet exit 0.
pub fn print_bytes(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::stdout(&e))
}

/// Writes a JSON value on one line to stdout.
pub fn print_json(value: &Value) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{value}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::stdout(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_utf8_gets_lossy_text_and_base64() {
        let mut obj = Map::new();
        insert_os(&mut obj, "path", OsStr::from_bytes(b"/a\xffb"));
        insert_os(&mut obj, "name", OsStr::new("ok"));
        insert_os(&mut obj, "pad", OsStr::from_bytes(b"\xff\xfe\xfd\x00"));
        assert_eq!(
            Value::Object(obj),
            json!({
                "path": "/a\u{fffd}b", "path_base64": "L2H/Yg==", "name": "ok",
                "pad": "\u{fffd}\u{fffd}\u{fffd}\u{0}", "pad_base64": "//79AA==",
            })
        );
    }

    /// The hand-written objects get the same fields as [`insert_os`] gives a [`Map`].
    #[test]
    fn write_os_is_insert_os() {
        for value in [&b"/a\"b\n"[..], b"/a\xffb"] {
            let value = OsStr::from_bytes(value);
            let mut obj = Map::new();
            insert_os(&mut obj, "path", value);
            let mut out = b"{".to_vec();
            write_os(&mut out, "path", value);
            out.push(b'}');
            assert_eq!(
                serde_json::from_slice::<Value>(&out).unwrap(),
                Value::Object(obj)
            );
        }
    }

    #[test]
    fn error_json_comes_from_the_library_error() {
        let err = procroot::Error::from_errno(Errno::NOENT)
            .context("resolve", Path::new("/no\npe"))
            .in_root(Path::new("/srv/root"));
        let failure = Failure::from(err.clone());
        assert_eq!(failure.message(), err.to_string());
        assert_eq!(
            failure.to_json(),
            json!({"error": {
                "errno": "ENOENT",
                "code": 2,
                "kind": "not_found",
                "operation": "resolve", "syscall": null,
                "path": "/no\npe",
                "root": "/srv/root",
                "message": "resolve \"/no\\u{a}pe\" in /srv/root: No such file or directory (ENOENT)",
            }})
        );
        let stdout = Failure::stdout(&io::Error::from_raw_os_error(28));
        assert_eq!(
            stdout.message(),
            "write to stdout: No space left on device (ENOSPC)"
        );
        assert_eq!(stdout.to_json()["error"]["path"], Value::Null);
        assert!(!stdout.is_broken_pipe());
        assert!(Failure::stdout(&io::Error::from_raw_os_error(32)).is_broken_pipe());
    }
}
