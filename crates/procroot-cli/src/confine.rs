//! The second wall: every command confines itself with Landlock ([`procroot_runtime::sandbox`]) after
//! it has opened what it needs and before it walks anything, so that a bug in procroot's own
//! checks becomes an `EACCES` instead of a host file read or changed.
//!
//! [`PROFILES`] is the one table of what each command may do: the commands build their
//! [`Sandbox`] from it ([`Job`]), `procroot doctor` prints it, and a test checks that the
//! guide's "Two walls" table (docs/GUIDE.md) is its rendering. Each command gets exactly the
//! Landlock rights its job needs (found with strace, then checked by masking each right). Landlock does not mediate
//! mode, owner, times, xattrs, `stat`, `readlink` or `O_PATH` opens: `chmod`, `chown` and
//! `touch` of an existing file are stopped by the library's second check instead
//! ([`Root::with_second_check`]), and `resolve`, `stat`, `readlink` rely on the first wall.
//!
//! `--no-sandbox` (global) turns off both. Where the kernel has no Landlock (or a seccomp filter
//! refuses its probe), commands run as before; with `--json` a `{"sandbox": ...}` line says so.
//! At Landlock ABI 1 (Linux 5.13-5.18), which cannot allow a rename or link into another
//! directory (`REFER`), the commands that need it (`mv`, `ln`) run without Landlock and say so
//! the same way.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use procroot::{Preload, Procfs, Root, SpecialFiles};
use procroot_runtime::sandbox::{self, Access, CopyDirection, CopyTree, Sandbox};
use serde_json::json;

use crate::output::Failure;

/// `--no-sandbox`, set once by `main`.
static DISABLED: AtomicBool = AtomicBool::new(false);

/// A tree a [`Rule`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tree {
    /// The root the command works in.
    Root,
    /// `cp` in: the host file or directory copied from.
    CopySource,
    /// `cp` out: the host directory the copy lands in.
    CopyDestination,
    /// `proc`: this process's own directory in procroot's private procfs instance
    /// (`/proc/self`, which holds `/proc/thread-self`).
    ProcSelf,
    /// `unpack --image`: the OCI image layout directory the layers are read from.
    Image,
}

impl Tree {
    /// How the tables name it.
    fn describe(self) -> &'static str {
        match self {
            Tree::Root => "beneath the root",
            Tree::CopySource => "beneath the host source",
            Tree::CopyDestination => "beneath the host directory the copy lands in",
            Tree::ProcSelf => "beneath `/proc/self` of procroot's private procfs",
            Tree::Image => "beneath the image layout directory (--image)",
        }
    }
}

impl From<CopyTree> for Tree {
    fn from(tree: CopyTree) -> Tree {
        match tree {
            CopyTree::Root => Tree::Root,
            CopyTree::HostSource => Tree::CopySource,
            CopyTree::HostDestination => Tree::CopyDestination,
        }
    }
}

/// What a command may do beneath one tree.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The tree.
    pub tree: Tree,
    /// The rights, always.
    pub access: Access,
    /// Plus the `MAKE_*` right of the entry's type, which the command learns before it
    /// confines itself (`ln`: the target's type; `mknod`: the kind asked for).
    pub of_type: bool,
    /// Plus these with `--special-files`.
    pub special: Access,
}

const fn rule(tree: Tree, access: Access) -> Rule {
    Rule {
        tree,
        access,
        of_type: false,
        special: Access::empty(),
    }
}

/// A command's confinement.
#[derive(Clone, Copy, Debug)]
pub enum Confinement {
    /// Landlock with these rules and nothing else (no rules: no file access at all).
    Rules(&'static [Rule]),
    /// Landlock with the library's rules for one copy in this direction
    /// ([`sandbox::copy_rules`], enforced by [`sandbox::copy_sandbox`]).
    Copy(CopyDirection),
    /// Not confined (the profile's note says why).
    Unconfined,
}

/// One row of [`PROFILES`].
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// The commands (and variants, `rm -r`) the row is about.
    pub commands: &'static [&'static str],
    /// What they may do.
    pub confinement: Confinement,
    /// Why, where the rights alone do not say it.
    pub note: &'static str,
}

