package procfsroot_test

// procfsroot's own test file (evalsymlink_test.go of github.com/thediveo/procfsroot, which uses
// Ginkgo, Gomega and afero) restated: the same tree, inputs, modes and expectations, in plain
// Go testing, with its errors checked by text and by errors.Is. No code of it is copied.
// Its examples (example_evalsymlink_test.go) are restated in example_test.go, with their
// exact // Output: lines.

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"example.invalid/procroot/procfsroot"
)

// TestMain runs the package's tests in a private mount namespace with a tmpfs on /run that
// holds docker.sock, so that procfsroot's examples (/var/run/docker.sock in the root
// /proc/self/root) find what they expect without touching the host's /run. A child started
// with PROCFSROOT_PIDNS_CHILD runs the PID-namespace case instead.
func TestMain(m *testing.M) {
	switch {
	case os.Getenv("PROCFSROOT_PIDNS_CHILD") != "":
		os.Exit(pidnsChild())
	case os.Getenv("PROCFSROOT_IN_MOUNT_NS") != "":
		if err := syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
			println("mount tmpfs on /run:", err.Error())
			os.Exit(1)
		}
		if err := os.WriteFile("/run/docker.sock", nil, 0o600); err != nil {
			println(err.Error())
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	if os.Geteuid() != 0 {
		println("procfsroot tests need root (a private mount namespace for the examples)")
		os.Exit(1)
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "PROCFSROOT_IN_MOUNT_NS=1")
	// CLONE_NEWNS in Unshareflags: Go also makes / MS_REC|MS_PRIVATE in the child, so
	// nothing mounted there reaches the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		println(err.Error())
		os.Exit(1)
	}
	os.Exit(0)
}

// procfsroot's "evil symlink chasing" suite, case by case.
func TestProcfsrootOwnSuite(t *testing.T) {
	root := tree(t) // fsroot: a/b.txt, a/d/dummy.txt, relsymlink, unrooter/tryingtoleavethebox
	type ok struct {
		path string
		mode procfsroot.EvalSymlinkMode
		want string
	}
	for _, c := range []ok{
		// "handles simple paths"
		{"/a/b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"/////a/////b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"", procfsroot.EvalFullPath, "/"},
		{"a", procfsroot.EvalFullPath, "/a"},
		{"//a//", procfsroot.EvalFullPath, "/a"},
		// "handles . and .."
		{"/./a/./b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"/a/../a/b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"/a/d/../b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		// "optionally accepts missing target"
		{"/a/zzz.txt", procfsroot.EvalExceptLast, "/a/zzz.txt"},
		// "follows symlinks"
		{"/relsymlink", procfsroot.EvalFullPath, "/a/b.txt"},
	} {
		got, err := procfsroot.EvalSymlinks(c.path, root, c.mode)
		if err != nil || got != c.want {
			t.Errorf("%q (mode %d): got %q, %v; want %q", c.path, c.mode, got, err, c.want)
		}
	}
	// The failures procfsroot's suite expects ("HaveOccurred"), with the exact error its walk
	// returns: the bare ENOTDIR, or lstat's *fs.PathError naming the in-root path.
	type bad struct {
		path string
		text string
		is   error
	}
	for _, c := range []bad{
		{"/a/b.txt/c", "not a directory", syscall.ENOTDIR},
		{"/a/zzz/b.txt", "lstat " + root + "/a/zzz: no such file or directory", fs.ErrNotExist},
		{"/a/zzz/whateverelse", "lstat " + root + "/a/zzz: no such file or directory", fs.ErrNotExist},
		{"/a/zzz.txt", "lstat " + root + "/a/zzz.txt: no such file or directory", fs.ErrNotExist},
		// "stays inside the wormhole": the exact text, and EXDEV underneath.
		{"/../foo", "procfsroot.EvalSymlinks: no parent directory", syscall.EXDEV},
		{"/a/d/../../../foo", "procfsroot.EvalSymlinks: no parent directory", syscall.EXDEV},
		{"/unrooter/tryingtoleavethebox", "procfsroot.EvalSymlinks: no parent directory", syscall.EXDEV},
	} {
		_, err := procfsroot.EvalSymlinks(c.path, root, procfsroot.EvalFullPath)
		if err == nil || err.Error() != c.text || !errors.Is(err, c.is) {
			t.Errorf("%q: got %v; want %q (errors.Is %v)", c.path, err, c.text, c.is)
		}
	}
	var pe *fs.PathError
	if _, err := procfsroot.EvalSymlinks("/a/zzz.txt", root, procfsroot.EvalFullPath); !errors.As(err, &pe) || pe.Op != "lstat" {
		t.Errorf("missing file: not an lstat *fs.PathError: %#v", err)
	}
}

// "doesn't follow endlessly": /proc/self/root 512 times (7,680 bytes, longer than PATH_MAX) in
// the root /proc/self/root. Walked in pieces, as procfsroot walks it, never refused for its
// length: "too many symlinks" (procroot never follows the magic link), ELOOP underneath.
func TestOuroboros(t *testing.T) {
	ouroboros := strings.Repeat("/proc/self/root", 256*2)
	if len(ouroboros) <= 4096 {
		t.Fatal("the ouroboros is not longer than PATH_MAX")
	}
	_, err := procfsroot.EvalSymlinks(ouroboros, "/proc/self/root", procfsroot.EvalFullPath)
	if err == nil || !strings.Contains(err.Error(), "too many symlinks") || !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("ouroboros: %v", err)
	}
	// A long input without symlinks resolves: the pieces join up.
	dir := t.TempDir()
	long := strings.Repeat("/./d/..", 1200) + "/d"
	if err := os.Mkdir(dir+"/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := procfsroot.EvalSymlinks(long, dir, procfsroot.EvalFullPath); err != nil || got != "/d" {
		t.Fatalf("long path: %q, %v", got, err)
	}
	if _, err := procfsroot.EvalSymlinks(strings.Repeat("/d/..", 1000)+"/..", dir, procfsroot.EvalFullPath); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("long escape: %v", err)
	}
}

