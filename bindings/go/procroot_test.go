package procroot_test

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"example.invalid/procroot"
)

func casesFile() string {
	if p := os.Getenv("PROCROOT_RESOLVE_CASES"); p != "" {
		return p
	}
	return "../testdata/resolve_cases.txt"
}

// TestSharedResolveTable runs bindings/testdata/resolve_cases.txt, the table the Rust, C and
// Python tests run too.
func TestSharedResolveTable(t *testing.T) {
	f, err := os.Open(casesFile())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	root, err := procroot.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	cases := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.SplitN(sc.Text(), "#", 2)[0]
		fld := strings.Fields(line)
		if len(fld) == 0 {
			continue
		}
		switch {
		case fld[0] == "D":
			must(t, os.MkdirAll(filepath.Join(dir, fld[1]), 0o755))
		case fld[0] == "F":
			must(t, os.WriteFile(filepath.Join(dir, fld[1]), nil, 0o644))
		case fld[0] == "L":
			at := filepath.Join(dir, fld[1])
			must(t, os.MkdirAll(filepath.Dir(at), 0o755))
			must(t, os.Symlink(fld[2], at))
		case fld[0] == "C" && len(fld) == 5:
			cases++
			policy := map[string]procroot.Policy{"in_root": procroot.InRoot,
				"in_root_strict": procroot.InRootStrict, "beneath": procroot.Beneath}[fld[1]]
			mode := procroot.EvalFull
			if fld[2] == "except_last" {
				mode = procroot.EvalExceptLast
			}
			must(t, root.SetPolicy(policy))
			got, err := root.EvalSymlinks(fld[3], mode)
			if err != nil {
				var perr *procroot.Error
				if !errors.As(err, &perr) {
					t.Fatalf("%s: not a *procroot.Error: %v", line, err)
				}
				got = errnoName(perr.Errno)
			}
			if got != fld[4] {
				t.Errorf("%s: got %s", line, got)
			}
		default:
			t.Fatalf("bad line %q", line)
		}
	}
	if cases < 20 {
		t.Fatalf("only %d cases", cases)
	}
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EXDEV:
		return "EXDEV"
	case syscall.ELOOP:
		return "ELOOP"
	case syscall.ENOTDIR:
		return "ENOTDIR"
	}
	return e.Error()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestErrorsIs(t *testing.T) {
	root, err := procroot.OpenRoot(t.TempDir())
	must(t, err)
	defer root.Close()
	_, err = root.Open("missing/file")
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("want ENOENT, got %v", err)
	}
	var perr *procroot.Error
	if !errors.As(err, &perr) || perr.Kind != procroot.KindNotFound || perr.Syscall == "" ||
		!strings.Contains(perr.Message, "missing") {
		t.Fatalf("bad error %#v", perr)
	}
	f, err := root.OpenFile("x", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	must(t, err)
	f.Close()
	_, err = root.OpenFile("x", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("want EEXIST, got %v", err)
	}
	must(t, root.SetPolicy(procroot.Beneath))
	_, err = root.Resolve("/x")
	if !errors.Is(err, syscall.EXDEV) || !errors.As(err, &perr) || perr.Kind != procroot.KindSafetyViolation {
		t.Fatalf("want EXDEV, got %v", err)
	}
	// EACCES/EPERM from procroot are fs.ErrPermission (we run as root, so make one by hand).
	if !errors.Is(error(&procroot.Error{Errno: syscall.EACCES}), fs.ErrPermission) {
		t.Fatal("EACCES is not fs.ErrPermission")
	}
	_, err = root.Open("a\x00b")
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("NUL in path: %v", err)
	}
	if err := root.SetPolicy(procroot.Policy(9)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("bad policy: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	root, err := procroot.OpenRoot(t.TempDir())
	must(t, err)
	must(t, root.Close())
	must(t, root.Close())
	if _, err := root.Resolve("."); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestOperations(t *testing.T) {
	dir := t.TempDir()
	root, err := procroot.OpenRoot(dir)
	must(t, err)
	defer root.Close()
	d, err := root.MkdirAll("a/b/c", 0o755)
	must(t, err)
	d.Close()
	f, err := root.Create("a/b/file")
	must(t, err)
	_, err = f.WriteString("hello")
	must(t, err)
	f.Close()
	must(t, root.Symlink("/a/b/file", "a/link"))
	s, err := root.Readlink("a/link")
	must(t, err)
	if s != "/a/b/file" {
		t.Fatal(s)
	}
	f, err = root.Open("a/link")
	must(t, err)
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "hello" {
		t.Fatal(string(b))
	}
	h, err := root.Resolve("a/link")
	must(t, err)
	rf, err := procroot.Reopen(h, os.O_RDONLY, false)
	must(t, err)
	b, _ = io.ReadAll(rf)
	rf.Close()
	h.Close()
	if string(b) != "hello" {
		t.Fatal(string(b))
	}
	h, err = root.ResolveNoFollow("a/link")
	must(t, err)
	if _, err := procroot.Reopen(h, os.O_RDONLY, false); !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("reopen symlink: %v", err)
	}
	h.Close()
	must(t, root.Link("a/b/file", "a/hard"))
	must(t, root.Rename("a/hard", "a/hard2", 0))
	if err := root.Rename("a/hard2", "a/link", procroot.RenameNoReplace); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("noreplace: %v", err)
	}
	must(t, root.Chmod("a/b/file", 0o600|fs.ModeSetgid))
	st, err := os.Stat(filepath.Join(dir, "a/b/file"))
	must(t, err)
	if st.Mode()&0o7777 != 0o600 || st.Mode()&fs.ModeSetgid == 0 {
		t.Fatal(st.Mode())
	}
	must(t, root.Chown("a/b/file", 1000, -1))
	must(t, root.Mknod("a/fifo", syscall.S_IFIFO, 0o600, 0, 0))
	if _, err := root.Open("a/fifo"); !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("fifo: %v", err)
	}
	must(t, root.SetAllowSpecialFiles(true))
	f, err = root.Open("a/fifo")
	must(t, err)
	f.Close()
	must(t, root.Remove("a/hard2"))
	// A trailing slash: a directory is removed, as by os.Remove (RemoveFile refuses the slash
	// with ENOTDIR, libpathrs's errno); a file is ENOTDIR and stays.
	d, err = root.MkdirAll("a/emptydir/", 0o755)
	must(t, err)
	d.Close()
	must(t, root.Remove("a/emptydir/"))
	if err := root.Remove("a/b/file/"); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("remove file/: %v", err)
	}
	must(t, root.Remove("a/b/c"))
	must(t, root.RemoveFile("a/fifo"))
	if err := root.RemoveDir("a"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir: %v", err)
	}
	must(t, root.RemoveAll("a"))
	if _, err := os.Lstat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a still there")
	}
	must(t, root.RemoveAll("a"))
	if procroot.Version() == "" {
		t.Fatal("no version")
	}
}