/// What `unpack` may do beneath the root: what a copy may do beneath the tree it writes to
/// ([`sandbox::COPY_WRITE`]: make files, directories and symlinks, write them, `TRUNCATE` for a
/// sparse file's size, `REFER` for hard links between directories, list and remove, here what
/// whiteouts and replaced entries name), and make FIFOs, which are layer entries like any other.
const UNPACK_WRITE: Access = sandbox::COPY_WRITE.union(Access::MAKE_FIFO);

/// What each command may do: the one source for the commands' rulesets, `doctor`, the guide
/// and `--help`.
pub const PROFILES: &[Profile] = &[
    Profile {
        commands: &["resolve", "stat", "readlink"],
        confinement: Confinement::Rules(&[]),
        note: "no file access at all; they only look (O_PATH, stat, readlink), which Landlock \
               does not mediate: the first wall alone keeps them in the root",
    },
    Profile {
        commands: &["chmod", "chown"],
        confinement: Confinement::Rules(&[]),
        note: "no file access at all; Landlock does not mediate mode and owner changes: the \
               second check confirms each file is inside the root",
    },
    Profile {
        commands: &["touch"],
        confinement: Confinement::Rules(&[rule(
            Tree::Root,
            Access::MAKE_REG.union(Access::READ_FILE),
        )]),
        note: "to create a missing file; an existing file's times: the second check",
    },
    Profile {
        commands: &["ls", "find"],
        confinement: Confinement::Rules(&[rule(Tree::Root, Access::READ_DIR)]),
        note: "find also stats and reads links, which Landlock does not mediate",
    },
    Profile {
        commands: &["audit"],
        confinement: Confinement::Rules(&[rule(
            Tree::Root,
            Access::READ_FILE.union(Access::READ_DIR),
        )]),
        note: "READ_FILE: before Linux 6.13 (no getxattrat) an executable's \
               security.capability is read by reopening it read-only",
    },
    Profile {
        commands: &["cat"],
        confinement: Confinement::Rules(&[rule(
            Tree::Root,
            Access::READ_FILE.union(Access::READ_DIR),
        )]),
        note: "READ_DIR: a directory operand is opened and refused by read(2) with EISDIR, as \
               cat(1) reports it",
    },
    Profile {
        commands: &["mkdir"],
        confinement: Confinement::Rules(&[rule(
            Tree::Root,
            Access::MAKE_DIR.union(Access::REMOVE_DIR),
        )]),
        note: "REMOVE_DIR: mkdir -p removes what it made when a later step fails",
    },
    Profile {
        commands: &["rm"],
        confinement: Confinement::Rules(&[rule(Tree::Root, Access::REMOVE)]),
        note: "",
    },
    Profile {
        commands: &["rm -r"],
        confinement: Confinement::Rules(&[rule(
            Tree::Root,
            Access::REMOVE.union(Access::READ_DIR),
        )]),
        note: "",
    },
    Profile {
        commands: &["ln -s"],
        confinement: Confinement::Rules(&[rule(Tree::Root, Access::MAKE_SYM)]),
        note: "",
    },
    Profile {
        commands: &["ln"],
        confinement: Confinement::Rules(&[Rule {
            tree: Tree::Root,
            access: Access::REFER,
            of_type: true,
            special: Access::empty(),
        }]),
        note: "linking a device node needs MAKE_CHAR or MAKE_BLOCK, though it makes no device; \
               at Landlock ABI 1 (no REFER) not confined, and --json says so",
    },
    Profile {
        commands: &["mv"],
        confinement: Confinement::Rules(&[rule(
            Tree::Root,
            Access::REFER.union(Access::MAKE_ANY).union(Access::REMOVE),
        )]),
        note: "Landlock counts moving a device node as making one; mv makes none. At Landlock \
               ABI 1 (no REFER) not confined, and --json says so",
    },
    Profile {
        commands: &["write"],
        confinement: Confinement::Rules(&[rule(
            Tree::Root,
            Access::MAKE_REG
                .union(Access::WRITE_FILE)
                .union(Access::REMOVE_FILE)
                .union(Access::REMOVE_DIR),
        )]),
        note: "the bytes go to a new file that then replaces PATH; REMOVE_DIR: so that a \
               directory at PATH is refused by rename(2) with EISDIR, not by Landlock",
    },
    Profile {
        commands: &["write --append"],
        confinement: Confinement::Rules(&[rule(
            Tree::Root,
            Access::WRITE_FILE.union(Access::MAKE_REG),
        )]),
        note: "MAKE_REG: a missing PATH is created",
    },
    Profile {
        commands: &["mknod"],
        confinement: Confinement::Rules(&[Rule {
            tree: Tree::Root,
            access: Access::empty(),
            of_type: true,
            special: Access::empty(),
        }]),
        note: "",
    },
    Profile {
        commands: &["cp (in)"],
        confinement: Confinement::Copy(CopyDirection::In),
        note: "",
    },
    Profile {
        commands: &["cp (out)"],
        confinement: Confinement::Copy(CopyDirection::Out),
        note: "never a device node on the host; no READ_FILE there, so nothing beside the copy \
               can be read",
    },
    Profile {
        commands: &["unpack"],
        confinement: Confinement::Rules(&[
            Rule {
                tree: Tree::Root,
                access: UNPACK_WRITE,
                of_type: false,
                special: Access::MAKE_DEVICE,
            },
            rule(Tree::Image, Access::READ),
        ]),
        note: "the LAYER files and stdin are opened before, so no rule reads them, and nothing \
               beside them can be; no READ_FILE beneath the root: a bug cannot read a file of \
               the root into another; REFER: hard links between directories of the root",
    },
    Profile {
        commands: &["proc"],
        confinement: Confinement::Rules(&[rule(Tree::ProcSelf, Access::READ)]),
        note: "with --pid, --proc-root or --pidns not confined: Landlock refuses ptrace-mode \
               access (another process's exe, fd/, environ) to every process outside the sandbox",
    },
    Profile {
        commands: &["doctor"],
        confinement: Confinement::Unconfined,
        note: "it probes the whole system",
    },
    Profile {
        commands: &["exec"],
        confinement: Confinement::Unconfined,
        note: "Landlock is inherited across execve and cannot be lifted, so it would confine the \
               command run in the target for its whole life",
    },
    Profile {
        commands: &["harden", "mount-proc"],
        confinement: Confinement::Unconfined,
        note: "a landlocked process may not mount at all, and mounting is their job",
    },
    Profile {
        commands: &["sysctl"],
        confinement: Confinement::Unconfined,
        note: "it writes through a private procfs instance the library opens for the write, and \
               with --pid enters the target's namespaces first",
    },
    Profile {
        commands: &["completions", "man", "help"],
        confinement: Confinement::Rules(&[]),
        note: "they only write to stdout",
    },
];

