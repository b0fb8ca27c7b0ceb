//! The credentials `procroot exec`'s command runs with: by default the target's own, read from
//! the live process through the hardened procfs ([`credentials_of`]), so that a command started
//! in a container has no more privilege than the container's own processes (the "shocker"
//! escape, `open_by_handle_at` with the caller's `CAP_DAC_READ_SEARCH`, needs the caller's).
//!
//! No runtime configuration is needed: uid, gid and groups, the five capability sets and
//! `no_new_privs` come from `/proc/<pid>/status`; the seccomp filters are copied out of the
//! target with `PTRACE_SECCOMP_GET_FILTER`. Where that copy is impossible (no `CAP_SYS_ADMIN` in
//! the initial user namespace, a kernel without `CONFIG_CHECKPOINT_RESTORE`), the container's
//! OCI profile can stand in for it ([`Credentials::with_seccomp_profile`], `exec --config`),
//! compiled by [`super::seccomp_profile`].

#![forbid(unsafe_code)]

use std::os::fd::AsFd;
use std::time::Duration;

use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::procfs::{PidFd, ProcBase, Procfs};
use crate::sys;
use crate::sys::creds::{BpfInsn, CredsPlan};

use super::{exited, Namespaces, NsKind};

/// How long copying the target's seccomp filters may wait for the target to stop (a target in a
/// frozen cgroup or an uninterruptible sleep never does).
const SECCOMP_COPY_DEADLINE: Duration = Duration::from_secs(5);

/// The five capability sets of a process, as bit masks (bit N is capability N, `CAP_CHOWN` is
/// bit 0), as `/proc/<pid>/status` prints them (`CapEff:` ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    /// `CapBnd`: the bounding set.
    pub bounding: u64,
    /// `CapPrm`: the permitted set.
    pub permitted: u64,
    /// `CapEff`: the effective set.
    pub effective: u64,
    /// `CapInh`: the inheritable set.
    pub inheritable: u64,
    /// `CapAmb`: the ambient set.
    pub ambient: u64,
}

/// The target's seccomp state.
#[derive(Clone, Debug)]
enum Seccomp {
    /// No filter.
    None,
    /// Copied filters, oldest first.
    Filters(Vec<Vec<BpfInsn>>),
    /// The target has a filter that could not be copied: why.
    Uncopyable(String),
    /// The caller chose to run without the target's filter ([`Credentials::without_seccomp`]).
    Skipped,
}

/// `uid_map`/`gid_map` lines: (first id inside, first id outside, count).
type IdMap = Vec<(u32, u32, u32)>;

/// The target's user namespace, when it is not the caller's.
#[derive(Clone, Debug)]
struct UserNs {
    uid_map: IdMap,
    gid_map: IdMap,
    /// `/proc/<pid>/setgroups` says `allow`.
    setgroups_allowed: bool,
    /// The target's ids and groups as the caller sees them.
    outside_uid: [u32; 3],
    outside_gid: [u32; 3],
    outside_groups: Vec<u32>,
}

/// The identity and privileges of a process, as its own user namespace sees them: what
/// `procroot exec` gives the command by default (see [`credentials_of`]).
#[derive(Clone, Debug)]
pub struct Credentials {
    pid: u32,
    /// `None`: not mapped in the target's own user namespace (no `uid_map` written yet).
    uid: Option<[u32; 3]>,
    gid: Option<[u32; 3]>,
    groups: Vec<u32>,
    caps: CapSets,
    no_new_privs: bool,
    seccomp: Seccomp,
    /// The compiled OCI profile that stands in for an uncopyable filter.
    profile: Option<Vec<BpfInsn>>,
    /// The LSM label the command's `execve` takes (the target's `attr/current`), if any.
    lsm: Option<LsmLabel>,
    userns: Option<UserNs>,
}

/// An LSM label as a process's `attr/current` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LsmLabel {
    /// Read from AppArmor's own `attr/apparmor/current` (so in AppArmor's form).
    apparmor: bool,
    /// The text, without the trailing newline or NUL.
    label: String,
}

