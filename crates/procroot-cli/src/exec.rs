//! `procroot exec`: run a command in another process's namespaces and root.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use procroot_runtime::exec::{sealed_exe, Command, NsKinds};

use crate::output::Failure;

/// Arguments of `procroot exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The process whose namespaces and root to enter.
    #[arg(long, value_name = "PID")]
    pub pid: u32,
    /// The namespaces to enter: `all` (every namespace the target does not share with procroot)
    /// or a comma-separated list of mnt, uts, ipc, net, pid, cgroup, user, time. Namespaces the
    /// target shares with procroot are skipped. An unknown name is a usage error (exit 2).
    #[arg(long, value_name = "all|KIND,...", default_value = "all", value_parser = parse_ns)]
    pub ns: NsKinds,
    /// The working directory, resolved inside the target's root (symlinks stay inside it, magic
    /// links such as /proc/self/fd/N are refused), and checked again after entering.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub cwd: PathBuf,
    /// Pass fd N on to the command (repeatable). N must be open when procroot starts: it is
    /// checked before procroot opens anything (EBADF otherwise, and nothing runs). Every other
    /// fd above 2 is closed (not just marked close-on-exec) before the command's execve, so that
    /// neither the command nor a `#!/proc/self/fd/N/...` interpreter line can reach one of
    /// procroot's fds.
    #[arg(long = "keep-fd", value_name = "N")]
    pub keep_fd: Vec<i32>,
    /// Start the command in the target's cgroup (cgroup v2, as `runc exec`), so the container's
    /// limits and accounting apply to it. Without it the command stays in procroot's cgroup.
    /// The cgroup is checked to hold the target; one outside procroot's cgroup namespace (a
    /// `..` path) or under a cgroup2 mount rooted elsewhere is refused (EXDEV), never clamped.
    #[arg(long)]
    pub cgroup: bool,
    /// Keep procroot's own privileges (its uid, groups, every capability, no seccomp filter,
    /// its LSM label), as nsenter does, instead of the target's. The command then holds host root inside the
    /// container, and the container's binaries it runs (including a replaced /bin/sh or the
    /// dynamic loader) act with it: use this only when the container's files are trusted.
    #[arg(long, conflicts_with_all = ["user", "no_seccomp"])]
    pub privileged: bool,
    /// Run as UID and GID (default: the target's gid), numbered as in the target's user
    /// namespace, with no supplementary groups, like `docker exec --user`; the target's
    /// capability sets, no_new_privs and seccomp filters still apply.
    #[arg(long, value_name = "UID[:GID]", value_parser = parse_user)]
    pub user: Option<(u32, Option<u32>)>,
    /// Run without the target's seccomp filters when they cannot be copied (copying needs
    /// CAP_SYS_ADMIN in the initial user namespace and ptrace access to the target). Without
    /// this or --config, such a target is refused. Everything else stays the target's.
    #[arg(long = "no-seccomp", conflicts_with = "config")]
    pub no_seccomp: bool,
    /// The container's OCI runtime config (config.json): when the target's seccomp filter
    /// cannot be copied, its linux.seccomp section is compiled into a filter and installed
    /// instead (a copied filter wins; a target without a filter gets none). Only the native
    /// architecture is compiled: a syscall from any other ABI (32-bit x86, x32) kills the
    /// command. Refused before anything runs: a config without linux.seccomp, SCMP_ACT_NOTIFY,
    /// the flags SECCOMP_FILTER_FLAG_LOG, SPEC_ALLOW and WAIT_KILLABLE_RECV, and a syscall name
    /// no architecture knows (named in the error).
    #[arg(long, value_name = "config.json", conflicts_with = "privileged")]
    pub config: Option<PathBuf>,
    /// Set the variable KEY to VALUE in the command's environment (repeatable; later ones win).
    /// KEY and VALUE are bytes, not necessarily UTF-8.
    ///
    /// Without --env-clear or --preserve-env the environment is the target's own, read from
    /// /proc/PID/environ (as docker exec gives a container its configured environment), plus
    /// TERM when procroot has one. procroot's own environment holds host credentials that must
    /// not reach a binary of the container, and the container's other processes can read the
    /// command's environment. If the target's environment cannot be read, nothing runs: it
    /// never falls back to procroot's.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = EnvVar)]
    pub env: Vec<(OsString, OsString)>,
    /// Start with an empty environment (then only --env's variables).
    #[arg(long = "env-clear", conflicts_with = "preserve_env")]
    pub env_clear: bool,
    /// Start with procroot's own environment, as nsenter does, instead of the target's: every
    /// host variable (tokens, credentials, PATH) then reaches the container.
    #[arg(long = "preserve-env")]
    pub preserve_env: bool,
    /// The command and its arguments (after `--`). A name without `/` is looked up in PATH
    /// inside the target's root.
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `--env KEY=VALUE` on the raw bytes (a value need not be UTF-8): a usage error without `=`
/// or with an empty KEY.
#[derive(Clone)]
struct EnvVar;

