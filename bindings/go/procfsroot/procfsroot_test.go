package procfsroot_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
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
