package procfsroot_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"example.invalid/procroot/procfsroot"
)

// The tree of procfsroot's own tests (test/root), made fresh.
func tree(t *testing.T) string {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{"a/d", "unrooter"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/b.txt", "a/d/dummy.txt"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "outofreach.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/b.txt", filepath.Join(root, "relsymlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outofreach.txt", filepath.Join(root, "unrooter/tryingtoleavethebox")); err != nil {
		t.Fatal(err)
	}
	return root
}

// Every case of procfsroot's documented behaviour (its evalsymlink_test.go), same answers.
func TestProcfsrootCases(t *testing.T) {
	root := tree(t)
	ok := []struct {
		path string
		mode procfsroot.EvalSymlinkMode
		want string
	}{
		{"/a/b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"/////a/////b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"", procfsroot.EvalFullPath, "/"},
		{"a", procfsroot.EvalFullPath, "/a"},
		{"//a//", procfsroot.EvalFullPath, "/a"},
		{"/./a/./b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"/a/../a/b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"/a/d/../b.txt", procfsroot.EvalFullPath, "/a/b.txt"},
		{"/a/zzz.txt", procfsroot.EvalExceptLast, "/a/zzz.txt"},
		{"/relsymlink", procfsroot.EvalFullPath, "/a/b.txt"},
	}
	for _, c := range ok {
		got, err := procfsroot.EvalSymlinks(c.path, root, c.mode)
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.path, got, err, c.want)
		}
	}
	fail := []struct {
		path    string
		errText string
	}{
		{"/a/b.txt/c", ""},
		{"/a/zzz/b.txt", ""},
		{"/a/zzz/whateverelse", ""},
		{"/a/zzz.txt", ""},
		{"/../foo", "no parent directory"},
		{"/a/d/../../../foo", "no parent directory"},
		{"/unrooter/tryingtoleavethebox", "no parent directory"},
	}
	for _, c := range fail {
		_, err := procfsroot.EvalSymlinks(c.path, root, procfsroot.EvalFullPath)
		if err == nil || !strings.Contains(err.Error(), c.errText) {
			t.Errorf("%q: want an error containing %q, got %v", c.path, c.errText, err)
		}
	}
	_, err := procfsroot.EvalSymlinks("/../foo", root, procfsroot.EvalFullPath)
	if !errors.Is(err, syscall.EXDEV) {
		t.Errorf("no parent directory is EXDEV underneath: %v", err)
	}
	// The ouroboros: /proc/self/root inside /proc/self/root is a magic link, never followed.
	// procfsroot's own test repeats it 512 times; that path is longer than PATH_MAX, which
	// procroot refuses first (ENAMETOOLONG), so the "too many symlinks" text is checked on a
	// path of legal length.
	ouroboros := strings.Repeat("/proc/self/root", 200)
	_, err = procfsroot.EvalSymlinks(ouroboros, "/proc/self/root", procfsroot.EvalFullPath)
	if err == nil || !strings.Contains(err.Error(), "too many symlinks") {
		t.Errorf("ouroboros: %v", err)
	}
	_, err = procfsroot.EvalSymlinks(strings.Repeat("/proc/self/root", 512), "/proc/self/root", procfsroot.EvalFullPath)
	if !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("long ouroboros: %v", err)
	}
	if _, err := procfsroot.EvalSymlinks("/proc/foobar1/root", "/", procfsroot.EvalFullPath); err == nil {
		t.Error("/proc/foobar1/root exists?")
	}
}

// /var/run -> /run, resolved in the root of a process: through a pidfd-pinned root.
func TestWormhole(t *testing.T) {
	target, err := os.Readlink("/var/run")
	if err != nil {
		t.Skip("/var/run is not a symlink here")
	}
	want := filepath.Clean(filepath.Join("/var", target))
	if filepath.IsAbs(target) {
		want = filepath.Clean(target)
	}
	for _, root := range []string{"/", "/proc/" + strconv.Itoa(os.Getpid()) + "/root"} {
		got, err := procfsroot.EvalSymlinks("/var/run", root, procfsroot.EvalFullPath)
		if err != nil || got != want {
			t.Errorf("root %s: got %q, %v; want %q", root, got, err, want)
		}
	}
	if _, err := procfsroot.EvalSymlinks("/", "/proc/1073741823/root", procfsroot.EvalFullPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead pid: %v", err)
	}
}
