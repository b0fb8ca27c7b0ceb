package procroot_test

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"example.invalid/procroot"
)

func casesFile() string {
	if p := os.Getenv("PROCROOT_RESOLVE_CASES"); p != "" {
		return p
	}
	return "../testdata/resolve_cases.txt"
}

// TestSharedResolveTable runs bindings/testdata/resolve_cases.txt, the table the Rust, C and
// Python tests run too. Its M lines mount: it runs on a goroutine locked to a thread that has
// its own private mount namespace (unshare(CLONE_NEWNS) on that thread only; the thread is
// never unlocked, so Go ends it, and the namespace with it, when the goroutine returns).
func TestSharedResolveTable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the shared table mounts: run it as root (the Rust test go_binding requires that)")
	}
	dir := t.TempDir()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
			t.Errorf("unshare(CLONE_NEWNS): %v", err)
			return
		}
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		runTable(t, dir)
	}()
	<-done
}

// rebindSymfollow binds path onto itself, a final symlink not followed, with
// MOUNT_ATTR_NOSYMFOLLOW set or cleared: open_tree, mount_setattr, move_mount (the syscall
// numbers are the same on every architecture that has them).
func rebindSymfollow(path string, nosymfollow bool) error {
	const (
		sysOpenTree          = 428
		sysMoveMount         = 429
		sysMountSetattr      = 442
		openTreeClone        = 1
		moveMountFEmptyPath  = 4
		mountAttrNosymfollow = 0x00200000
		atEmptyPath          = 0x1000
		atSymlinkNofollow    = 0x100
	)
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	empty, _ := syscall.BytePtrFromString("")
	fd, _, e := syscall.Syscall(sysOpenTree, uintptr(unixAtFdcwd), uintptr(unsafe.Pointer(p)),
		openTreeClone|syscall.O_CLOEXEC|atSymlinkNofollow)
	if e != 0 {
		return e
	}
	defer syscall.Close(int(fd))
	attr := [4]uint64{}
	if nosymfollow {
		attr[0] = mountAttrNosymfollow
	} else {
		attr[1] = mountAttrNosymfollow
	}
	if _, _, e := syscall.Syscall6(sysMountSetattr, fd, uintptr(unsafe.Pointer(empty)), atEmptyPath,
		uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0); e != 0 {
		return e
	}
	if _, _, e := syscall.Syscall6(sysMoveMount, fd, uintptr(unsafe.Pointer(empty)), uintptr(unixAtFdcwd),
		uintptr(unsafe.Pointer(p)), moveMountFEmptyPath, 0); e != 0 {
		return e
	}
	return nil
}

// unixAtFdcwd is AT_FDCWD (-100) as a syscall argument.
var unixAtFdcwd = func() int { return -100 }()

// expand is a C line's path field: "@rep:<n>:<text>" is text repeated n times.
func expand(field string) string {
	if rest := strings.TrimPrefix(field, "@rep:"); rest != field {
		if n, text, ok := strings.Cut(rest, ":"); ok {
			if count, err := strconv.Atoi(n); err == nil {
				return strings.Repeat(text, count)
			}
		}
	}
	return field
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var perr *procroot.Error
	if !errors.As(err, &perr) {
		return err.Error()
	}
	return errnoName(perr.Errno)
}

