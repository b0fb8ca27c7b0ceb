// Package capi is the only cgo package of the procroot Go module: one Go function per C
// function, with Go types, shared by the procroot, procfs and procfsroot packages. It holds no
// state: every error travels in the call's own out-parameter, never in a thread-local or
// global (Go moves goroutines between threads).
package capi

/*
#cgo pkg-config: procroot
#include <stdlib.h>
#include <procroot.h>
*/
import "C"

import (
	"io/fs"
	"math"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// Kind says what kind of failure an Error is.
type Kind int

// The kinds, as procroot_error_kind in procroot.h.
const (
	KindNotFound        Kind = C.PROCROOT_ERROR_NOT_FOUND
	KindSafetyViolation Kind = C.PROCROOT_ERROR_SAFETY_VIOLATION
	KindInvalidInput    Kind = C.PROCROOT_ERROR_INVALID_INPUT
	KindNotSupported    Kind = C.PROCROOT_ERROR_NOT_SUPPORTED
	KindOS              Kind = C.PROCROOT_ERROR_OS
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "NotFound"
	case KindSafetyViolation:
		return "SafetyViolation"
	case KindInvalidInput:
		return "InvalidInput"
	case KindNotSupported:
		return "NotSupported"
	default:
		return "Os"
	}
}

// Error is a failure reported by procroot. It unwraps to its syscall.Errno, so
// errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission) and
// errors.Is(err, syscall.EXDEV) work.
type Error struct {
	// Errno is the error number (the C call returned its negation).
	Errno syscall.Errno
	// Kind is the kind of failure.
	Kind Kind
	// Syscall names the system call that failed, or is empty.
	Syscall string
	// Message is procroot's full message (operation, path, root, cause).
	Message string
	// closed marks the error of a call on a closed handle: it is fs.ErrClosed too.
	closed bool
}

// Closed is the error of a call on a closed handle (what names it: "root", "pidfd"): EBADF,
// and errors.Is(err, fs.ErrClosed), as os.File's methods after Close.
func Closed(what string) *Error {
	return &Error{Errno: syscall.EBADF, Kind: KindInvalidInput,
		Message: "procroot: " + what + " is closed", closed: true}
}

func (e *Error) Error() string { return e.Message }

// Unwrap gives the errno, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Errno }

// Is makes every NotFound error fs.ErrNotExist: ESRCH (a process that is gone) too, not only
// ENOENT; and the error of a closed handle fs.ErrClosed.
func (e *Error) Is(target error) bool {
	return (target == fs.ErrNotExist && e.Kind == KindNotFound) ||
		(target == fs.ErrClosed && e.closed)
}

func result(ret C.int, cerr *C.procroot_error) (int, error) {
	if ret >= 0 {
		return int(ret), nil
	}
	if cerr == nil {
		return 0, &Error{Errno: syscall.Errno(-ret), Kind: KindOS, Message: syscall.Errno(-ret).Error()}
	}
	e := &Error{
		Errno:   syscall.Errno(cerr.saved_errno),
		Kind:    Kind(cerr.kind),
		Message: C.GoString(cerr.message),
	}
	if cerr.syscall != nil {
		e.Syscall = C.GoString(cerr.syscall)
	}
	C.procroot_error_free(cerr)
	return 0, e
}

// cstr is s with a NUL, as a C string in Go memory (which holds no Go pointers, so cgo allows
// passing it, and keeps it alive for the call). A NUL inside s is EINVAL, never a silently
// shorter path.
func cstr(s string) (*C.char, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, &Error{Errno: syscall.EINVAL, Kind: KindInvalidInput,
				Message: "path contains a NUL byte: " + strconv.Quote(s)}
		}
	}
	b := make([]byte, len(s)+1)
	copy(b, s)
	return (*C.char)(unsafe.Pointer(&b[0])), nil
}

func cstr2(a, b string) (*C.char, *C.char, error) {
	ca, err := cstr(a)
	if err != nil {
		return nil, nil, err
	}
	cb, err := cstr(b)
	return ca, cb, err
}

// invalidArg is the EINVAL of a Go value that does not fit the C parameter it is for: never
// truncated into another value (2**32 + pid would be pid, 2**32 as a uid would be root).
func invalidArg(what string, v int64) error {
	return &Error{Errno: syscall.EINVAL, Kind: KindInvalidInput,
		Message: "procroot: " + what + " " + strconv.FormatInt(v, 10) + " is out of range"}
}

