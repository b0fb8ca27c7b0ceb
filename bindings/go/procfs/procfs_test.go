package procfs_test

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"example.invalid/procroot/procfs"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, f *os.File, err error) string {
	t.Helper()
	must(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	must(t, err)
	return string(b)
}

func TestEveryBase(t *testing.T) {
	pid := os.Getpid()
	f, err := procfs.Open(procfs.Self, "status", os.O_RDONLY)
	if s := read(t, f, err); !strings.Contains(s, "Pid:\t"+strconv.Itoa(pid)) {
		t.Fatal(s)
	}
	f, err = procfs.Open(procfs.Root, strconv.Itoa(pid)+"/stat", os.O_RDONLY)
	read(t, f, err)
	f, err = procfs.Open(procfs.Pid(pid), "stat", os.O_RDONLY)
	read(t, f, err)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err = procfs.Open(procfs.ThreadSelf, "stat", os.O_RDONLY)
	read(t, f, err)
	cwd, _ := os.Getwd()
	if l, err := procfs.Readlink(procfs.ThreadSelf, "cwd"); err != nil || l != cwd {
		t.Fatalf("cwd %q %v", l, err)
	}
	p, err := procfs.OpenPidFd(pid)
	must(t, err)
	defer p.Close()
	f, err = procfs.Open(p.Base(), "status", os.O_RDONLY)
	if s := read(t, f, err); !strings.Contains(s, "Pid:\t"+strconv.Itoa(pid)) {
		t.Fatal(s)
	}
	exe, err := procfs.OpenFollow(p.Base(), "exe", os.O_RDONLY)
	must(t, err)
	exe.Close()
	if _, err := procfs.Open(procfs.Self, "exe", os.O_RDONLY); !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("magic link without follow: %v", err)
	}
	if _, err := procfs.Open(procfs.Self, "../1/stat", os.O_RDONLY); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("..: %v", err)
	}
	must(t, procfs.Write(procfs.Self, "comm", []byte("gotest")))
	must(t, procfs.Write(p.Base(), "comm", []byte("gotest2")))
	if _, err := procfs.OpenPidFd(0x3fffffff); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dead pid: %v", err)
	}
	must(t, p.Close())
	must(t, p.Close())
}

func TestForPidns(t *testing.T) {
	ns, err := os.Open("/proc/self/ns/pid")
	must(t, err)
	defer ns.Close()
	p, err := procfs.ForPidns(ns)
	must(t, err)
	defer p.Close()
	f, err := p.Open(procfs.Pid(os.Getpid()), "stat", os.O_RDONLY)
	read(t, f, err)
	must(t, p.Close())
	must(t, p.Close())
	d, _ := os.Open("/")
	defer d.Close()
	if _, err := procfs.ForPidns(d); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("not a namespace: %v", err)
	}
}