func runTable(t *testing.T, dir string) {
	f, err := os.Open(casesFile())
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	root, err := procroot.OpenRoot(dir)
	if err != nil {
		t.Error(err)
		return
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
		var err error
		switch {
		case fld[0] == "D":
			err = os.MkdirAll(filepath.Join(dir, fld[1]), 0o755)
		case fld[0] == "F":
			err = os.WriteFile(filepath.Join(dir, fld[1]), nil, 0o644)
		case fld[0] == "L":
			at := filepath.Join(dir, fld[1])
			if err = os.MkdirAll(filepath.Dir(at), 0o755); err == nil {
				err = os.Symlink(fld[2], at)
			}
		case fld[0] == "M" && len(fld) == 3:
			err = rebindSymfollow(filepath.Join(dir, fld[1]), fld[2] == "nosymfollow")
		case fld[0] == "C" && len(fld) == 5:
			cases++
			policy := map[string]procroot.Policy{"in_root": procroot.InRoot,
				"in_root_strict": procroot.InRootStrict, "beneath": procroot.Beneath}[fld[1]]
			mode := procroot.EvalFull
			if fld[2] == "except_last" {
				mode = procroot.EvalExceptLast
			}
			if err = root.SetPolicy(policy); err != nil {
				break
			}
			got, err := root.EvalSymlinks(expand(fld[3]), mode)
			if err != nil {
				got = outcome(err)
			}
			if got != fld[4] {
				t.Errorf("%s: got %s", line, got)
			}
		case fld[0] == "O" && len(fld) >= 4:
			cases++
			if err = root.SetPolicy(procroot.InRoot); err != nil {
				break
			}
			args := fld[2 : len(fld)-1]
			var opErr error
			switch {
			case fld[1] == "create_file" && len(args) == 1:
				var f *os.File
				if f, opErr = root.OpenFile(args[0], os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); opErr == nil {
					f.Close()
				}
			case fld[1] == "mkfifo" && len(args) == 1:
				opErr = root.Mknod(args[0], syscall.S_IFIFO, 0o644, 0, 0)
			case fld[1] == "symlink" && len(args) == 2:
				opErr = root.Symlink(args[0], args[1])
			case fld[1] == "hardlink" && len(args) == 2:
				opErr = root.Link(args[0], args[1])
			case fld[1] == "open_excl" && len(args) == 1:
				var f *os.File
				if f, opErr = root.OpenFile(args[0], os.O_RDONLY|os.O_EXCL); opErr == nil {
					f.Close()
				}
			case fld[1] == "remove_file" && len(args) == 1:
				opErr = root.RemoveFile(args[0])
			case fld[1] == "remove_dir" && len(args) == 1:
				opErr = root.RemoveDir(args[0])
			case fld[1] == "remove_all" && len(args) == 1:
				opErr = root.RemoveAll(args[0])
			default:
				t.Errorf("bad operation line %q", line)
				continue
			}
			if got := outcome(opErr); got != fld[len(fld)-1] {
				t.Errorf("%s: got %s", line, got)
			}
		case fld[0] == "W" && len(fld) == 4:
			cases++
			if err = root.SetPolicy(procroot.InRoot); err != nil {
				break
			}
			if got := walkLine(root, fld[1], fld[2]); got != fld[3] {
				t.Errorf("%s: got %s", line, got)
			}
		default:
			t.Errorf("bad line %q", line)
			return
		}
		if err != nil {
			t.Errorf("%s: %v", line, err)
			return
		}
	}
	if cases < 20 {
		t.Errorf("only %d cases", cases)
	}
}

// walkLine runs a W line of the table through Root.WalkDirWith: every path fn sees, and every
// error as path!ERRNO, sorted and joined with commas.
func walkLine(root *procroot.Root, options, path string) string {
	var opts procroot.WalkOptions
	maxZero := false
	for _, o := range strings.Split(options, ",") {
		switch {
		case o == "follow":
			opts.FollowLinks = true
		case strings.HasPrefix(o, "max="):
			n, _ := strconv.Atoi(strings.TrimPrefix(o, "max="))
			opts.MaxDepth = n
			maxZero = n == 0
		}
	}
	var got []string
	err := root.WalkDirWith(path, opts, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			got = append(got, p+"!"+outcome(err))
			return nil
		}
		got = append(got, p)
		if maxZero && d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		got = append(got, "walk:"+err.Error())
	}
	sort.Strings(got)
	return strings.Join(got, ",")
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
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.ENAMETOOLONG:
		return "ENAMETOOLONG"
	case syscall.EISDIR:
		return "EISDIR"
	case syscall.EEXIST:
		return "EEXIST"
	case syscall.EPERM:
		return "EPERM"
	case syscall.ENOTEMPTY:
		return "ENOTEMPTY"
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
	// The escape target is a decoy the test owns, beside the root, with a file in it: an
	// escape reads "DECOY" (and fails the test) instead of ENOENT, which the test must accept.
	top := t.TempDir()
	dir := filepath.Join(top, "root")
	decoy := filepath.Join(top, "decoy")
	must(t, os.MkdirAll(decoy, 0o755))
	must(t, os.WriteFile(filepath.Join(decoy, "file"), []byte("DECOY"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "d/file"), []byte("in"), 0o644))
	// Up past the host's / (more ".." than the path is deep), then down to the decoy: a
	// resolver that lets ".." leave the root lands on the decoy's file.
	up := strings.Repeat("../", strings.Count(decoy, "/")+2)
	must(t, os.Symlink(up+strings.TrimPrefix(decoy, "/"), filepath.Join(dir, "x")))
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
					if string(b) == "DECOY" {
						t.Errorf("escaped: read the decoy outside the root")
						return
					}
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