// CInt is v as a C int, or EINVAL if it does not fit.
func CInt(v int, what string) (C.int, error) {
	if int64(v) < math.MinInt32 || int64(v) > math.MaxInt32 {
		return 0, invalidArg(what, int64(v))
	}
	return C.int(v), nil
}

// CU32 is v as a C uint32_t, or EINVAL if it does not fit.
func CU32(v int, what string) (C.uint32_t, error) {
	if v < 0 || uint64(v) > math.MaxUint32 {
		return 0, invalidArg(what, int64(v))
	}
	return C.uint32_t(v), nil
}

// CheckPid is EINVAL unless pid is a process id: 1 to 2**31 - 1 (the kernel's pid_t is
// signed; PID_MAX_LIMIT is far below).
func CheckPid(pid int) error {
	if pid <= 0 || int64(pid) > math.MaxInt32 {
		return invalidArg("pid", int64(pid))
	}
	return nil
}

// CheckFd is EINVAL unless fd fits a C int. A negative fd goes through: the C library answers
// EBADF, as it does for a closed one.
func CheckFd(fd int) error {
	_, err := CInt(fd, "fd")
	return err
}

// WithFile runs fn with f's fd while f's own fd lock is held (os.File's SyscallConn): a Close
// of f on another goroutine waits for fn, so the fd number cannot be closed and reused by
// another file under the C call (f.Fd() would give a number with no such guarantee). A nil or
// closed f is EBADF (the closed one also fs.ErrClosed), what names it in the message.
func WithFile(f *os.File, what string, fn func(fd int) error) error {
	if f == nil {
		return &Error{Errno: syscall.EBADF, Kind: KindInvalidInput,
			Message: "procroot: " + what + " is nil"}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return Closed(what)
	}
	var inner error
	if err := rc.Control(func(fd uintptr) { inner = fn(int(fd)) }); err != nil {
		return Closed(what)
	}
	return inner
}

// pathBufSize is the size of the buffers that path-returning calls write into: PATH_MAX, so
// that one call suffices for any path the kernel accepts (a call whose answer does not fit
// must be made again, the whole resolution with it).
const pathBufSize = 4096

// pathBufs recycles those buffers: a fresh 4 KiB slice per call would be allocated and
// zeroed every time (C writes into it, so it lives on the heap).
var pathBufs = sync.Pool{New: func() any { return new([pathBufSize]byte) }}

// buffer calls fill with a buffer until it is large enough (fill returns the needed length,
// as snprintf), and returns the string.
func buffer(fill func(buf *C.char, size C.size_t, cerr **C.procroot_error) C.int) (string, error) {
	pooled := pathBufs.Get().(*[pathBufSize]byte)
	defer pathBufs.Put(pooled)
	buf := pooled[:]
	for {
		var cerr *C.procroot_error
		n, err := result(fill((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &cerr), cerr)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, n+1)
	}
}

// Version is the C library's version.
func Version() string { return C.GoString(C.procroot_version()) }

// Root is a procroot_root.
type Root struct{ p *C.procroot_root }

func rootResult(ret C.int, p *C.procroot_root, cerr *C.procroot_error) (*Root, error) {
	if _, err := result(ret, cerr); err != nil {
		return nil, err
	}
	return &Root{p}, nil
}

// OpenRoot is procroot_root_open.
func OpenRoot(path string) (*Root, error) {
	cp, err := cstr(path)
	if err != nil {
		return nil, err
	}
	var p *C.procroot_root
	var cerr *C.procroot_error
	return rootResult(C.procroot_root_open(cp, &p, &cerr), p, cerr)
}

// RootForPid is procroot_root_for_pid.
func RootForPid(pid int) (*Root, error) {
	if err := CheckPid(pid); err != nil {
		return nil, err
	}
	var p *C.procroot_root
	var cerr *C.procroot_error
	return rootResult(C.procroot_root_for_pid(C.uint32_t(pid), &p, &cerr), p, cerr)
}

// RootFromFd is procroot_root_from_fd (the fd is duplicated).
func RootFromFd(fd int) (*Root, error) {
	if err := CheckFd(fd); err != nil {
		return nil, err
	}
	var p *C.procroot_root
	var cerr *C.procroot_error
	return rootResult(C.procroot_root_from_fd(C.int(fd), &p, &cerr), p, cerr)
}

