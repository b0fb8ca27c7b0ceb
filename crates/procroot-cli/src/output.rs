//! Printing: errors in the `procroot: <context>: <cause>` format, JSON fields for paths that
//! may not be UTF-8, and writing to stdout.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use procroot::Errno;
use serde_json::{json, Map, Value};

/// An operation that failed: what was being done (`resolve /nope`) and the errno it failed with.
#[derive(Debug)]
pub struct Failure {
    /// What was being done, such as `resolve /nope` or `open root /proc/1/root`.
    context: String,
    /// Why it failed.
    errno: Errno,
    /// The human-readable cause, such as `No such file or directory`.
    description: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// A library error, in the context of `command` on `path` (both as the user gave them).
    pub fn new(command: &str, path: &Path, err: &procroot::Error) -> Failure {
        Failure {
            context: format!("{command} {}", shown(path)),
            errno: err.errno(),
            description: err.description().into_owned(),
        }
    }

    /// A library error in a context the caller spells out, such as `cp ./a :/b`.
    pub fn with_context(context: String, err: &procroot::Error) -> Failure {
        Failure {
            context,
            errno: err.errno(),
            description: err.description().into_owned(),
        }
    }

    /// A library error that carries its own context, such as the failure to open the root
    /// (`open root /proc/1/root`).
    pub fn from_library(err: &procroot::Error) -> Failure {
        let mut context = err.operation().to_string();
        if let Some(path) = err.path() {
            if !context.is_empty() {
                context.push(' ');
            }
            context.push_str(&shown(path));
        }
        Failure {
            context,
            errno: err.errno(),
            description: err.description().into_owned(),
        }
    }

    /// An I/O error (a failed `read` or `write`) with a context.
    pub fn io(context: impl Into<String>, err: &io::Error) -> Failure {
        let errno = Errno::from_io_error(err).unwrap_or(Errno::IO);
        Failure {
            context: context.into(),
            errno,
            description: procroot::error::errno_description(errno),
        }
    }

    /// A failure to write to stdout.
    pub fn stdout(err: &io::Error) -> Failure {
        Failure::io("write to stdout", err)
    }

    /// Whether this is a write to a closed pipe (`procroot cat big | head`), which ends the
    /// program quietly and successfully.
    pub fn is_broken_pipe(&self) -> bool {
        self.errno == Errno::PIPE
    }

    /// The message without the `procroot: ` prefix:
    /// `resolve /nope: No such file or directory (ENOENT)`.
    pub fn message(&self) -> String {
        format!(
            "{}: {} ({})",
            self.context,
            self.description,
            procroot::error::errno_name(self.errno)
        )
    }

    /// `{"error": {"errno": "ENOENT", "code": 2, "message": "..."}}`.
    pub fn to_json(&self) -> Value {
        json!({
            "error": {
                "errno": procroot::error::errno_name(self.errno),
                "code": self.errno.raw_os_error(),
                "message": self.message(),
            }
        })
    }

    /// Prints the failure on stderr, and with `json` also as a JSON object on stdout. Errors
    /// while printing are ignored: there is nowhere left to report them.
    pub fn report(&self, json: bool) {
        if json {
            let mut stdout = io::stdout().lock();
            let _ = writeln!(stdout, "{}", self.to_json());
            let _ = stdout.flush();
        }
        eprintln!("procroot: {}", self.message());
    }
}

/// A path for a message: printable UTF-8 unchanged, control characters as `\u{a}` and bytes
/// that are not UTF-8 as `\xff`, so that a hostile file name cannot forge lines or terminal
/// escapes.
pub fn shown(path: &Path) -> String {
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Inserts a path or name into a JSON object as `key`: the string itself when it is UTF-8;
/// otherwise the lossy text (U+FFFD for invalid bytes) plus `<key>_base64` with the exact bytes.
pub fn insert_os(obj: &mut Map<String, Value>, key: &str, value: &OsStr) {
    match value.to_str() {
        Some(text) => {
            obj.insert(key.to_string(), Value::from(text));
        }
        None => {
            let bytes = value.as_bytes();
            obj.insert(
                key.to_string(),
                Value::from(String::from_utf8_lossy(bytes).into_owned()),
            );
            obj.insert(format!("{key}_base64"), Value::from(base64(bytes)));
        }
    }
}

/// Standard base64 (RFC 4648 §4, `+` and `/`, `=` padding).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes `bytes` and a newline to `out`.
pub fn write_line(out: &mut impl Write, bytes: &[u8]) -> Result<(), Failure> {
    out.write_all(bytes)
        .and_then(|()| out.write_all(b"\n"))
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

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases: [(&[u8], &str); 8] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (b"\xff\xfe\xfd\x00", "//79AA=="),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input), want, "{input:?}");
        }
    }

    #[test]
    fn non_utf8_gets_lossy_text_and_base64() {
        let mut obj = Map::new();
        insert_os(&mut obj, "path", OsStr::from_bytes(b"/a\xffb"));
        insert_os(&mut obj, "name", OsStr::new("ok"));
        assert_eq!(
            Value::Object(obj),
            json!({"path": "/a\u{fffd}b", "path_base64": "L2H/Yg==", "name": "ok"})
        );
    }

    #[test]
    fn hostile_paths_are_escaped_in_messages() {
        let path = Path::new(OsStr::from_bytes(b"/a\nb\x1b[0m\xff"));
        assert_eq!(shown(path), "/a\\u{a}b\\u{1b}[0m\\xff");
    }

    #[test]
    fn error_json_shape() {
        let failure = Failure {
            context: "resolve /nope".into(),
            errno: Errno::NOENT,
            description: "No such file or directory".into(),
        };
        assert_eq!(
            failure.to_json(),
            json!({"error": {
                "errno": "ENOENT",
                "code": 2,
                "message": "resolve /nope: No such file or directory (ENOENT)",
            }})
        );
    }
}
