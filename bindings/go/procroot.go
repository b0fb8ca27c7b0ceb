// Package procroot resolves paths race-free inside another root directory (a container's
// rootfs, /proc/<pid>/root) over procroot's C library (libprocroot, found with pkg-config).
//
// Every method returns either a result or an error that unwraps to a syscall.Errno, so
// errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission) and
// errors.Is(err, syscall.EXDEV) work; errors.As(err, &procrootErr) gives the *Error with its
// kind, failed syscall and full message. Errors travel with each call, never through a
// thread-local "last error", so goroutines may move between threads freely. A *Root may be
// used by many goroutines at once: calls hold it shared, the Set* methods and Close hold it
// exclusively (they wait for the calls in flight). After Close every call is EBADF, which is
// also fs.ErrClosed.
//
// Go integers are range-checked before they reach C, never truncated: a uid, gid or pid of
// 2**32 or more, a negative id other than -1 ("unchanged"), or flags that do not fit a C int
// are EINVAL.
package procroot

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"example.invalid/procroot/internal/capi"
)

// Error is a failure reported by procroot; see the package documentation.
type Error = capi.Error

// Kind is the kind of an Error.
type Kind = capi.Kind

// The kinds of Error.
const (
	KindNotFound        = capi.KindNotFound
	KindSafetyViolation = capi.KindSafetyViolation
	KindInvalidInput    = capi.KindInvalidInput
	KindNotSupported    = capi.KindNotSupported
	KindOS              = capi.KindOS
)

// Policy says how "..", absolute paths and absolute symlinks relate to the root.
type Policy int

const (
	// InRoot is chroot-like (RESOLVE_IN_ROOT): ".." stays at the root. The default.
	InRoot Policy = 0
	// InRootStrict is procfsroot's: like InRoot, but ".." above the root is EXDEV.
	InRootStrict Policy = 1
	// Beneath is RESOLVE_BENEATH: every escape, absolute paths included, is EXDEV.
	Beneath Policy = 2
)

// Backend says which resolver to use.
type Backend int

const (
	// Auto uses openat2 when it works, else the userspace walker. The default.
	Auto Backend = 0
	// Kernel uses only openat2.
	Kernel Backend = 1
	// Emulated uses only the userspace walker.
	Emulated Backend = 2
)

// ResolveFlags restrict what a resolution may walk through.
type ResolveFlags uint32

const (
	// NoSymlinks refuses every symlink with ELOOP.
	NoSymlinks ResolveFlags = 1
	// NoXdev refuses to cross a mount with EXDEV.
	NoXdev ResolveFlags = 2
	// NoMagiclinks refuses procfs magic links; on by default.
	NoMagiclinks ResolveFlags = 4
)

// EvalMode says what EvalSymlinks resolves.
type EvalMode int

const (
	// EvalFull resolves every component.
	EvalFull EvalMode = 0
	// EvalExceptLast resolves all but the last component.
	EvalExceptLast EvalMode = 1
)

// Version is the C library's version.
func Version() string { return capi.Version() }

// Root is a directory that paths are resolved in as if it were "/".
type Root struct {
	// mu makes Close wait for calls in flight: the C handle is freed only when no call uses
	// it, so a Close racing a Resolve is an error for the Resolve, never a use after free.
	mu     sync.RWMutex
	c      *capi.Root
	closed bool
}

func newRoot(c *capi.Root, err error) (*Root, error) {
	if err != nil {
		return nil, err
	}
	return &Root{c: c}, nil
}

// OpenRoot opens the directory dir (resolved normally) as a root.
func OpenRoot(dir string) (*Root, error) { return newRoot(capi.OpenRoot(dir)) }

// RootForPid opens the root of process pid (/proc/<pid>/root) through a pidfd: a PID reused
// meanwhile is ESRCH, never another process's root.
func RootForPid(pid int) (*Root, error) { return newRoot(capi.RootForPid(pid)) }

// RootFromFile uses an open directory (it may be O_PATH) as a root; f stays the caller's (its
// fd is duplicated while f's fd lock is held, so a concurrent f.Close cannot hand the number to
// another file first). A nil or closed f is EBADF.
func RootFromFile(f *os.File) (r *Root, err error) {
	err = capi.WithFile(f, "file", func(fd int) error {
		r, err = newRoot(capi.RootFromFd(fd))
		return err
	})
	return r, err
}

// Close frees the root. It is safe to call twice, and while other goroutines use the root
// (they then get EBADF).
func (r *Root) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.c.Free()
	}
	return nil
}

func (r *Root) use(f func(c *capi.Root) error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return capi.Closed("root")
	}
	return f(r.c)
}

