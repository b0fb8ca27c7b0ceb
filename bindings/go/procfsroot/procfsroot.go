// Package procfsroot is a drop-in for github.com/thediveo/procfsroot over procroot: change the
// import and EvalSymlinks gives the same answers, from a race-free walk instead of a series of
// Lstat/Readlink calls on path strings.
//
// Differences, all on the safe side: a root of the form /proc/<pid>/root is opened through a
// pidfd (a PID reused meanwhile is ESRCH, never another process's root); procfs magic links
// are never followed; the symlink budget is the kernel's 40, not 255. Errors keep procfsroot's
// texts ("no parent directory", "too many symlinks") and unwrap to the syscall.Errno
// (EXDEV, ELOOP), so errors.Is works too.
package procfsroot

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"syscall"

	"example.invalid/procroot"
)

// EvalSymlinkMode tells EvalSymlinks what to do with the last path component.
type EvalSymlinkMode = uint8

// EvalSymlinkPathHandling is procfsroot's name for EvalSymlinkMode.
type EvalSymlinkPathHandling = EvalSymlinkMode

const (
	// EvalFullPath evaluates every path component.
	EvalFullPath EvalSymlinkMode = iota
	// EvalExceptLast evaluates all but the last path component, which need not exist.
	EvalExceptLast
)

var pidRoot = regexp.MustCompile(`^/proc/([1-9][0-9]*)/root/*$`)

// EvalSymlinks returns the absolute path inside root that path names, following symlinks
// (absolute ones relative to root); ".." above root is an error.
func EvalSymlinks(path, root string, mode EvalSymlinkMode) (string, error) {
	var r *procroot.Root
	var err error
	if m := pidRoot.FindStringSubmatch(root); m != nil {
		pid, perr := strconv.Atoi(m[1])
		if perr != nil {
			return "", perr
		}
		r, err = procroot.RootForPid(pid)
	} else {
		r, err = procroot.OpenRoot(root)
	}
	if err != nil {
		return "", err
	}
	defer r.Close()
	if err := r.SetPolicy(procroot.InRootStrict); err != nil {
		return "", err
	}
	m := procroot.EvalFull
	switch mode {
	case EvalFullPath:
	case EvalExceptLast:
		m = procroot.EvalExceptLast
	default:
		return "", fmt.Errorf("procfsroot.EvalSymlinks: unknown mode %d: %w", mode, syscall.EINVAL)
	}
	out, err := r.EvalSymlinks(path, m)
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, syscall.EXDEV):
		return "", fmt.Errorf("procfsroot.EvalSymlinks: no parent directory: %w", err)
	case errors.Is(err, syscall.ELOOP):
		return "", fmt.Errorf("procfsroot.EvalSymlinks: too many symlinks: %w", err)
	}
	return "", err
}