/// The row of [`PROFILES`] for `command`. Every command the CLI confines has one (a unit test
/// checks each name the CLI uses).
pub fn profile(command: &str) -> &'static Profile {
    PROFILES
        .iter()
        .find(|p| p.commands.contains(&command))
        .unwrap_or_else(|| panic!("no sandbox profile for {command:?}"))
}

impl Confinement {
    /// The rules, as a table shows them (a copy's from the library's
    /// [`sandbox::copy_rules`], with and without `--special-files`); none when unconfined.
    pub fn rules(self) -> Vec<Rule> {
        match self {
            Confinement::Unconfined => Vec::new(),
            Confinement::Rules(rules) => rules.to_vec(),
            Confinement::Copy(direction) => {
                let plain = sandbox::copy_rules(direction, SpecialFiles::Refuse);
                let special = sandbox::copy_rules(direction, SpecialFiles::Allow);
                plain
                    .iter()
                    .zip(special)
                    .map(|(plain, special)| Rule {
                        tree: plain.tree.into(),
                        access: plain.access,
                        of_type: false,
                        special: special.access.difference(plain.access),
                    })
                    .collect()
            }
        }
    }
}

impl Rule {
    /// The rule in words: `beneath the root: READ_FILE, READ_DIR`.
    fn describe(&self) -> String {
        let mut names = self.access.names().join(", ");
        if self.of_type {
            if !names.is_empty() {
                names.push_str(", ");
            }
            names.push_str("the MAKE_* of the type");
        }
        let mut text = format!("{}: {names}", self.tree.describe());
        if !self.special.is_empty() {
            text.push_str(&format!(
                " (and {} with --special-files)",
                self.special.names().join(", ")
            ));
        }
        text
    }
}