func (r *Root) set(f func(c *capi.Root) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return capi.Closed("root")
	}
	return f(r.c)
}

// SetPolicy sets how escapes are treated.
func (r *Root) SetPolicy(p Policy) error {
	return r.set(func(c *capi.Root) error { return c.SetPolicy(int(p)) })
}

// SetFlags replaces the resolve flags.
func (r *Root) SetFlags(f ResolveFlags) error {
	return r.set(func(c *capi.Root) error { return c.SetFlags(uint32(f)) })
}

// SetBackend sets the resolver.
func (r *Root) SetBackend(b Backend) error {
	return r.set(func(c *capi.Root) error { return c.SetBackend(int(b)) })
}

// SetAllowSpecialFiles lets Open open FIFOs, sockets and devices (never blocking); by default
// they are refused with ENXIO.
func (r *Root) SetAllowSpecialFiles(allow bool) error {
	return r.set(func(c *capi.Root) error { return c.SetSpecialFiles(allow) })
}

func fileOf(fd int, err error, name string) (*os.File, error) {
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Resolve resolves path inside the root, following a trailing symlink, to an O_PATH file that
// pins what was found.
func (r *Root) Resolve(path string) (f *os.File, err error) {
	err = r.use(func(c *capi.Root) error {
		fd, err := c.Resolve(path, false)
		f, err = fileOf(fd, err, path)
		return err
	})
	return
}

// ResolveNoFollow is Resolve without following a trailing symlink.
func (r *Root) ResolveNoFollow(path string) (f *os.File, err error) {
	err = r.use(func(c *capi.Root) error {
		fd, err := c.Resolve(path, true)
		f, err = fileOf(fd, err, path)
		return err
	})
	return
}

// Open opens the existing file path inside the root for reading.
func (r *Root) Open(path string) (*os.File, error) {
	return r.OpenFile(path, os.O_RDONLY)
}

// OpenFile opens the existing file path inside the root with os.O_* flags (O_CLOEXEC is
// added). With os.O_CREATE it creates a regular file with perm (setuid, setgid and sticky
// included, before the umask), as os.OpenFile does.
func (r *Root) OpenFile(path string, flag int, perm ...fs.FileMode) (f *os.File, err error) {
	flag |= syscall.O_CLOEXEC
	err = r.use(func(c *capi.Root) error {
		var fd int
		var err error
		if flag&os.O_CREATE != 0 {
			mode := fs.FileMode(0o666)
			if len(perm) > 0 {
				mode = perm[0]
			}
			fd, err = c.CreateFile(path, flag&^os.O_CREATE, modeBits(mode))
		} else {
			fd, err = c.OpenFile(path, flag)
		}
		f, err = fileOf(fd, err, path)
		return err
	})
	return
}

// Create creates or truncates the regular file path inside the root (mode 0666 before umask),
// as os.Create does.
func (r *Root) Create(path string) (*os.File, error) {
	return r.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// MkdirAll makes path and its missing parents inside the root with perm (setuid, setgid and
// sticky included, before the umask), and returns an O_PATH file of the last directory.
func (r *Root) MkdirAll(path string, perm fs.FileMode) (f *os.File, err error) {
	err = r.use(func(c *capi.Root) error {
		fd, err := c.MkdirAll(path, modeBits(perm))
		f, err = fileOf(fd, err, path)
		return err
	})
	return
}

// Readlink reads the symlink path inside the root.
func (r *Root) Readlink(path string) (s string, err error) {
	err = r.use(func(c *capi.Root) error {
		s, err = c.Readlink(path)
		return err
	})
	return
}

// EvalSymlinks gives the absolute path inside the root that path resolves to.
func (r *Root) EvalSymlinks(path string, mode EvalMode) (s string, err error) {
	err = r.use(func(c *capi.Root) error {
		s, err = c.EvalSymlinks(path, int(mode))
		return err
	})
	return
}

// EvalSymlinksIn is procfsroot's EvalSymlinks(path, root, mode) in one call: it opens the
// directory rootDir as OpenRoot does, evaluates path as (*Root).EvalSymlinks does under
// policy, and closes the root. For a plain absolute rootDir (no ".", "..", or symlinks) the
// root's path is then known to the kernel-derived fast path without reading it back.
func EvalSymlinksIn(rootDir, path string, policy Policy, mode EvalMode) (string, error) {
	return capi.EvalSymlinksIn(rootDir, path, int(policy), int(mode))
}

// Remove removes the file or empty directory path, as os.Remove does.
func (r *Root) Remove(path string) error {
	return r.use(func(c *capi.Root) error {
		err := c.RemoveFile(path)
		// EISDIR: a directory; ENOTDIR: a path ending in a slash, which RemoveFile refuses
		// whatever is there (libpathrs's errno) and which os.Remove removes if it is a
		// directory.
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EPERM) ||
			errors.Is(err, syscall.ENOTDIR) {
			if err2 := c.RemoveDir(path); err2 == nil || !errors.Is(err2, syscall.ENOTDIR) {
				return err2
			}
		}
		return err
	})
}

// RemoveFile removes the non-directory path (a symlink itself, not its target).
func (r *Root) RemoveFile(path string) error {
	return r.use(func(c *capi.Root) error { return c.RemoveFile(path) })
}

// RemoveDir removes the empty directory path.
func (r *Root) RemoveDir(path string) error {
	return r.use(func(c *capi.Root) error { return c.RemoveDir(path) })
}

// RemoveAll removes path and everything under it on the same mount; a missing path is nil,
// as with os.RemoveAll.
func (r *Root) RemoveAll(path string) error {
	return r.use(func(c *capi.Root) error {
		err := c.RemoveAll(path)
		if errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return err
	})
}

// The flags of Rename (renameat2).
const (
	RenameNoReplace uint32 = 1
	RenameExchange  uint32 = 2
	RenameWhiteout  uint32 = 4
)

// Rename renames from to to inside the root, with Rename* flags.
func (r *Root) Rename(from, to string, flags uint32) error {
	return r.use(func(c *capi.Root) error { return c.Rename(from, to, flags) })
}

// Symlink makes the symlink linkpath inside the root, pointing at target (stored as given).
func (r *Root) Symlink(target, linkpath string) error {
	return r.use(func(c *capi.Root) error { return c.Symlink(target, linkpath) })
}

// Link makes the hard link newpath to existing, both inside the root.
func (r *Root) Link(existing, newpath string) error {
	return r.use(func(c *capi.Root) error { return c.Hardlink(existing, newpath) })
}

// Mknod makes a FIFO (syscall.S_IFIFO) or device node (S_IFCHR, S_IFBLK) with permission
// bits perm.
func (r *Root) Mknod(path string, typ uint32, perm fs.FileMode, major, minor uint32) error {
	return r.use(func(c *capi.Root) error {
		return c.Mknod(path, typ, modeBits(perm), major, minor)
	})
}

// modeBits is the mode_t permission bits of mode, as os.Chmod and os.OpenFile translate them:
// Go keeps setuid, setgid and sticky outside Perm(), in fs.ModeSetuid, fs.ModeSetgid and
// fs.ModeSticky.
func modeBits(mode fs.FileMode) uint32 {
	bits := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		bits |= syscall.S_ISUID
	}
	if mode&fs.ModeSetgid != 0 {
		bits |= syscall.S_ISGID
	}
	if mode&fs.ModeSticky != 0 {
		bits |= syscall.S_ISVTX
	}
	return bits
}

