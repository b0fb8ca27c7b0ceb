package procroot

import (
	"syscall"

	"example.invalid/procroot/internal/capi"
)

// ExecUser overrides the identity a command of Exec runs as, numbered as in the target's user
// namespace (docker exec --user).
type ExecUser struct {
	UID int
	// GID is the gid; -1 keeps the target's.
	GID int
}

// ExecOptions are the options of Exec. The zero value runs the command as the target runs.
type ExecOptions struct {
	// Dir is the working directory inside the target's root ("" is /).
	Dir string
	// Privileged keeps the caller's own credentials (every capability, no seccomp filter), as
	// nsenter does: the command then holds the caller's root inside the container, and the
	// container's binaries must be trusted.
	Privileged bool
	// User, if not nil, overrides the uid and gid.
	User *ExecUser
	// NoSeccomp runs without the target's seccomp filters (Exec refuses a target whose filters
	// cannot be copied without it).
	NoSeccomp bool
	// JoinCgroup starts the command in the target's cgroup (cgroup v2).
	JoinCgroup bool
	// EnvClear starts the command's environment empty instead of the target's.
	EnvClear bool
	// PreserveEnv gives the command the caller's environment instead of the target's (as
	// nsenter does): the caller's variables, credentials included, then reach the container.
	PreserveEnv bool
	// Env holds "KEY=VALUE" strings set over that environment (later ones win).
	Env []string
	// Config, if not "", is the container's OCI config.json: when the target's seccomp filter
	// cannot be copied, its linux.seccomp section is compiled and installed instead (procroot
	// exec --config). A config without that section, or a profile that does not compile (an
	// unknown syscall name, SCMP_ACT_NOTIFY), is an error naming the cause, and nothing runs.
	Config string
}

// Exec runs argv in every namespace of process pid that the caller does not share, chrooted in
// its root, with the target's environment (its /proc/<pid>/environ, plus the caller's TERM; never
// the caller's other variables) and only fds 0-2, and waits for it. By default the
// command runs as the target runs: its uids, gids and groups, its five capability sets,
// no_new_privs and seccomp filters, read from the live process. A failure before the command
// ran is an error (*Error), and the command never runs.
func Exec(pid int, argv []string, opts ExecOptions) (syscall.WaitStatus, error) {
	p, err := capi.OpenPidFd(pid)
	if err != nil {
		return 0, err
	}
	defer p.Free()
	var flags uint32
	if opts.Privileged {
		flags |= capi.ExecPrivileged
	}
	if opts.NoSeccomp {
		flags |= capi.ExecNoSeccomp
	}
	if opts.JoinCgroup {
		flags |= capi.ExecJoinCgroup
	}
	if opts.EnvClear {
		flags |= capi.ExecEnvClear
	}
	if opts.PreserveEnv {
		flags |= capi.ExecPreserveEnv
	}
	uid, gid := int64(-1), int64(-1)
	if opts.User != nil {
		uid, gid = int64(opts.User.UID), int64(opts.User.GID)
	}
	return p.Exec(argv, opts.Env, opts.Dir, flags, uid, gid, opts.Config)
}

// Credentials are how a process runs, as CredentialsOf reads them.
type Credentials = capi.Credentials

// CredentialsOf reads the credentials of process pid: its uid and gid as its own user namespace
// numbers them (-1: not mapped), its capability sets, no_new_privs, and how many seccomp
// filters could be copied out of it. What Exec gives a command by default.
func CredentialsOf(pid int) (Credentials, error) {
	p, err := capi.OpenPidFd(pid)
	if err != nil {
		return Credentials{}, err
	}
	defer p.Free()
	return p.CredentialsOf()
}