// Free is procroot_root_free.
func (r *Root) Free() { C.procroot_root_free(r.p) }

// Fd is procroot_root_fd (borrowed).
func (r *Root) Fd() int {
	n, _ := result(C.procroot_root_fd(r.p, nil), nil)
	return n
}

// SetPolicy is procroot_root_set_policy.
func (r *Root) SetPolicy(policy int) error {
	cp, err := CInt(policy, "policy")
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_root_set_policy(r.p, cp, &cerr), cerr)
	return err
}

// SetFlags is procroot_root_set_flags.
func (r *Root) SetFlags(flags uint32) error {
	var cerr *C.procroot_error
	_, err := result(C.procroot_root_set_flags(r.p, C.uint32_t(flags), &cerr), cerr)
	return err
}

// SetBackend is procroot_root_set_backend.
func (r *Root) SetBackend(backend int) error {
	cb, err := CInt(backend, "backend")
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_root_set_backend(r.p, cb, &cerr), cerr)
	return err
}

// SetSpecialFiles is procroot_root_set_special_files.
func (r *Root) SetSpecialFiles(allow bool) error {
	a := 0
	if allow {
		a = 1
	}
	var cerr *C.procroot_error
	_, err := result(C.procroot_root_set_special_files(r.p, C.int(a), &cerr), cerr)
	return err
}

// Resolve is procroot_resolve, or procroot_resolve_nofollow.
func (r *Root) Resolve(path string, nofollow bool) (int, error) {
	cp, err := cstr(path)
	if err != nil {
		return -1, err
	}
	var cerr *C.procroot_error
	if nofollow {
		return result(C.procroot_resolve_nofollow(r.p, cp, &cerr), cerr)
	}
	return result(C.procroot_resolve(r.p, cp, &cerr), cerr)
}

// OpenFile is procroot_open_file.
func (r *Root) OpenFile(path string, flags int) (int, error) {
	cp, err := cstr(path)
	if err != nil {
		return -1, err
	}
	cf, err := CInt(flags, "open flags")
	if err != nil {
		return -1, err
	}
	var cerr *C.procroot_error
	return result(C.procroot_open_file(r.p, cp, cf, &cerr), cerr)
}

// CreateFile is procroot_create_file.
func (r *Root) CreateFile(path string, flags int, mode uint32) (int, error) {
	cp, err := cstr(path)
	if err != nil {
		return -1, err
	}
	cf, err := CInt(flags, "open flags")
	if err != nil {
		return -1, err
	}
	var cerr *C.procroot_error
	return result(C.procroot_create_file(r.p, cp, cf, C.uint32_t(mode), &cerr), cerr)
}

// MkdirAll is procroot_mkdir_all.
func (r *Root) MkdirAll(path string, mode uint32) (int, error) {
	cp, err := cstr(path)
	if err != nil {
		return -1, err
	}
	var cerr *C.procroot_error
	return result(C.procroot_mkdir_all(r.p, cp, C.uint32_t(mode), &cerr), cerr)
}

// Readlink is procroot_readlink.
func (r *Root) Readlink(path string) (string, error) {
	cp, err := cstr(path)
	if err != nil {
		return "", err
	}
	return buffer(func(buf *C.char, size C.size_t, cerr **C.procroot_error) C.int {
		return C.procroot_readlink(r.p, cp, buf, size, cerr)
	})
}

// EvalSymlinks is procroot_eval_symlinks.
func (r *Root) EvalSymlinks(path string, mode int) (string, error) {
	cp, err := cstr(path)
	if err != nil {
		return "", err
	}
	cm, err := CInt(mode, "eval mode")
	if err != nil {
		return "", err
	}
	return buffer(func(buf *C.char, size C.size_t, cerr **C.procroot_error) C.int {
		return C.procroot_eval_symlinks(r.p, cp, cm, buf, size, cerr)
	})
}