impl clap::builder::TypedValueParser for EnvVar {
    type Value = (OsString, OsString);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let b = value.as_bytes();
        match b.iter().position(|&c| c == b'=') {
            Some(i) if i > 0 => Ok((
                OsStr::from_bytes(&b[..i]).to_owned(),
                OsStr::from_bytes(&b[i + 1..]).to_owned(),
            )),
            _ => Err(cmd.clone().error(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value {value:?} for '--env <KEY=VALUE>': expected KEY=VALUE with a non-empty KEY"),
            )),
        }
    }
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let num = |n: &str| {
        n.parse::<u32>()
            .ok()
            .filter(|&id| id != u32::MAX)
            .ok_or_else(|| format!("{n:?} is not a numeric id (names are not looked up)"))
    };
    match s.split_once(':') {
        Some((u, g)) => Ok((num(u)?, Some(num(g)?))),
        None => Ok((num(s)?, None)),
    }
}

/// Checks the `--keep-fd` values of an `exec` command line are open, before anything is parsed,
/// opened or re-executed (`main` calls it first): a number checked after procroot has opened its
/// pidfd and procfs could name one of those, which the target would then get. Values that are
/// not numbers are left to the parser (a usage error).
pub fn check_keep_fds_first(args: impl IntoIterator<Item = OsString>) -> Result<(), Failure> {
    let mut args = args.into_iter().skip_while(|a| a != "exec").skip(1);
    let mut fds = Vec::new();
    while let Some(arg) = args.next() {
        let value = match arg.to_str() {
            Some("--") | None => break,
            Some("--keep-fd") => args.next(),
            Some(a) if a.starts_with("--keep-fd=") => Some(a["--keep-fd=".len()..].into()),
            // The options that take a value: their value is not the command.
            Some("--pid" | "--ns" | "--cwd" | "--user" | "--env" | "--config") => {
                args.next();
                continue;
            }
            Some(a) if a.starts_with('-') => continue,
            // The command: what follows is its own arguments.
            Some(_) => break,
        };
        if let Some(fd) = value.and_then(|v| v.to_str()?.parse().ok()) {
            fds.push(fd);
        }
    }
    procroot_runtime::exec::check_keep_fds(&fds)
        .map_err(|e| Failure::Library(e.context("exec", Path::new("--keep-fd"))))
}

fn parse_ns(s: &str) -> Result<NsKinds, String> {
    s.parse::<NsKinds>()
        .map_err(|e| e.description().into_owned())
}

/// Makes sure procroot runs from a sealed copy of its binary ([`sealed_exe::ensure`]: the
/// target's processes can see `/proc/<our pid>/exe`), re-executing it if not. `main` calls it
/// before parsing the arguments when the subcommand is `exec` (the process about to be
/// replaced then skips the parser); [`run`] calls it again, which then only checks.
pub fn seal() -> Result<(), Failure> {
    sealed_exe::ensure()
        .map(drop)
        .map_err(|e| Failure::Library(e.context("exec: seal", Path::new("/proc/self/exe"))))
}

/// Runs `procroot exec`: seals procroot's own binary first (the target's processes can see
/// `/proc/<our pid>/exe`), then runs the command and exits as it did (128+N after signal N;
/// 127 when the command was not found, 126 when it could not be executed, see
/// [`Failure::exit_status`]).
pub fn run(args: &ExecArgs) -> Result<ExitCode, Failure> {
    let shown = PathBuf::from(args.pid.to_string());
    seal()?;
    let pidfd = procroot_runtime::exec::open_target(args.pid)
        .map_err(|e| Failure::Library(e.within("exec --pid", &shown)))?;
    let mut command = Command::new(&args.command[0]);
    command.args(&args.command[1..]).current_dir(&args.cwd);
    for &fd in &args.keep_fd {
        command.keep_fd(fd);
    }
    if args.cgroup {
        command.join_cgroup();
    }
    if args.privileged {
        command.privileged();
    }
    if let Some((uid, gid)) = args.user {
        command.user(uid, gid);
    }
    if args.no_seccomp {
        command.without_seccomp();
    }
    if let Some(config) = &args.config {
        let profile = procroot_runtime::exec::seccomp_profile::load_profile(config)
            .map_err(|e| Failure::Library(e.within("exec", Path::new("--config"))))?;
        command.seccomp_profile(profile);
    }
    if args.env_clear {
        command.env_clear();
    }
    if args.preserve_env {
        command.preserve_env();
    }
    for (key, value) in &args.env {
        command.env(key, value);
    }
    // procroot stays the command's responsive stand-in: signals passed on, job control.
    command.forward_signals();
    // The library's errors already say `exec in "<pid>"` and keep what failed inside it.
    let status =
        procroot_runtime::exec::spawn_in(&pidfd, args.ns, &command).map_err(Failure::Library)?;
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
