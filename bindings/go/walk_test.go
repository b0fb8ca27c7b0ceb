package procroot_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"example.invalid/procroot"
)

// walkTree is a root with a directory, files, a symlink to the host's decoy, and the decoy.
func walkTree(t *testing.T) (*procroot.Root, string) {
	t.Helper()
	top := t.TempDir()
	dir := filepath.Join(top, "root")
	for _, d := range []string{"etc", "usr/bin", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/passwd", "usr/bin/sh", "usr/lib/libc.so"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("inside"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(top, "host/DECOY"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An absolute symlink to the host's decoy: filepath.WalkDir with a follower would go there.
	if err := os.Symlink(filepath.Join(top, "host"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/bin", filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	root, err := procroot.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root, dir
}

func collect(t *testing.T, root *procroot.Root, start string, opts procroot.WalkOptions,
	decide func(path string, d fs.DirEntry) error) []string {
	t.Helper()
	var got []string
	err := root.WalkDirWith(start, opts, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		got = append(got, path)
		if decide != nil {
			return decide(path, d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWalkDirListsLikeFilepathWalkDirButInsideTheRoot(t *testing.T) {
	root, dir := walkTree(t)
	got := collect(t, root, "/", procroot.WalkOptions{}, nil)
	want := []string{"/", "/bin", "/escape", "/etc", "/etc/passwd", "/usr", "/usr/bin",
		"/usr/bin/sh", "/usr/lib", "/usr/lib/libc.so"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// filepath.WalkDir of the same directory (it does not follow symlinks either) lists the
	// same tree, in the same order.
	var host []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		host = append(host, filepath.Join("/", rel))
		return nil
	})
	if !reflect.DeepEqual(got, host) {
		t.Errorf("got %v, filepath.WalkDir %v", got, host)
	}
	// A relative start names paths as filepath.WalkDir would.
	got = collect(t, root, "usr", procroot.WalkOptions{}, nil)
	want = []string{"usr", "usr/bin", "usr/bin/sh", "usr/lib", "usr/lib/libc.so"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestWalkDirFollowsLinksOnlyInsideTheRoot(t *testing.T) {
	root, _ := walkTree(t)
	var got []string
	err := root.WalkDirWith("/", procroot.WalkOptions{FollowLinks: true},
		func(p string, d fs.DirEntry, err error) error {
			if strings.Contains(p, "DECOY") {
				t.Errorf("escaped: %s", p)
			}
			if err == nil {
				got = append(got, p)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(got, " ")
	if !strings.Contains(joined, "/bin/sh") {
		t.Errorf("the root's /usr/bin through bin: %v", got)
	}
}

func TestWalkDirSkipDirAndSkipAll(t *testing.T) {
	root, _ := walkTree(t)
	got := collect(t, root, "/", procroot.WalkOptions{}, func(p string, d fs.DirEntry) error {
		if p == "/usr" {
			return fs.SkipDir
		}
		return nil
	})
	for _, p := range got {
		if strings.HasPrefix(p, "/usr/") {
			t.Errorf("SkipDir on /usr: %v", got)
		}
	}
	// SkipDir on a file skips the rest of its directory.
	got = collect(t, root, "/usr", procroot.WalkOptions{}, func(p string, d fs.DirEntry) error {
		if p == "/usr/bin/sh" {
			return fs.SkipDir
		}
		return nil
	})
	want := []string{"/usr", "/usr/bin", "/usr/bin/sh", "/usr/lib", "/usr/lib/libc.so"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	got = collect(t, root, "/", procroot.WalkOptions{}, func(p string, d fs.DirEntry) error {
		if p == "/etc" {
			return procroot.SkipAll
		}
		return nil
	})
	if !reflect.DeepEqual(got, []string{"/", "/bin", "/escape", "/etc"}) {
		t.Errorf("SkipAll: %v", got)
	}
	// Another error ends the walk and is returned.
	stop := errors.New("stop")
	err := root.WalkDir("/", func(p string, d fs.DirEntry, err error) error { return stop })
	if err != stop {
		t.Errorf("got %v", err)
	}
}

func TestWalkDirEntriesAndErrors(t *testing.T) {
	root, _ := walkTree(t)
	seen := map[string]fs.DirEntry{}
	root.WalkDir("/", func(p string, d fs.DirEntry, err error) error {
		seen[p] = d
		return nil
	})
	if d := seen["/escape"]; d.Type() != fs.ModeSymlink || d.IsDir() || d.Name() != "escape" {
		t.Errorf("/escape: %v %v %q", d.Type(), d.IsDir(), d.Name())
	}
	info, err := seen["/etc/passwd"].Info()
	if err != nil || info.Size() != 6 || !info.Mode().IsRegular() || info.Name() != "passwd" {
		t.Errorf("Info: %v %v", info, err)
	}
	if info, err := seen["/escape"].Info(); err != nil || info.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Info of the link: %v %v", info, err)
	}
	// A missing start: fn once, with the error and a nil entry; its result is WalkDir's.
	calls := 0
	err = root.WalkDir("/missing", func(p string, d fs.DirEntry, err error) error {
		calls++
		if p != "/missing" || d != nil || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s %v %v", p, d, err)
		}
		return err
	})
	if calls != 1 || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("calls %d, err %v", calls, err)
	}
}

// TestWalkDirStaysOnItsMount mounts a tmpfs on a directory of the root, on a goroutine locked
// to a thread with its own private mount namespace (as TestSharedResolveTable): WalkDir passes
// the mount point to fn but does not enter it; CrossMounts enters it.
func TestWalkDirStaysOnItsMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("mounting needs root (the Rust test go_binding requires that)")
	}
	_, dir := walkTree(t)
	if err := os.Mkdir(filepath.Join(dir, "mnt"), 0o755); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		if err := syscall.Mount("tmpfs", filepath.Join(dir, "mnt"), "tmpfs", 0, ""); err != nil {
			t.Errorf("mount: %v", err)
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "mnt/on-tmpfs"), nil, 0o644); err != nil {
			t.Errorf("write: %v", err)
			return
		}
		// Opened here: an fd opened before the unshare looks up in the old namespace's mounts.
		root, err := procroot.OpenRoot(dir)
		if err != nil {
			t.Error(err)
			return
		}
		defer root.Close()
		got := strings.Join(collect(t, root, "/", procroot.WalkOptions{}, nil), " ")
		if !strings.Contains(got, "/mnt") || strings.Contains(got, "/mnt/on-tmpfs") {
			t.Errorf("same mount: %s", got)
		}
		got = strings.Join(collect(t, root, "/", procroot.WalkOptions{CrossMounts: true}, nil), " ")
		if !strings.Contains(got, "/mnt/on-tmpfs") {
			t.Errorf("cross mounts: %s", got)
		}
	}()
	<-done
}

// TestWalkDirHoldsNoLockWhileFnRuns closes the root from inside fn: Close returns (fn holds no
// lock of the root), and the walk goes on to its end (it holds its own reference to the root).
func TestWalkDirHoldsNoLockWhileFnRuns(t *testing.T) {
	root, _ := walkTree(t)
	var got []string
	err := root.WalkDir("/", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "/" {
			root.Close()
		}
		got = append(got, p)
		return nil
	})
	if err != nil || len(got) != 10 {
		t.Errorf("err %v, got %v", err, got)
	}
	if _, err := root.Open("/etc/passwd"); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