// EvalSymlinksIn is procroot_eval_symlinks_in: the root directory rootDir opened, path
// evaluated under policy, and the root closed, in one cgo call.
func EvalSymlinksIn(rootDir, path string, policy, mode int) (string, error) {
	cr, cp, err := cstr2(rootDir, path)
	if err != nil {
		return "", err
	}
	cpol, err := CInt(policy, "policy")
	if err != nil {
		return "", err
	}
	cm, err := CInt(mode, "eval mode")
	if err != nil {
		return "", err
	}
	return buffer(func(buf *C.char, size C.size_t, cerr **C.procroot_error) C.int {
		return C.procroot_eval_symlinks_in(cr, cp, cpol, cm, buf, size, cerr)
	})
}

// RemoveFile is procroot_remove_file.
func (r *Root) RemoveFile(path string) error {
	cp, err := cstr(path)
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_remove_file(r.p, cp, &cerr), cerr)
	return err
}

// RemoveDir is procroot_remove_dir.
func (r *Root) RemoveDir(path string) error {
	cp, err := cstr(path)
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_remove_dir(r.p, cp, &cerr), cerr)
	return err
}

// RemoveAll is procroot_remove_all.
func (r *Root) RemoveAll(path string) error {
	cp, err := cstr(path)
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_remove_all(r.p, cp, &cerr), cerr)
	return err
}

// Rename is procroot_rename.
func (r *Root) Rename(from, to string, flags uint32) error {
	a, b, err := cstr2(from, to)
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_rename(r.p, a, b, C.uint32_t(flags), &cerr), cerr)
	return err
}

// Symlink is procroot_symlink.
func (r *Root) Symlink(target, linkpath string) error {
	a, b, err := cstr2(target, linkpath)
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_symlink(r.p, a, b, &cerr), cerr)
	return err
}

// Hardlink is procroot_hardlink.
func (r *Root) Hardlink(existing, newpath string) error {
	a, b, err := cstr2(existing, newpath)
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_hardlink(r.p, a, b, &cerr), cerr)
	return err
}

// Mknod is procroot_mknod.
func (r *Root) Mknod(path string, typ, mode, major, minor uint32) error {
	cp, err := cstr(path)
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_mknod(r.p, cp, C.uint32_t(typ), C.uint32_t(mode),
		C.uint32_t(major), C.uint32_t(minor), &cerr), cerr)
	return err
}

// SetPermissions is procroot_set_permissions.
func (r *Root) SetPermissions(path string, mode uint32) error {
	cp, err := cstr(path)
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_set_permissions(r.p, cp, C.uint32_t(mode), &cerr), cerr)
	return err
}

// Chown is procroot_chown; -1 leaves an id unchanged.
func (r *Root) Chown(path string, uid, gid int) error {
	cp, err := cstr(path)
	if err != nil {
		return err
	}
	// Only -1 means "unchanged"; any other negative id, and any id from 2**32 - 1 (the
	// "unchanged" value itself) up, is EINVAL, never truncated into another id.
	id := func(v int, what string) (C.uint32_t, error) {
		if v == -1 {
			return C.PROCROOT_ID_UNCHANGED, nil
		}
		if v < 0 || int64(v) >= math.MaxUint32 {
			return 0, invalidArg(what, int64(v))
		}
		return C.uint32_t(v), nil
	}
	cu, err := id(uid, "uid")
	if err != nil {
		return err
	}
	cg, err := id(gid, "gid")
	if err != nil {
		return err
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_chown(r.p, cp, cu, cg, &cerr), cerr)
	return err
}

// Reopen is procroot_reopen.
func Reopen(fd int, flags int, allowSpecial bool) (int, error) {
	if err := CheckFd(fd); err != nil {
		return -1, err
	}
	cf, err := CInt(flags, "open flags")
	if err != nil {
		return -1, err
	}
	a := 0
	if allowSpecial {
		a = 1
	}
	var cerr *C.procroot_error
	return result(C.procroot_reopen(C.int(fd), cf, C.int(a), &cerr), cerr)
}

// PidFd is a procroot_pidfd.
type PidFd struct{ p *C.procroot_pidfd }

// OpenPidFd is procroot_pidfd_open.
func OpenPidFd(pid int) (*PidFd, error) {
	if err := CheckPid(pid); err != nil {
		return nil, err
	}
	var p *C.procroot_pidfd
	var cerr *C.procroot_error
	if _, err := result(C.procroot_pidfd_open(C.uint32_t(pid), &p, &cerr), cerr); err != nil {
		return nil, err
	}
	return &PidFd{p}, nil
}

