package procroot_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"example.invalid/procroot"
)

// Integers that do not fit their C parameter are EINVAL and change nothing: 2**32 as a uid
// would have been uid 0 (root), 2**32 + pid another process's root.
func TestRangeCheckedConversions(t *testing.T) {
	procrootNeedsRoot(t)
	dir := t.TempDir()
	root, err := procroot.OpenRoot(dir)
	must(t, err)
	defer root.Close()
	f, err := root.Create("f")
	must(t, err)
	f.Close()
	must(t, os.Chown(filepath.Join(dir, "f"), 1000, 1000))
	for _, ids := range [][2]int{{1 << 32, -1}, {-1, 1 << 32}, {-2, -1}, {-1, -2}, {1<<32 - 1, -1}} {
		if err := root.Chown("f", ids[0], ids[1]); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Chown(%d, %d): %v", ids[0], ids[1], err)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "f"))
	must(t, err)
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 1000 || s.Gid != 1000 {
		t.Fatalf("owner changed to %d:%d", s.Uid, s.Gid)
	}
	must(t, root.Chown("f", -1, 1001)) // -1 still means "unchanged"
	st, _ = os.Stat(filepath.Join(dir, "f"))
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 1000 || s.Gid != 1001 {
		t.Fatalf("owner %d:%d", s.Uid, s.Gid)
	}
	if _, err := procroot.RootForPid(1<<32 + os.Getpid()); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("RootForPid(2**32 + pid): %v", err)
	}
	if _, err := root.OpenFile("f", 1<<32|os.O_RDONLY); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("OpenFile flags 1<<32: %v", err)
	}
	if err := root.SetPolicy(procroot.Policy(1 << 32)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetPolicy(1<<32): %v", err)
	}
	// Still the default policy: an absolute symlink stays inside the root.
	if _, err := root.EvalSymlinks("/f", procroot.EvalMode(1<<32)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("EvalMode(1<<32): %v", err)
	}
}

// OpenFile and MkdirAll keep setuid, setgid and sticky, as os.OpenFile and os.MkdirAll do.
func TestModeBitsTranslated(t *testing.T) {
	dir := t.TempDir()
	root, err := procroot.OpenRoot(dir)
	must(t, err)
	defer root.Close()
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	f, err := root.OpenFile("suid", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755|fs.ModeSetuid)
	must(t, err)
	f.Close()
	st, err := os.Stat(filepath.Join(dir, "suid"))
	must(t, err)
	if st.Mode() != 0o755|fs.ModeSetuid {
		t.Errorf("OpenFile(0o755|ModeSetuid) made %v", st.Mode())
	}
	d, err := root.MkdirAll("sticky/dir", 0o777|fs.ModeSticky)
	must(t, err)
	d.Close()
	st, err = os.Stat(filepath.Join(dir, "sticky/dir"))
	must(t, err)
	if st.Mode() != fs.ModeDir|0o777|fs.ModeSticky {
		t.Errorf("MkdirAll(0o777|ModeSticky) made %v", st.Mode())
	}
}

// Reopen(nil) is EBADF, not a panic; a closed Root is fs.ErrClosed (and EBADF); a nil file's
// fd (-1) is the C library's EBADF.
func TestNilAndClosed(t *testing.T) {
	if _, err := procroot.Reopen(nil, os.O_RDONLY, false); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Reopen(nil): %v", err)
	}
	if _, err := procroot.RootFromFile(nil); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("RootFromFile(nil): %v", err)
	}
	root, err := procroot.OpenRoot(t.TempDir())
	must(t, err)
	must(t, root.Close())
	_, err = root.Open("x")
	if !errors.Is(err, fs.ErrClosed) || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("closed root: %v", err)
	}
	if err := root.SetPolicy(procroot.Beneath); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("closed root setter: %v", err)
	}
}

func procrootNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test chowns: run it as root (the Rust test go_binding requires that)")
	}
}

// Reopen holds the file's fd lock: a Close racing it waits, so the reopen never opens another
// file that took the closed fd number (f.Fd() gave a bare number).
func TestReopenRacingClose(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a"), []byte("A"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "b"), []byte("B"), 0o644))
	root, err := procroot.OpenRoot(dir)
	must(t, err)
	defer root.Close()
	deadline := time.Now().Add(2 * time.Second)
	var opened int
	for time.Now().Before(deadline) && !t.Failed() {
		h, err := root.Resolve("a")
		must(t, err)
		var wg sync.WaitGroup
		var others []*os.File
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.Close()
			for i := 0; i < 4; i++ { // take the freed number, if it is free
				if f, err := os.Open(filepath.Join(dir, "b")); err == nil {
					others = append(others, f)
				}
			}
		}()
		for i := 0; i < 4; i++ {
			f, err := procroot.Reopen(h, os.O_RDONLY, false)
			if err != nil {
				if !errors.Is(err, syscall.EBADF) {
					t.Errorf("reopen: %v", err)
				}
				break
			}
			b, _ := io.ReadAll(f)
			f.Close()
			opened++
			if string(b) != "A" {
				t.Errorf("reopened another file: %q", b)
			}
		}
		wg.Wait()
		for _, f := range others {
			f.Close()
		}
	}
	if opened == 0 {
		t.Fatal("no reopen succeeded")
	}
}
