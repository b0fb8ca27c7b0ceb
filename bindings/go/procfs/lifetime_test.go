package procfs_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"example.invalid/procroot/procfs"
)

// child starts a long-lived program (killed and reaped at the end of the test) and returns
// its pid and the path of its executable.
func child(t *testing.T, name string, args ...string) (int, string) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test (coreutils): %v", name, err)
	}
	cmd := exec.Command(path, args...)
	stdin, err := cmd.StdinPipe() // keeps cat reading
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	exe, err := os.Readlink("/proc/" + itoa(cmd.Process.Pid) + "/exe")
	must(t, err)
	return cmd.Process.Pid, exe
}

func itoa(n int) string { return strconv.Itoa(n) }

// A Base taken from a PidFd before Close is EBADF after it, never a lookup through freed
// memory (which a new PidFd may reuse: the old code read the new process's files).
func TestStaleBaseIsEBADF(t *testing.T) {
	sleepPid, _ := child(t, "sleep", "100")
	catPid, _ := child(t, "cat")
	pa, err := procfs.OpenPidFd(sleepPid)
	must(t, err)
	base := pa.Base()
	must(t, pa.Close())
	var others []*procfs.PidFd
	for i := 0; i < 8; i++ { // reuse the freed block, if anything does
		pb, err := procfs.OpenPidFd(catPid)
		must(t, err)
		others = append(others, pb)
	}
	defer func() {
		for _, p := range others {
			p.Close()
		}
	}()
	f, err := procfs.Open(base, "comm", os.O_RDONLY)
	if err == nil {
		b := make([]byte, 64)
		n, _ := f.Read(b)
		f.Close()
		t.Fatalf("stale base read %q", b[:n])
	}
	if !errors.Is(err, syscall.EBADF) || !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("stale base: %v", err)
	}
	if _, err := procfs.Readlink(base, "exe"); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("stale base readlink: %v", err)
	}
}

// Close races 16 goroutines that use one PidFd: each call answers for the right process or
// is EBADF; after Close, every call is EBADF. Run under -race (the old Close took no lock).
func TestPidFdCloseRacesCalls(t *testing.T) {
	sleepPid, sleepExe := child(t, "sleep", "100")
	catPid, _ := child(t, "cat")
	deadline := time.Now().Add(2 * time.Second)
	var calls, closedSeen atomic.Int64
	for round := 0; time.Now().Before(deadline) && round < 200; round++ {
		p, err := procfs.OpenPidFd(sleepPid)
		must(t, err)
		var wg sync.WaitGroup
		var stop atomic.Bool
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					exe, err := procfs.Readlink(p.Base(), "exe")
					calls.Add(1)
					switch {
					case err == nil && exe != sleepExe:
						t.Errorf("readlink through a closed pidfd gave %q", exe)
						stop.Store(true)
						return
					case errors.Is(err, syscall.EBADF):
						closedSeen.Add(1)
						return
					case err != nil:
						t.Errorf("readlink: %v", err)
						stop.Store(true)
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		must(t, p.Close())
		// Reuse the freed memory while the goroutines still run.
		if q, err := procfs.OpenPidFd(catPid); err == nil {
			q.Close()
		}
		wg.Wait()
		if _, err := procfs.Readlink(p.Base(), "exe"); !errors.Is(err, syscall.EBADF) {
			t.Fatalf("after Close: %v", err)
		}
		if t.Failed() {
			return
		}
	}
	if calls.Load() == 0 || closedSeen.Load() == 0 {
		t.Fatalf("no race happened: %d calls, %d EBADF", calls.Load(), closedSeen.Load())
	}
}

// The same race on a Procfs instance from ForPidns.
func TestProcfsCloseRacesCalls(t *testing.T) {
	ns, err := os.Open("/proc/self/ns/pid")
	must(t, err)
	defer ns.Close()
	var closedSeen atomic.Int64
	for round := 0; round < 20; round++ {
		p, err := procfs.ForPidns(ns)
		must(t, err)
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10000; i++ {
					f, err := p.Open(procfs.Self, "stat", os.O_RDONLY)
					if err == nil {
						f.Close()
						continue
					}
					if errors.Is(err, syscall.EBADF) {
						closedSeen.Add(1)
						return
					}
					t.Errorf("open: %v", err)
					return
				}
			}()
		}
		time.Sleep(time.Millisecond)
		must(t, p.Close())
		wg.Wait()
		if _, err := p.Open(procfs.Self, "stat", os.O_RDONLY); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
	if closedSeen.Load() == 0 {
		t.Fatal("no call saw the Close")
	}
}

// Integers that do not fit are EINVAL, never truncated into another pid.
func TestPidRange(t *testing.T) {
	pid := os.Getpid()
	for _, bad := range []int{1<<32 + pid, -pid, 0, 1 << 31} {
		if _, err := procfs.OpenPidFd(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("OpenPidFd(%d): %v", bad, err)
		}
		if _, err := procfs.Open(procfs.Pid(bad), "stat", os.O_RDONLY); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Pid(%d): %v", bad, err)
		}
	}
	if _, err := procfs.Open(procfs.Self, "stat", 1<<32|os.O_RDONLY); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("flags 1<<32: %v", err)
	}
}
