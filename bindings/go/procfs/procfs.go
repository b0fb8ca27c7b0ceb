// Package procfs reads and writes /proc through procroot's hardened procfs handle: a private,
// detached procfs instance where one can be made, no magic link followed unless asked, no
// mount crossed (something mounted over a /proc file is EXDEV), ".." refused.
//
// A *PidFd and a *Procfs own a C handle. Calls hold it (a read lock) for their whole duration
// and Close waits for them, so a Close racing a call is EBADF for the call (fs.ErrClosed too),
// never a use of freed memory; every call after Close is EBADF. A Base from PidFd.Base holds
// the *PidFd itself, never a copy of its C pointer.
package procfs

import (
	"os"
	"sync"
	"syscall"

	"example.invalid/procroot/internal/capi"
)

// Base is where a subpath starts: Root (/proc), Self, ThreadSelf, Pid(n) or a PidFd's Base.
type Base struct {
	kind  int
	pid   int
	pidfd *PidFd
}

var (
	// Root is /proc.
	Root = Base{kind: capi.BaseRoot}
	// Self is /proc/self.
	Self = Base{kind: capi.BaseSelf}
	// ThreadSelf is /proc/thread-self. Go moves goroutines between threads: call
	// runtime.LockOSThread first if the thread matters.
	ThreadSelf = Base{kind: capi.BaseThreadSelf}
)

// Pid is /proc/<pid>. Prefer a PidFd: a PID can be reused. A pid that is not a process id
// (zero, negative, 2**31 or more) makes every call with this base EINVAL.
func Pid(pid int) Base { return Base{kind: capi.BasePid, pid: pid} }

// with runs f with the C form of the base: for a PidFd's base, under the PidFd's read lock
// (EBADF once it is closed), so the C pointer cannot be freed during the call.
func (b Base) with(f func(capi.Base) error) error {
	cb := capi.Base{Kind: b.kind}
	switch {
	case b.pidfd != nil:
		b.pidfd.mu.RLock()
		defer b.pidfd.mu.RUnlock()
		if b.pidfd.p == nil {
			return capi.Closed("pidfd")
		}
		cb.PidFd = b.pidfd.p
	case b.kind == capi.BasePid:
		if err := capi.CheckPid(b.pid); err != nil {
			return err
		}
		cb.Pid = uint32(b.pid)
	}
	return f(cb)
}

// PidFd is a pidfd: a process handle that a reused PID cannot redirect.
type PidFd struct {
	mu sync.RWMutex
	p  *capi.PidFd // nil once closed
}

// OpenPidFd opens the pidfd of pid (ESRCH if there is no such process; EINVAL if pid is not a
// process id).
func OpenPidFd(pid int) (*PidFd, error) {
	p, err := capi.OpenPidFd(pid)
	if err != nil {
		return nil, err
	}
	return &PidFd{p: p}, nil
}

// Close frees the pidfd, after the calls in flight on other goroutines. Safe to call twice
// and concurrently with its use: later calls through it, or a Base of it, are EBADF.
func (p *PidFd) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil {
		p.p.Free()
		p.p = nil
	}
	return nil
}

// Base is /proc/<pid> of this pidfd's process; lookups through it after the process exited
// are ESRCH, and after p.Close EBADF.
func (p *PidFd) Base() Base { return Base{kind: capi.BasePidFd, pidfd: p} }

// Procfs is a procfs instance; the zero value of *Procfs (nil) is procroot's cached one.
type Procfs struct {
	mu sync.RWMutex
	p  *capi.Procfs // nil once closed
}

// Default is procroot's cached hardened procfs instance.
var Default *Procfs

// ForPidns makes a procfs instance for the PID namespace of the open file nsfile
// (/proc/<pid>/ns/pid). Close it when done.
//
// Before Linux 6.18 the instance is made by a helper process forked into the namespace. It is
// non-dumpable, but while it lives its /proc/<pid>/exe is this program's binary: a caller
// running from the file on disk should call procroot.EnsureSealedExe first when the namespace
// holds untrusted processes (CVE-2019-5736).
func ForPidns(nsfile *os.File) (*Procfs, error) {
	var p *capi.Procfs
	err := capi.WithFile(nsfile, "namespace file", func(fd int) (err error) {
		p, err = capi.ProcfsForPidns(fd)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Procfs{p: p}, nil
}

// Close frees an instance from ForPidns, after the calls in flight on other goroutines. Safe
// to call twice and concurrently with its use: later calls are EBADF.
func (p *Procfs) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil {
		p.p.Free()
		p.p = nil
	}
	return nil
}

// call runs f with the C instance (nil for Default) and base, both held for the call.
func (p *Procfs) call(base Base, f func(*capi.Procfs, capi.Base) error) error {
	var c *capi.Procfs
	if p != nil {
		p.mu.RLock()
		defer p.mu.RUnlock()
		if p.p == nil {
			return capi.Closed("procfs")
		}
		c = p.p
	}
	return base.with(func(cb capi.Base) error { return f(c, cb) })
}

func file(fd int, err error, name string) (*os.File, error) {
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (p *Procfs) open(base Base, subpath string, flag int, follow bool) (f *os.File, err error) {
	err = p.call(base, func(c *capi.Procfs, cb capi.Base) error {
		fd, err := c.Open(cb, subpath, flag|syscall.O_CLOEXEC, follow)
		f, err = file(fd, err, "/proc/"+subpath)
		return err
	})
	return
}

// Open opens subpath under base with os.O_* flags (O_CLOEXEC added), following no magic link.
func (p *Procfs) Open(base Base, subpath string, flag int) (*os.File, error) {
	return p.open(base, subpath, flag, false)
}

// OpenFollow opens subpath under base following a final magic link (fd/N, exe, root); EXDEV
// if anything is mounted on it.
func (p *Procfs) OpenFollow(base Base, subpath string, flag int) (*os.File, error) {
	return p.open(base, subpath, flag, true)
}

// Readlink reads the (magic) link subpath under base.
func (p *Procfs) Readlink(base Base, subpath string) (s string, err error) {
	err = p.call(base, func(c *capi.Procfs, cb capi.Base) error {
		s, err = c.Readlink(cb, subpath)
		return err
	})
	return
}

// Write writes data to subpath under base in one write(2); a short write is an error.
func (p *Procfs) Write(base Base, subpath string, data []byte) error {
	return p.call(base, func(c *capi.Procfs, cb capi.Base) error {
		return c.Write(cb, subpath, data)
	})
}

// Open is Default.Open.
func Open(base Base, subpath string, flag int) (*os.File, error) {
	return Default.Open(base, subpath, flag)
}

// OpenFollow is Default.OpenFollow.
func OpenFollow(base Base, subpath string, flag int) (*os.File, error) {
	return Default.OpenFollow(base, subpath, flag)
}

// Readlink is Default.Readlink.
func Readlink(base Base, subpath string) (string, error) { return Default.Readlink(base, subpath) }

// Write is Default.Write.
func Write(base Base, subpath string, data []byte) error { return Default.Write(base, subpath, data) }