impl LsmLabel {
    fn new(apparmor: bool, text: &str) -> LsmLabel {
        LsmLabel {
            apparmor,
            label: text.trim_end_matches(['\0', '\n']).to_owned(),
        }
    }

    /// What the command's process writes for its exec, as runc does: the file under its
    /// `thread-self` and the bytes. AppArmor (`attr/apparmor/current` read, or the text in
    /// AppArmor's `profile (mode)` form): `exec <profile>` to `attr/apparmor/exec` (Linux 5.1),
    /// else to `attr/exec`; an unconfined target needs none. Anything else (SELinux's
    /// `user:role:type:level`): the label itself to `attr/exec`. `None` for an empty label.
    fn exec_write(&self, apparmor_dir: bool) -> Option<(&'static str, Vec<u8>)> {
        let label = self.label.as_str();
        if label.is_empty() {
            return None;
        }
        let profile = match label.rfind(" (") {
            Some(i) if label.ends_with(')') => Some(&label[..i]),
            _ if self.apparmor || label == "unconfined" => Some(label),
            _ => None,
        };
        match profile {
            Some("unconfined") => None,
            Some(profile) => Some((
                if apparmor_dir {
                    "thread-self/attr/apparmor/exec"
                } else {
                    "thread-self/attr/exec"
                },
                format!("exec {profile}").into_bytes(),
            )),
            None => Some(("thread-self/attr/exec", label.as_bytes().to_vec())),
        }
    }
}