// EvalExceptLast with a trailing slash evaluates the last name, as procfsroot's walk does.
func TestExceptLastTrailingSlash(t *testing.T) {
	root := tree(t)
	if _, err := procfsroot.EvalSymlinks("/a/b.txt/", root, procfsroot.EvalExceptLast); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("/a/b.txt/: %v", err)
	}
	if _, err := procfsroot.EvalSymlinks("/a/missing/", root, procfsroot.EvalExceptLast); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/a/missing/: %v", err)
	}
	if got, err := procfsroot.EvalSymlinks("/a/missing", root, procfsroot.EvalExceptLast); err != nil || got != "/a/missing" {
		t.Errorf("/a/missing: %q %v", got, err)
	}
}

// Roots procfsroot accepts: "" is "/"; a pid of 20 digits does not exist.
func TestRootForms(t *testing.T) {
	if got, err := procfsroot.EvalSymlinks("/var/run", "", procfsroot.EvalFullPath); err != nil || got != "/run" {
		t.Errorf(`root "": %q, %v`, got, err)
	}
	_, err := procfsroot.EvalSymlinks("/etc", "/proc/99999999999999999999/root", procfsroot.EvalFullPath)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("20-digit pid: %#v", err)
	}
}

// /proc/<tid>/root of a thread that is not its process's leader works, as os.Stat of it does.
func TestNonLeaderThreadRoot(t *testing.T) {
	tids := make(chan int)
	release := make(chan struct{})
	defer close(release)
	for i := 0; i < 4; i++ {
		go func() {
			runtime.LockOSThread()
			tids <- syscall.Gettid()
			<-release
		}()
	}
	tid := 0
	for i := 0; i < 4; i++ {
		if x := <-tids; x != os.Getpid() {
			tid = x
		}
	}
	if tid == 0 {
		t.Fatal("no goroutine ran on a thread other than the leader")
	}
	root := "/proc/" + strconv.Itoa(tid) + "/root"
	if _, err := os.Stat(root); err != nil {
		t.Fatal(err)
	}
	if got, err := procfsroot.EvalSymlinks("/var/run", root, procfsroot.EvalFullPath); err != nil || got != "/run" {
		t.Fatalf("%s: %q, %v", root, got, err)
	}
}

// After unshare -p (a new PID namespace) without a new /proc, /proc/<pid>/root means what the
// mounted /proc says: the drop-in opens it by its path, never pidfd_open(pid) in its own PID
// namespace, where the pid names another process or none.
func TestPidRootInAnotherPidNamespace(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/etc", dir+"/link"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCFSROOT_PIDNS_CHILD="+strconv.Itoa(os.Getpid()),
		"PROCFSROOT_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in a new PID namespace: %v\n%s", err, out)
	}
}

// pidnsChild runs as PID 1 of a new PID namespace, with the parent's /proc: the parent's pid
// (in that /proc) names the parent there, and no process in this namespace.
func pidnsChild() int {
	parent := os.Getenv("PROCFSROOT_PIDNS_CHILD")
	dir := os.Getenv("PROCFSROOT_DIR")
	if os.Getpid() != 1 {
		println("not PID 1 of a new PID namespace")
		return 1
	}
	got, err := procfsroot.EvalSymlinks(dir+"/link", "/proc/"+parent+"/root", procfsroot.EvalFullPath)
	if err != nil || got != "/etc" {
		println("EvalSymlinks in /proc/" + parent + "/root: " + strconv.Quote(got) + " " + errString(err))
		return 1
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
