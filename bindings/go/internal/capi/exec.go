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
	ExecPrivileged  = C.PROCROOT_EXEC_PRIVILEGED
	ExecNoSeccomp   = C.PROCROOT_EXEC_NO_SECCOMP
	ExecJoinCgroup  = C.PROCROOT_EXEC_JOIN_CGROUP
	ExecEnvClear    = C.PROCROOT_EXEC_ENV_CLEAR
	ExecPreserveEnv = C.PROCROOT_EXEC_PRESERVE_ENV
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

// cArray copies strs into a NULL-terminated array of C strings in C memory (cgo forbids
// passing Go memory that holds Go pointers); free releases it.
func cArray(strs []string) (arr **C.char, free func(), err error) {
	ptrSize := unsafe.Sizeof(uintptr(0))
	a := (*[1 << 20]*C.char)(C.malloc(C.size_t(uintptr(len(strs)+1) * ptrSize)))
	n := 0
	free = func() {
		for i := 0; i < n; i++ {
			C.free(unsafe.Pointer(a[i]))
		}
		C.free(unsafe.Pointer(a))
	}
	for _, s := range strs {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				free()
				return nil, nil, &Error{Errno: syscall.EINVAL, Kind: KindInvalidInput,
					Message: "argument contains a NUL byte: " + strconv.Quote(s)}
			}
		}
		a[n] = C.CString(s)
		n++
	}
	a[n] = nil
	return &a[0], free, nil
}

// Exec is procroot_exec; it returns the command's wait status. env (nil for none) holds
// "KEY=VALUE" strings set over the base environment; config ("" for none) is an OCI config.json.
func (p *PidFd) Exec(argv, env []string, dir string, flags uint32, uid, gid int64, config string) (syscall.WaitStatus, error) {
	if len(argv) == 0 {
		return 0, &Error{Errno: syscall.EINVAL, Kind: KindInvalidInput, Message: "argv is empty"}
	}
	arr, freeArgv, err := cArray(argv)
	if err != nil {
		return 0, err
	}
	defer freeArgv()
	var envp **C.char
	if env != nil {
		e, freeEnv, err := cArray(env)
		if err != nil {
			return 0, err
		}
		defer freeEnv()
		envp = e
	}
	var cdir *C.char
	if dir != "" {
		d, err := cstr(dir)
		if err != nil {
			return 0, err
		}
		cdir = d
	}
	var cconfig *C.char
	if config != "" {
		c, err := cstr(config)
		if err != nil {
			return 0, err
		}
		cconfig = c
	}
	var status C.int
	var cerr *C.procroot_error
	_, err = result(C.procroot_exec(p.p, arr, envp, cdir, C.uint32_t(flags), C.int64_t(uid),
		C.int64_t(gid), cconfig, &status, &cerr), cerr)
	if err != nil {
		return 0, err
	}
	return syscall.WaitStatus(status), nil
}