// Chmod sets the permission bits of path (setuid, setgid and sticky included).
func (r *Root) Chmod(path string, mode fs.FileMode) error {
	return r.use(func(c *capi.Root) error { return c.SetPermissions(path, modeBits(mode)) })
}

// Chown changes the owner and group of path; -1 leaves one unchanged, as os.Chown.
func (r *Root) Chown(path string, uid, gid int) error {
	return r.use(func(c *capi.Root) error { return c.Chown(path, uid, gid) })
}

// Reopen opens the file that the O_PATH file f (from Resolve) pins, with os.O_* flags,
// through the hardened procfs. A symlink is ELOOP; special files are refused (ENXIO) unless
// allowSpecial; a nil or closed f is EBADF. f's fd lock is held during the call: a concurrent
// f.Close waits, so the call never reopens another file that took f's fd number.
func Reopen(f *os.File, flag int, allowSpecial bool) (file *os.File, err error) {
	err = capi.WithFile(f, "file", func(pinned int) error {
		fd, err := capi.Reopen(pinned, flag|syscall.O_CLOEXEC, allowSpecial)
		file, err = fileOf(fd, err, f.Name())
		return err
	})
	return file, err
}

// EnsureSealedExe makes sure the running binary is a sealed copy (CVE-2019-5736),
// re-executing it if needed, and names the strategy in use ("overlay", "memfd", "tmpfile").
func EnsureSealedExe() (string, error) {
	n, err := capi.SealedExeEnsure()
	if err != nil {
		return "", err
	}
	return map[int]string{1: "overlay", 2: "memfd", 3: "tmpfile"}[n], nil
}

// Fd is the root's O_PATH directory fd, borrowed: valid until Close, not to be closed.
func (r *Root) Fd() (fd uintptr, err error) {
	err = r.use(func(c *capi.Root) error {
		fd = uintptr(c.Fd())
		return nil
	})
	return
}