func TestRootForPidAndFromFile(t *testing.T) {
	r, err := procroot.RootForPid(os.Getpid())
	must(t, err)
	defer r.Close()
	p, err := r.EvalSymlinks("/proc/self/..", procroot.EvalFull)
	must(t, err)
	if p != "/proc" {
		t.Fatal(p)
	}
	if _, err := procroot.RootForPid(0x3fffffff); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dead pid: %v", err)
	}
	dir := t.TempDir()
	d, err := os.Open(dir)
	must(t, err)
	r2, err := procroot.RootFromFile(d)
	d.Close()
	must(t, err)
	defer r2.Close()
	f, err := r2.Create("made")
	must(t, err)
	f.Close()
	if _, err := os.Stat(filepath.Join(dir, "made")); err != nil {
		t.Fatal(err)
	}
}

// TestRaceRenames resolves from several goroutines, on one shared Root, while another goroutine
// swaps a directory with a symlink that tries to leave the root: every answer is inside the
// root, and the bindings share no mutable state (run under -race).
func TestRaceRenames(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "d/file"), []byte("in"), 0o644))
	must(t, os.Symlink("../../../../../../etc", filepath.Join(dir, "x")))
	root, err := procroot.OpenRoot(dir)
	must(t, err)
	defer root.Close()
	var stop atomic.Bool
	var swaps atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			if err := root.Rename("d", "x", procroot.RenameExchange); err != nil {
				t.Errorf("exchange: %v", err)
				return
			}
			swaps.Add(1)
		}
	}()
	var wg sync.WaitGroup
	var resolved atomic.Int64
	deadline := time.Now().Add(2 * time.Second)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
				p, err := root.EvalSymlinks("d/file", procroot.EvalFull)
				if err == nil {
					resolved.Add(1)
					if p != "/d/file" && p != "/x/file" {
						t.Errorf("escaped or wrong: %s", p)
						return
					}
				} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.EAGAIN) &&
					// The walker saw a directory that was a symlink by the time it opened
					// it with O_NOFOLLOW: refused, safely.
					!errors.Is(err, syscall.ENOTDIR) {
					t.Errorf("unexpected: %v", err)
					return
				}
				f, err := root.Open("d/file")
				if err == nil {
					b, _ := io.ReadAll(f)
					f.Close()
					if string(b) != "in" {
						t.Errorf("read %q", b)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-done
	if swaps.Load() == 0 || resolved.Load() == 0 {
		t.Fatalf("no race happened: %d swaps, %d resolved", swaps.Load(), resolved.Load())
	}
}
