// Package procfsroot is a drop-in for github.com/thediveo/procfsroot over procroot: change the
// import and EvalSymlinks gives the same answers and errors, from a race-free walk instead of
// a series of Lstat/Readlink calls on path strings.
//
// Errors are procfsroot's, text and type: "procfsroot.EvalSymlinks: no parent directory" (an
// escape, which also unwraps to EXDEV), "procfsroot.EvalSymlinks: too many symlinks" (ELOOP),
// syscall.ENOTDIR for a non-directory with more components after it, and an *fs.PathError
// "lstat <root><path>: no such file or directory" naming the in-root path where the lookup
// failed (so errors.Is(err, fs.ErrNotExist) works).
//
// Differences, all on the safe side: a root of the form /proc/<pid>/root is opened through a
// pidfd (a PID reused meanwhile is ESRCH, never another process's root) when the mounted /proc
// is this process's PID namespace's, and by its path otherwise (after unshare -p without a new
// /proc, the pid means what the mounted /proc says, as for procfsroot); procfs magic links are
// never followed; the symlink budget is the kernel's 40 per PATH_MAX-long piece of the input,
// not 255 in all. Inputs longer than PATH_MAX are walked piece by piece, as procfsroot walks
// them, not refused.
package procfsroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	// EvalExceptLast evaluates all but the last path component, which need not exist. As in
	// procfsroot, a last name followed by a slash is evaluated too.
	EvalExceptLast
)

// pathMax is the kernel's PATH_MAX: the library refuses longer inputs, which EvalSymlinks
// therefore evaluates in pieces.
const pathMax = 4096

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

// procIsOurs says whether the procfs mounted on /proc numbers processes as this process's PID
// namespace does (its "self" is our pid). Only then is the <pid> of /proc/<pid>/root the pid
// that pidfd_open(2) understands; after unshare -p without a new /proc it is not.
func procIsOurs() bool {
	self, err := os.Readlink("/proc/self")
	return err == nil && self == strconv.Itoa(os.Getpid())
}

// EvalSymlinks returns the absolute path inside root that path names, following symlinks
// (absolute ones relative to root); ".." above root is an error. An empty root is "/".
//
// A directory root is opened, evaluated in and closed in one call into the library
// (procroot.EvalSymlinksIn); a /proc/<pid>/root root is opened through a pidfd, or by its
// path when /proc belongs to another PID namespace.
func EvalSymlinks(path, root string, mode EvalSymlinkMode) (string, error) {
	if root == "" {
		root = "/" // procfsroot prefixes root to "/...": "" is the caller's root
	}
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
	if _, isPid := pidOfRoot(root); !isPid && len(path) < pathMax {
		// The common case in one cgo call; only a failure opens the root again, to name the
		// failing path as procfsroot does.
		out, err := procroot.EvalSymlinksIn(root, path, procroot.InRootStrict, m)
		if err == nil {
			return out, nil
		}
		if !needsRoot(err) {
			return "", procfsrootError(nil, root, path, err)
		}
	}
	r, err := openRoot(root)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if err := r.SetPolicy(procroot.InRootStrict); err != nil {
		return "", err
	}
	out, err := evalPieces(r, path, m)
	if err != nil {
		return "", procfsrootError(r, root, path, err)
	}
	return out, nil
}

// evalPieces evaluates path in r, in pieces shorter than PATH_MAX when it is longer: each
// piece ends at a slash and is evaluated in full, from the in-root path the pieces before it
// gave (which has no symlink and no "..", so appending the rest walks what procfsroot walks);
// only the last piece is evaluated with mode.
func evalPieces(r *procroot.Root, path string, mode procroot.EvalMode) (string, error) {
	done, rest := "/", path
	for len(done)+1+len(rest) >= pathMax {
		room := pathMax - 2 - len(done)
		if room > len(rest) {
			room = len(rest)
		}
		cut := -1
		if room > 0 {
			cut = strings.LastIndexByte(rest[:room], '/')
		}
		if cut <= 0 {
			break // no whole component fits: the library refuses it (ENAMETOOLONG)
		}
		out, err := r.EvalSymlinks(done+"/"+rest[:cut], procroot.EvalFull)
		if err != nil {
			return "", err
		}
		done, rest = out, rest[cut:]
	}
	return r.EvalSymlinks(done+"/"+rest, mode)
}

// needsRoot says whether procfsroot's error for err names a path, which takes a root to find.
func needsRoot(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EACCES)
}

// openRoot opens root: through a pidfd for /proc/<pid>/root when /proc is ours, else as a
// directory by its path. A pid too large for any process (20 digits) does not exist.
func openRoot(root string) (*procroot.Root, error) {
	if digits, ok := pidOfRoot(root); ok && procIsOurs() {
		pid, err := strconv.Atoi(digits)
		if err != nil || pid > 1<<31-1 {
			return nil, &fs.PathError{Op: "lstat", Path: root, Err: syscall.ENOENT}
		}
		return procroot.RootForPid(pid)
	}
	return procroot.OpenRoot(root)
}

// textError is an error with procfsroot's exact text that still unwraps to procroot's error
// (and through it to the syscall.Errno), so errors.Is(err, syscall.EXDEV) works.
type textError struct {
	text  string
	cause error
}

func (e *textError) Error() string { return e.text }
func (e *textError) Unwrap() error { return e.cause }

// procfsrootError is procfsroot's error for a failed evaluation of path in root (r, when not
// nil, is that root opened, to find the failing in-root path).
func procfsrootError(r *procroot.Root, root, path string, err error) error {
	switch {
	case errors.Is(err, syscall.EXDEV):
		return &textError{"procfsroot.EvalSymlinks: no parent directory", err}
	case errors.Is(err, syscall.ELOOP):
		return &textError{"procfsroot.EvalSymlinks: too many symlinks", err}
	case errors.Is(err, syscall.ENOTDIR):
		return syscall.ENOTDIR // procfsroot returns the bare errno
	case r != nil && needsRoot(err):
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return err
		}
		if at, ok := failedAt(r, path); ok {
			return &fs.PathError{Op: "lstat", Path: root + at, Err: errno}
		}
	}
	return err
}

// failedAt is the in-root path whose lstat fails in procfsroot's walk of path: the first
// prefix that does not evaluate, as EvalExceptLast names it, and where that is a dangling
// symlink, where its target leads. Only on the error path: a few calls per component.
func failedAt(r *procroot.Root, path string) (string, bool) {
	for hops := 0; hops < 40; hops++ {
		comps := strings.FieldsFunc(path, func(c rune) bool { return c == '/' })
		prefix := ""
		var dest string
		found := false
		rest := ""
		for i, c := range comps {
			prefix += "/" + c
			if _, err := r.EvalSymlinks(prefix, procroot.EvalFull); err == nil {
				continue
			}
			d, err := r.EvalSymlinks(prefix, procroot.EvalExceptLast)
			if err != nil {
				return "", false
			}
			dest, found = d, true
			if i+1 < len(comps) {
				rest = "/" + strings.Join(comps[i+1:], "/")
			}
			break
		}
		if !found {
			return "", false
		}
		target, err := r.Readlink(dest)
		if err != nil {
			return dest, true // not a symlink: this lstat fails
		}
		if strings.HasPrefix(target, "/") {
			path = target + rest
		} else {
			path = dest[:strings.LastIndexByte(dest, '/')+1] + target + rest
		}
	}
	return "", false
}