impl Profile {
    /// What the commands may do, in words: for `doctor`, the guide and `--help`.
    pub fn describe(&self) -> String {
        let mut out = match self.confinement {
            Confinement::Unconfined => "not confined".to_owned(),
            Confinement::Rules([]) => "nothing".to_owned(),
            Confinement::Rules(_) | Confinement::Copy(_) => self
                .confinement
                .rules()
                .iter()
                .map(Rule::describe)
                .collect::<Vec<_>>()
                .join("; "),
        };
        if !self.note.is_empty() {
            out.push_str(" (");
            out.push_str(self.note);
            out.push(')');
        }
        out
    }
}

/// The commands that never use procroot's procfs handle once confined: they make, remove or
/// rename an entry through its parent's fd, list a directory through its own fd, or only print
/// (a path they print is named by a walk when there is no procfs handle). They confine without
/// it ([`Preload::PROCFS`]), saving the procfs instance (40-80 µs) they would not make
/// unconfined; `sandbox_cli`'s test checks that with `strace`. Should one of them need it after
/// all, it fails with an error naming `Preload::PROCFS`, never opening a `/proc` then. Every
/// other command, a new one included, preloads it. (`ln`, `rm -r` and `write --append` are not
/// here: a hard link, a directory's mode and an append may go through the procfs handle.)
const PROCFS_UNUSED: &[&str] = &[
    "rm",
    "mkdir",
    "ln -s",
    "mv",
    "write",
    "mknod",
    "ls",
    "completions",
    "man",
    "help",
];

/// Called by `main` with `--no-sandbox`.
pub fn init(no_sandbox: bool) {
    DISABLED.store(no_sandbox, Ordering::Relaxed);
}

/// Whether the second wall is on (no `--no-sandbox`): Landlock, and the library's second check
/// of metadata changes ([`Root::with_second_check`]).
pub fn enabled() -> bool {
    !DISABLED.load(Ordering::Relaxed)
}

/// One command's confinement, to be made from its [`Profile`] and the trees it opened.
pub struct Job<'a> {
    command: &'static str,
    root: Option<BorrowedFd<'a>>,
    /// A copy's root and host operand ([`Confinement::Copy`]).
    copy: Option<(&'a Root, &'a Path)>,
    proc_self: Option<OwnedFd>,
    /// `unpack --image`: the layout directory ([`Tree::Image`]).
    image: Option<BorrowedFd<'a>>,
    of_type: Access,
    special_files: bool,
    /// What the library reads before confining ([`Sandbox::preload`]).
    preload: Preload,
}

impl<'a> Job<'a> {
    /// The confinement of `command` (a name in [`PROFILES`]), with no tree yet.
    pub fn new(command: &'static str) -> Job<'a> {
        Job {
            command,
            root: None,
            copy: None,
            proc_self: None,
            image: None,
            of_type: Access::empty(),
            special_files: false,
            preload: Preload::all(),
        }
    }

    /// `command`'s confinement beneath `root`.
    pub fn on(command: &'static str, root: &'a Root) -> Job<'a> {
        Job::new(command).root(root)
    }

