// Package procfs reads and writes /proc through procroot's hardened procfs handle: a private,
// detached procfs instance where one can be made, no magic link followed unless asked, no
// mount crossed (something mounted over a /proc file is EXDEV), ".." refused.
package procfs

import (
	"os"
	"runtime"
	"syscall"

	"example.invalid/procroot/internal/capi"
)

// Base is where a subpath starts: Root (/proc), Self, ThreadSelf, Pid(n) or a PidFd.
type Base struct{ b capi.Base }

var (
	// Root is /proc.
	Root = Base{capi.Base{Kind: capi.BaseRoot}}
	// Self is /proc/self.
	Self = Base{capi.Base{Kind: capi.BaseSelf}}
	// ThreadSelf is /proc/thread-self. Go moves goroutines between threads: call
	// runtime.LockOSThread first if the thread matters.
	ThreadSelf = Base{capi.Base{Kind: capi.BaseThreadSelf}}
)

// Pid is /proc/<pid>. Prefer a PidFd: a PID can be reused.
func Pid(pid int) Base { return Base{capi.Base{Kind: capi.BasePid, Pid: uint32(pid)}} }

// PidFd is a pidfd: a process handle that a reused PID cannot redirect.
type PidFd struct{ p *capi.PidFd }

// OpenPidFd opens the pidfd of pid (ESRCH if there is no such process).
func OpenPidFd(pid int) (*PidFd, error) {
	p, err := capi.OpenPidFd(pid)
	if err != nil {
		return nil, err
	}
	return &PidFd{p}, nil
}

// Close frees the pidfd. Safe to call twice, not concurrently with its use.
func (p *PidFd) Close() error {
	if p.p != nil {
		p.p.Free()
		p.p = nil
	}
	return nil
}

// Base is /proc/<pid> of this pidfd's process; lookups through it after the process exited
// are ESRCH.
func (p *PidFd) Base() Base { return Base{capi.Base{Kind: capi.BasePidFd, PidFd: p.p}} }

// Procfs is a procfs instance; the zero value of *Procfs (nil) is procroot's cached one.
type Procfs struct{ p *capi.Procfs }

// Default is procroot's cached hardened procfs instance.
var Default *Procfs

// ForPidns makes a procfs instance for the PID namespace of the open file nsfile
// (/proc/<pid>/ns/pid). Close it when done.
func ForPidns(nsfile *os.File) (*Procfs, error) {
	p, err := capi.ProcfsForPidns(int(nsfile.Fd()))
	runtime.KeepAlive(nsfile)
	if err != nil {
		return nil, err
	}
	return &Procfs{p}, nil
}

// Close frees an instance from ForPidns. Safe to call twice.
func (p *Procfs) Close() error {
	if p != nil && p.p != nil {
		p.p.Free()
		p.p = nil
	}
	return nil
}

func (p *Procfs) c() *capi.Procfs {
	if p == nil {
		return nil
	}
	return p.p
}

func file(fd int, err error, name string) (*os.File, error) {
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Open opens subpath under base with os.O_* flags (O_CLOEXEC added), following no magic link.
func (p *Procfs) Open(base Base, subpath string, flag int) (*os.File, error) {
	fd, err := p.c().Open(base.b, subpath, flag|syscall.O_CLOEXEC, false)
	return file(fd, err, "/proc/"+subpath)
}

// OpenFollow opens subpath under base following a final magic link (fd/N, exe, root); EXDEV
// if anything is mounted on it.
func (p *Procfs) OpenFollow(base Base, subpath string, flag int) (*os.File, error) {
	fd, err := p.c().Open(base.b, subpath, flag|syscall.O_CLOEXEC, true)
	return file(fd, err, "/proc/"+subpath)
}

// Readlink reads the (magic) link subpath under base.
func (p *Procfs) Readlink(base Base, subpath string) (string, error) {
	return p.c().Readlink(base.b, subpath)
}

// Write writes data to subpath under base in one write(2); a short write is an error.
func (p *Procfs) Write(base Base, subpath string, data []byte) error {
	return p.c().Write(base.b, subpath, data)
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
