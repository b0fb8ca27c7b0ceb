//! One runner for the `procroot` binary: arguments, stdin, environment, user, a deadline; the
//! exit code, stdout and stderr of the run; and the assertions the CLI tests make on them.
//!
//! testutil cannot name the binary (`CARGO_BIN_EXE_*` exists only in the CLI crate's tests), so
//! each test passes it in:
//!
//! ```ignore
//! use procroot_testutil::cli::Cli;
//! fn procroot() -> Cli {
//!     Cli::new(env!("CARGO_BIN_EXE_procroot"))
//! }
//! procroot().args(["cat", "/etc/hostname"]).root(tree.path()).run().success();
//! ```

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// How long a run may take when the test sets no [`Cli::deadline`]: far longer than any command
/// takes on a loaded machine, far shorter than forever. A run past its deadline is killed and
/// the test fails, instead of hanging the suite.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);

/// One run of the binary to be made: a builder, as [`Command`] is.
#[derive(Clone, Debug)]
pub struct Cli {
    bin: PathBuf,
    args: Vec<OsString>,
    root: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    env: Vec<(OsString, OsString)>,
    uid: Option<u32>,
    deadline: Duration,
    closed_stdout: bool,
}

impl Cli {
    /// A run of `bin` (pass `env!("CARGO_BIN_EXE_procroot")`), with no arguments yet, stdin
    /// `/dev/null` and [`DEFAULT_DEADLINE`].
    pub fn new(bin: impl Into<PathBuf>) -> Cli {
        Cli {
            bin: bin.into(),
            args: Vec::new(),
            root: None,
            stdin: None,
            env: Vec::new(),
            uid: None,
            deadline: DEFAULT_DEADLINE,
            closed_stdout: false,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cli {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Appends `--root <root>` after all the other arguments.
    pub fn root(mut self, root: impl AsRef<Path>) -> Cli {
        self.root = Some(root.as_ref().to_owned());
        self
    }

    /// Feeds `input` on stdin (a pipe; a command that exits before reading it is fine).
    pub fn stdin(mut self, input: impl AsRef<[u8]>) -> Cli {
        self.stdin = Some(input.as_ref().to_vec());
        self
    }

    /// Sets an environment variable for the run.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cli {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Runs as `uid` with gid `uid` and no supplementary groups (the test must be root).
    pub fn uid(mut self, uid: u32) -> Cli {
        self.uid = Some(uid);
        self
    }

    /// Kills the run and fails the test if it is still running after `deadline` (a command that
    /// blocks, e.g. on a FIFO, must fail the test, not hang it).
    pub fn deadline(mut self, deadline: Duration) -> Cli {
        self.deadline = deadline;
        self
    }

    /// Gives the run a stdout whose reader is gone before it starts (`procroot ... | head -c0`
    /// with a `head` that exits at once): every write to stdout fails with `EPIPE` (a Rust
    /// binary ignores `SIGPIPE`). [`Run::stdout`] is then empty.
    pub fn closed_stdout(mut self) -> Cli {
        self.closed_stdout = true;
        self
    }

    /// Runs the binary and collects its exit code and output. Panics if it cannot be started,
    /// is killed by a signal or outlives its deadline.
    #[track_caller]
    pub fn run(&self) -> Run {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args);
        if let Some(root) = &self.root {
            cmd.arg("--root").arg(root);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(uid) = self.uid {
            // std clears the supplementary groups when root sets a uid.
            cmd.uid(uid).gid(uid);
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped());
        if self.closed_stdout {
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            cmd.stdout(writer);
        } else {
            cmd.stdout(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.bin.display()));
        let pid = child.id();
        // stdin is written and the output collected on threads, so that neither a command that
        // reads no input nor one that writes more than a pipe holds can stall the deadline.
        let feeder = child.stdin.take().map(|mut pipe| {
            let input = self.stdin.clone().unwrap_or_default();
            std::thread::spawn(move || match pipe.write_all(&input) {
                // The command may fail (and exit) before it reads its input.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.expect("write stdin"),
            })
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(self.deadline) {
            Ok(out) => out.expect("wait for procroot"),
            Err(_) => {
                // The waiting thread has not reaped the child (it is still running), so the
                // pid is still ours.
                // SAFETY: kill(2) with plain integers.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                let _ = rx.recv();
                panic!(
                    "{} {:?} still running after {:?}: it hung",
                    self.bin.display(),
                    self.args,
                    self.deadline
                );
            }
        };
        if let Some(feeder) = feeder {
            feeder.join().expect("stdin writer");
        }
        Run {
            code: out
                .status
                .code()
                .unwrap_or_else(|| panic!("procroot killed by a signal: {:?}", out.status)),
            stdout: out.stdout,
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0 with nothing on stderr.
    #[track_caller]
    pub fn success(&self) -> &Run {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        assert_eq!(self.stderr, "", "unexpected stderr: {self:?}");
        self
    }

    /// Asserts exit code 1 (an operation error) with `message` (and a newline) on stderr.
    ///
    /// Library errors name the syscall that failed, with its arguments (`openat2("/nope",
    /// O_PATH): `), and that part differs between backends (`openat("nope", ...)` for the
    /// emulated walker). A `message` written without it matches stderr with it removed
    /// ([`without_syscalls`]); a `message` that spells it out must match exactly.
    #[track_caller]
    pub fn failure(&self, message: &str) -> &Run {
        assert_eq!(self.code, 1, "expected an operation error: {self:?}");
        let want = format!("{message}\n");
        if self.stderr != want {
            assert_eq!(without_syscalls(&self.stderr), want, "{self:?}");
        }
        self
    }

    /// Asserts exit code 1 with one message on stderr that starts with `prefix` and ends with
    /// `suffix`, for messages whose middle depends on the machine (a procfs path names how
    /// procfs was acquired: `in procfs (fsmount)`).
    #[track_caller]
    pub fn failure_between(&self, prefix: &str, suffix: &str) -> &Run {
        assert_eq!(self.code, 1, "expected an operation error: {self:?}");
        let stderr = without_syscalls(&self.stderr);
        assert!(stderr.starts_with(prefix), "{prefix:?}: {self:?}");
        assert!(
            stderr.ends_with(&format!("{suffix}\n")),
            "{suffix:?}: {self:?}"
        );
        assert_eq!(self.stderr.lines().count(), 1, "{self:?}");
        self
    }

    /// The one error message on stderr, without `procroot: ` and the newline: what a JSON
    /// error's `message` must say.
    #[track_caller]
    pub fn message(&self) -> &str {
        (self.stderr.strip_prefix("procroot: "))
            .and_then(|m| m.strip_suffix('\n'))
            .expect("one error line on stderr")
    }

    /// Asserts exit code 2 (a usage error): nothing on stdout, a message on stderr that
    /// contains `needle` (`""`: any message).
    #[track_caller]
    pub fn usage_error(&self, needle: &str) -> &Run {
        assert_eq!(self.code, 2, "expected a usage error: {self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        assert!(!self.stderr.is_empty(), "{self:?}");
        assert!(self.stderr.contains(needle), "{needle:?} not in {self:?}");
        self
    }

    /// Stdout as UTF-8.
    #[track_caller]
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.stdout).expect("stdout is UTF-8")
    }

    /// Stdout as one JSON value per line.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
            .collect()
    }

    /// Stdout as exactly one JSON value on one line, with its final newline.
    #[track_caller]
    pub fn json(&self) -> Value {
        let text = self.text();
        assert!(text.ends_with('\n'), "no final newline: {text:?}");
        assert_eq!(text.matches('\n').count(), 1, "not one line: {text:?}");
        serde_json::from_str(text).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}"))
    }
}

/// `text` with every `name(args): ` that follows a `: ` removed: a library error message
/// without the syscall it names, as it reads on every backend. Quoted arguments may hold any
/// character (escaped as Rust's `Debug` escapes them).
pub fn without_syscalls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(": ") {
        let (head, tail) = rest.split_at(at + 2);
        out.push_str(head);
        rest = match syscall_prefix_len(tail) {
            Some(len) => &tail[len..],
            None => tail,
        };
    }
    out.push_str(rest);
    out
}

/// The length of a leading `name(args): ` in `text`, if it starts with one.
fn syscall_prefix_len(text: &str) -> Option<usize> {
    let name = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|&n| n > 0)?;
    let bytes = text.as_bytes();
    if bytes.get(name) != Some(&b'(') {
        return None;
    }
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(name) {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return text[i + 1..].starts_with(": ").then_some(i + 3);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::without_syscalls;

    #[test]
    fn syscalls_are_removed_from_messages() {
        assert_eq!(
            without_syscalls(
                "procroot: resolve \"/a\" in /r: openat2(\"/a\", O_PATH): No such file (ENOENT)\n"
            ),
            "procroot: resolve \"/a\" in /r: No such file (ENOENT)\n"
        );
        assert_eq!(
            without_syscalls("x: mkdirat(\"/\", \"a): \\\"(\", 0o777): File exists (EEXIST)"),
            "x: File exists (EEXIST)"
        );
        assert_eq!(without_syscalls("x: statx(2): EPERM"), "x: EPERM");
        // Not a syscall: no parenthesis, or no `: ` after it.
        assert_eq!(
            without_syscalls("x: refusing (a FIFO)"),
            "x: refusing (a FIFO)"
        );
        assert_eq!(without_syscalls("x: f(y) z"), "x: f(y) z");
    }
}