// Free is procroot_pidfd_free.
func (p *PidFd) Free() { C.procroot_pidfd_free(p.p) }

// Procfs is a procroot_procfs; a nil *Procfs is the cached hardened instance.
type Procfs struct{ p *C.procroot_procfs }

// ProcfsForPidns is procroot_procfs_for_pidns.
func ProcfsForPidns(nsfd int) (*Procfs, error) {
	if err := CheckFd(nsfd); err != nil {
		return nil, err
	}
	var p *C.procroot_procfs
	var cerr *C.procroot_error
	if _, err := result(C.procroot_procfs_for_pidns(C.int(nsfd), &p, &cerr), cerr); err != nil {
		return nil, err
	}
	return &Procfs{p}, nil
}

// Free is procroot_procfs_free.
func (p *Procfs) Free() { C.procroot_procfs_free(p.p) }

func (p *Procfs) ptr() *C.procroot_procfs {
	if p == nil {
		return nil
	}
	return p.p
}

// The procfs bases, as PROCROOT_BASE_* in procroot.h.
const (
	BaseRoot       = C.PROCROOT_BASE_ROOT
	BaseSelf       = C.PROCROOT_BASE_SELF
	BaseThreadSelf = C.PROCROOT_BASE_THREAD_SELF
	BasePid        = C.PROCROOT_BASE_PID
	BasePidFd      = C.PROCROOT_BASE_PIDFD
)

// Base is a procfs base: Kind is one of the Base* constants, Pid for BasePid, PidFd for
// BasePidFd.
type Base struct {
	Kind  int
	Pid   uint32
	PidFd *PidFd
}

func (b Base) pidfd() *C.procroot_pidfd {
	if b.PidFd == nil {
		return nil
	}
	return b.PidFd.p
}

// Open is procroot_procfs_open, or procroot_procfs_open_follow.
func (p *Procfs) Open(base Base, subpath string, flags int, follow bool) (int, error) {
	cp, err := cstr(subpath)
	if err != nil {
		return -1, err
	}
	cf, err := CInt(flags, "open flags")
	if err != nil {
		return -1, err
	}
	var cerr *C.procroot_error
	if follow {
		return result(C.procroot_procfs_open_follow(p.ptr(), C.int(base.Kind), C.uint32_t(base.Pid),
			base.pidfd(), cp, cf, &cerr), cerr)
	}
	return result(C.procroot_procfs_open(p.ptr(), C.int(base.Kind), C.uint32_t(base.Pid),
		base.pidfd(), cp, cf, &cerr), cerr)
}

// Readlink is procroot_procfs_readlink.
func (p *Procfs) Readlink(base Base, subpath string) (string, error) {
	cp, err := cstr(subpath)
	if err != nil {
		return "", err
	}
	return buffer(func(buf *C.char, size C.size_t, cerr **C.procroot_error) C.int {
		return C.procroot_procfs_readlink(p.ptr(), C.int(base.Kind), C.uint32_t(base.Pid),
			base.pidfd(), cp, buf, size, cerr)
	})
}

// Write is procroot_procfs_write.
func (p *Procfs) Write(base Base, subpath string, data []byte) error {
	cp, err := cstr(subpath)
	if err != nil {
		return err
	}
	var ptr *C.uint8_t
	if len(data) > 0 {
		ptr = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_procfs_write(p.ptr(), C.int(base.Kind), C.uint32_t(base.Pid),
		base.pidfd(), cp, ptr, C.size_t(len(data)), &cerr), cerr)
	return err
}

// SealedExeEnsure is procroot_sealed_exe_ensure.
func SealedExeEnsure() (int, error) {
	var cerr *C.procroot_error
	return result(C.procroot_sealed_exe_ensure(&cerr), cerr)
}