    /// The root ([`Tree::Root`]), where the command makes all its lookups: the library reads
    /// before confining only what lookups there can use ([`Preload::for_root`]; the sysctl
    /// `fs.protected_symlinks` only where the emulated walker answers).
    pub fn root(mut self, root: &'a Root) -> Job<'a> {
        self.root = Some(root.as_fd());
        self.preload = Preload::for_root(root);
        self
    }

    /// `cp` in (`command` `cp (in)`) or out (`cp (out)`) between `root` and the host operand
    /// `host_path`: the library's rules for that copy ([`sandbox::copy_sandbox`]).
    pub fn copy(command: &'static str, root: &'a Root, host_path: &'a Path) -> Job<'a> {
        let mut job = Job::on(command, root);
        job.copy = Some((root, host_path));
        // A copy also walks the host tree: everything, as the library's default.
        job.preload = Preload::all();
        job
    }

    /// `unpack --image`: the image layout directory ([`Tree::Image`]).
    pub fn image(mut self, dir: BorrowedFd<'a>) -> Job<'a> {
        self.image = Some(dir);
        self
    }

    /// The `MAKE_*` right of the entry the command makes or links ([`Rule::of_type`]).
    pub fn of_type(mut self, make: Access) -> Job<'a> {
        self.of_type = make;
        self
    }

    /// `--special-files` ([`Rule::special`]).
    pub fn special_files(mut self, on: bool) -> Job<'a> {
        self.special_files = on;
        self
    }

    /// The rights each tree gets, by the profile: `(tree fd, access)`.
    fn rules(&self) -> Vec<(BorrowedFd<'_>, Access)> {
        let Confinement::Rules(rules) = profile(self.command).confinement else {
            return Vec::new();
        };
        rules
            .iter()
            .filter_map(|r| {
                let fd = match r.tree {
                    Tree::Root => self.root,
                    // Only a copy's rules are about these, and those come from the library.
                    Tree::CopySource | Tree::CopyDestination => None,
                    Tree::ProcSelf => self.proc_self.as_ref().map(AsFd::as_fd),
                    Tree::Image => self.image,
                }?;
                let mut access = r.access;
                if r.of_type {
                    access |= self.of_type;
                }
                if self.special_files {
                    access |= r.special;
                }
                Some((fd, access))
            })
            .collect()
    }

    /// `--special-files` as the library's setting.
    fn special(&self) -> SpecialFiles {
        crate::commands::special_files(self.special_files)
    }

    /// The Landlock ruleset: exactly the rules of the profile.
    fn sandbox(&self) -> Sandbox {
        if let Confinement::Copy(direction) = profile(self.command).confinement {
            return match self.copy {
                Some((root, host)) => sandbox::copy_sandbox(root, direction, host, self.special()),
                // Not made with `Job::copy`: nothing allowed.
                None => Sandbox::new(),
            };
        }
        self.rules()
            .into_iter()
            .fold(Sandbox::new(), |sandbox, (fd, access)| {
                sandbox.allow_beneath(fd, access)
            })
    }

    /// What the library reads before confining: by the root ([`Job::root`]), without the
    /// procfs handle for the commands in [`PROCFS_UNUSED`].
    fn preload(&self) -> Preload {
        if PROCFS_UNUSED.contains(&self.command) {
            self.preload - Preload::PROCFS
        } else {
            self.preload
        }
    }

    /// Whether any rule needs renames or links into another directory (`REFER`, ABI 2).
    fn needs_refer(&self) -> bool {
        if let Confinement::Copy(direction) = profile(self.command).confinement {
            return sandbox::copy_rules(direction, self.special())
                .iter()
                .any(|r| r.access.contains(Access::REFER));
        }
        self.rules()
            .iter()
            .any(|(_, access)| access.contains(Access::REFER))
    }
}

/// No file system access at all: `completions` and `man`, which only write to stdout.
pub fn nothing() -> Job<'static> {
    let mut job = Job::new("completions");
    // No root, no lookups: nothing to read first.
    job.preload = Preload::empty();
    job
}

/// `procroot proc`: this process's own directory of the private procfs instance. Where it
/// cannot be opened, no rule: then nothing can be read, and the command says why.
pub fn procfs(procfs: &Procfs) -> Job<'static> {
    let mut job = Job::new("proc");
    job.proc_self = procfs
        .open(
            procroot::ProcBase::SelfProcess,
            "",
            procroot::OFlags::PATH | procroot::OFlags::DIRECTORY,
        )
        .ok()
        .map(OwnedFd::from);
    job
}

/// Where a notice that the sandbox is unavailable goes with `--json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Text mode: commands run as they did before the sandbox, silently.
    None,
    /// A `{"sandbox": ...}` line on stdout, before the results.
    Stdout,
    /// On stderr, for `cat`, whose stdout is the files' bytes.
    Stderr,
}

impl Notice {
    /// [`Notice::Stdout`] with `--json`, else [`Notice::None`].
    pub fn json(json: bool) -> Notice {
        if json {
            Notice::Stdout
        } else {
            Notice::None
        }
    }
}

