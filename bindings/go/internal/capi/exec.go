package capi

/*
#include <stdlib.h>
#include <procroot.h>
*/
import "C"

import (
	"strconv"
	"syscall"
	"unsafe"
)

// Exec flags, as PROCROOT_EXEC_* in procroot.h.
const (
	ExecPrivileged = C.PROCROOT_EXEC_PRIVILEGED
	ExecNoSeccomp  = C.PROCROOT_EXEC_NO_SECCOMP
	ExecJoinCgroup = C.PROCROOT_EXEC_JOIN_CGROUP
)

// Credentials is procroot_credentials.
type Credentials struct {
	UID, GID                                             int64
	Bounding, Permitted, Effective, Inheritable, Ambient uint64
	NoNewPrivs                                           bool
	SeccompFilters                                       uint32
}

// CredentialsOf is procroot_credentials_of.
func (p *PidFd) CredentialsOf() (Credentials, error) {
	var c C.procroot_credentials
	var cerr *C.procroot_error
	if _, err := result(C.procroot_credentials_of(p.p, &c, &cerr), cerr); err != nil {
		return Credentials{}, err
	}
	return Credentials{
		UID: int64(c.uid), GID: int64(c.gid),
		Bounding: uint64(c.cap_bounding), Permitted: uint64(c.cap_permitted),
		Effective: uint64(c.cap_effective), Inheritable: uint64(c.cap_inheritable),
		Ambient: uint64(c.cap_ambient), NoNewPrivs: c.no_new_privs != 0,
		SeccompFilters: uint32(c.seccomp_filters),
	}, nil
}

// Exec is procroot_exec; it returns the command's wait status. argv and its strings live in
// C memory for the call (cgo forbids passing Go memory that holds Go pointers).
func (p *PidFd) Exec(argv []string, dir string, flags uint32, uid, gid int64) (syscall.WaitStatus, error) {
	if len(argv) == 0 {
		return 0, &Error{Errno: syscall.EINVAL, Kind: KindInvalidInput, Message: "argv is empty"}
	}
	ptrSize := unsafe.Sizeof(uintptr(0))
	arr := (*[1 << 20]*C.char)(C.malloc(C.size_t(uintptr(len(argv)+1) * ptrSize)))
	defer C.free(unsafe.Pointer(arr))
	n := 0
	defer func() {
		for i := 0; i < n; i++ {
			C.free(unsafe.Pointer(arr[i]))
		}
	}()
	for _, a := range argv {
		for i := 0; i < len(a); i++ {
			if a[i] == 0 {
				return 0, &Error{Errno: syscall.EINVAL, Kind: KindInvalidInput,
					Message: "argument contains a NUL byte: " + strconv.Quote(a)}
			}
		}
		arr[n] = C.CString(a)
		n++
	}
	arr[n] = nil
	var cdir *C.char
	if dir != "" {
		d, err := cstr(dir)
		if err != nil {
			return 0, err
		}
		cdir = d
	}
	var status C.int
	var cerr *C.procroot_error
	_, err := result(C.procroot_exec(p.p, &arr[0], cdir, C.uint32_t(flags), C.int64_t(uid),
		C.int64_t(gid), &status, &cerr), cerr)
	if err != nil {
		return 0, err
	}
	return syscall.WaitStatus(status), nil
}
