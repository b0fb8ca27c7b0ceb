package procroot

import (
	"errors"
	"os"
	"syscall"

	"example.invalid/procroot/internal/capi"
)

// ErrSkipped is the per-path result of MaskPaths and MakeReadonly for a path that was left
// alone: missing, or under a file.
var ErrSkipped = errors.New("procroot: path skipped (missing)")

func pathResults(raw []int32) []error {
	out := make([]error, len(raw))
	for i, v := range raw {
		switch {
		case v == capi.PathDone:
		case v == capi.PathSkipped:
			out[i] = ErrSkipped
		default:
			out[i] = syscall.Errno(-v)
		}
	}
	return out
}

// MaskPaths masks paths inside the root as runc's maskedPaths (a directory gets an empty
// read-only tmpfs, anything else the host's verified /dev/null), each resolved to an fd first.
// results[i] is nil (masked), ErrSkipped, or the syscall.Errno that refused it; err is non-nil
// if any path was refused (its message lists them all; the others are masked). It changes the
// calling thread's mount namespace: call it from a goroutine locked to a thread that is in the
// container's (runtime.LockOSThread).
func (r *Root) MaskPaths(paths ...string) (results []error, err error) {
	err = r.use(func(c *capi.Root) error {
		raw, _, err := c.MaskPaths(paths)
		results = pathResults(raw)
		return err
	})
	return
}

// MakeReadonly makes paths inside the root read-only (a recursive read-only clone moved onto
// each), as runc's readonlyPaths. Results as MaskPaths.
func (r *Root) MakeReadonly(paths ...string) (results []error, err error) {
	err = r.use(func(c *capi.Root) error {
		raw, _, err := c.MakeReadonly(paths)
		results = pathResults(raw)
		return err
	})
	return
}

// ProcfsMountOptions are the options of MountProcfs.
type ProcfsMountOptions struct {
	// PidNS is an open /proc/<pid>/ns/pid for the instance's PID namespace; nil for the
	// caller's.
	PidNS *os.File
	// SubsetPid is subset=pid.
	SubsetPid bool
	// HidePid is "", "off", "noaccess", "invisible" or "ptraceable".
	HidePid string
}

// MountProcfs mounts a new procfs (nosuid,nodev,noexec) on the directory dest inside the root.
// A symlink on the way is ELOOP, a non-directory ENOTDIR (CVE-2019-19921); a destination below
// the root's /proc or on a procfs is EPERM. With PidNS, before Linux 6.18 the instance is made
// by a helper process forked into that namespace: it is non-dumpable, but while it lives its
// /proc/<pid>/exe is this program's binary, so a caller running from the file on disk should
// call EnsureSealedExe first (CVE-2019-5736). PidNS without the new mount API: NotSupported.
func (r *Root) MountProcfs(dest string, opts ProcfsMountOptions) error {
	hide, ok := map[string]int{"": -1, "off": 0, "noaccess": 1, "invisible": 2, "ptraceable": 4}[opts.HidePid]
	if !ok {
		return &Error{Errno: syscall.EINVAL, Kind: KindInvalidInput, Message: "unknown hidepid " + opts.HidePid}
	}
	mount := func(ns int) error {
		return r.use(func(c *capi.Root) error { return c.MountProcfs(dest, ns, opts.SubsetPid, hide) })
	}
	if opts.PidNS == nil {
		return mount(-1)
	}
	return capi.WithFile(opts.PidNS, "PID namespace file", mount)
}

// WriteSysctl writes value to the sysctl name ("net.ipv4.ip_forward") through the hardened
// procfs, refusing a /proc/sys file with something mounted on it (EXDEV). Namespaced sysctls
// are the calling thread's: lock the goroutine to its thread (runtime.LockOSThread) if that
// matters.
func WriteSysctl(name, value string) error { return capi.WriteSysctl(0, name, value) }

// WriteSysctlIn is WriteSysctl in the namespace of process pid that owns the sysctl, or an
// error: net.* (network), the IPC sysctls and fs.mqueue.* (IPC), kernel.hostname and
// kernel.domainname (UTS), user.* (user), kernel.pid_max (PID, Linux 6.14+). A machine-wide
// name (kernel.core_pattern) or a namespace pid shares with the caller is EINVAL. user.* and
// kernel.pid_max go through a helper process forked into pid's namespaces (see MountProcfs
// about EnsureSealedExe).
func WriteSysctlIn(pid int, name, value string) error {
	if pid <= 0 {
		return &Error{Errno: syscall.EINVAL, Kind: KindInvalidInput, Message: "invalid pid"}
	}
	return capi.WriteSysctl(pid, name, value)
}
