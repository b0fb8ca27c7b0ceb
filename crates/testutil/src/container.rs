//! A stand-in container for the `exec` attack tests: a process in its own PID, mount,
//! UTS, IPC and network namespaces, chrooted in a root of its own, and an attacker inside it
//! that holds `CAP_SYS_PTRACE` (root of the initial user namespace, as `docker run --cap-add
//! SYS_PTRACE`) and stops the next process that appears in its PID namespace.
//!
//! Only for a test already in a private mount namespace
//! ([`in_private_mount_ns`](crate::in_private_mount_ns)): the binds are made in the
//! container's own mount namespace, but the test's temp dir is the "host" whose files the
//! attacks aim at.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::fork::ForkedChild;

/// The container (module docs), killed and reaped on drop.
#[derive(Debug)]
pub struct StandInContainer {
    unshare: Child,
    pid: u32,
    dir: tempfile::TempDir,
}

impl StandInContainer {
    /// `unshare --fork --pid --mount --uts --ipc --net`, then, in the new namespaces: a root at
    /// `<dir>/rootfs` made of a read-only bind of the host's `/usr` (with the merged-`/usr`
    /// symlinks `bin`, `sbin`, `lib`, `lib64`), a procfs of its PID namespace on `/proc`, a
    /// writable `/tmp`; then `chroot` and `sleep`. `<dir>/host` is outside that root: the
    /// stand-in for the host's files.
    pub fn start() -> StandInContainer {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("rootfs");
        for d in ["usr", "proc", "tmp"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir in rootfs");
        }
        for l in ["bin", "sbin", "lib", "lib64"] {
            if Path::new("/usr").join(l).exists() {
                std::os::unix::fs::symlink(format!("usr/{l}"), root.join(l)).expect("symlink");
            }
        }
        std::fs::create_dir(dir.path().join("host")).expect("mkdir host");
        let r = root.display();
        let ready = dir.path().join("ready");
        let script = format!(
            "hostname stand-in && mount --bind /usr {r}/usr && mount -o remount,bind,ro {r}/usr \
             && mount -t proc proc {r}/proc && touch {} && exec chroot {r} sleep 300",
            ready.display()
        );
        let unshare = Command::new("unshare")
            .args([
                "--fork",
                "--kill-child",
                "--pid",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
            ])
            .args(["sh", "-c", &script])
            .spawn()
            .expect("unshare (util-linux)");
        let mut c = StandInContainer {
            unshare,
            pid: 0,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            assert!(
                Instant::now() < deadline,
                "the container never became ready"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", c.unshare.id()))
                .expect("children of unshare");
        c.pid = children
            .split_whitespace()
            .next()
            .expect("unshare has a child")
            .parse()
            .expect("a pid");
        // `exec chroot ... sleep`: wait until the init really runs chrooted.
        while std::fs::read_link(format!("/proc/{}/root", c.pid)).ok() != Some(root.clone()) {
            assert!(Instant::now() < deadline, "the container never chrooted");
            std::thread::sleep(Duration::from_millis(10));
        }
        c
    }

    /// The container's init (PID 1 inside), as the test numbers it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The container's root directory, as the test sees it.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// A directory of the "host", outside the container's root.
    pub fn host_dir(&self) -> PathBuf {
        self.dir.path().join("host")
    }

    /// A copy of `/bin/sh` in [`host_dir`](Self::host_dir), mode 0755: the host binary an escape
    /// would run and overwrite. Returns its path and its bytes.
    pub fn host_binary(&self) -> (PathBuf, Vec<u8>) {
        use std::os::unix::fs::PermissionsExt;
        let victim = self.host_dir().join("victim");
        std::fs::copy("/bin/sh", &victim).expect("copy /bin/sh");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bytes = std::fs::read(&victim).unwrap();
        (victim, bytes)
    }
}

/// A `PATH` with thousands of missing directories before `/usr/bin:/bin`: the command's process
/// tries each (`ENOENT`) before its exec succeeds, which keeps it a few milliseconds in the
/// container's PID namespace before the exec, long enough for an [`Attacker`] to catch it.
pub fn slow_path() -> String {
    format!("{}/usr/bin:/bin", "/nx:".repeat(4000))
}

impl Drop for StandInContainer {
    fn drop(&mut self) {
        if self.pid != 0 {
            // SAFETY: kill(2) of the container's init, which we started (unshare reaps it).
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// What the attacker does with the process it stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Copies every fd it can (`pidfd_getfd`), writes `0x5757575757575757` at this address
    /// through `/proc/<pid>/mem`, and continues the process.
    Inspect {
        /// The address to write (a canary in the test's memory: a fork of the test has it at
        /// the same address).
        address: usize,
    },
    /// Leaves it stopped, unless it has already exec'd `command` (its `comm`): that one is
    /// continued.
    StopBeforeExec {
        /// The command's name.
        command: &'static str,
    },
}

/// An attacker in a [`StandInContainer`]'s PID and mount namespaces (module docs). Killed and
/// reaped on drop.
#[derive(Debug)]
pub struct Attacker {
    child: Option<ForkedChild>,
    report: std::io::PipeReader,
    ready: std::io::PipeReader,
}

/// What the attacker saw, one line: `pid=N comm=NAME fds=LIST mem=RESULT`, where `LIST` has an
/// entry `N:KIND:TARGET` per fd above 2 it could copy that is not a pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The process's PID inside the container.
    pub pid: i32,
    /// Its `comm` when stopped: the command's name once it has exec'd.
    pub comm: String,
    /// fds above 2 that are not pipes, copied with `pidfd_getfd`: `N:TARGET`.
    pub host_fds: Vec<String>,
    /// The `/proc/<pid>/mem` write: `ok` or the error.
    pub mem: String,
}

impl Attacker {
    /// Forks the attacker: it joins the container's PID and mount namespaces, forks into them,
    /// says it is ready, then spins `kill(PID, SIGSTOP)` on the next PIDs of the namespace until
    /// one stops (or `within` passes) and attacks it.
    pub fn start(container: &StandInContainer, attack: Attack, within: Duration) -> Attacker {
        let (report_r, report_w) = std::io::pipe().expect("pipe");
        let (ready_r, ready_w) = std::io::pipe().expect("pipe");
        let pid = container.pid();
        let proc_dir = container.rootfs().join("proc");
        let child = ForkedChild::spawn(move || {
            let open_ns = |name: &str| {
                std::fs::File::open(format!("/proc/{pid}/ns/{name}")).expect("open ns file")
            };
            let (pidns, mntns) = (open_ns("pid"), open_ns("mnt"));
            // SAFETY: setns(2) with an open nsfs fd of the container (`pidns` lives to the end
            // of the closure) and plain flags, in this forked child: no memory is involved.
            let rc = unsafe { libc::setns(pidns.as_raw_fd(), libc::CLONE_NEWPID) };
            assert_eq!(rc, 0);
            // SAFETY: as above, with the container's mount namespace fd `mntns`.
            let rc = unsafe { libc::setns(mntns.as_raw_fd(), libc::CLONE_NEWNS) };
            assert_eq!(rc, 0);
            // The PID namespace applies to children: the attacker proper is one.
            let inner = ForkedChild::spawn(move || {
                spin_and_attack(&proc_dir, attack, within, ready_w, report_w);
                0
            });
            inner.wait()
        });
        let mut a = Attacker {
            child: Some(child),
            report: report_r,
            ready: ready_r,
        };
        let mut b = [0u8; 1];
        a.ready.read_exact(&mut b).expect("attacker ready");
        a
    }

    /// Waits for the report (the attacker's exit).
    pub fn report(mut self) -> Option<Report> {
        let mut text = String::new();
        let _ = self.report.read_to_string(&mut text);
        let code = self.child.take().expect("child").wait();
        assert_eq!(code, 0, "attacker failed: {text}");
        parse_report(&text)
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        drop(self.child.take());
    }
}

fn parse_report(text: &str) -> Option<Report> {
    let line = text.lines().next()?;
    let field = |k: &str| {
        line.split(' ')
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or("")
            .to_string()
    };
    Some(Report {
        pid: field("pid=").parse().ok()?,
        comm: field("comm="),
        host_fds: field("fds=")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        mem: field("mem="),
    })
}

fn spin_and_attack(
    proc_dir: &Path,
    attack: Attack,
    within: Duration,
    mut ready: std::io::PipeWriter,
    mut report: std::io::PipeWriter,
) {
    use std::io::Write;
    let last_pid = proc_dir.join("sys/kernel/ns_last_pid");
    let last: i32 = std::fs::read_to_string(&last_pid)
        .expect("ns_last_pid")
        .trim()
        .parse()
        .expect("a pid");
    let _ = ready.write_all(b"r");
    drop(ready);
    let deadline = Instant::now() + within;
    let mut caught = None;
    'spin: while Instant::now() < deadline {
        for pid in last + 1..last + 4 {
            // SAFETY: kill(2) with plain integers, in the container's PID namespace.
            if unsafe { libc::kill(pid, libc::SIGSTOP) } == 0 {
                caught = Some(pid);
                break 'spin;
            }
        }
    }
    let Some(pid) = caught else { return };
    // Wait until it is really stopped (state T), so that its fds and memory hold still.
    let stat = proc_dir.join(format!("{pid}/stat"));
    while Instant::now() < deadline {
        match std::fs::read_to_string(&stat) {
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('T')) =>
            {
                break
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            Err(_) => return,
        }
    }
    let comm = std::fs::read_to_string(proc_dir.join(format!("{pid}/comm")))
        .unwrap_or_default()
        .trim()
        .replace(' ', "_");
    let mut host_fds = Vec::new();
    let mut mem = String::from("not-tried");
    if let Attack::Inspect { address } = attack {
        // SAFETY: pidfd_open(2) and pidfd_getfd(2) with plain integers; each fd returned is
        // new and owned by an OwnedFd.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if pidfd >= 0 {
            // SAFETY: a new fd from pidfd_open.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
            for n in 3..1024 {
                // SAFETY: as above.
                let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), n, 0) };
                if fd < 0 {
                    continue;
                }
                // SAFETY: a new fd from pidfd_getfd.
                let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
                let st = rustix::fs::fstat(&fd).expect("fstat");
                if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo {
                    continue;
                }
                let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                    .map(|p| p.display().to_string().replace([' ', ','], "_"))
                    .unwrap_or_default();
                host_fds.push(format!("{n}:{target}"));
            }
        }
        mem = match std::fs::OpenOptions::new()
            .write(true)
            .open(proc_dir.join(format!("{pid}/mem")))
        {
            Ok(f) => {
                let canary = 0x5757_5757_5757_5757u64.to_ne_bytes();
                match std::os::unix::fs::FileExt::write_at(&f, &canary, address as u64) {
                    Ok(_) => "ok".into(),
                    Err(e) => format!("{e}").replace(' ', "_"),
                }
            }
            Err(e) => format!("{e}").replace(' ', "_"),
        };
        // SAFETY: kill(2) with plain integers.
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }
    if let Attack::StopBeforeExec { command } = attack {
        if comm == command {
            // SAFETY: kill(2) with plain integers.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }
    let _ = writeln!(
        report,
        "pid={pid} comm={comm} fds={} mem={mem}",
        host_fds.join(",")
    );
}
