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
	"strconv"
	"strings"
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

// pidOfRoot is the pid in a root of the form /proc/<pid>/root (with any trailing slashes), as
// the regular expression ^/proc/([1-9][0-9]*)/root/*$ would match it, without running one on
// every call; ok is false for any other root.
func pidOfRoot(root string) (digits string, ok bool) {
	if !strings.HasPrefix(root, "/proc/") {
		return "", false
	}
	rest := root[len("/proc/"):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || rest[0] == '0' {
		return "", false
	}
	tail := rest[n:]
	if !strings.HasPrefix(tail, "/root") || strings.Trim(tail[len("/root"):], "/") != "" {
		return "", false
	}
	return rest[:n], true
}

// EvalSymlinks returns the absolute path inside root that path names, following symlinks
// (absolute ones relative to root); ".." above root is an error.
//
// A directory root is opened, evaluated in and closed in one call into the library
// (procroot.EvalSymlinksIn); a /proc/<pid>/root root is opened through a pidfd.
func EvalSymlinks(path, root string, mode EvalSymlinkMode) (string, error) {
	m := procroot.EvalFull
	switch mode {
	case EvalFullPath:
	case EvalExceptLast:
		m = procroot.EvalExceptLast
	default:
		// The root is opened first, so that its errors come first, as they always did.
		r, err := openRoot(root)
		if err != nil {
			return "", err
		}
		r.Close()
		return "", fmt.Errorf("procfsroot.EvalSymlinks: unknown mode %d: %w", mode, syscall.EINVAL)
	}
	var out string
	var err error
	if _, isPid := pidOfRoot(root); isPid {
		var r *procroot.Root
		if r, err = openRoot(root); err != nil {
			return "", err
		}
		defer r.Close()
		if err := r.SetPolicy(procroot.InRootStrict); err != nil {
			return "", err
		}
		out, err = r.EvalSymlinks(path, m)
	} else {
		out, err = procroot.EvalSymlinksIn(root, path, procroot.InRootStrict, m)
	}
	return result(out, err)
}

// openRoot opens root: through a pidfd for /proc/<pid>/root, else as a directory.
func openRoot(root string) (*procroot.Root, error) {
	if digits, ok := pidOfRoot(root); ok {
		pid, err := strconv.Atoi(digits)
		if err != nil {
			return nil, err
		}
		return procroot.RootForPid(pid)
	}
	return procroot.OpenRoot(root)
}

// result gives procfsroot's error texts.
func result(out string, err error) (string, error) {
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