// cstrs is a C array of C strings in Go memory. The array holds Go pointers, so it is
// allocated with C.malloc (cgo forbids passing Go memory that holds Go pointers); the strings
// are C.CString copies, freed by the returned function.
func cstrs(paths []string) (**C.char, func(), error) {
	if len(paths) == 0 {
		return nil, func() {}, nil
	}
	for _, p := range paths {
		if _, err := cstr(p); err != nil {
			return nil, nil, err
		}
	}
	arr := (*[1 << 28]*C.char)(C.malloc(C.size_t(len(paths)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	for i, p := range paths {
		arr[i] = C.CString(p)
	}
	free := func() {
		for i := range paths {
			C.free(unsafe.Pointer(arr[i]))
		}
		C.free(unsafe.Pointer(&arr[0]))
	}
	return &arr[0], free, nil
}

// PathDone and PathSkipped are the per-path results of MaskPaths and MakeReadonly
// (PROCROOT_PATH_*); a negative value is -errno.
const (
	PathDone    = C.PROCROOT_PATH_DONE
	PathSkipped = C.PROCROOT_PATH_SKIPPED
)

func (r *Root) pathsCall(paths []string, readonly bool) ([]int32, int, error) {
	arr, free, err := cstrs(paths)
	if err != nil {
		return nil, 0, err
	}
	defer free()
	results := make([]int32, len(paths)+1) // +1: never a zero-length slice to index
	res := (*C.int32_t)(unsafe.Pointer(&results[0]))
	var cerr *C.procroot_error
	var n int
	if readonly {
		n, err = result(C.procroot_make_readonly(r.p, arr, C.size_t(len(paths)), res, &cerr), cerr)
	} else {
		n, err = result(C.procroot_mask_paths(r.p, arr, C.size_t(len(paths)), res, &cerr), cerr)
	}
	return results[:len(paths)], n, err
}

// MaskPaths is procroot_mask_paths.
func (r *Root) MaskPaths(paths []string) ([]int32, int, error) { return r.pathsCall(paths, false) }

// MakeReadonly is procroot_make_readonly.
func (r *Root) MakeReadonly(paths []string) ([]int32, int, error) {
	return r.pathsCall(paths, true)
}

// MountProcfs is procroot_mount_procfs.
func (r *Root) MountProcfs(dest string, pidnsFd int, subsetPid bool, hidepid int) error {
	cp, err := cstr(dest)
	if err != nil {
		return err
	}
	if err := CheckFd(pidnsFd); err != nil {
		return err
	}
	ch, err := CInt(hidepid, "hidepid")
	if err != nil {
		return err
	}
	s := 0
	if subsetPid {
		s = 1
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_mount_procfs(r.p, cp, C.int(pidnsFd), C.int(s), ch, &cerr), cerr)
	return err
}

// WriteSysctl is procroot_write_sysctl.
func WriteSysctl(pid int, name, value string) error {
	cn, cv, err := cstr2(name, value)
	if err != nil {
		return err
	}
	if pid != 0 {
		if err := CheckPid(pid); err != nil {
			return err
		}
	}
	var cerr *C.procroot_error
	_, err = result(C.procroot_write_sysctl(C.uint32_t(pid), cn, cv, &cerr), cerr)
	return err
}

// LayerReport is procroot_layer_report.
type LayerReport struct {
	Files, Dirs, Symlinks, Hardlinks, FIFOs, CharDevices, BlockDevices uint64
	BytesWritten, Whiteouts, OpaqueDirs, Skipped                       uint64
	Compression                                                        int
}

// Layer flags and compressions (procroot_apply_layer).
const (
	LayerNoSameOwner   = uint32(C.PROCROOT_LAYER_NO_SAME_OWNER)
	LayerSpecialFiles  = uint32(C.PROCROOT_LAYER_SPECIAL_FILES)
	LayerNoDirlinks    = uint32(C.PROCROOT_LAYER_NO_DIRLINKS)
	LayerOverwriteDirs = uint32(C.PROCROOT_LAYER_OVERWRITE_DIRS)
	CompressionNone    = int(C.PROCROOT_COMPRESSION_NONE)
	CompressionGzip    = int(C.PROCROOT_COMPRESSION_GZIP)
	CompressionZstd    = int(C.PROCROOT_COMPRESSION_ZSTD)
)

// ApplyLayer is procroot_apply_layer: the layer is read from fd.
func (r *Root) ApplyLayer(fd int, flags uint32) (LayerReport, error) {
	if err := CheckFd(fd); err != nil {
		return LayerReport{}, err
	}
	var c C.procroot_layer_report
	var cerr *C.procroot_error
	if _, err := result(C.procroot_apply_layer(r.p, C.int(fd), C.uint32_t(flags), &c, &cerr), cerr); err != nil {
		return LayerReport{}, err
	}
	return LayerReport{
		Files: uint64(c.files), Dirs: uint64(c.dirs), Symlinks: uint64(c.symlinks),
		Hardlinks: uint64(c.hardlinks), FIFOs: uint64(c.fifos),
		CharDevices: uint64(c.char_devices), BlockDevices: uint64(c.block_devices),
		BytesWritten: uint64(c.bytes_written), Whiteouts: uint64(c.whiteouts),
		OpaqueDirs: uint64(c.opaque_dirs), Skipped: uint64(c.skipped),
		Compression: int(c.compression),
	}, nil
}

// Walk is a procroot_walk handle: one goroutine at a time.
type Walk struct{ p *C.procroot_walk }

// The procroot_walk_open flags and entry types.
const (
	WalkFollowLinks   = uint32(C.PROCROOT_WALK_FOLLOW_LINKS)
	WalkCrossMounts   = uint32(C.PROCROOT_WALK_CROSS_MOUNTS)
	WalkSort          = uint32(C.PROCROOT_WALK_SORT)
	WalkContentsFirst = uint32(C.PROCROOT_WALK_CONTENTS_FIRST)

	TypeUnknown     = int(C.PROCROOT_TYPE_UNKNOWN)
	TypeFile        = int(C.PROCROOT_TYPE_FILE)
	TypeDir         = int(C.PROCROOT_TYPE_DIR)
	TypeSymlink     = int(C.PROCROOT_TYPE_SYMLINK)
	TypeFifo        = int(C.PROCROOT_TYPE_FIFO)
	TypeSocket      = int(C.PROCROOT_TYPE_SOCKET)
	TypeCharDevice  = int(C.PROCROOT_TYPE_CHAR_DEVICE)
	TypeBlockDevice = int(C.PROCROOT_TYPE_BLOCK_DEVICE)
)

// WalkEntry is what procroot_walk_next fills in, copied into Go memory.
type WalkEntry struct {
	Path           string
	Depth          int
	Type           int
	IsMountPoint   bool
	IsFollowedLink bool
}

// WalkOpen is procroot_walk_open; maxDepth < 0 is no limit.
func (r *Root) WalkOpen(path string, flags uint32, minDepth int, maxDepth int64) (*Walk, error) {
	cp, err := cstr(path)
	if err != nil {
		return nil, err
	}
	if minDepth < 0 {
		return nil, invalidArg("min depth", int64(minDepth))
	}
	var w *C.procroot_walk
	var cerr *C.procroot_error
	if _, err := result(C.procroot_walk_open(r.p, cp, C.uint32_t(flags), C.size_t(minDepth),
		C.int64_t(maxDepth), &w, &cerr), cerr); err != nil {
		return nil, err
	}
	return &Walk{p: w}, nil
}

// Next is procroot_walk_next: (entry, true, nil) for an entry, (_, false, nil) at the end,
// (entry with only Path, true, err) for one entry's error (the walk goes on).
func (w *Walk) Next() (WalkEntry, bool, error) {
	var e C.procroot_walk_entry
	var cerr *C.procroot_error
	ret := C.procroot_walk_next(w.p, &e, &cerr)
	if ret == 0 {
		return WalkEntry{}, false, nil
	}
	entry := WalkEntry{Path: C.GoStringN(e.path, C.int(e.path_len))}
	if ret < 0 {
		_, err := result(ret, cerr)
		return entry, true, err
	}
	entry.Depth = int(e.depth)
	entry.Type = int(e.file_type)
	entry.IsMountPoint = e.is_mount_point != 0
	entry.IsFollowedLink = e.is_followed_link != 0
	return entry, true, nil
}

// SkipCurrentDir is procroot_walk_skip_current_dir.
func (w *Walk) SkipCurrentDir() { C.procroot_walk_skip_current_dir(w.p, nil) }

// OpenEntry is procroot_walk_open_entry: the entry Next last returned, opened with flags.
func (w *Walk) OpenEntry(flags int) (int, error) {
	cf, err := CInt(flags, "open flags")
	if err != nil {
		return -1, err
	}
	var cerr *C.procroot_error
	return result(C.procroot_walk_open_entry(w.p, cf, &cerr), cerr)
}

// Free is procroot_walk_free.
func (w *Walk) Free() { C.procroot_walk_free(w.p) }