/// Confines this process as `job`'s profile says, unless `--no-sandbox` or the profile says
/// unconfined. Without Landlock, goes on unconfined and says so as `notice` asks; likewise at
/// Landlock ABI 1 for a job that needs `REFER` (which ABI 1 refuses outright, `EXDEV`). Any
/// other failure to confine fails the command (it never runs unconfined because of a refusal it
/// did not expect).
pub fn confine(notice: Notice, job: Job<'_>) -> Result<(), Failure> {
    if !enabled() {
        return Ok(());
    }
    if let Confinement::Unconfined = profile(job.command).confinement {
        return Ok(());
    }
    let say = |line: serde_json::Value| -> Result<(), Failure> {
        match notice {
            Notice::None => {}
            // A reader that has gone (`| head -c0`) must not stop the command before its work:
            // a changing command still changes, and ends quietly when it prints its result.
            Notice::Stdout => match crate::output::print_json(&line) {
                Err(failure) if failure.is_broken_pipe() => {}
                other => other?,
            },
            Notice::Stderr => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
        Ok(())
    };
    let abi = match sandbox::abi() {
        Ok(abi) => abi,
        Err(e) => {
            return say(json!({"sandbox": {
                "status": "unavailable",
                "errno": e.errno_name(),
                "message": e.to_string(),
            }}))
        }
    };
    if abi < 2 && job.needs_refer() {
        // ABI 1 cannot allow a rename or link into another directory: a confined mv or ln would
        // fail with a bare EXDEV ("another file system"). The first wall still holds.
        return say(json!({"sandbox": {
            "status": "unavailable",
            "errno": null,
            "landlock_abi": abi,
            "message": format!(
                "Landlock ABI {abi} refuses every rename and link into another directory \
                 (REFER needs ABI 2, Linux 5.19): {} runs without the second wall",
                job.command
            ),
        }}));
    }
    // Landlock is there but confining failed: the command does not run unconfined behind the
    // user's back.
    let sandbox = job.sandbox().preload(job.preload());
    sandbox.restrict_self().map_err(|e| {
        Failure::Library(procroot::Error::with_detail(
            e.kind(),
            e.errno(),
            format!(
                "confining the command with Landlock failed: {e}; --no-sandbox runs it without"
            ),
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rights of a command's rules, by tree, as the issue's table states them: with and
    /// without `--special-files`, and with the type's right where the command adds it.
    fn rights(command: &'static str, of_type: Access, special: bool) -> Vec<(Tree, Access)> {
        let Confinement::Rules(rules) = profile(command).confinement else {
            panic!("{command} is not confined");
        };
        rules
            .iter()
            .map(|r| {
                let mut access = r.access;
                if r.of_type {
                    access |= of_type;
                }
                if special {
                    access |= r.special;
                }
                (r.tree, access)
            })
            .collect()
    }

    /// Each command gets exactly what its job needs, nothing more.
    #[test]
    fn each_command_gets_exactly_its_rights() {
        use Access as A;
        let none = A::empty();
        for command in [
            "resolve",
            "stat",
            "readlink",
            "chmod",
            "chown",
            "completions",
            "man",
        ] {
            assert_eq!(rights(command, none, true), vec![], "{command}");
        }
        let root = |a: Access| vec![(Tree::Root, a)];
        assert_eq!(rights("ls", none, true), root(A::READ_DIR));
        assert_eq!(rights("find", none, true), root(A::READ_DIR));
        // READ_FILE: an xattr read by reopening the file where getxattrat is missing.
        assert_eq!(
            rights("audit", none, true),
            root(A::READ_FILE | A::READ_DIR)
        );
        // READ_DIR: `cat DIR` is EISDIR from read(2), as cat(1) says, not Landlock's EACCES.
        assert_eq!(rights("cat", none, true), root(A::READ_FILE | A::READ_DIR));
        assert_eq!(
            rights("touch", none, true),
            root(A::MAKE_REG | A::READ_FILE)
        );
        assert_eq!(
            rights("mkdir", none, true),
            root(A::MAKE_DIR | A::REMOVE_DIR)
        );
        assert_eq!(
            rights("rm", none, true),
            root(A::REMOVE_FILE | A::REMOVE_DIR)
        );
        assert_eq!(
            rights("rm -r", none, true),
            root(A::REMOVE_FILE | A::REMOVE_DIR | A::READ_DIR)
        );
        assert_eq!(rights("ln -s", none, true), root(A::MAKE_SYM));
        for make in [
            A::MAKE_REG,
            A::MAKE_FIFO,
            A::MAKE_CHAR,
            A::MAKE_BLOCK,
            A::MAKE_SYM,
        ] {
            assert_eq!(rights("ln", make, true), root(A::REFER | make));
            assert_eq!(rights("mknod", make, true), root(make));
        }
        let every_make = A::MAKE_REG
            | A::MAKE_DIR
            | A::MAKE_SYM
            | A::MAKE_FIFO
            | A::MAKE_SOCK
            | A::MAKE_CHAR
            | A::MAKE_BLOCK;
        assert_eq!(
            rights("mv", none, true),
            root(A::REFER | every_make | A::REMOVE_FILE | A::REMOVE_DIR)
        );
        // REMOVE_DIR: `write DIR` is EISDIR from rename(2), not Landlock's EACCES.
        assert_eq!(
            rights("write", none, true),
            root(A::MAKE_REG | A::WRITE_FILE | A::REMOVE_FILE | A::REMOVE_DIR)
        );
        // A missing PATH is created (documented): MAKE_REG as well.
        assert_eq!(
            rights("write --append", none, true),
            root(A::WRITE_FILE | A::MAKE_REG)
        );
        // What a copy makes, plus TRUNCATE (a trailing hole's ftruncate) and REFER (hard links
        // within the copy): the library's copy rules, by tree.
        let copy = A::MAKE_REG
            | A::MAKE_DIR
            | A::MAKE_SYM
            | A::WRITE_FILE
            | A::REMOVE_FILE
            | A::REMOVE_DIR
            | A::READ_DIR
            | A::TRUNCATE
            | A::REFER;
        let copy_rights = |command: &str, special: bool| -> Vec<(Tree, Access)> {
            let Confinement::Copy(direction) = profile(command).confinement else {
                panic!("{command} is not a copy");
            };
            let special = if special {
                SpecialFiles::Allow
            } else {
                SpecialFiles::Refuse
            };
            sandbox::copy_rules(direction, special)
                .iter()
                .map(|r| (r.tree.into(), r.access))
                .collect()
        };
        assert_eq!(
            copy_rights("cp (in)", false),
            vec![(Tree::CopySource, A::READ), (Tree::Root, copy)]
        );
        assert_eq!(
            copy_rights("cp (in)", true),
            vec![
                (Tree::CopySource, A::READ),
                (
                    Tree::Root,
                    copy | A::MAKE_FIFO | A::MAKE_SOCK | A::MAKE_CHAR | A::MAKE_BLOCK
                )
            ]
        );
        assert_eq!(
            copy_rights("cp (out)", false),
            vec![(Tree::Root, A::READ), (Tree::CopyDestination, copy)]
        );
        assert_eq!(
            copy_rights("cp (out)", true),
            vec![
                (Tree::Root, A::READ),
                (Tree::CopyDestination, copy | A::MAKE_FIFO | A::MAKE_SOCK)
            ]
        );
        assert_eq!(rights("proc", none, true), vec![(Tree::ProcSelf, A::READ)]);
        for command in ["doctor", "exec", "harden", "mount-proc", "sysctl"] {
            assert!(
                matches!(profile(command).confinement, Confinement::Unconfined),
                "{command}"
            );
        }
        // No command anywhere may read or execute beneath a tree it writes to the host.
        for special in [false, true] {
            for (tree, access) in copy_rights("cp (out)", special) {
                if tree == Tree::CopyDestination {
                    assert!(!access.intersects(A::READ_FILE | A::EXEC | A::MAKE_DEVICE));
                }
            }
        }
    }

    /// Every command the CLI has is in the table, once.
    #[test]
    fn every_subcommand_has_one_profile() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        for sub in cli.get_subcommands() {
            let name = sub.get_name();
            let rows = PROFILES
                .iter()
                .filter(|p| p.commands.iter().any(|c| c.split(' ').next() == Some(name)))
                .count();
            assert!(rows >= 1, "{name} has no profile");
        }
        let mut seen = std::collections::HashSet::new();
        for p in PROFILES {
            for c in p.commands {
                assert!(seen.insert(*c), "{c} is in two rows");
            }
        }
    }

    /// The guide's "Two walls" table is the rendering of PROFILES, row for row.
    #[test]
    fn the_guide_table_is_the_profiles() {
        let guide = include_str!("../../../docs/GUIDE.md");
        let section = guide
            .split("## Two walls")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("a Two walls section");
        let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
        let expected: Vec<String> = PROFILES.iter().map(readme_row).collect();
        assert_eq!(
            rows,
            expected,
            "docs/GUIDE.md's Two walls table must be:\n{}",
            expected.join("\n")
        );
    }

    /// One guide table row: the commands in backquotes, then [`Profile::describe`].
    fn readme_row(p: &Profile) -> String {
        let commands: Vec<String> = p.commands.iter().map(|c| format!("`{c}`")).collect();
        format!("| {} | {} |", commands.join(", "), p.describe())
    }
}