/// The LSM label of the process `base` names: AppArmor's `attr/apparmor/current` (Linux 5.1),
/// else `attr/current`. `None` when no LSM with labels is active: the kernel answers `EINVAL`
/// (no LSM takes the read), `ENOENT` or `EOPNOTSUPP`. Any other failure (`EACCES`) is an error:
/// the command is not run without a label the target may have.
fn lsm_label_of(procfs: &Procfs, base: ProcBase<'_>) -> Result<Option<LsmLabel>> {
    let no_label = |e: &Error| matches!(e.errno(), Errno::INVAL | Errno::NOENT | Errno::OPNOTSUPP);
    for (apparmor, file) in [(true, "attr/apparmor/current"), (false, "attr/current")] {
        match procfs.read_to_string(base, file) {
            Ok(text) => return Ok(Some(LsmLabel::new(apparmor, &text))),
            Err(e) if no_label(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Reads how the process `pidfd` names runs: its uids, gids and supplementary groups (as its own
/// user namespace sees them), its capability sets, `no_new_privs`, and its seccomp filters,
/// through the hardened procfs with a [`ProcBase::PidFd`] base (never another process's: a target
/// that exited is `ESRCH`).
///
/// The seccomp filters are copied with `PTRACE_SECCOMP_GET_FILTER`, which needs `CAP_SYS_ADMIN`
/// in the initial user namespace and stops the target for the copy (a forked helper seizes it,
/// interrupts it and detaches, and is killed after 5 s if the target never stops). When that is
/// impossible, this still succeeds, and running a command with these credentials is refused
/// unless [`Credentials::without_seccomp`] was chosen.
///
/// The LSM label (AppArmor, SELinux) is read from `attr/current` (see
/// [`Credentials::exec_label`]); the command's process writes it to its `attr/exec`.
///
/// Not copied: securebits, resource limits.
pub fn credentials_of(pidfd: &PidFd) -> Result<Credentials> {
    let shares_userns = !Namespaces::of(pidfd)?.unshared().contains(&NsKind::User);
    credentials_with(pidfd, shares_userns)
}

/// [`credentials_of`] for a caller that knows whether the target shares its user namespace
/// (`exec`, which has looked its namespaces up already).
pub(crate) fn credentials_with(pidfd: &PidFd, shares_userns: bool) -> Result<Credentials> {
    let procfs = Procfs::cached()?;
    let base = ProcBase::PidFd(pidfd);
    let not_found = |e: Error| match e.errno() {
        Errno::NOENT => exited(pidfd),
        _ => e,
    };
    let status = procfs.read_to_string(base, "status").map_err(not_found)?;
    let pid = pidfd.pid();
    let field = |name: &str| -> Result<&str> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
            .ok_or_else(|| {
                Error::with_detail(
                    ErrorKind::NotSupported,
                    Errno::NOENT,
                    format!("/proc/{pid}/status has no {name}: line"),
                )
            })
    };
    let ids = |name: &str| -> Result<[u32; 3]> {
        let v = parse_ids(field(name)?, pid)?;
        match v[..] {
            [r, e, s, _fs] => Ok([r, e, s]),
            _ => Err(bad_status(pid, name)),
        }
    };
    let cap = |name: &str| -> Result<u64> {
        u64::from_str_radix(field(name)?, 16).map_err(|_| bad_status(pid, name))
    };
    let uid = ids("Uid")?;
    let gid = ids("Gid")?;
    let groups = parse_ids(field("Groups")?, pid)?;
    let caps = CapSets {
        bounding: cap("CapBnd")?,
        permitted: cap("CapPrm")?,
        effective: cap("CapEff")?,
        inheritable: cap("CapInh")?,
        ambient: cap("CapAmb")?,
    };
    let no_new_privs = field("NoNewPrivs")? == "1";
    let seccomp = match field("Seccomp")? {
        "0" => Seccomp::None,
        "2" => match sys::creds::seccomp_filters(pid, pidfd.as_fd(), SECCOMP_COPY_DEADLINE) {
            Ok(filters) => {
                // Linux 5.9 prints how many filters there are: a copy that got fewer is refused.
                let want: Option<usize> =
                    field("Seccomp_filters").ok().and_then(|n| n.parse().ok());
                match want {
                    Some(n) if n != filters.len() => {
                        Seccomp::Uncopyable(format!("copied {} of its {n} filters", filters.len()))
                    }
                    _ => Seccomp::Filters(filters),
                }
            }
            Err((_, Errno::SRCH)) => return Err(exited(pidfd)),
            Err((step, errno)) => Seccomp::Uncopyable(format!(
                "{} failed: {}{}",
                sys::creds::seccomp_step_name(step),
                sys::errno_description(errno),
                match errno {
                    Errno::PERM | Errno::ACCESS =>
                        " (copying needs CAP_SYS_ADMIN in the initial user namespace, ptrace \
                         access to the target, and no seccomp filter on procroot itself)",
                    _ => "",
                }
            )),
        },
        _ => Seccomp::Uncopyable("it runs in seccomp strict mode".into()),
    };
    let lsm = lsm_label_of(&procfs, base)?;
    let (in_uid, in_gid, in_groups, userns) = if shares_userns {
        (Some(uid), Some(gid), groups, None)
    } else {
        let map = |name: &str| -> Result<IdMap> {
            let text = procfs.read_to_string(base, name).map_err(not_found)?;
            text.lines()
                .map(|l| match parse_ids(l, pid)?[..] {
                    [inside, outside, count] => Ok((inside, outside, count)),
                    _ => Err(bad_status(pid, name)),
                })
                .collect()
        };
        let uid_map = map("uid_map")?;
        let gid_map = map("gid_map")?;
        let setgroups_allowed = procfs
            .read_to_string(base, "setgroups")
            .map_err(not_found)?
            .trim()
            == "allow";
        // A process's ids are all mapped in its namespace, or none is (no map written yet: the
        // kernel then shows them as the overflow id there).
        let inside = |m: &IdMap, ids: [u32; 3]| -> Option<[u32; 3]> {
            Some([
                map_id(m, ids[0], false)?,
                map_id(m, ids[1], false)?,
                map_id(m, ids[2], false)?,
            ])
        };
        // A group the target's namespace does not map stays out (it shows as the overflow gid
        // there); the namespace can neither grant nor remove it.
        let in_groups = groups
            .iter()
            .filter_map(|&g| map_id(&gid_map, g, false))
            .collect();
        (
            inside(&uid_map, uid),
            inside(&gid_map, gid),
            in_groups,
            Some(UserNs {
                uid_map,
                gid_map,
                setgroups_allowed,
                outside_uid: uid,
                outside_gid: gid,
                outside_groups: groups,
            }),
        )
    };
    Ok(Credentials {
        pid,
        uid: in_uid,
        gid: in_gid,
        groups: in_groups,
        caps,
        no_new_privs,
        seccomp,
        profile: None,
        lsm,
        userns,
    })
}

fn bad_status(pid: u32, name: &str) -> Error {
    Error::with_detail(
        ErrorKind::NotSupported,
        Errno::INVAL,
        format!("cannot parse the {name} of process {pid}"),
    )
}

fn parse_ids(text: &str, pid: u32) -> Result<Vec<u32>> {
    text.split_whitespace()
        .map(|n| n.parse().map_err(|_| bad_status(pid, "ids")))
        .collect()
}

/// `id` through `map`: inside → outside (`to_outside`), or outside → inside.
fn map_id(map: &IdMap, id: u32, to_outside: bool) -> Option<u32> {
    map.iter().find_map(|&(inside, outside, count)| {
        let (from, to) = if to_outside {
            (inside, outside)
        } else {
            (outside, inside)
        };
        (id >= from && id - from < count).then(|| to + (id - from))
    })
}

impl Credentials {
    /// The effective uid, as the target's user namespace sees it; `None` when that namespace
    /// maps no id yet (the command then keeps procroot's, which must be the target's).
    pub fn uid(&self) -> Option<u32> {
        self.uid.map(|u| u[1])
    }

    /// The effective gid, likewise.
    pub fn gid(&self) -> Option<u32> {
        self.gid.map(|g| g[1])
    }

    /// The supplementary groups, as the target's user namespace sees them.
    pub fn groups(&self) -> &[u32] {
        &self.groups
    }

    /// The capability sets.
    pub fn capabilities(&self) -> CapSets {
        self.caps
    }

    /// Whether `no_new_privs` is set.
    pub fn no_new_privs(&self) -> bool {
        self.no_new_privs
    }

    /// How many seccomp filters were copied (0 without a filter, or when skipped or uncopyable).
    pub fn seccomp_filters(&self) -> usize {
        match &self.seccomp {
            Seccomp::Filters(f) => f.len(),
            _ => 0,
        }
    }

    /// The LSM label (AppArmor, SELinux) the command runs under, as the target's `attr/current`
    /// shows it (`docker-default (enforce)`, `system_u:system_r:container_t:s0:c1,c2`); `None`
    /// when no LSM with labels is active.
    pub fn exec_label(&self) -> Option<&str> {
        self.lsm.as_ref().map(|l| l.label.as_str())
    }

    /// Runs the command under `label` instead of the target's LSM label (as `runc exec
    /// --apparmor` / `--process-label`), given as `attr/current` shows labels: an AppArmor
    /// profile as `name` or `name (enforce)`, an SELinux context as is. The command's process
    /// writes it to its own `attr/exec` (AppArmor: `exec <name>`, to `attr/apparmor/exec` where
    /// the kernel has it) through procroot's procfs before it enters the target; a kernel that
    /// refuses the write (no such LSM: `EINVAL`) fails the start, and nothing runs.
    pub fn with_exec_label(mut self, label: &str) -> Self {
        let apparmor = matches!(&self.lsm, Some(l) if l.apparmor);
        self.lsm = Some(LsmLabel::new(apparmor, label));
        self
    }

    /// Runs as `uid` (real, effective and saved) and `gid` (or the target's gid when `None`),
    /// with no supplementary groups, as the target's user namespace numbers them
    /// (`docker exec --user UID[:GID]`). Capabilities stay the target's: the kernel gives a
    /// non-root uid none at `execve` unless they are ambient.
    pub fn user(mut self, uid: u32, gid: Option<u32>) -> Self {
        self.uid = Some([uid; 3]);
        if let Some(gid) = gid {
            self.gid = Some([gid; 3]);
        }
        self.groups.clear();
        if let Some(ns) = &mut self.userns {
            ns.outside_groups.clear();
        }
        self
    }

    /// Installs `profile` (the `linux.seccomp` section of the container's OCI `config.json`,
    /// compiled by [`super::seccomp_profile::compile`]) in place of the target's seccomp filter
    /// when that filter cannot be copied, where the copy would have been installed. The live
    /// filter wins when it can be copied, and a target without a filter gets none (the process
    /// is the truth, the config only a description of it). `InvalidInput` naming what does not
    /// compile (an unknown syscall name, `SCMP_ACT_NOTIFY`...).
    pub fn with_seccomp_profile(
        mut self,
        profile: &oci_spec::runtime::LinuxSeccomp,
    ) -> Result<Self> {
        self.profile = Some(super::seccomp_profile::compile(profile)?);
        Ok(self)
    }

    /// Runs without the target's seccomp filters (everything else stays the target's). Without
    /// this or [`Credentials::with_seccomp_profile`], a target whose filter cannot be copied is
    /// refused.
    pub fn without_seccomp(mut self) -> Self {
        self.seccomp = Seccomp::Skipped;
        self
    }

    /// The plan the child applies, for a child that enters the target's user namespace
    /// (`enter_user`) or stays in the caller's.
    pub(crate) fn plan(&self, enter_user: bool) -> Result<CredsPlan> {
        let pid = self.pid;
        let seccomp = match &self.seccomp {
            Seccomp::None | Seccomp::Skipped => Vec::new(),
            Seccomp::Filters(f) => f.clone(),
            Seccomp::Uncopyable(_) if self.profile.is_some() => {
                self.profile.iter().cloned().collect()
            }
            Seccomp::Uncopyable(why) => {
                return Err(Error::with_detail(
                    ErrorKind::NotSupported,
                    Errno::PERM,
                    format!(
                        "process {pid} runs under a seccomp filter that procroot cannot copy \
                         ({why}); refusing to run the command without it: give the container's \
                         config.json with --config (Credentials::with_seccomp_profile) to \
                         install its linux.seccomp profile instead, or pass --no-seccomp \
                         (Command::without_seccomp) to run it unfiltered"
                    ),
                ))
            }
        };
        let last_cap = sys::creds::last_cap();
        let gids = |g: &[u32]| {
            g.iter()
                .map(|&g| rustix::process::Gid::from_raw(g))
                .collect()
        };
        let exec_label = match &self.lsm {
            None => None,
            Some(l) => {
                let procfs = Procfs::cached()?;
                let apparmor_dir = procfs
                    .symlink_metadata(ProcBase::ThreadSelf, "attr/apparmor")
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                match l.exec_write(apparmor_dir) {
                    None => None,
                    Some((path, data)) => {
                        let path = std::ffi::CString::new(path).expect("no NUL in a fixed path");
                        if data.contains(&0) {
                            return Err(Error::invalid_input(
                                Errno::INVAL,
                                "an LSM label must not contain a NUL byte",
                            ));
                        }
                        Some((path, data))
                    }
                }
            }
        };
        let mut plan = CredsPlan {
            uid: self.uid,
            gid: self.gid,
            groups: Some(gids(&self.groups)),
            bounding: self.caps.bounding,
            permitted: self.caps.permitted,
            effective: self.caps.effective,
            inheritable: self.caps.inheritable,
            ambient: self.caps.ambient,
            last_cap,
            no_new_privs: self.no_new_privs,
            seccomp,
            exec_label,
        };
        let Some(ns) = &self.userns else {
            return Ok(plan);
        };
        if enter_user {
            // Ids the namespace cannot express are left alone, which is right only if ours are
            // the target's already (as the caller sees both).
            use rustix::process::{getegid, geteuid, getgid, getuid};
            let ours = [getuid().as_raw(), geteuid().as_raw()];
            let our_gids = [getgid().as_raw(), getegid().as_raw()];
            if self.uid.is_none() && ours[..] != ns.outside_uid[..2]
                || self.gid.is_none() && our_gids[..] != ns.outside_gid[..2]
            {
                return Err(Error::with_detail(
                    ErrorKind::NotSupported,
                    Errno::PERM,
                    format!(
                        "process {pid}'s user namespace maps none of its ids, and procroot's \
                         ids (uid {ours:?}, gid {our_gids:?}) are not the target's (uid {:?}, \
                         gid {:?})",
                        &ns.outside_uid[..2],
                        &ns.outside_gid[..2]
                    ),
                ));
            }
            if !ns.setgroups_allowed || ns.gid_map.is_empty() {
                // The namespace refuses setgroups(2) (its setgroups file says deny, or no gid
                // map is written): the command keeps our groups, right only if they are the
                // target's.
                let mut have: Vec<u32> = rustix::process::getgroups()
                    .map_err(Error::from_errno)?
                    .into_iter()
                    .map(|g| g.as_raw())
                    .collect();
                let mut want = ns.outside_groups.clone();
                want.sort_unstable();
                have.sort_unstable();
                if want != have {
                    return Err(Error::with_detail(
                        ErrorKind::NotSupported,
                        Errno::PERM,
                        format!(
                            "process {pid}'s user namespace refuses setgroups, and procroot's \
                             supplementary groups {have:?} are not the target's {want:?}"
                        ),
                    ));
                }
                plan.groups = None;
            }
            return Ok(plan);
        }
        // The command stays in our user namespace: the target's ids as we number them, and its
        // capabilities, which hold only inside its own namespace, become none here.
        let outside = |m: &IdMap, ids: Option<[u32; 3]>, seen: [u32; 3]| -> Result<[u32; 3]> {
            let Some(ids) = ids else { return Ok(seen) };
            let mut out = [0; 3];
            for (o, id) in out.iter_mut().zip(ids) {
                *o = map_id(m, id, true).ok_or_else(|| {
                    Error::with_detail(
                        ErrorKind::NotSupported,
                        Errno::INVAL,
                        format!("id {id} is not mapped in the user namespace of process {pid}"),
                    )
                })?;
            }
            Ok(out)
        };
        plan.uid = Some(outside(&ns.uid_map, self.uid, ns.outside_uid)?);
        plan.gid = Some(outside(&ns.gid_map, self.gid, ns.outside_gid)?);
        let groups: Vec<u32> = self
            .groups
            .iter()
            .filter_map(|&g| map_id(&ns.gid_map, g, true))
            .collect();
        plan.groups = Some(gids(&groups));
        plan.bounding = 0;
        plan.permitted = 0;
        plan.effective = 0;
        plan.inheritable = 0;
        plan.ambient = 0;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::LsmLabel;

    /// What is written where for each form of label `attr/current` shows.
    #[test]
    fn exec_label_writes_as_runc_does() {
        let aa = |label: &str, dir: bool| LsmLabel::new(true, label).exec_write(dir);
        let other = |label: &str, dir: bool| LsmLabel::new(false, label).exec_write(dir);
        let w = |path: &'static str, data: &str| Some((path, data.as_bytes().to_vec()));
        assert_eq!(
            aa("docker-default (enforce)\n", true),
            w("thread-self/attr/apparmor/exec", "exec docker-default")
        );
        assert_eq!(
            aa("a//&:ns:b (complain)", true),
            w("thread-self/attr/apparmor/exec", "exec a//&:ns:b")
        );
        assert_eq!(aa("unconfined\n", true), None);
        assert_eq!(
            aa("plain", true),
            w("thread-self/attr/apparmor/exec", "exec plain")
        );
        // AppArmor as the only major LSM before Linux 5.1: its form in attr/current.
        assert_eq!(
            other("docker-default (enforce)\n", false),
            w("thread-self/attr/exec", "exec docker-default")
        );
        assert_eq!(other("unconfined", false), None);
        // SELinux: the context itself, without the kernel's trailing NUL.
        assert_eq!(
            other("system_u:system_r:container_t:s0:c1,c2\0", true),
            w(
                "thread-self/attr/exec",
                "system_u:system_r:container_t:s0:c1,c2"
            )
        );
        assert_eq!(other("\n", false), None);
    }
}
